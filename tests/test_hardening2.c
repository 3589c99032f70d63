/* Hardening, second audit: memory amplification and quadratic time in the tokenizer sources
 * and the format readers, and the allocation cap on Hugging Face alignment copies.
 * usage: test_hardening2 [FIXTURES] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/gguf.h"
#include "formats/torch_pth.h"
#include "fuzz_common.h"
#include "tokenizer/tokenizer.h"

static int failures;
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c); failures++; } } while (0)

static const char *g_dir;  /* scratch folder */

/* A refusal: the expected code, one line naming the problem. */
static void refused(const llama3_error *e, int code, const char *expect) {
    printf("  refused: %s\n", e->msg);
    CHECK(e->code == code);
    CHECK(strstr(e->msg, expect) != NULL);
    CHECK(strchr(e->msg, '\n') == NULL);
}

/* A file of `size` bytes (sparse) starting with `head`. */
static const char *sparse_file(const char *name, const char *head, long size) {
    const char *path = fz_write(g_dir, name, head, strlen(head));
    CHECK(truncate(path, size) == 0);
    return path;
}

/* ---- tokenizer.json ---------------------------------------------------------------------- */

/* A minimal tokenizer.json around `vocab` (a JSON object), with Meta's pre-tokenizer. */
static const char *hf_json(const char *vocab) {
    static const char pat[] =
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    fz_buf b = { 0 };
    fz_puts(&b, "{\"added_tokens\": [], \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"");
    for (const char *p = pat; *p; p++) {  /* JSON-escape the backslashes */
        if (*p == '\\') fz_put_u8(&b, '\\');
        fz_put_u8(&b, (uint8_t)*p);
    }
    fz_puts(&b, "\"}}, \"model\": {\"type\": \"BPE\", \"merges\": [], \"vocab\": ");
    fz_puts(&b, vocab);
    fz_puts(&b, "}}");
    const char *path = fz_write(g_dir, "tokenizer.json", b.p, b.n);
    fz_free(&b);
    return path;
}

static void hf_json_limits(const char *fixtures) {
    llama3_error e = { 0 };
    printf("tokenizer.json: one id of 2^24 - 1 in a tiny file\n");
    llama3_tokenizer *t = llama3_tokenizer_load(hf_json("{\"a\": 16777215}"), &e);
    CHECK(t == NULL);
    refused(&e, LLAMA3_ERR_FORMAT, "largest token id 16777215");
    llama3_tokenizer_free(t);

    printf("tokenizer.json: a few unused ids are still accepted by the bound\n");
    e = (llama3_error){ 0 };
    t = llama3_tokenizer_load(hf_json("{\"a\": 1000}"), &e);
    CHECK(t == NULL);  /* refused later: no token for every byte */
    refused(&e, LLAMA3_ERR_FORMAT, "no token for byte");
    llama3_tokenizer_free(t);

    printf("tokenizer.json over 64 MiB\n");
    e = (llama3_error){ 0 };
    t = llama3_tokenizer_load(sparse_file("tokenizer.json", "{", (64L << 20) + 1), &e);
    CHECK(t == NULL);
    refused(&e, LLAMA3_ERR_FORMAT, "larger than");
    llama3_tokenizer_free(t);
    fz_unlink(g_dir, "tokenizer.json");

    printf("tokenizer_config.json over 4 MiB\n");
    char json[1024];
    snprintf(json, sizeof json, "%s/tokenizer/llama3-tokenizer.json", fixtures);
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "%s", sparse_file("tokenizer_config.json", "{", (4L << 20) + 1));
    e = (llama3_error){ 0 };
    t = NULL;
    CHECK(l3_tok_load_hf_json(json, cfg, &t, &e) != 0 && t == NULL);
    refused(&e, LLAMA3_ERR_FORMAT, "larger than");
    fz_unlink(g_dir, "tokenizer_config.json");
}

/* ---- tokenizer.model ---------------------------------------------------------------------- */

static void b64(const uint8_t *s, size_t n, fz_buf *out) {
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
        char q[4] = { a[v >> 18 & 63], a[v >> 12 & 63], i + 1 < n ? a[v >> 6 & 63] : '=', i + 2 < n ? a[v & 63] : '=' };
        fz_put(out, q, 4);
    }
}

/* The tokenizer hash before it was seeded, one 8-byte step. For 16-byte keys, a second block
 * equal to (state after the first) ^ X leaves the same state whatever the first block was, so
 * an attacker could give any number of tokens one hash (one probe chain: quadratic loading). */
static uint64_t unseeded_step(uint64_t h, uint64_t w) {
    h = (h ^ w) * 0xFF51AFD7ED558CCDull;
    return h ^ (h >> 32);
}

static void tiktoken_limits(void) {
    enum { N = 150000 };  /* ~20 s to load with the unseeded hash, ~30 ms seeded (-O2) */
    printf("tokenizer.model: %d tokens that shared one hash before seeding\n", N);
    fz_buf b = { 0 };
    char num[32];
    int rank = 0;
    for (int c = 0; c < 256; c++, rank++) {
        uint8_t byte = (uint8_t)c;
        b64(&byte, 1, &b);
        snprintf(num, sizeof num, " %d\n", rank);
        fz_puts(&b, num);
    }
    const uint64_t h0 = 0x9E3779B97F4A7C15ull ^ (16 * 0xD6E8FEB86659FD93ull);
    uint8_t (*keys)[16] = malloc((size_t)N * 16);
    for (int i = 0; i < N; i++, rank++) {
        uint64_t w1 = (uint64_t)i * 0x9E3779B97F4A7C15ull + 0x0101010101010101ull;
        uint64_t w2 = unseeded_step(h0, w1) ^ 0x5DEECE66Dull;
        memcpy(keys[i], &w1, 8);
        memcpy(keys[i] + 8, &w2, 8);
        b64(keys[i], 16, &b);
        snprintf(num, sizeof num, " %d\n", rank);
        fz_puts(&b, num);
    }
    const char *path = fz_write(g_dir, "tokenizer.model", b.p, b.n);
    fz_free(&b);
    llama3_error e = { 0 };
    double t0 = l3_time_s();
    llama3_tokenizer *t = llama3_tokenizer_load(path, &e);
    double dt = l3_time_s() - t0;
    printf("  loaded in %.3f s%s%s\n", dt, t ? "" : ": ", t ? "" : e.msg);
    CHECK(t != NULL);
    CHECK(dt < 2.0);
    for (int i = 0; t && i < N; i += 997) CHECK(l3_tok_lookup(t, (const char *)keys[i], 16) == 256 + i);
    llama3_tokenizer_free(t);
    free(keys);

    /* One line past the vocabulary limit (2^24 with the 256 specials): refused before any
     * table is allocated, and the count is a size_t (no int wrap past 2^31 lines). */
    printf("tokenizer.model: %d lines\n", (1 << 24) - 255);
    static char lines[1 << 20];
    for (size_t i = 0; i < sizeof lines; i += 2) { lines[i] = 'A'; lines[i + 1] = '\n'; }
    fz_buf big = { 0 };
    size_t want = ((size_t)(1 << 24) - 255) * 2;
    while (big.n < want) fz_put(&big, lines, want - big.n < sizeof lines ? want - big.n : sizeof lines);
    path = fz_write(g_dir, "tokenizer.model", big.p, big.n);
    fz_free(&big);
    e = (llama3_error){ 0 };
    t = llama3_tokenizer_load(path, &e);
    CHECK(t == NULL);
    refused(&e, LLAMA3_ERR_FORMAT, "token lines");
    llama3_tokenizer_free(t);
    fz_unlink(g_dir, "tokenizer.model");
}

/* ---- GGUF ------------------------------------------------------------------------------------ */

static void put_str(fz_buf *b, const char *s) {
    fz_put_u64(b, strlen(s));
    fz_puts(b, s);
}

/* n_keys u32 keys "k%06d" = i (plus a repeat of key 5 = 999 when dup), n_tensors one-element
 * F32 tensors "t%07d", each in its own 32-byte slot; claims claim_keys keys. */
static const char *gguf_file(int n_keys, int dup, uint64_t claim_keys, int n_tensors) {
    fz_buf b = { 0 };
    fz_puts(&b, "GGUF");
    fz_put_u32(&b, 3);
    fz_put_u64(&b, (uint64_t)n_tensors);
    fz_put_u64(&b, claim_keys);
    char name[32];
    for (int i = 0; i < n_keys + dup; i++) {
        snprintf(name, sizeof name, "k%06d", i < n_keys ? i : 5);
        put_str(&b, name);
        fz_put_u32(&b, GGUF_U32);
        fz_put_u32(&b, i < n_keys ? (uint32_t)i : 999);
    }
    for (int i = 0; i < n_tensors; i++) {
        snprintf(name, sizeof name, "t%07d", i);
        put_str(&b, name);
        fz_put_u32(&b, 1);
        fz_put_u64(&b, 1);
        fz_put_u32(&b, 0);  /* F32 */
        fz_put_u64(&b, 32 * (uint64_t)i);
    }
    while (b.n % 32) fz_put_u8(&b, 0);
    for (int i = 0; i < (n_tensors ? 32 * (n_tensors - 1) : 0) + 4; i++) fz_put_u8(&b, 0);  /* the tensors' data */
    const char *path = fz_write(g_dir, "m.gguf", b.p, b.n);
    fz_free(&b);
    return path;
}

static void gguf_limits(void) {
    printf("GGUF: more keys claimed than 13-byte keys could fill the file\n");
    /* 10 keys of 8 + 7 + 4 + 4 = 23 bytes, padding and 4 bytes of data: a 260-byte file, whose
     * 236 bytes after the counts could hold at most 18 minimal (13-byte) keys. */
    l3_gguf *g = NULL;
    llama3_error e = { 0 };
    CHECK(l3_gguf_open(gguf_file(10, 0, 19, 0), &g, &e) != 0 && g == NULL);
    refused(&e, LLAMA3_ERR_FORMAT, "more than the file can hold");
    e = (llama3_error){ 0 };
    CHECK(l3_gguf_open(gguf_file(10, 0, 18, 0), &g, &e) != 0 && g == NULL);  /* fits the bound, truncated */
    refused(&e, LLAMA3_ERR_FORMAT, "truncated");

    printf("GGUF: a key repeated among 1000 is refused\n");
    e = (llama3_error){ 0 };
    CHECK(l3_gguf_open(gguf_file(1000, 1, 1001, 0), &g, &e) != 0 && g == NULL);
    refused(&e, LLAMA3_ERR_FORMAT, "metadata key 'k000005' appears twice");

    printf("GGUF: key lookups\n");
    e = (llama3_error){ 0 };
    CHECK(l3_gguf_open(gguf_file(1000, 0, 1000, 0), &g, &e) == 0);
    if (g) {
        char name[32];
        for (int i = 0; i < 1000; i++) {
            snprintf(name, sizeof name, "k%06d", i);
            const l3_gguf_kv *kv = l3_gguf_find(g, name);
            CHECK(kv && kv->v.u == (uint64_t)i);
        }
        CHECK(l3_gguf_find(g, "k") == NULL && l3_gguf_find(g, "k001000") == NULL && l3_gguf_find(g, "") == NULL);
        l3_gguf_close(g);
    }

    enum { NT = 200000 };
    printf("GGUF: %d tensor lookups among %d tensors\n", NT, NT);
    e = (llama3_error){ 0 };
    g = NULL;
    CHECK(l3_gguf_open(gguf_file(0, 0, 0, NT), &g, &e) == 0);
    if (g) {
        double t0 = l3_time_s();
        char name[32];
        int found = 0;
        for (int i = 0; i < NT; i++) {
            snprintf(name, sizeof name, "t%07d", i);
            const l3_gguf_tensor *t = l3_gguf_find_tensor(g, name);
            found += t && t == &g->tensors[i];
        }
        double dt = l3_time_s() - t0;
        printf("  %d found in %.3f s\n", found, dt);
        CHECK(found == NT);
        CHECK(dt < 3.0);
        CHECK(l3_gguf_find_tensor(g, "t") == NULL && l3_gguf_find_tensor(g, "t9999999") == NULL);
        CHECK(l3_gguf_find(g, "general.alignment") == NULL);
        l3_gguf_close(g);
    }
    fz_unlink(g_dir, "m.gguf");
}

/* ---- PyTorch ------------------------------------------------------------------------------- */

static void pth_lookup(void) {
    printf("pth: every tensor found by name\n");
    fz_buf b = { 0 };
    fz_tiny_pth(&b);
    const char *path = fz_write(g_dir, "consolidated.00.pth", b.p, b.n);
    fz_free(&b);
    l3_pth *p = NULL;
    llama3_error e = { 0 };
    CHECK(l3_pth_open(path, &p, &e) == 0);
    if (p) {
        CHECK(p->n_tensors > 5);
        for (int i = 0; i < p->n_tensors; i++) CHECK(l3_pth_find(p, p->tensors[i].name) == &p->tensors[i]);
        CHECK(l3_pth_find(p, "") == NULL && l3_pth_find(p, "zzz") == NULL && l3_pth_find(p, "layers.0") == NULL);
        CHECK(l3_pth_find(p, "tok_embeddings.weight") != NULL);
        l3_pth_close(p);
    }
    fz_unlink(g_dir, "consolidated.00.pth");
}

/* ---- Hugging Face alignment copies under max_alloc_bytes ------------------------------------ */

static void hf_aligned_copy(void) {
    printf("HF: copies of misaligned tensors count against max_alloc_bytes\n");
    fz_buf st = { 0 }, out = { 0 };
    fz_tiny_safetensors(&st, -1);
    uint64_t n;
    memcpy(&n, st.p, 8);
    uint64_t pad = (1 + 4 - (8 + n) % 4) % 4;  /* data section at 1 mod 4: F32 misaligned */
    fz_put_u64(&out, n + pad);
    fz_put(&out, st.p + 8, n);
    for (uint64_t i = 0; i < pad; i++) fz_put_u8(&out, ' ');
    fz_put(&out, st.p + 8 + n, st.n - 8 - n);
    const char *dir = fz_dir("hf_misaligned");
    fz_write(dir, "model.safetensors", out.p, out.n);
    fz_write(dir, "config.json", FZ_HF_CONFIG, strlen(FZ_HF_CONFIG));
    fz_free(&st);
    fz_free(&out);
    char path[1024];
    snprintf(path, sizeof path, "%s", dir);
    llama3_load_options o = { .max_alloc_bytes = 1000 };  /* the embeddings alone are 2 KB */
    llama3_error e = { 0 };
    llama3_model *m = llama3_model_load(path, &o, &e);
    CHECK(m == NULL);
    refused(&e, LLAMA3_ERR_MEMORY, "aligned copy of model.embed_tokens.weight");
    llama3_model_free(m);
    e = (llama3_error){ 0 };
    m = llama3_model_load(path, NULL, &e);
    if (!m) fprintf(stderr, "default cap: %s\n", e.msg);
    CHECK(m != NULL);
    llama3_model_free(m);
}

int main(int argc, char **argv) {
    const char *fixtures = argc > 1 ? argv[1] : fz_fixtures();
    g_dir = fz_dir("hardening2");
    hf_json_limits(fixtures);
    tiktoken_limits();
    gguf_limits();
    pth_lookup();
    hf_aligned_copy();
    if (failures) { fprintf(stderr, "%d checks failed\n", failures); return 1; }
    printf("hardening2: all checks passed\n");
    return 0;
}
