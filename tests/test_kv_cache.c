/* KV-cache types: names, bytes per token (library and `llama3 info`), the row layout of a
 * Q8_0 cache (each head's blocks where l3_kv_head says, quantized like ggml's
 * quantize_row_q8_0_ref), and the refusal of Q8_0 for a head_dim that is not a multiple of 32.
 * usage: test_kv_cache CLI FIXTURES_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "backend/cpu/kv_cache.h"
#include "llama3.h"
#include "tensor_types.h"

/* stdout of a command, malloc'd; *status its exit status */
static char *run(const char *cmd, int *status) {
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 1 << 16, n = 0, k;
    char *out = malloc(cap);
    while (out && n < cap - 1 && (k = fread(out + n, 1, cap - 1 - n, p)) > 0) n += k;
    if (out) out[n] = 0;
    *status = pclose(p);
    return out;
}

static void test_names(void) {
    static const struct { llama3_kv_type t; const char *name; } names[] = {
        { LLAMA3_KV_F16, "f16" }, { LLAMA3_KV_F32, "f32" }, { LLAMA3_KV_Q8_0, "q8_0" } };
    for (int i = 0; i < 3; i++) {
        const char *n = llama3_kv_type_name(names[i].t);
        CHECK(n && !strcmp(n, names[i].name), "name of %d: %s", (int)names[i].t, n ? n : "NULL");
        CHECK(llama3_kv_type_from_name(names[i].name) == (int)names[i].t, "%s", names[i].name);
    }
    CHECK(llama3_kv_type_name((llama3_kv_type)3) == NULL, "type 3 has a name");
    CHECK(llama3_kv_type_from_name("q8") == -1 && llama3_kv_type_from_name("") == -1 &&
          llama3_kv_type_from_name(NULL) == -1, "bad names parse");
}

/* A q8_0 cache of 2 slots x 2 layers x 3 positions x 2 heads of 64: stored rows land where
 * l3_kv_row/l3_kv_head say, as the reference quantizer writes them, without touching others. */
static void test_q8_0_layout(void) {
    l3_kv_cache c;
    llama3_error err = { 0 };
    CHECK(l3_kv_init(&c, LLAMA3_KV_Q8_0, 2, 2, 3, 2, 64, NULL, &err) == 0, "%s", err.msg);
    CHECK(c.head_bytes == 2 * sizeof(l3_block_q8_0) && c.row_bytes == 4 * 34, "head %zu row %zu", c.head_bytes,
          c.row_bytes);
    CHECK(l3_kv_bytes(&c) == 2 * 2 * 2 * 3 * (size_t)(4 * 34), "bytes %zu", l3_kv_bytes(&c));
    memset(c.k, 0xAB, l3_kv_bytes(&c) / 2);
    float src[128];
    for (int i = 0; i < 128; i++) src[i] = (float)((i * 37) % 101 - 50) * (i < 64 ? 0.01f : 3.0f);
    l3_kv_store(&c, l3_kv_row(&c, c.k, 1, 1, 2), src);  /* the last row of the cache */
    l3_kv_store(&c, l3_kv_row(&c, c.k, 0, 1, 0), src);
    uint8_t want[2][68];
    l3_type_get(L3_Q8_0)->from_float(src, want[0], 64);
    l3_type_get(L3_Q8_0)->from_float(src + 64, want[1], 64);
    for (int h = 0; h < 2; h++) {
        CHECK(!memcmp(l3_kv_head(&c, l3_kv_row(&c, c.k, 1, 1, 2), h), want[h], 68), "slot 1 head %d", h);
        CHECK(!memcmp(l3_kv_head(&c, l3_kv_row(&c, c.k, 0, 1, 0), h), want[h], 68), "slot 0 head %d", h);
    }
    /* nothing else written: count bytes still 0xAB */
    size_t untouched = 0;
    for (size_t i = 0; i < l3_kv_bytes(&c) / 2; i++) untouched += c.k[i] == 0xAB;
    size_t coincidental = 0;  /* stored bytes that happen to be 0xAB */
    for (int h = 0; h < 2; h++)
        for (int i = 0; i < 68; i++) coincidental += 2 * (want[h][i] == 0xAB);
    CHECK(untouched + 2 * c.row_bytes - coincidental == l3_kv_bytes(&c) / 2, "bytes outside the two rows written");
    l3_kv_free(&c);
    CHECK(l3_kv_init(&c, LLAMA3_KV_Q8_0, 1, 1, 1, 4, 48, NULL, &err) == LLAMA3_ERR_ARG, "head_dim 48 accepted");
    CHECK(l3_kv_init(&c, (llama3_kv_type)7, 1, 1, 1, 1, 64, NULL, &err) == LLAMA3_ERR_ARG, "type 7 accepted");
}

static void test_model_bytes(const char *cli, const char *fix) {
    char path[1024], cmd[2048];
    llama3_error err = { 0 };
    snprintf(path, sizeof path, "%s/models/gqa/gguf/model-bf16.gguf", fix);
    llama3_model *m = llama3_model_load(path, NULL, &err);
    CHECK(m, "%s", err.msg);
    if (!m) return;
    /* gqa: 3 layers, 2 kv heads of 64: 768 elements per token for keys and values together */
    static const struct { llama3_kv_type t; int64_t bytes; } want[] = {
        { LLAMA3_KV_F32, 768 * 4 }, { LLAMA3_KV_F16, 768 * 2 }, { LLAMA3_KV_Q8_0, 768 / 32 * 34 } };
    for (int i = 0; i < 3; i++) {
        const char *name = llama3_kv_type_name(want[i].t);
        int64_t b = llama3_kv_bytes_per_token(m, want[i].t, &err);
        CHECK(b == want[i].bytes, "%s: %lld bytes per token, expected %lld", name, (long long)b, (long long)want[i].bytes);
        llama3_session *s = llama3_session_new(m, &(llama3_session_options){ .n_ctx = 40, .n_slots = 3, .n_threads = 1,
                                                                              .kv_type = want[i].t }, &err);
        CHECK(s && llama3_session_kv_bytes(s) == (size_t)want[i].bytes * 40 * 3, "%s: session KV bytes %zu", name,
              s ? llama3_session_kv_bytes(s) : 0);
        llama3_session_free(s);
        snprintf(cmd, sizeof cmd, "'%s' info -m '%s' -c 100 --kv-type %s", cli, path, name);
        int st = -1;
        char *out = run(cmd, &st), line[128], line2[128];
        snprintf(line, sizeof line, "kv bytes per token: %lld (%s)\n", (long long)want[i].bytes, name);
        snprintf(line2, sizeof line2, "kv bytes at -c 100: %lld ", (long long)want[i].bytes * 100);
        CHECK(st == 0 && out && strstr(out, line) && strstr(out, line2), "%s: expected '%s' and '%s' in:\n%s", cmd, line,
              line2, out ? out : "");
        free(out);
    }
    llama3_model_free(m);

    /* tok32: head_dim 16 */
    snprintf(path, sizeof path, "%s/models/tok32/gguf/model-bf16.gguf", fix);
    m = llama3_model_load(path, NULL, &err);
    CHECK(m, "%s", err.msg);
    if (!m) return;
    err = (llama3_error){ 0 };
    CHECK(llama3_kv_bytes_per_token(m, LLAMA3_KV_Q8_0, &err) == LLAMA3_ERR_ARG, "tok32 q8_0 bytes per token");
    CHECK(strstr(err.msg, "needs head_dim a multiple of 32 (this model's is 16)"), "message: %s", err.msg);
    err = (llama3_error){ 0 };
    llama3_session *s = llama3_session_new(m, &(llama3_session_options){ .n_ctx = 16, .kv_type = LLAMA3_KV_Q8_0 }, &err);
    CHECK(!s && err.code == LLAMA3_ERR_ARG && strstr(err.msg, "q8_0") && !strchr(err.msg, '\n'),
          "tok32 q8_0 session: %s", err.msg);
    llama3_session_free(s);
    CHECK(llama3_kv_bytes_per_token(m, LLAMA3_KV_F16, &err) == 2 * 2 * 1 * 16 * 2, "tok32 f16 bytes per token");
    llama3_model_free(m);
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: test_kv_cache CLI FIXTURES\n"); return 2; }
    test_names();
    test_q8_0_layout();
    test_model_bytes(argv[1], argv[2]);
    printf("%s\n", check_failures ? "FAILED" : "PASSED");
    return check_failures != 0;
}
