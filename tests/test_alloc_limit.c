/* The allocation cap (llama3_load_options.max_alloc_bytes): the helper's arithmetic, and that
 * loads and sessions (KV cache, buffers) refuse cleanly (LLAMA3_ERR_MEMORY, a message naming
 * the allocation) under a small cap while the default cap loads the fixtures.
 * usage: test_alloc_limit FIXTURES */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc_limit.h"
#include "formats/torch_pth.h"
#include "formats/zip.h"
#include "fuzz_common.h"

static int failures;
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c); failures++; } } while (0)

static void load(const char *path, size_t cap, int expect_ok) {
    llama3_load_options o = { .max_alloc_bytes = cap };
    llama3_error err = { 0 };
    llama3_model *m = llama3_model_load(path, &o, &err);
    if (expect_ok) {
        if (!m) fprintf(stderr, "%s (cap %zu): %s\n", path, cap, err.msg);
        CHECK(m != NULL);
    } else {
        CHECK(m == NULL);
        CHECK(err.code == LLAMA3_ERR_MEMORY);
        CHECK(strstr(err.msg, "limit") != NULL);
        CHECK(strchr(err.msg, '\n') == NULL);
        printf("refused as expected: %s\n", err.msg);
    }
    llama3_model_free(m);
}

/* A GGUF header of n one-element tensors (all at offset 0, no keys): the reader must reject it
 * (no architecture) in well under a second, not in quadratic time. */
static void many_tensors(const char *path, int n) {
    FILE *f = fopen(path, "wb");
    if (!f) { failures++; return; }
    uint32_t v3 = 3, one = 1, f32 = 0;
    uint64_t nt = (uint64_t)n, nkv = 0, len = 8, dim = 1, off = 0;
    fwrite("GGUF", 1, 4, f);
    fwrite(&v3, 4, 1, f); fwrite(&nt, 8, 1, f); fwrite(&nkv, 8, 1, f);
    long size = 24;
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%07d", i);
        fwrite(&len, 8, 1, f); fwrite(name, 1, 8, f); fwrite(&one, 4, 1, f); fwrite(&dim, 8, 1, f);
        fwrite(&f32, 4, 1, f); fwrite(&off, 8, 1, f);
        size += 40;
    }
    static const char zeros[64];
    fwrite(zeros, 1, (size_t)(32 - size % 32) % 32 + 32, f);
    fclose(f);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Runs the pickle machine on pkl (storages resolved in z); returns the error message. */
static void pickle(const fz_buf *pkl, const l3_zip *z, const char *expect, double max_s) {
    l3_pth *p = calloc(1, sizeof *p);
    llama3_error e = { 0 };
    double t0 = now();
    int rc = l3_pth_parse_pickle(p, pkl->p, pkl->n, z, "a", &e);
    double dt = now() - t0;
    printf("pickle of %zu bytes: %.3f s: %s\n", pkl->n, dt, rc ? e.msg : "ok");
    CHECK(rc != 0 && strstr(e.msg, expect) != NULL);
    CHECK(dt < max_s);
    l3_pth_close(p);
}

/* The cap bounds a session's KV cache and buffers too: a context whose cache passes the cap
 * is refused with a one-line message naming the cache, before anything is allocated. */
static void sessions(const char *fixtures) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/mqa31/gguf/model-f32.gguf", fixtures);
    llama3_load_options o = { .max_alloc_bytes = 16u << 20 };
    llama3_error e = { 0 };
    llama3_model *m = llama3_model_load(path, &o, &e);
    CHECK(m != NULL);
    if (!m) return;
    /* 2 layers x 128 values x 4 bytes x (keys + values) = 2 KiB per position: two slots of
     * 8192 are 32 MiB */
    llama3_session_options so = { .n_ctx = 8192, .n_slots = 2, .kv_type = LLAMA3_KV_F32, .n_threads = 1 };
    llama3_session *s = llama3_session_new(m, &so, &e);
    CHECK(s == NULL && e.code == LLAMA3_ERR_MEMORY && strstr(e.msg, "KV cache") && strstr(e.msg, "limit") &&
          !strchr(e.msg, '\n'));
    printf("refused as expected: %s\n", e.msg);
    llama3_session_free(s);
    so.n_ctx = 1024, so.n_slots = 1;  /* 2 MiB of cache and ~7 MiB of buffers (512 rows) fit */
    s = llama3_session_new(m, &so, &e);
    if (!s) fprintf(stderr, "session under the cap: %s\n", e.msg);
    CHECK(s != NULL);
    llama3_session_free(s);
    so.n_slots = 8;   /* eight slots of 1024 positions: 16 MiB of cache and the buffers do not */
    s = llama3_session_new(m, &so, &e);
    CHECK(s == NULL && e.code == LLAMA3_ERR_MEMORY);
    llama3_session_free(s);
    llama3_model_free(m);
}

static void pickle_limits(void) {
    /* LONG_BINPUT 16M-1: the memo must not grow to 128 MiB for a 9-byte pickle. */
    fz_buf b = { 0 };
    fz_put(&b, "\x80\x02N" "r\xff\xff\xff\x00.", 9);
    pickle(&b, NULL, "memo index too large", 1.0);
    fz_free(&b);
    /* "Na" (append None to a list) 1.1M times: at most 1M values. */
    fz_put(&b, "\x80\x02]", 3);
    for (int i = 0; i < 1100000; i++) fz_put(&b, "Na", 2);
    fz_put(&b, ".", 1);
    pickle(&b, NULL, "values", 5.0);
    fz_free(&b);
    /* 50,000 zip entries, 300,000 storage lookups (one persistent id, memoised): lookups by
     * name must not scan the directory. */
    enum { N = 50000 };
    char **names = malloc(N * sizeof *names);
    fz_buf *data = calloc(N, sizeof *data);
    for (int i = 0; i < N; i++) {
        names[i] = malloc(24);
        snprintf(names[i], 24, "a/data/%d", i);
    }
    fz_buf zipb = { 0 };
    fz_zip(&zipb, N, (const char *const *)names, data);
    l3_zip z;
    llama3_error e;
    CHECK(l3_zip_open(&z, zipb.p, zipb.n, "many.zip", &e) == 0);
    fz_put(&b, "\x80\x02(\x8c\x07storage" "ctorch\nFloatStorage\n" "\x8c\x05" "49999" "\x8c\x03" "cpu" "K\x00tq\x00", 49);
    for (int i = 0; i < 300000; i++) fz_put(&b, "h\x00Q", 3);
    fz_put(&b, ".", 1);
    pickle(&b, &z, "STOP", 3.0);
    fz_free(&b);
    l3_zip_close(&z);
    fz_free(&zipb);
    for (int i = 0; i < N; i++) free(names[i]);
    free(names);
    free(data);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: test_alloc_limit FIXTURES\n"); return 2; }
    llama3_error err;
    CHECK(l3_alloc_limit(NULL) == L3_ALLOC_DEFAULT_MAX);
    llama3_load_options o = { .max_alloc_bytes = 1000 };
    CHECK(l3_alloc_limit(&o) == 1000);
    CHECK(l3_alloc_check(1000, &o, "x", &err) == 0);
    CHECK(l3_alloc_check(1001, &o, "x", &err) == LLAMA3_ERR_MEMORY);
    CHECK(l3_alloc_check_array(250, 4, &o, "x", NULL, &err) == 0);
    CHECK(l3_alloc_check_array(251, 4, &o, "x", NULL, &err) == LLAMA3_ERR_MEMORY);
    CHECK(l3_alloc_check_array(UINT64_MAX / 2, 3, NULL, "x", NULL, &err) == LLAMA3_ERR_MEMORY);  /* wraps */
    uint64_t bytes = 0;
    CHECK(l3_alloc_check_array(3, 5, NULL, "x", &bytes, &err) == 0 && bytes == 15);
    l3_alloc_budget b;
    l3_alloc_budget_init(&b, &o);
    CHECK(l3_alloc_take(&b, 600, "a", &err) == 0);
    CHECK(l3_alloc_take(&b, 401, "b", &err) == LLAMA3_ERR_MEMORY && b.used == 600);
    CHECK(l3_alloc_take(&b, 400, "c", &err) == 0 && b.used == 1000);
    CHECK(l3_alloc_take(&b, UINT64_MAX, "d", &err) == LLAMA3_ERR_MEMORY);

    char path[1024];
    snprintf(path, sizeof path, "%s/stories260K/stories260K.gguf", argv[1]);
    load(path, 0, 1);
    load(path, 1000, 0);           /* the float32 norm copies alone need 2.8 KB */
    snprintf(path, sizeof path, "%s/models/gqa/meta2", argv[1]);
    load(path, 0, 1);
    load(path, 100000, 0);         /* merging the shards needs megabytes */
    snprintf(path, sizeof path, "%s/models/gqa/hf", argv[1]);
    load(path, 1 << 20, 1);        /* mapped, nothing big copied */

    /* Quadratic-time checks on untrusted headers are a denial of service: 200,000 tensor infos
     * (8 MB) took ~40 s of CPU with a pairwise duplicate-name check. */
    char tmp[] = "/tmp/llama3-many-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd >= 0) {
        many_tensors(tmp, 200000);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        llama3_error e2 = { 0 };
        llama3_model *m = llama3_model_load(tmp, NULL, &e2);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double dt = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
        printf("200000 tensor infos rejected in %.3f s: %s\n", dt, e2.msg);
        CHECK(m == NULL);
        CHECK(dt < 5.0);
        llama3_model_free(m);
        unlink(tmp);
        close(fd);
    }
    sessions(argv[1]);
    pickle_limits();
    if (failures) { fprintf(stderr, "%d checks failed\n", failures); return 1; }
    printf("alloc limit: all checks passed\n");
    return 0;
}
