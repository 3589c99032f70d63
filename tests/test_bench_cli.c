/* CLI-level checks of `llama3 synth`, `llama3 info` and `llama3 bench` (no timing assertions).
 *   test_bench_cli CLI OUTDIR [VOCAB.gguf] */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

/* Runs a shell command, returns its exit status and (if out) its stdout, malloc'd. */
static int run(const char *cmdline, char **out) {
    fprintf(stderr, "$ %s\n", cmdline);
    FILE *p = popen(cmdline, "r");
    if (!p) return -1;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t k;
    while (buf && (k = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += k;
        if (cap - n < 2) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
    }
    if (buf) buf[n] = 0;
    int st = pclose(p);
    if (out) *out = buf;
    else free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int files_equal(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int eq = fa && fb;
    while (eq) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) eq = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return eq;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_bench_cli CLI OUTDIR [VOCAB.gguf]\n");
        return 2;
    }
    const char *cli = argv[1], *dir = argv[2], *vocab = argc > 3 ? argv[3] : NULL;
    char cmd[4096], model[1024], model2[1024];
    char *out = NULL;
    snprintf(model, sizeof model, "%s/synth-tiny-q8_0.gguf", dir);
    snprintf(model2, sizeof model2, "%s/synth-tiny-q8_0-t1.gguf", dir);

    snprintf(cmd, sizeof cmd, "'%s' synth --shape tiny --type q8_0 -o '%s' -t 2", cli, model);
    CHECK(run(cmd, NULL) == 0, "synth failed");
    /* the seed alone decides the weights, not the thread count */
    snprintf(cmd, sizeof cmd, "'%s' synth --shape tiny --type q8_0 -o '%s' -t 1", cli, model2);
    CHECK(run(cmd, NULL) == 0, "synth -t 1 failed");
    CHECK(files_equal(model, model2), "synth output depends on the thread count");
    unlink(model2);

    snprintf(cmd, sizeof cmd, "'%s' info -m '%s'", cli, model);
    CHECK(run(cmd, &out) == 0, "info failed");
    CHECK(out && strstr(out, "vocab_size:         128256"), "info: %s", out ? out : "");
    CHECK(out && strstr(out, "n_layers:           2"), "info: %s", out ? out : "");
    CHECK(out && strstr(out, "tokenizer:          128256 tokens"), "info: %s", out ? out : "");
    free(out);

    snprintf(cmd, sizeof cmd, "'%s' bench -m '%s' -p 8 -n 4 -r 1 --json -t 1,2", cli, model);
    CHECK(run(cmd, &out) == 0, "bench failed");
    json_error_t jerr;
    json_t *root = out ? json_loads(out, 0, &jerr) : NULL;
    CHECK(root && json_is_array(root), "bench output is not a JSON array: %s (%s)", root ? "" : jerr.text,
          out ? out : "");
    int seen_pp[3] = { 0 }, seen_tg[3] = { 0 };
    for (size_t i = 0; root && i < json_array_size(root); i++) {
        json_t *o = json_array_get(root, i);
        const char *test = json_string_value(json_object_get(o, "test"));
        json_int_t th = json_integer_value(json_object_get(o, "threads"));
        double ts = json_number_value(json_object_get(o, "tokens_per_s"));
        CHECK(test && (th == 1 || th == 2), "entry %zu: test/threads", i);
        CHECK(ts > 0, "entry %zu: tokens_per_s %g", i, ts);
        CHECK(json_is_number(json_object_get(o, "stddev")), "entry %zu: stddev", i);
        if (test && (th == 1 || th == 2) && ts > 0) {
            if (!strcmp(test, "pp8")) seen_pp[th]++;
            if (!strcmp(test, "tg4")) seen_tg[th]++;
        }
    }
    CHECK(seen_pp[1] == 1 && seen_pp[2] == 1 && seen_tg[1] == 1 && seen_tg[2] == 1,
          "expected pp8 and tg4 for 1 and 2 threads: %s", out ? out : "");
    json_decref(root);
    free(out);

    snprintf(cmd, sizeof cmd, "'%s' bench -m '%s' -p 8 -n 4 -r 1", cli, model);
    CHECK(run(cmd, &out) == 0 && out && strstr(out, "pp8") && strstr(out, "tg4"), "bench table: %s",
          out ? out : "");
    free(out);

    /* batched decode: 3 sequences together, 4 steps, aggregate over 12 tokens */
    snprintf(cmd, sizeof cmd, "'%s' bench -m '%s' -p 0 -n 4 -b 3 -r 1 --json", cli, model);
    root = run(cmd, &out) == 0 && out ? json_loads(out, 0, &jerr) : NULL;
    json_t *o = root && json_array_size(root) == 1 ? json_array_get(root, 0) : NULL;
    CHECK(o && !strcmp(json_string_value(json_object_get(o, "test")) ? json_string_value(json_object_get(o, "test")) : "", "tg4x3") &&
              json_integer_value(json_object_get(o, "n_tokens")) == 12 &&
              json_number_value(json_object_get(o, "tokens_per_s")) > 0,
          "bench -b 3: %s", out ? out : "");
    json_decref(root);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' bench -m '%s' -b 65 2>&1", cli, model);
    CHECK(run(cmd, &out) != 0 && out && strstr(out, "invalid batch"), "bench -b 65: %s", out ? out : "");
    free(out);

    if (vocab) {
        snprintf(model2, sizeof model2, "%s/synth-tiny-f16-vocab.gguf", dir);
        snprintf(cmd, sizeof cmd, "'%s' synth --shape tiny --type f16 --vocab '%s' -o '%s' --seed 7", cli, vocab, model2);
        CHECK(run(cmd, NULL) == 0, "synth --vocab failed");
        snprintf(cmd, sizeof cmd, "'%s' info -m '%s'", cli, model2);
        CHECK(run(cmd, &out) == 0 && out && strstr(out, "tokenizer:          128256 tokens"), "info (vocab): %s",
              out ? out : "");
        free(out);
        unlink(model2);
    }

    /* bad input: one-line error, non-zero exit, nothing written */
    snprintf(cmd, sizeof cmd, "'%s' synth --shape nope --type q8_0 -o '%s/never.gguf' 2>&1", cli, dir);
    CHECK(run(cmd, &out) != 0 && out && strstr(out, "unknown shape"), "bad shape: %s", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' synth --shape tiny --type q9_9 -o '%s/never.gguf' 2>&1", cli, dir);
    CHECK(run(cmd, &out) != 0 && out && strstr(out, "unknown type"), "bad type: %s", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "%s/never.gguf", dir);
    CHECK(access(cmd, F_OK) != 0, "a failed synth left a file");
    snprintf(cmd, sizeof cmd, "'%s' bench -p 8 2>&1", cli);
    CHECK(run(cmd, &out) != 0 && out && strstr(out, "no model"), "bench without -m: %s", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' bench -m '%s' -t 0 2>&1", cli, model);
    CHECK(run(cmd, &out) != 0 && out && strstr(out, "thread"), "bench -t 0: %s", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' synth --help", cli);
    CHECK(run(cmd, &out) == 0 && out && strstr(out, "usage: llama3 synth"), "synth --help");
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' bench --help", cli);
    CHECK(run(cmd, &out) == 0 && out && strstr(out, "usage: llama3 bench"), "bench --help");
    free(out);

    unlink(model);
    if (check_failures) fprintf(stderr, "%d check(s) failed\n", check_failures);
    else printf("ok\n");
    return check_failures ? 1 : 0;
}
