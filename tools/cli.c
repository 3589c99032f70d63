#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cli_model_opts_init(cli_model_opts *o) {
    memset(o, 0, sizeof *o);
    o->kv_type = LLAMA3_KV_F16;
}

int cli_error(const char *cmd, const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (!line[0]) return 1;  /* another process of a model-parallel run reports the error */
    /* one write per line, so that the processes of a run do not interleave their lines */
    if (llama3_world_size() > 1) fprintf(stderr, "llama3 %s (rank %d): %s\n", cmd, llama3_world_rank(), line);
    else fprintf(stderr, "llama3 %s: %s\n", cmd, line);
    return 1;
}

const char *cli_value(int argc, char **argv, int *i, const char *cmd) {
    if (*i + 1 >= argc) {
        cli_error(cmd, "option %s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

bool cli_parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool cli_parse_float(const char *s, float *out) {
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || v != v) return false;
    *out = v;
    return true;
}

int cli_model_opt(cli_model_opts *o, int argc, char **argv, int *i, const char *cmd) {
    const char *a = argv[*i], *v;
    long n;
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
        if (!(v = cli_value(argc, argv, i, cmd))) return -1;
        o->model = v;
    } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) {
        if (!(v = cli_value(argc, argv, i, cmd))) return -1;
        if (!cli_parse_int(v, 1, 1 << 22, &n)) return cli_error(cmd, "invalid context length '%s'", v), -1;
        o->n_ctx = (int)n;
    } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
        if (!(v = cli_value(argc, argv, i, cmd))) return -1;
        if (!cli_parse_int(v, 1, 256, &n)) return cli_error(cmd, "invalid thread count '%s'", v), -1;
        o->n_threads = (int)n;
    } else if (!strcmp(a, "--kv-type")) {
        if (!(v = cli_value(argc, argv, i, cmd))) return -1;
        int t = llama3_kv_type_from_name(v);
        if (t < 0) return cli_error(cmd, "unknown KV type '%s' (expected f16, f32 or q8_0)", v), -1;
        o->kv_type = (llama3_kv_type)t;
    } else if (!strcmp(a, "--prompt-int8")) {
        if (!(v = cli_value(argc, argv, i, cmd))) return -1;
        if (!cli_parse_int(v, 1, 2, &n)) return cli_error(cmd, "invalid --prompt-int8 '%s' (expected 1 or 2)", v), -1;
        o->prompt_int8 = (int)n;
    } else if (!strcmp(a, "--mlock")) {
        o->mlock = true;
    } else if (!strcmp(a, "--device")) {
        if (!(v = cli_value(argc, argv, i, cmd))) return -1;
        o->device = v;
    } else if (!strcmp(a, "--max-alloc")) {
        if (!(v = cli_value(argc, argv, i, cmd))) return -1;
        char *end;
        errno = 0;
        unsigned long long b = strtoull(v, &end, 10);
        int shift = *end == 'K' || *end == 'k' ? 10 : *end == 'M' || *end == 'm' ? 20 : *end == 'G' || *end == 'g' ? 30 : 0;
        if (shift) end++;
        if (errno || end == v || *end || v[0] == '-' || b == 0 || b > (~0ULL >> shift))
            return cli_error(cmd, "invalid --max-alloc '%s' (bytes, optionally with K, M or G)", v), -1;
        o->max_alloc = b << shift;
    } else {
        return 0;
    }
    return 1;
}

int cli_open(const cli_model_opts *o, const char *cmd, llama3_model **m, llama3_session **s, int n_slots) {
    llama3_error err = { 0 };
    *m = NULL;
    if (s) *s = NULL;
    if (!o->model) return cli_error(cmd, "no model given (use -m PATH)");
    llama3_load_options lo = { .mlock = o->mlock, .max_alloc_bytes = (size_t)o->max_alloc, .device = o->device };
    *m = llama3_model_load(o->model, &lo, &err);
    if (!*m) return cli_error(cmd, "%s", err.msg);
    if (!s) return 0;
    llama3_session_options so = { .n_ctx = o->n_ctx, .n_threads = o->n_threads, .kv_type = o->kv_type,
                                  .n_slots = n_slots, .prompt_int8_levels = o->prompt_int8 };
    *s = llama3_session_new(*m, &so, &err);
    if (!*s) {
        llama3_model_free(*m);
        *m = NULL;
        return cli_error(cmd, "%s", err.msg);
    }
    if (llama3_world_rank() > 0) {
        int rc = cli_follow(cmd, *m, *s, o->kv_type);
        llama3_model_free(*m);
        exit(rc);
    }
    return 0;
}

int cli_follow(const char *cmd, llama3_model *m, llama3_session *s, llama3_kv_type kv) {
    cli_print_memory(m, s, kv);
    llama3_error err = { 0 };
    int rc = llama3_session_follow(s, &err) ? cli_error(cmd, "%s", err.msg) : 0;
    llama3_session_free(s);
    return rc;
}

void cli_print_memory(llama3_model *m, llama3_session *s, llama3_kv_type kv) {
    char who[48] = "";
    if (llama3_world_size() > 1)
        snprintf(who, sizeof who, " (rank %d of %d, its slice of %.1f MiB)", llama3_world_rank(), llama3_world_size(),
                 llama3_model_weight_bytes(m) / 1048576.0);
    fprintf(stderr, "memory: weights %.1f MiB%s, KV cache %.1f MiB (%s), scratch %.1f MiB\n",
            llama3_model_rank_weight_bytes(m) / 1048576.0, who, llama3_session_kv_bytes(s) / 1048576.0,
            llama3_kv_type_name(kv), llama3_session_scratch_bytes(s) / 1048576.0);
}

int cli_parse_ids(const char *s, int32_t **ids, int *n, const char *cmd) {
    size_t cap = 16;
    *n = 0;
    *ids = malloc(cap * sizeof **ids);
    if (!*ids) return cli_error(cmd, "out of memory");
    const char *p = s;
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < INT32_MIN || v > INT32_MAX || (*end && *end != ',' && *end != ' ' && *end != '\n')) {
            free(*ids);
            *ids = NULL;
            return cli_error(cmd, "invalid token id list near '%.20s'", p);
        }
        if ((size_t)*n == cap) {
            cap *= 2;
            int32_t *nn = realloc(*ids, cap * sizeof **ids);
            if (!nn) { free(*ids); *ids = NULL; return cli_error(cmd, "out of memory"); }
            *ids = nn;
        }
        (*ids)[(*n)++] = (int32_t)v;
        p = end;
    }
    return 0;
}

int cli_sampler_opt(llama3_sampler_params *sp, bool *seed_given, int argc, char **argv, int *i, const char *cmd) {
    const char *a = argv[*i], *v;
    long n;
    static const char *const names[] = { "--temp", "--top-p", "--top-k", "--min-p", "--repeat-penalty",
                                         "--repeat-last-n", "--seed" };
    int which = -1;
    for (int k = 0; k < 7; k++)
        if (!strcmp(a, names[k])) which = k;
    if (which < 0) return 0;
    if (!(v = cli_value(argc, argv, i, cmd))) return -1;
    switch (which) {
    case 0:
        if (!cli_parse_float(v, &sp->temperature) || sp->temperature < 0) return cli_error(cmd, "invalid --temp '%s'", v), -1;
        break;
    case 1:
        if (!cli_parse_float(v, &sp->top_p) || sp->top_p <= 0 || sp->top_p > 1)
            return cli_error(cmd, "invalid --top-p '%s' (0 < P <= 1)", v), -1;
        break;
    case 2:
        if (!cli_parse_int(v, 0, 1 << 24, &n)) return cli_error(cmd, "invalid --top-k '%s'", v), -1;
        sp->top_k = (int)n;
        break;
    case 3:
        if (!cli_parse_float(v, &sp->min_p) || sp->min_p < 0 || sp->min_p > 1)
            return cli_error(cmd, "invalid --min-p '%s' (0 <= P <= 1)", v), -1;
        break;
    case 4:
        if (!cli_parse_float(v, &sp->repeat_penalty) || sp->repeat_penalty <= 0)
            return cli_error(cmd, "invalid --repeat-penalty '%s'", v), -1;
        break;
    case 5:
        if (!cli_parse_int(v, 0, 1 << 20, &n)) return cli_error(cmd, "invalid --repeat-last-n '%s'", v), -1;
        sp->repeat_last_n = (int)n;
        break;
    case 6: {
        char *end;
        errno = 0;
        unsigned long long seed = strtoull(v, &end, 10);
        if (errno || end == v || *end || v[0] == '-') return cli_error(cmd, "invalid --seed '%s'", v), -1;
        sp->seed = seed;
        *seed_given = true;
        break;
    }
    }
    return 1;
}

int cli_read_ids_file(const char *path, long max_ids, int32_t **ids, int *n, const char *cmd) {
    *ids = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return cli_error(cmd, "%s: cannot open", path);
    long size = -1;
    if (!fseek(f, 0, SEEK_END)) size = ftell(f);
    rewind(f);
    if (size <= 0 || size % 4 || size / 4 > max_ids) {
        fclose(f);
        return cli_error(cmd, "%s: expected a non-empty file of at most %ld int32 token ids (%ld bytes)", path,
                         max_ids, size);
    }
    *n = (int)(size / 4);
    *ids = malloc((size_t)size);
    size_t got = *ids ? fread(*ids, 4, (size_t)*n, f) : 0;
    fclose(f);
    if (got != (size_t)*n) {
        free(*ids);
        *ids = NULL;
        return cli_error(cmd, "%s: read error", path);
    }
    return 0;
}
