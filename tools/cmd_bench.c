/* llama3 bench: prompt-processing and generation speed, like llama-bench. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_bench(int argc, char **argv);

static const char *BENCH_HELP =
    "usage: llama3 bench -m MODEL [-p N] [-n N] [-b B] [-t N[,N...]] [-r REPS] [--json]\n"
    "                   [--kv-type f16|f32|q8_0] [--prompt-int8 1|2] [--profile]\n"
    "\n"
    "Measures like llama-bench:\n"
    "  ppN: one llama3_eval call with N random token ids on an empty slot (logits of the last);\n"
    "  tgN: N single-token llama3_eval calls on an empty slot (logits of each);\n"
    "  tgNxB (with -b B > 1): B sequences decoded together, N steps of one llama3_eval_batch\n"
    "       call advancing each by a token (batched decode, as the server does); tokens/s is\n"
    "       the aggregate, N x B tokens per run.\n"
    "Each test runs once to warm up, then REPS times; reported: median tokens/s and the standard\n"
    "deviation over the repetitions. Weight, KV-cache and scratch bytes go to stderr.\n"
    "\n"
    "  -m, --model PATH      model (GGUF file, Hugging Face or Meta folder, or hf:OWNER/NAME[:QUANT])\n"
    "  -p, --n-prompt N      prompt length for ppN (default 512; 0 = skip)\n"
    "  -n, --n-gen N         tokens for tgN (default 128; 0 = skip)\n"
    "  -b, --batch B         sequences decoded together in tgN (default 1; up to 64)\n"
    "  -t, --threads LIST    thread counts, comma-separated (default: physical cores)\n"
    "  -r, --repetitions N   timed runs per test (default 5)\n"
    "  -c, --ctx N           KV-cache length (default: max(p, n), at least 16)\n"
    "      --kv-type TYPE    f16 (default), f32 or q8_0\n"
    "      --prompt-int8 N   8-bit activation levels of ppN's prompt with quantized weights:\n"
    "                        1 (default, llama.cpp's precision) or 2 (as exact as decoding)\n"
    "      --seed S          seed of the random ids (default 1)\n"
    "      --json            print a JSON array, one object per test, instead of the table\n"
    "      --profile         time each op kind of the forward pass over each test's timed runs\n"
    "                        and print, to stderr, ms per op kind, the ms that ran on one thread,\n"
    "                        the serial fraction and its Amdahl projection to 16 and 64 threads\n"
    "                        (LLAMA3_PROFILE=1 does the same for any command, per session)\n"
    "      --device DEV      where the model runs: cpu (default; this build has no other)\n"
    "      --mlock, --no-repack, --max-alloc BYTES   as for run\n";

typedef struct bench_result {
    char test[32];
    int threads, n_tokens, reps;
    double median, avg, stddev;
    double *samples;  /* tokens/s per repetition */
    llama3_profile_op ops[16];  /* --profile: per op kind, over the timed runs */
    int n_ops;
} bench_result;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* One timed run: seconds, or < 0 after printing an error. gen: n decode steps of `batch`
 * sequences (slots 0..batch-1, the ids of slot b shifted by b), else one prompt of n ids. */
static double run_once(llama3_session *s, const int32_t *ids, int n, int gen, int batch, float *logits) {
    llama3_error err = { 0 };
    for (int b = 0; b < batch; b++) llama3_session_reset(s, b, 0);
    double t0 = llama3_time_s();
    if (!gen) {
        if (llama3_eval(s, 0, ids, n, logits, 0, &err)) return cli_error("bench", "%s", err.msg), -1.0;
    } else if (batch == 1) {
        for (int i = 0; i < n; i++)
            if (llama3_eval(s, 0, &ids[i], 1, logits, 0, &err)) return cli_error("bench", "%s", err.msg), -1.0;
    } else {
        int32_t step[64];
        int slot_of[64];
        for (int i = 0; i < n; i++) {
            for (int b = 0; b < batch; b++) step[b] = ids[(i + b) % n], slot_of[b] = b;
            if (llama3_eval_batch(s, step, slot_of, batch, logits, &err)) return cli_error("bench", "%s", err.msg), -1.0;
        }
    }
    return llama3_time_s() - t0;
}

/* --profile: the op timers of a test's timed runs, to stderr */
static int profile_report(llama3_session *s, bench_result *r) {
    r->n_ops = llama3_session_profile_ops(s, r->ops, 16);
    if (r->n_ops > 16) r->n_ops = 16;
    const int n = llama3_session_profile_report(s, NULL, 0);
    char *text = malloc((size_t)n + 1);
    if (!text) return cli_error("bench", "out of memory");
    llama3_session_profile_report(s, text, (size_t)n + 1);
    fprintf(stderr, "llama3 bench: %s, %d threads, %d timed runs:\n%s", r->test, r->threads, r->reps, text);
    free(text);
    llama3_session_profile(s, 0, NULL);
    return 0;
}

/* one line of profile_scaling's table: ms per timed run at 1 and N threads, the speedup, and
 * the serial fraction s that Amdahl's t_N = t_1 (s + (1 - s) / N) gives; returns s */
static double scaling_row(const char *name, double t1, double tn, int N) {
    const double f = t1 > 0 ? (N * tn / t1 - 1) / (N - 1) : 0;
    fprintf(stderr, "%-15s %11.3f %11.3f %7.2fx %8.2f%%\n", name, t1, tn, tn > 0 ? t1 / tn : 0, 100 * f);
    return f;
}

/* --profile with 1 and N threads: each op kind's speedup and the serial fraction it implies,
 * the pass's too, projected to 16 and 64 threads */
static void profile_scaling(const bench_result *res, int n_res) {
    for (int i = 0; i < n_res; i++) {
        const bench_result *one = &res[i];
        if (one->threads != 1 || !one->n_ops) continue;
        for (int k = 0; k < n_res; k++) {
            const bench_result *r = &res[k];
            if (r->threads < 2 || strcmp(r->test, one->test) != 0 || r->n_ops != one->n_ops) continue;
            const int N = r->threads;
            fprintf(stderr, "llama3 bench: %s, 1 -> %d threads (per timed run):\n%-15s %11s %11s %8s %9s\n", r->test, N,
                    "op", "ms 1 thr", "ms N thr", "speedup", "serial");
            double t1 = 0, tn = 0;
            for (int o = 0; o < one->n_ops; o++) {
                const double a = one->ops[o].ms / one->reps, b = r->ops[o].ms / r->reps;
                scaling_row(one->ops[o].name, a, b, N);
                t1 += a, tn += b;
            }
            const double f = scaling_row("pass", t1, tn, N);
            if (f < 0 && f > -1)  /* (f = -1: nothing timed at 2 threads) */
                fprintf(stderr, "serial fraction: none measurable (%d threads ran more than %d times faster than one: "
                                "noise, or each thread's share fitting its cache); no projection\n", N, N);
            else if (f >= 0)
                fprintf(stderr, "serial fraction %.2f%% of the pass (from 1 and %d threads: meaningful on an otherwise idle "
                                "machine only); Amdahl: 16 threads %.1fx, 64 threads %.1fx\n",
                        100 * f, N, 1 / (f + (1 - f) / 16), 1 / (f + (1 - f) / 64));
        }
    }
}

static int run_test(llama3_session *s, const int32_t *ids, int n, int gen, int batch, int reps, int profile,
                    float *logits, bench_result *r) {
    r->samples = malloc((size_t)reps * sizeof(double));
    double *sorted = malloc((size_t)reps * sizeof(double));
    if (!r->samples || !sorted) { free(sorted); return cli_error("bench", "out of memory"); }
    if (run_once(s, ids, n, gen, batch, logits) < 0) { free(sorted); return 1; }  /* warm-up */
    llama3_error err = { 0 };
    if (profile && llama3_session_profile(s, 1, &err)) { free(sorted); return cli_error("bench", "%s", err.msg); }
    double sum = 0;
    for (int k = 0; k < reps; k++) {
        double t = run_once(s, ids, n, gen, batch, logits);
        if (t < 0) { free(sorted); return 1; }
        r->samples[k] = (double)n * batch / (t > 1e-9 ? t : 1e-9);
        sum += r->samples[k];
    }
    memcpy(sorted, r->samples, (size_t)reps * sizeof(double));
    qsort(sorted, (size_t)reps, sizeof(double), cmp_double);
    r->median = reps % 2 ? sorted[reps / 2] : 0.5 * (sorted[reps / 2 - 1] + sorted[reps / 2]);
    r->avg = sum / reps;
    double var = 0;
    for (int k = 0; k < reps; k++) var += (r->samples[k] - r->avg) * (r->samples[k] - r->avg);
    r->stddev = reps > 1 ? sqrt(var / (reps - 1)) : 0.0;
    r->reps = reps;
    r->n_tokens = n * batch;
    free(sorted);
    return profile ? profile_report(s, r) : 0;
}

/* Parse "1,2,4" into at most 16 thread counts. */
static int parse_threads(const char *v, int *out, int *n) {
    *n = 0;
    const char *p = v;
    while (*p) {
        char buf[16];
        size_t len = strcspn(p, ",");
        long t;
        if (len == 0 || len >= sizeof buf || *n == 16) return -1;
        memcpy(buf, p, len);
        buf[len] = 0;
        if (!cli_parse_int(buf, 1, 256, &t)) return -1;
        out[(*n)++] = (int)t;
        p += len;
        if (*p == ',') p++;
    }
    return *n ? 0 : -1;
}

int cmd_bench(int argc, char **argv) {
    const char *cmd = "bench";
    cli_model_opts mo;
    cli_model_opts_init(&mo);
    long n_prompt = 512, n_gen = 128, reps = 5, batch = 1;
    int threads[16], n_threads = 0;
    bool json = false;
    int profile = 0;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(BENCH_HELP, stdout); return 0; }
        if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = cli_value(argc, argv, &i, cmd))) return 1;
            if (parse_threads(v, threads, &n_threads))
                return cli_error(cmd, "invalid thread list '%s' (expected N or N,N,... with 1 <= N <= 256)", v);
            continue;
        }
        int r = cli_model_opt(&mo, argc, argv, &i, cmd);
        if (r < 0) return 1;
        if (r > 0) continue;
        if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt")) {
            if (!(v = cli_value(argc, argv, &i, cmd))) return 1;
            if (!cli_parse_int(v, 0, 1 << 20, &n_prompt)) return cli_error(cmd, "invalid prompt length '%s'", v);
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen")) {
            if (!(v = cli_value(argc, argv, &i, cmd))) return 1;
            if (!cli_parse_int(v, 0, 1 << 20, &n_gen)) return cli_error(cmd, "invalid generation length '%s'", v);
        } else if (!strcmp(a, "-b") || !strcmp(a, "--batch")) {
            if (!(v = cli_value(argc, argv, &i, cmd))) return 1;
            if (!cli_parse_int(v, 1, 64, &batch)) return cli_error(cmd, "invalid batch '%s' (expected 1 to 64)", v);
        } else if (!strcmp(a, "-r") || !strcmp(a, "--repetitions")) {
            if (!(v = cli_value(argc, argv, &i, cmd))) return 1;
            if (!cli_parse_int(v, 1, 1000, &reps)) return cli_error(cmd, "invalid repetition count '%s'", v);
        } else if (!strcmp(a, "--seed")) {
            if (!(v = cli_value(argc, argv, &i, cmd))) return 1;
            long sd;
            if (!cli_parse_int(v, 0, 0x7fffffffL, &sd)) return cli_error(cmd, "invalid seed '%s'", v);
            seed = (uint64_t)sd;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--profile")) {
            profile = 1;
        } else {
            return cli_unknown(cmd, a);
        }
    }
    if (!mo.model) return cli_error(cmd, "no model given (use -m PATH)");
    if (n_prompt == 0 && n_gen == 0) return cli_error(cmd, "nothing to measure (-p 0 and -n 0)");
    if (n_threads == 0) threads[n_threads++] = mo.n_threads ? mo.n_threads : 0;
    int need = (int)(n_prompt > n_gen ? n_prompt : n_gen);
    if (!mo.n_ctx) mo.n_ctx = need < 16 ? 16 : need;
    if (mo.n_ctx < need) return cli_error(cmd, "context %d is smaller than the longest test (%d tokens)", mo.n_ctx, need);

    llama3_error err = { 0 };
    llama3_model *m;
    if (cli_open(&mo, cmd, &m, NULL, 1)) return 1;  /* (sessions per thread count below) */
    const llama3_args *a = llama3_model_args(m);
    int32_t *ids = malloc((size_t)need * sizeof *ids);
    float *logits = malloc((size_t)batch * (size_t)a->vocab_size * sizeof *logits);
    bench_result *res = calloc((size_t)n_threads * 2, sizeof *res);
    int n_res = 0, rc = 0;
    if (!ids || !logits || !res) rc = cli_error(cmd, "out of memory");
    uint64_t st = seed;
    for (int i = 0; !rc && i < need; i++) ids[i] = (int32_t)(rng_next(&st) % (uint64_t)a->vocab_size);

    for (int ti = 0; !rc && ti < n_threads; ti++) {
        llama3_session_options so = { .n_ctx = mo.n_ctx, .n_threads = threads[ti], .kv_type = mo.kv_type,
                                      .n_slots = (int)batch, .prompt_int8_levels = mo.prompt_int8 };
        llama3_session *s = llama3_session_new(m, &so, &err);
        if (!s) { rc = cli_error(cmd, "%s", err.msg); break; }
        if (llama3_world_rank() > 0) {  /* rank 0 measures; this process runs its passes */
            rc = cli_follow(cmd, m, s, &mo);
            continue;
        }
        int nth = threads[ti] ? threads[ti] : llama3_physical_cores();  /* the session's default */
        if (ti == 0)
            fprintf(stderr, "llama3 bench: %s: %s on %s, %.2f MiB weights (%llu bytes), %llu parameters; KV cache %.2f MiB "
                            "(%zu bytes, %d positions, %s); scratch %.2f MiB (%zu bytes)\n",
                    mo.model, llama3_model_format(m), llama3_model_device(m), llama3_model_weight_bytes(m) / 1048576.0,
                    (unsigned long long)llama3_model_weight_bytes(m), (unsigned long long)llama3_model_param_count(m),
                    llama3_session_kv_bytes(s) / 1048576.0, llama3_session_kv_bytes(s), mo.n_ctx,
                    llama3_kv_type_name(mo.kv_type), llama3_session_scratch_bytes(s) / 1048576.0,
                    llama3_session_scratch_bytes(s));
        if (n_prompt > 0) {
            bench_result *r = &res[n_res++];
            snprintf(r->test, sizeof r->test, "pp%ld", n_prompt);
            r->threads = nth;
            rc = run_test(s, ids, (int)n_prompt, 0, 1, (int)reps, profile, logits, r);
        }
        if (!rc && n_gen > 0) {
            bench_result *r = &res[n_res++];
            if (batch > 1) snprintf(r->test, sizeof r->test, "tg%dx%d", (int)n_gen, (int)batch);
            else snprintf(r->test, sizeof r->test, "tg%ld", n_gen);
            r->threads = nth;
            rc = run_test(s, ids, (int)n_gen, 1, (int)batch, (int)reps, profile, logits, r);
        }
        llama3_session_free(s);
    }

    if (!rc && profile && llama3_world_rank() == 0) profile_scaling(res, n_res);
    if (!rc && llama3_world_rank() == 0) {
        if (json) {
            printf("[\n");
            for (int i = 0; i < n_res; i++) {
                const bench_result *r = &res[i];
                printf("  {\"test\": \"%s\", \"threads\": %d, \"n_tokens\": %d, \"reps\": %d, \"tokens_per_s\": %.3f, "
                       "\"stddev\": %.3f, \"avg_tokens_per_s\": %.3f, \"samples_ts\": [",
                       r->test, r->threads, r->n_tokens, r->reps, r->median, r->stddev, r->avg);
                for (int k = 0; k < r->reps; k++) printf("%s%.3f", k ? ", " : "", r->samples[k]);
                printf("], \"model\": \"");
                for (const char *p = mo.model; *p; p++) {
                    if (*p == '"' || *p == '\\') printf("\\%c", *p);
                    else if ((unsigned char)*p < 0x20) printf("\\u%04x", *p);
                    else putchar(*p);
                }
                printf("\", \"weight_bytes\": %llu, \"kv_type\": \"%s\"}%s\n",
                       (unsigned long long)llama3_model_weight_bytes(m), llama3_kv_type_name(mo.kv_type),
                       i + 1 < n_res ? "," : "");
            }
            printf("]\n");
        } else {
            printf("| %-28s | %10s | %8s | %7s | %8s | %20s |\n", "model", "size", "params", "threads", "test",
                   "t/s (median ± sd)");
            printf("| %.28s | %.10s | %.8s | %.7s | %.8s | %.20s |\n", "------------------------------", "-----------",
                   "---------", "--------", "---------", "---------------------");
            const char *base = strrchr(mo.model, '/');
            base = base && base[1] ? base + 1 : mo.model;
            for (int i = 0; i < n_res; i++) {
                const bench_result *r = &res[i];
                char size[32], params[32], ts[48];
                snprintf(size, sizeof size, "%.2f GiB", llama3_model_weight_bytes(m) / 1073741824.0);
                snprintf(params, sizeof params, "%.2f B", llama3_model_param_count(m) / 1e9);
                snprintf(ts, sizeof ts, "%.2f ± %.2f", r->median, r->stddev);
                printf("| %-28.28s | %10s | %8s | %7d | %8s | %20s |\n", base, size, params, r->threads, r->test, ts);
            }
        }
    }
    for (int i = 0; res && i < n_res; i++) free(res[i].samples);
    free(res);
    free(ids);
    free(logits);
    llama3_model_free(m);
    return rc ? 1 : 0;
}
