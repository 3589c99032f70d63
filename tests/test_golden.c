/* Golden test: runs the llama3 CLI (`logits` in prefill and decode modes, greedy `run`) on a
 * model and compares with logits from Meta's reference model.py stored in a safetensors file.
 *
 * usage: test_golden CLI MODEL GOLDEN [--kv f32|f16|q8_0] [--rel TOL] [--argmax FRAC] [--greedy]
 *                    [--prompt-int8 1|2]
 *                    [--modes prefill,decode]
 * Prints one line per check and exits non-zero if any fails. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/safetensors.h"

static int failures;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s: ", ok ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (!ok) failures++;
}

static float *read_f32(const char *path, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    float *x = malloc(n * sizeof *x);
    size_t r = x ? fread(x, sizeof *x, n, f) : 0;
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (r != n || extra) { free(x); return NULL; }
    return x;
}

static const l3_st_tensor *need(const l3_safetensors *st, const char *name) {
    const l3_st_tensor *t = l3_st_find(st, name);
    if (!t) { fprintf(stderr, "golden lacks tensor '%s'\n", name); exit(2); }
    return t;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[b]) b = i;
    return b;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: test_golden CLI MODEL GOLDEN [options]\n"); return 2; }
    const char *cli = argv[1], *model = argv[2], *golden = argv[3], *kv = "f32", *modes = "prefill,decode", *levels = "1";
    double rel_tol = 1e-4, argmax_min = 1.0;
    int greedy = 0;
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--kv") && i + 1 < argc) kv = argv[++i];
        else if (!strcmp(argv[i], "--rel") && i + 1 < argc) rel_tol = atof(argv[++i]);
        else if (!strcmp(argv[i], "--argmax") && i + 1 < argc) argmax_min = atof(argv[++i]);
        else if (!strcmp(argv[i], "--modes") && i + 1 < argc) modes = argv[++i];
        else if (!strcmp(argv[i], "--greedy")) greedy = 1;
        else if (!strcmp(argv[i], "--prompt-int8") && i + 1 < argc) levels = argv[++i];
        else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
    }
    llama3_error err = { 0 };
    l3_safetensors *st;
    if (l3_st_open(golden, &st, &err)) { fprintf(stderr, "%s\n", err.msg); return 2; }
    const l3_st_tensor *tok = need(st, "tokens");
    const char *pl = l3_st_meta(st, "prompt_len");
    if (!pl || strcmp(tok->dtype, "I32")) { fprintf(stderr, "golden: bad tokens/prompt_len\n"); return 2; }
    int T = (int)tok->shape[0], prompt_len = atoi(pl);
    int32_t *ids = malloc((size_t)T * sizeof *ids);
    memcpy(ids, tok->data, (size_t)T * sizeof *ids);

    /* Full logits for small vocabularies; top-32 + a few whole rows for the 128K one. */
    const l3_st_tensor *full = l3_st_find(st, "logits");
    const l3_st_tensor *rows = full ? NULL : need(st, "rows");
    int vocab = full ? (int)full->shape[1] : (int)rows->shape[1];

    char tmpdir[] = "/tmp/l3goldenXXXXXX";
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 2; }
    char ids_path[256], out_path[256], cmd[2048];
    snprintf(ids_path, sizeof ids_path, "%s/ids.i32", tmpdir);
    snprintf(out_path, sizeof out_path, "%s/out.f32", tmpdir);
    FILE *f = fopen(ids_path, "wb");
    fwrite(ids, sizeof *ids, (size_t)T, f);
    fclose(f);

    const char *mode_list[] = { "prefill", "decode" };
    for (int mi = 0; mi < 2; mi++) {
        if (!strstr(modes, mode_list[mi])) continue;
        snprintf(cmd, sizeof cmd, "'%s' logits -m '%s' --ids '%s' -o '%s' --mode %s --kv-type %s --prompt-int8 %s", cli,
                 model, ids_path, out_path, mode_list[mi], kv, levels);
        int rc = system(cmd);
        check(rc == 0, "%s: llama3 logits exits 0", mode_list[mi]);
        if (rc) continue;
        float *ours = read_f32(out_path, (size_t)T * vocab);
        check(ours != NULL, "%s: output has %d x %d floats", mode_list[mi], T, vocab);
        if (!ours) continue;
        double num = 0, den = 0;
        int agree = 0, n_rows = 0;
        if (full) {
            float *ref = malloc(full->nbytes);
            memcpy(ref, full->data, full->nbytes);
            for (size_t i = 0; i < (size_t)T * vocab; i++) {
                double d = (double)ours[i] - ref[i];
                num += d * d;
                den += (double)ref[i] * ref[i];
            }
            for (int t = 0; t < T; t++, n_rows++)
                agree += argmax(ours + (size_t)t * vocab, vocab) == argmax(ref + (size_t)t * vocab, vocab);
            free(ref);
        } else {
            /* whole rows at row_ids, plus the top-32 logits of every position */
            const l3_st_tensor *row_ids = need(st, "row_ids"), *top_ids = need(st, "top_ids"), *top_logits = need(st, "top_logits");
            int nr = (int)rows->shape[0], k = (int)top_ids->shape[1];
            float *rv = malloc(rows->nbytes), *tl = malloc(top_logits->nbytes);
            int32_t *ri = malloc(row_ids->nbytes), *ti = malloc(top_ids->nbytes);
            memcpy(rv, rows->data, rows->nbytes);
            memcpy(tl, top_logits->data, top_logits->nbytes);
            memcpy(ri, row_ids->data, row_ids->nbytes);
            memcpy(ti, top_ids->data, top_ids->nbytes);
            for (int r = 0; r < nr; r++)
                for (int v = 0; v < vocab; v++) {
                    double d = (double)ours[(size_t)ri[r] * vocab + v] - rv[(size_t)r * vocab + v];
                    num += d * d;
                    den += (double)rv[(size_t)r * vocab + v] * rv[(size_t)r * vocab + v];
                }
            for (int t = 0; t < T; t++, n_rows++) {
                for (int j = 0; j < k; j++) {
                    double d = (double)ours[(size_t)t * vocab + ti[t * k + j]] - tl[t * k + j];
                    num += d * d;
                    den += (double)tl[t * k + j] * tl[t * k + j];
                }
                agree += argmax(ours + (size_t)t * vocab, vocab) == ti[t * k];
            }
            free(rv); free(tl); free(ri); free(ti);
        }
        double rel = sqrt(num / den), frac = (double)agree / n_rows;
        check(rel <= rel_tol, "%s: relative L2 error %.3g <= %.3g", mode_list[mi], rel, rel_tol);
        check(frac >= argmax_min, "%s: argmax agreement %d/%d = %.3f >= %.3f", mode_list[mi], agree, n_rows, frac, argmax_min);
        free(ours);
        remove(out_path);
    }

    if (greedy) {
        /* greedy `run` from the prompt must reproduce the golden continuation exactly */
        size_t off = 0;
        char *list = malloc((size_t)prompt_len * 12 + 1);
        list[0] = 0;
        for (int i = 0; i < prompt_len; i++) off += (size_t)sprintf(list + off, i ? ",%d" : "%d", ids[i]);
        char *c = malloc(strlen(list) + 1024);
        sprintf(c, "'%s' run -m '%s' --prompt-ids %s -n %d --temp 0 --ignore-eos --print-ids --kv-type %s 2>/dev/null > '%s/gen.txt'",
                cli, model, list, T - prompt_len, kv, tmpdir);
        int rc = system(c);
        check(rc == 0, "greedy: llama3 run exits 0");
        char gp[300];
        snprintf(gp, sizeof gp, "%s/gen.txt", tmpdir);
        FILE *g = fopen(gp, "r");
        int n = 0, ok = g != NULL, v;
        while (g && fscanf(g, "%d", &v) == 1) {
            if (prompt_len + n >= T || v != ids[prompt_len + n]) ok = 0;
            n++;
        }
        if (g) fclose(g);
        check(ok && n == T - prompt_len, "greedy: %d generated ids equal the golden continuation of %d", n, T - prompt_len);
        remove(gp);
        free(list);
        free(c);
    }
    remove(ids_path);
    rmdir(tmpdir);
    free(ids);
    l3_st_close(st);
    printf("%s\n", failures ? "FAILED" : "PASSED");
    return failures ? 1 : 0;
}
