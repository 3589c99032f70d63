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

/* name is one of the '|'-separated names. */
static bool has_name(const char *names, const char *name, size_t len) {
    for (const char *p = names; *p;) {
        size_t k = strcspn(p, "|");
        if (k == len && !strncmp(p, name, len)) return true;
        p += k + (p[k] == '|');
    }
    return false;
}

int cli_match(const cli_opt *t, int argc, char **argv, int *i, const char **v, const char *cmd) {
    const char *a = argv[*i];
    *v = NULL;
    for (; t->id; t++) {
        if (!has_name(t->names, a, strlen(a))) continue;
        if (t->arg == CLI_VALUE && !(*v = cli_value(argc, argv, i, cmd))) return -1;
        if (t->arg == CLI_OPTIONAL && *i + 1 < argc && has_name(t->values, argv[*i + 1], strlen(argv[*i + 1])))
            *v = argv[++*i];
        return t->id;
    }
    return 0;
}

int cli_unknown(const char *cmd, const char *arg) {
    if (arg[0] == '-' && arg[1]) return cli_error(cmd, "unknown option %s (see llama3 %s --help)", arg, cmd);
    return cli_error(cmd, "unexpected argument '%s' (see llama3 %s --help)", arg, cmd);
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

enum { M_MODEL = 1, M_CTX, M_THREADS, M_KV, M_PROMPT_INT8, M_MLOCK, M_NO_MMAP, M_NO_REPACK, M_DEVICE, M_MAX_ALLOC, M_NGL, M_FA, M_QUIET };
static const cli_opt MODEL_OPTS[] = {
    { M_MODEL, "-m|--model", CLI_VALUE, NULL },
    { M_CTX, "-c|--ctx|--ctx-size", CLI_VALUE, NULL },
    { M_THREADS, "-t|--threads", CLI_VALUE, NULL },
    { M_KV, "--kv-type", CLI_VALUE, NULL },
    { M_PROMPT_INT8, "--prompt-int8", CLI_VALUE, NULL },
    { M_MLOCK, "--mlock", CLI_FLAG, NULL },
    { M_NO_MMAP, "--no-mmap", CLI_FLAG, NULL },
    { M_NO_REPACK, "-nr|--no-repack", CLI_FLAG, NULL },
    { M_DEVICE, "--device", CLI_VALUE, NULL },
    { M_MAX_ALLOC, "--max-alloc", CLI_VALUE, NULL },
    { M_NGL, "-ngl|--n-gpu-layers|--gpu-layers", CLI_VALUE, NULL },
    { M_FA, "-fa|--flash-attn", CLI_OPTIONAL, "on|off|auto" },
    { M_QUIET, "--quiet", CLI_FLAG, NULL },
    { 0, NULL, 0, NULL },
};

int cli_model_opt(cli_model_opts *o, int argc, char **argv, int *i, const char *cmd) {
    const char *v;
    long n;
    int id = cli_match(MODEL_OPTS, argc, argv, i, &v, cmd);
    switch (id) {
    case -1:
    case 0: return id;
    case M_MODEL: o->model = v; break;
    case M_CTX:
        if (!cli_parse_int(v, 1, 1 << 22, &n)) return cli_error(cmd, "invalid context length '%s'", v), -1;
        o->n_ctx = (int)n;
        break;
    case M_THREADS:
        if (!cli_parse_int(v, 1, 256, &n)) return cli_error(cmd, "invalid thread count '%s'", v), -1;
        o->n_threads = (int)n;
        break;
    case M_KV: {
        int t = llama3_kv_type_from_name(v);
        if (t < 0) return cli_error(cmd, "unknown KV type '%s' (expected f16, f32 or q8_0)", v), -1;
        o->kv_type = (llama3_kv_type)t;
        break;
    }
    case M_PROMPT_INT8:
        if (!cli_parse_int(v, 1, 2, &n)) return cli_error(cmd, "invalid --prompt-int8 '%s' (expected 1 or 2)", v), -1;
        o->prompt_int8 = (int)n;
        break;
    case M_MLOCK: o->mlock = true; break;
    case M_NO_MMAP: o->no_mmap = true; break;
    case M_NO_REPACK: o->no_repack = true; break;
    case M_DEVICE: o->device = v; break;
    case M_QUIET: o->quiet = true; break;
    case M_NGL:  /* only the CPU backend: any layer count means everything on the CPU */
        if (strcmp(v, "auto") && strcmp(v, "all") && !cli_parse_int(v, -1, 1 << 20, &n))
            return cli_error(cmd, "invalid %s '%s' (a layer count, auto or all)", argv[*i - 1], v), -1;
        break;
    case M_FA: break;  /* attention is one fused pass whatever the value */
    case M_MAX_ALLOC: {
        char *end;
        errno = 0;
        unsigned long long b = strtoull(v, &end, 10);
        int shift = *end == 'K' || *end == 'k' ? 10 : *end == 'M' || *end == 'm' ? 20 : *end == 'G' || *end == 'g' ? 30 : 0;
        if (shift) end++;
        if (errno || end == v || *end || v[0] == '-' || b == 0 || b > (~0ULL >> shift))
            return cli_error(cmd, "invalid --max-alloc '%s' (bytes, optionally with K, M or G)", v), -1;
        o->max_alloc = b << shift;
        break;
    }
    }
    return 1;
}

int cli_model_args_only(cli_model_opts *o, int argc, char **argv, const char *cmd, const char *help) {
    for (int i = 1; i < argc; i++) {
        int r = cli_model_opt(o, argc, argv, &i, cmd);
        if (r < 0) return 1;
        if (r > 0) continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(help, stdout); return 0; }
        return cli_unknown(cmd, argv[i]);
    }
    return -1;
}

int cli_resolve_model(const char *model, bool quiet, char **path, const char *cmd) {
    *path = NULL;
    if (strncmp(model, "hf:", 3)) {
        *path = strdup(model);
        return *path ? 0 : cli_error(cmd, "out of memory");
    }
    cli_progress pr;
    cli_progress_init(&pr, cmd, true, quiet);
    llama3_hub_options ho = { .progress = cli_progress_cb, .progress_data = &pr };
    llama3_hub_result res;
    llama3_error err = { 0 };
    int rc = llama3_hub_pull(model, &ho, &res, &err);
    cli_progress_end(&pr);
    if (rc) return cli_error(cmd, "%s", err.msg);
    if (res.from_cache_only && !quiet) fprintf(stderr, "llama3 %s: %s\n", cmd, res.note);
    *path = res.path;
    return 0;
}

llama3_load_options cli_load_options(const cli_model_opts *o) {
    return (llama3_load_options){ .mlock = o->mlock, .no_mmap = o->no_mmap, .no_repack = o->no_repack,
                                  .max_alloc_bytes = (size_t)o->max_alloc, .device = o->device };
}

int cli_open(const cli_model_opts *o, const char *cmd, llama3_model **m, llama3_session **s, int n_slots) {
    llama3_error err = { 0 };
    *m = NULL;
    if (s) *s = NULL;
    if (!o->model) return cli_error(cmd, "no model given (use -m PATH)");
    char *path;  /* -m, or where an hf: model was downloaded */
    if (cli_resolve_model(o->model, o->quiet, &path, cmd)) return 1;
    llama3_load_options lo = cli_load_options(o);
    *m = llama3_model_load(path, &lo, &err);
    free(path);
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
        int rc = cli_follow(cmd, *m, *s, o);
        llama3_model_free(*m);
        exit(rc);
    }
    return 0;
}

int cli_follow(const char *cmd, llama3_model *m, llama3_session *s, const cli_model_opts *o) {
    cli_print_memory(m, s, o);
    llama3_error err = { 0 };
    int rc = llama3_session_follow(s, &err) ? cli_error(cmd, "%s", err.msg) : 0;
    llama3_session_free(s);
    return rc;
}

void cli_print_memory(llama3_model *m, llama3_session *s, const cli_model_opts *o) {
    char who[48] = "";
    if (llama3_world_size() > 1)
        snprintf(who, sizeof who, " (rank %d of %d, its slice of %.1f MiB)", llama3_world_rank(), llama3_world_size(),
                 llama3_model_weight_bytes(m) / 1048576.0);
    fprintf(stderr, "memory: weights %.1f MiB%s%s, KV cache %.1f MiB (%s), scratch %.1f MiB\n",
            llama3_model_rank_weight_bytes(m) / 1048576.0, who, o->no_mmap ? " (read into memory)" : "",
            llama3_session_kv_bytes(s) / 1048576.0, llama3_kv_type_name(o->kv_type),
            llama3_session_scratch_bytes(s) / 1048576.0);
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

enum { S_TEMP = 1, S_TOP_P, S_TOP_K, S_MIN_P, S_REPEAT_PENALTY, S_REPEAT_LAST_N, S_SEED };
static const cli_opt SAMPLER_OPTS[] = {
    { S_TEMP, "--temp", CLI_VALUE, NULL },
    { S_TOP_P, "--top-p", CLI_VALUE, NULL },
    { S_TOP_K, "--top-k", CLI_VALUE, NULL },
    { S_MIN_P, "--min-p", CLI_VALUE, NULL },
    { S_REPEAT_PENALTY, "--repeat-penalty", CLI_VALUE, NULL },
    { S_REPEAT_LAST_N, "--repeat-last-n", CLI_VALUE, NULL },
    { S_SEED, "-s|--seed", CLI_VALUE, NULL },
    { 0, NULL, 0, NULL },
};

int cli_sampler_opt(llama3_sampler_params *sp, bool *seed_given, int argc, char **argv, int *i, const char *cmd) {
    const char *v;
    long n;
    int id = cli_match(SAMPLER_OPTS, argc, argv, i, &v, cmd);
    switch (id) {
    case -1:
    case 0: return id;
    case S_TEMP:
        if (!cli_parse_float(v, &sp->temperature) || sp->temperature < 0) return cli_error(cmd, "invalid --temp '%s'", v), -1;
        break;
    case S_TOP_P:
        if (!cli_parse_float(v, &sp->top_p) || sp->top_p <= 0 || sp->top_p > 1)
            return cli_error(cmd, "invalid --top-p '%s' (0 < P <= 1)", v), -1;
        break;
    case S_TOP_K:
        if (!cli_parse_int(v, 0, 1 << 24, &n)) return cli_error(cmd, "invalid --top-k '%s'", v), -1;
        sp->top_k = (int)n;
        break;
    case S_MIN_P:
        if (!cli_parse_float(v, &sp->min_p) || sp->min_p < 0 || sp->min_p > 1)
            return cli_error(cmd, "invalid --min-p '%s' (0 <= P <= 1)", v), -1;
        break;
    case S_REPEAT_PENALTY:
        if (!cli_parse_float(v, &sp->repeat_penalty) || sp->repeat_penalty <= 0)
            return cli_error(cmd, "invalid --repeat-penalty '%s'", v), -1;
        break;
    case S_REPEAT_LAST_N:
        if (!cli_parse_int(v, 0, 1 << 20, &n)) return cli_error(cmd, "invalid --repeat-last-n '%s'", v), -1;
        sp->repeat_last_n = (int)n;
        break;
    case S_SEED: {
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
