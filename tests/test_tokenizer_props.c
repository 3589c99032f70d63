/* Seeded property tests for the tokenizer: random bytes and random Unicode never crash and
 * round-trip, the three vocabulary sources agree, the BPE's scan and heap agree, invalid UTF-8
 * follows the documented rule, long inputs finish, Meta's chunking, the streaming decoder.
 * usage: test_tokenizer_props FIXTURES_DIR CASE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"
#include "util.h"

static const char *g_fix;
static int g_fail;

#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);          \
            fprintf(stderr, __VA_ARGS__);                                                     \
            fputc('\n', stderr);                                                              \
            if (++g_fail > 20) exit(1);                                                       \
        }                                                                                     \
    } while (0)

static uint64_t g_rng = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 16);
}

static llama3_tokenizer *load(const char *rel) {
    char *p = l3_path_join(g_fix, rel);
    llama3_error err = { 0 };
    llama3_tokenizer *t = llama3_tokenizer_load(p, &err);
    if (!t) {
        fprintf(stderr, "cannot load %s: %s\n", p, err.msg);
        exit(2);
    }
    free(p);
    return t;
}

typedef struct vec { int32_t *ids; int n; } vec;

static vec enc(const llama3_tokenizer *t, const char *s, size_t n, int flags) {
    llama3_error err = { 0 };
    vec v = { NULL, 0 };
    int k = llama3_tokenize(t, s, n, flags, NULL, 0, &err);
    CHECK(k >= 0, "tokenize: %s", err.msg);
    if (k < 0) return v;
    v.ids = malloc(((size_t)k + 1) * sizeof *v.ids);
    v.n = llama3_tokenize(t, s, n, flags, v.ids, k, &err);
    CHECK(v.n == k, "second call %d != %d", v.n, k);
    return v;
}

static int vec_eq(vec a, vec b) { return a.n == b.n && !memcmp(a.ids, b.ids, (size_t)a.n * sizeof *a.ids); }

/* Concatenated token bytes == s? */
static int roundtrips(const llama3_tokenizer *t, vec v, const char *s, size_t n) {
    size_t o = 0;
    for (int i = 0; i < v.n; i++) {
        size_t bl;
        const char *b = llama3_token_bytes(t, v.ids[i], &bl);
        if (!b || o + bl > n || memcmp(s + o, b, bl) != 0) return 0;
        o += bl;
    }
    return o == n;
}

static int valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        int k = l3_utf8_valid_len((const unsigned char *)s + i, n - i);
        if (!k) return 0;
        i += (size_t)k;
    }
    return 1;
}

static size_t put_cp(char *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A code point from a mix of scripts, digits, whitespace kinds, marks, emoji, apostrophes. */
static uint32_t rnd_cp(void) {
    static const uint32_t pick[] = { ' ', ' ', ' ', '\n', '\r', '\t', '\'', 's', 'S', 'l', 'L', 'e', 'a', '1', '0',
                                     '.', ',', '!', '<', '|', '>', '_', 0x85, 0xA0, 0x1680, 0x180E, 0x2000, 0x2028,
                                     0x3000, 0x200D, 0xFE0F, 0x0301, 0x017F, 0x212A, 0x00BD, 0x2167, 0x0663, 0xFF10,
                                     0x1F3FD, 0x1F999, 0x1F468, 0xFFFD, 0x0000, 0x000B, 0x000C, 0x001C };
    switch (rnd() % 10) {
    case 0: case 1: return 0x20 + rnd() % 0x5F;            /* ASCII */
    case 2: return pick[rnd() % (sizeof pick / sizeof pick[0])];
    case 3: return 0xA0 + rnd() % 0x200;                  /* Latin */
    case 4: return 0x370 + rnd() % 0x200;                 /* Greek, Cyrillic */
    case 5: return 0x4E00 + rnd() % 0x5000;               /* CJK */
    case 6: return 0xAC00 + rnd() % 0x2000;               /* Hangul */
    case 7: return 0x1F300 + rnd() % 0x300;               /* emoji */
    case 8: { uint32_t c = rnd() % 0x110000; return (c >= 0xD800 && c < 0xE000) ? 'x' : c; }
    default: return 'a' + rnd() % 26;
    }
}

static size_t rnd_text(char *buf, size_t max_cps) {
    size_t n = rnd() % (max_cps + 1), o = 0;
    for (size_t i = 0; i < n; i++) o += put_cp(buf + o, rnd_cp());
    return o;
}

/* ---- random byte strings: any input encodes, and decodes to exactly itself --------------------- */
static void test_random_bytes(void) {
    llama3_tokenizer *t = load("tokenizer/tokenizer.model");
    static const unsigned char interesting[] = { 0x80, 0xBF, 0xC0, 0xC1, 0xC2, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5,
                                                 0xFF, 0xA0, 0x85, '\n', '\r', ' ', '<', '|', '\'' };
    char buf[512];
    for (int c = 0; c < 3000; c++) {
        size_t n = rnd() % 200;
        for (size_t i = 0; i < n; i++) {
            uint32_t r = rnd() % 4;
            buf[i] = (char)(r == 0 ? interesting[rnd() % sizeof interesting] : r == 1 ? rnd() % 256 : 'a' + rnd() % 26);
        }
        for (int f = 0; f < 2; f++) {
            vec v = enc(t, buf, n, f ? LLAMA3_TOK_SPECIAL : 0);
            CHECK(roundtrips(t, v, buf, n), "case %d: random bytes do not round-trip", c);
            free(v.ids);
        }
    }
    llama3_tokenizer_free(t);
}

/* ---- random Unicode: round-trip, and the three sources give the same ids --------------------- */
static void test_random_unicode(void) {
    llama3_tokenizer *tk = load("tokenizer/tokenizer.model");
    llama3_tokenizer *gg = load("models/tok32/gguf/model-bf16.gguf");
    llama3_tokenizer *js = load("tokenizer/llama3-tokenizer.json");
    char buf[1024];
    for (int c = 0; c < 3000; c++) {
        size_t n = rnd_text(buf, 60);
        CHECK(valid_utf8(buf, n), "generator");
        int flags = c % 3 == 0 ? LLAMA3_TOK_SPECIAL : 0;
        vec a = enc(tk, buf, n, flags), b = enc(gg, buf, n, flags), j = enc(js, buf, n, flags);
        CHECK(flags || roundtrips(tk, a, buf, n), "case %d: round-trip", c);
        CHECK(vec_eq(a, b), "case %d: tokenizer.model and GGUF disagree", c);
        CHECK(vec_eq(a, j), "case %d: tokenizer.model and tokenizer.json disagree", c);
        free(a.ids); free(b.ids); free(j.ids);
    }
    llama3_tokenizer_free(tk);
    llama3_tokenizer_free(gg);
    llama3_tokenizer_free(js);
}

/* ---- invalid UTF-8: each byte outside a valid sequence is its own single-byte token, and the
 * valid text around it is encoded as if the byte were not there (separately) ----------------- */
static void test_invalid_rule(void) {
    llama3_tokenizer *t = load("tokenizer/tokenizer.model");
    static const struct { const char *s; size_t n; } bad[] = {
        { "\xFF", 1 }, { "\x80", 1 }, { "\xC0\x80", 2 }, { "\xE4\xBD", 2 }, { "\xED\xA0\x80", 3 },
        { "\xF4\x90\x80\x80", 4 }, { "\xF8\x88\x80\x80\x80", 5 }, { "\xC3", 1 }, { "\xF0\x9F\xA6", 3 },
    };
    static const char *const ctx[] = { "ab", " hello", "  ", "\n", "123", "", "'s", "\xE4\xBD\xA0" };
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        for (size_t l = 0; l < sizeof ctx / sizeof ctx[0]; l++) {
            for (size_t r = 0; r < sizeof ctx / sizeof ctx[0]; r++) {
                char buf[64];
                size_t ln = strlen(ctx[l]), rn = strlen(ctx[r]), n = 0;
                memcpy(buf, ctx[l], ln); n += ln;
                memcpy(buf + n, bad[b].s, bad[b].n); n += bad[b].n;
                memcpy(buf + n, ctx[r], rn); n += rn;
                vec got = enc(t, buf, n, 0);
                vec vl = enc(t, ctx[l], ln, 0), vr = enc(t, ctx[r], rn, 0);
                /* expected: ids(left) + one single-byte token per invalid byte + ids(right) */
                int ok = got.n == vl.n + (int)bad[b].n + vr.n && !memcmp(got.ids, vl.ids, (size_t)vl.n * 4) &&
                         !memcmp(got.ids + vl.n + bad[b].n, vr.ids, (size_t)vr.n * 4);
                for (size_t k = 0; ok && k < bad[b].n; k++) {
                    size_t bl;
                    const char *tb = llama3_token_bytes(t, got.ids[vl.n + (int)k], &bl);
                    ok = tb && bl == 1 && tb[0] == bad[b].s[k];
                }
                CHECK(ok, "invalid bytes #%zu between '%s' and '%s'", b, ctx[l], ctx[r]);
                CHECK(roundtrips(t, got, buf, n), "round-trip");
                free(got.ids); free(vl.ids); free(vr.ids);
            }
        }
    }
    llama3_tokenizer_free(t);
}

/* ---- the quadratic scan and the heap merge identically ------------------------------------- */
static void test_scan_vs_heap(void) {
    llama3_tokenizer *t = load("tokenizer/tokenizer.model");
    char buf[128];
    static const char *const alpha[] = { "ab", "a ", " \n", "01", "abcdefgh", "the qu", "=-", "\xE4\xBD\xA0\xE5\xA5\xBD" };
    int32_t x[256], y[256];
    for (int c = 0; c < 5000; c++) {
        const char *al = alpha[rnd() % 8];
        size_t an = strlen(al), n = 2 + rnd() % 127;
        for (size_t i = 0; i < n; i++) buf[i] = al[rnd() % an];
        l3_idsink a = { x, 256, 0 }, b = { y, 256, 0 };
        CHECK(l3_bpe_piece(t, buf, n, &a, 1) == 0 && l3_bpe_piece(t, buf, n, &b, 2) == 0, "bpe");
        CHECK(a.n == b.n && !memcmp(x, y, (size_t)a.n * sizeof *x), "case %d: scan and heap differ", c);
    }
    llama3_tokenizer_free(t);
}

/* ---- long inputs finish (timing lives in bench/tokenizer_bench.c) -------------------------- */
static void test_long(void) {
    llama3_tokenizer *t = load("tokenizer/tokenizer.model");
    const size_t n = 100 * 1024;
    char *buf = malloc(n * 4);
    const char fills[] = { 'a', ' ', '7', '\n', '!' };
    for (size_t f = 0; f < sizeof fills; f++) {
        memset(buf, fills[f], n);
        double t0 = l3_time_s();
        vec v = enc(t, buf, n, 0);
        fprintf(stderr, "100 KB of 0x%02x: %d tokens in %.1f ms\n", fills[f], v.n, (l3_time_s() - t0) * 1e3);
        CHECK(v.n > 0 && roundtrips(t, v, buf, n), "long fill 0x%02x", fills[f]);
        free(v.ids);
    }
    /* One long letter run of a CJK character, random letters, "ab" alternating, one huge piece. */
    size_t o = 0;
    while (o < n) o += put_cp(buf + o, 0x4E00);
    vec v = enc(t, buf, o, 0);
    CHECK(roundtrips(t, v, buf, o), "CJK run");
    free(v.ids);
    for (size_t i = 0; i < n; i++) buf[i] = (char)('a' + rnd() % 26);
    v = enc(t, buf, n, 0);
    CHECK(roundtrips(t, v, buf, n), "random letters");
    free(v.ids);
    for (size_t i = 0; i < n; i++) buf[i] = "ab"[i & 1];
    v = enc(t, buf, n, LLAMA3_TOK_SPECIAL | LLAMA3_TOK_BOS);
    CHECK(v.n > 1 && v.ids[0] == 128000, "bos");
    free(v.ids);
    free(buf);
    llama3_tokenizer_free(t);
}

/* ---- Meta's tokenizer.py chunking: runs of more than 25,000 whitespace or non-whitespace
 * characters are cut, and the text is cut into 400,000-character blocks ---------------------- */
static void test_meta_chunking(void) {
    llama3_tokenizer *t = load("tokenizer/tokenizer.model");
    char *buf = malloc(1 << 20);
    /* 30,000 'a' = tiktoken(25,000 'a') + tiktoken(5,000 'a'). */
    memset(buf, 'a', 30000);
    vec all = enc(t, buf, 30000, 0), p1 = enc(t, buf, 25000, 0), p2 = enc(t, buf, 5000, 0);
    CHECK(all.n == p1.n + p2.n && !memcmp(all.ids, p1.ids, (size_t)p1.n * 4) &&
          !memcmp(all.ids + p1.n, p2.ids, (size_t)p2.n * 4), "25k run split");
    free(all.ids); free(p1.ids); free(p2.ids);
    /* Characters, not bytes: 25,001 'é' (2 bytes each) split after 25,000 characters. */
    for (int i = 0; i < 25001; i++) memcpy(buf + 2 * i, "\xC3\xA9", 2);
    all = enc(t, buf, 50002, 0); p1 = enc(t, buf, 50000, 0); p2 = enc(t, buf, 2, 0);
    CHECK(all.n == p1.n + p2.n && !memcmp(all.ids + p1.n, p2.ids, (size_t)p2.n * 4), "split counts characters");
    free(all.ids); free(p1.ids); free(p2.ids);
    /* Exactly 25,000 is not split. */
    memset(buf, 'a', 25000);
    all = enc(t, buf, 25000, 0);
    memset(buf, 'a', 12500);
    p1 = enc(t, buf, 12500, 0);
    CHECK(all.n <= 2 * p1.n, "no split at 25,000");
    free(all.ids); free(p1.ids);
    /* 400k blocks: "word " repeated; the block boundary falls inside a word. */
    size_t n = 0;
    while (n < 500000) { memcpy(buf + n, "hello ", 6); n += 6; }
    all = enc(t, buf, n, 0);
    p1 = enc(t, buf, 400000, 0);
    p2 = enc(t, buf + 400000, n - 400000, 0);
    CHECK(all.n == p1.n + p2.n && !memcmp(all.ids, p1.ids, (size_t)p1.n * 4) &&
          !memcmp(all.ids + p1.n, p2.ids, (size_t)p2.n * 4), "400k block split");
    free(all.ids); free(p1.ids); free(p2.ids);
    free(buf);
    llama3_tokenizer_free(t);
}

/* ---- streaming decoder: never splits a character, same text as the whole ----------------- */
static void test_detok(void) {
    llama3_tokenizer *t = load("tokenizer/tokenizer.model");
    char buf[1024], out[4096];
    llama3_error err = { 0 };
    for (int c = 0; c < 2000; c++) {
        size_t n = rnd_text(buf, 40);
        vec v = enc(t, buf, n, 0);
        llama3_detok d = { 0 };
        size_t o = 0;
        for (int i = 0; i < v.n; i++) {
            int w = llama3_detok_push(&d, t, v.ids[i], out + o, sizeof out - o, &err);
            CHECK(w >= 0, "push: %s", err.msg);
            if (w < 0) break;
            CHECK(valid_utf8(out + o, (size_t)w), "case %d: a write splits a character", c);
            o += (size_t)w;
        }
        CHECK(llama3_detok_flush(&d, out + o, sizeof out - o) == 0, "nothing left over");
        CHECK(o == n && !memcmp(out, buf, n), "case %d: streamed text differs", c);
        free(v.ids);
    }
    /* Invalid sequences become U+FFFD (one per maximal invalid subpart), like Python's replace. */
    llama3_detok d = { 0 };
    int32_t e4 = t->byte_id[0xE4], bd = t->byte_id[0xBD], ff = t->byte_id[0xFF];
    int32_t a = llama3_token_id(t, "<|eot_id|>");
    CHECK(llama3_detok_push(&d, t, e4, out, sizeof out, &err) == 0, "held");
    CHECK(llama3_detok_push(&d, t, bd, out, sizeof out, &err) == 0, "still held");
    int w = llama3_detok_push(&d, t, a, out, sizeof out, &err);
    CHECK(w == 13 && !memcmp(out, "\xEF\xBF\xBD<|eot_id|>", 13), "truncated sequence then text");
    w = llama3_detok_push(&d, t, ff, out, sizeof out, &err);
    CHECK(w == 3 && !memcmp(out, "\xEF\xBF\xBD", 3), "0xFF");
    CHECK(llama3_detok_push(&d, t, e4, out, sizeof out, &err) == 0, "held");
    CHECK(llama3_detok_flush(&d, out, sizeof out) == 3 && !memcmp(out, "\xEF\xBF\xBD", 3), "flush");
    CHECK(d.n_pending == 0, "flushed");
    /* Too small a buffer: an error, and the state is unchanged. */
    d = (llama3_detok){ 0 };
    vec v = enc(t, "hello world", 11, 0);
    CHECK(llama3_detok_push(&d, t, v.ids[0], out, 2, &err) == LLAMA3_ERR_ARG, "small buffer");
    CHECK(llama3_detok_push(&d, t, v.ids[0], out, sizeof out, &err) == 5 && !memcmp(out, "hello", 5), "retry");
    free(v.ids);
    llama3_tokenizer_free(t);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s FIXTURES_DIR CASE\n", argv[0]);
        return 2;
    }
    g_fix = argv[1];
    const char *c = argv[2];
    if (!strcmp(c, "random_bytes")) test_random_bytes();
    else if (!strcmp(c, "random_unicode")) test_random_unicode();
    else if (!strcmp(c, "invalid_utf8_rule")) test_invalid_rule();
    else if (!strcmp(c, "bpe_scan_vs_heap")) test_scan_vs_heap();
    else if (!strcmp(c, "long_inputs")) test_long();
    else if (!strcmp(c, "meta_chunking")) test_meta_chunking();
    else if (!strcmp(c, "detok_stream")) test_detok();
    else {
        fprintf(stderr, "unknown case %s\n", c);
        return 2;
    }
    if (g_fail) fprintf(stderr, "%d check(s) failed\n", g_fail);
    return g_fail ? 1 : 0;
}
