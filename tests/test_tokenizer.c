/* Tokenizer tests against the fixtures (never against this project's own earlier output).
 * usage: test_tokenizer FIXTURES_DIR CASE; see tests/tokenizer.cmake for the cases. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/gguf.h"
#include "tokenizer/tokenizer.h"
#include "util.h"

static const char *g_fix;

#include "check.h"

static char *fix_path(const char *rel) {
    return l3_path_join(g_fix, rel);
}

static char *slurp(const char *rel, size_t *len) {
    char *p = fix_path(rel), *buf = NULL;
    llama3_error err = { 0 };
    if (l3_read_file(p, (size_t)64 << 20, &buf, len, &err) != 0) {
        fprintf(stderr, "cannot read fixture %s: %s\n", p, err.msg);
        exit(2);
    }
    free(p);
    return buf;
}

static llama3_tokenizer *load(const char *rel) {
    char *p = fix_path(rel);
    llama3_error err = { 0 };
    double t0 = l3_time_s();
    llama3_tokenizer *t = llama3_tokenizer_load(p, &err);
    if (!t) {
        fprintf(stderr, "cannot load %s: %s\n", p, err.msg);
        exit(2);
    }
    fprintf(stderr, "loaded %s (%d tokens) in %.1f ms\n", rel, llama3_tokenizer_n_vocab(t), (l3_time_s() - t0) * 1e3);
    free(p);
    return t;
}

/* Encodes with the size-query convention (first call with no buffer). */
static int32_t *encode(const llama3_tokenizer *t, const char *s, size_t n, int flags, int *count) {
    llama3_error err = { 0 };
    int k = llama3_tokenize(t, s, n, flags, NULL, 0, &err);
    if (k < 0) {
        fprintf(stderr, "tokenize failed: %s\n", err.msg);
        *count = -1;
        return NULL;
    }
    int32_t *ids = malloc(((size_t)k + 1) * sizeof *ids);
    int k2 = llama3_tokenize(t, s, n, flags, ids, k, &err);
    if (k2 != k) {
        fprintf(stderr, "tokenize: second call gave %d, first %d\n", k2, k);
        *count = -1;
    } else {
        *count = k;
    }
    return ids;
}

/* Concatenated token bytes. */
static char *decode_raw(const llama3_tokenizer *t, const int32_t *ids, int n, size_t *len) {
    size_t cap = 64, o = 0;
    char *s = malloc(cap);
    for (int i = 0; i < n; i++) {
        size_t bl;
        const char *b = llama3_token_bytes(t, ids[i], &bl);
        if (!b) { free(s); return NULL; }
        while (o + bl + 1 > cap) s = realloc(s, cap *= 2);
        memcpy(s + o, b, bl);
        o += bl;
    }
    s[o] = 0;
    *len = o;
    return s;
}

static void print_ids(const char *label, const int32_t *ids, int n) {
    fprintf(stderr, "  %s:", label);
    for (int i = 0; i < n; i++) fprintf(stderr, " %d", (int)ids[i]);
    fputc('\n', stderr);
}

/* ---- llama.cpp's test vectors: .inp cases separated by "\n__ggml_vocab_test__\n" (each case is
 * followed by the separator), .out one line of ids per case ---------------------------------- */
static void test_ggml_vocab(const llama3_tokenizer *t) {
    size_t ilen, olen;
    char *inp = slurp("tokenizer/ggml-vocab-llama-bpe.gguf.inp", &ilen);
    char *out = slurp("tokenizer/ggml-vocab-llama-bpe.gguf.out", &olen);
    static const char sep[] = "\n__ggml_vocab_test__\n";
    const size_t seplen = sizeof sep - 1;
    char *ip = inp, *op = out;
    int n_cases = 0, n_ok = 0;
    while (ip < inp + ilen) {
        char *e = strstr(ip, sep);
        CHECK(e != NULL, "case %d is not followed by the separator", n_cases);
        if (!e) break;
        size_t clen = (size_t)(e - ip);
        char *nl = strchr(op, '\n');
        CHECK(nl != NULL, "no .out line for case %d", n_cases);
        if (!nl) break;
        *nl = 0;
        int32_t want[512];
        int nw = 0;
        for (char *q = op; *q;) {
            char *end;
            long v = strtol(q, &end, 10);
            if (end == q) { q++; continue; }
            want[nw++] = (int32_t)v;
            q = end;
        }
        int n;
        int32_t *got = encode(t, ip, clen, 0, &n);
        int same = n == nw && memcmp(got, want, (size_t)n * sizeof *got) == 0;
        if (!same) {
            fprintf(stderr, "case %d '%.*s' differs\n", n_cases, (int)clen, ip);
            print_ids("want", want, nw);
            print_ids("got ", got, n);
        }
        size_t dl;
        char *dec = decode_raw(t, got, n, &dl);
        CHECK(dec && dl == clen && memcmp(dec, ip, clen) == 0, "case %d: decode(encode(x)) != x", n_cases);
        free(dec);
        n_ok += same;
        free(got);
        n_cases++;
        ip = e + seplen;
        op = nl + 1;
    }
    fprintf(stderr, "ggml vocab cases: %d/%d exact\n", n_ok, n_cases);
    CHECK(n_cases == 44, "expected 44 cases, found %d", n_cases);
    CHECK(n_ok == n_cases, "%d cases differ", n_cases - n_ok);
    free(inp);
    free(out);
}

static int json_ids(json_t *arr, int32_t *ids, int cap) {
    size_t i;
    json_t *v;
    int n = 0;
    json_array_foreach(arr, i, v) if (n < cap) ids[n++] = (int32_t)json_integer_value(v);
    return n;
}

static long b64(const char *s, unsigned char *out) {
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t acc = 0;
    int bits = 0;
    long n = 0;
    for (; *s && *s != '='; s++) {
        const char *p = strchr(al, *s);
        if (!p) return -1;
        acc = (acc << 6) | (uint32_t)(p - al);
        if ((bits += 6) >= 8) out[n++] = (unsigned char)(acc >> (bits -= 8));
    }
    return n;
}

/* ---- tokenizer_crosscheck.json: tiktoken + Meta's file, both special-token modes ------------- */
static void test_crosscheck(const llama3_tokenizer *t) {
    char *p = fix_path("tokenizer/tokenizer_crosscheck.json");
    json_error_t je;
    json_t *root = json_load_file(p, 0, &je);
    free(p);
    if (!root) { fprintf(stderr, "crosscheck json: %s\n", je.text); exit(2); }
    json_t *cases = json_object_get(root, "cases");
    size_t i;
    json_t *c;
    int n_ok[2] = { 0, 0 }, n_cases = 0;
    json_array_foreach(cases, i, c) {
        json_t *tx = json_object_get(c, "text");
        const char *s = json_string_value(tx);
        size_t len = json_string_length(tx);
        for (int mode = 0; mode < 2; mode++) {
            int32_t want[1024];
            int nw = json_ids(json_object_get(c, mode ? "ids_allowed_special_all" : "ids"), want, 1024);
            int n;
            int32_t *got = encode(t, s, len, mode ? LLAMA3_TOK_SPECIAL : 0, &n);
            int same = n == nw && memcmp(got, want, (size_t)n * sizeof *got) == 0;
            if (!same) {
                fprintf(stderr, "case %zu (%s) '%s' differs\n", i, mode ? "special" : "plain", s);
                print_ids("want", want, nw);
                print_ids("got ", got, n);
            }
            n_ok[mode] += same;
            size_t dl;
            char *dec = decode_raw(t, got, n, &dl);
            CHECK(dec && dl == len && memcmp(dec, s, len) == 0, "case %zu mode %d: decode(encode(x)) != x", i, mode);
            free(dec);
            free(got);
        }
        /* The pieces (base64 of each token's bytes) are what llama3_token_bytes returns. */
        json_t *pieces = json_object_get(c, "pieces"), *ids = json_object_get(c, "ids");
        CHECK(json_array_size(pieces) == json_array_size(ids), "case %zu: pieces/ids", i);
        for (size_t k = 0; k < json_array_size(pieces) && k < json_array_size(ids); k++) {
            unsigned char want[256];
            long wn = b64(json_string_value(json_array_get(pieces, k)), want);
            size_t bl;
            const char *b = llama3_token_bytes(t, (int32_t)json_integer_value(json_array_get(ids, k)), &bl);
            CHECK(b && wn == (long)bl && !memcmp(b, want, bl), "case %zu: bytes of token %zu", i, k);
        }
        n_cases++;
    }
    fprintf(stderr, "crosscheck: plain %d/%d, special %d/%d\n", n_ok[0], n_cases, n_ok[1], n_cases);
    CHECK(n_cases == 40, "expected 40 cases, found %d", n_cases);
    CHECK(n_ok[0] == n_cases && n_ok[1] == n_cases, "crosscheck mismatches");

    /* The chat example in the same file (Meta's ChatFormat ids). */
    json_t *ex = json_object_get(root, "chat_example");
    json_t *msgs = json_object_get(ex, "messages");
    llama3_message m[8];
    int nm = 0;
    json_array_foreach(msgs, i, c) {
        m[nm].role = json_string_value(json_object_get(c, "role"));
        m[nm].content = json_string_value(json_object_get(c, "content"));
        nm++;
    }
    int32_t want[256], got[256];
    int nw = json_ids(json_object_get(ex, "meta_chatformat_ids"), want, 256);
    llama3_error err = { 0 };
    int n = llama3_chat_encode(t, m, nm, got, 256, &err);
    CHECK(n == nw && memcmp(got, want, (size_t)nw * sizeof *got) == 0, "chat_example differs (%d ids, want %d) %s", n, nw,
          err.msg);
    /* The HF template string, encoded with specials, gives the same ids. */
    json_t *hs = json_object_get(ex, "hf_chat_template_string_llama3_1_pkg");
    int nh;
    int32_t *h = encode(t, json_string_value(hs), json_string_length(hs), LLAMA3_TOK_SPECIAL, &nh);
    CHECK(nh == nw && memcmp(h, want, (size_t)nw * sizeof *h) == 0, "HF template string ids differ");
    free(h);
    /* add_special_tokens_hello: BOS + "Hello". */
    int32_t w2[8];
    int n2 = json_ids(json_object_get(json_object_get(root, "add_special_tokens_hello"), "lenml_llama3_1"), w2, 8);
    int nb;
    int32_t *b = encode(t, "Hello", 5, LLAMA3_TOK_BOS, &nb);
    CHECK(nb == n2 && memcmp(b, w2, (size_t)n2 * sizeof *b) == 0, "BOS + Hello differs");
    free(b);
    json_decref(root);
}

/* ---- Meta's chat-format test (fixtures README) and the REPL helpers ---------------------------- */
static void test_chat(const llama3_tokenizer *t) {
    static const int32_t want[] = { 128000, 128006, 9125, 128007, 271, 2028, 374, 264, 1296, 11914, 13, 128009,
                                    128006, 882, 128007, 271, 2028, 374, 264, 2077, 13, 128009, 128006, 78191,
                                    128007, 271 };
    const int nw = (int)(sizeof want / sizeof want[0]);
    llama3_message m[2] = { { "system", "This is a test sentence." }, { "user", "This is a response." } };
    int32_t got[64];
    llama3_error err = { 0 };
    CHECK(llama3_chat_encode(t, m, 2, NULL, 0, &err) == nw, "size query");
    int n = llama3_chat_encode(t, m, 2, got, 64, &err);
    CHECK(n == nw && memcmp(got, want, sizeof want) == 0, "Meta chat test differs (%d ids) %s", n, err.msg);
    if (n != nw || memcmp(got, want, sizeof want) != 0) print_ids("got ", got, n);
    /* A small buffer gets the true count and the first ids. */
    int32_t few[3];
    CHECK(llama3_chat_encode(t, m, 2, few, 3, &err) == nw && few[0] == 128000 && few[2] == 9125, "short buffer");

    /* Piecewise: BOS + message + message + header == the whole dialog. */
    int32_t parts[64];
    int k = 0;
    parts[k++] = l3_tokenizer_bos(t);
    k += l3_chat_encode_message(t, "system", "This is a test sentence.", parts + k, 64 - k, &err);
    k += l3_chat_encode_message(t, "user", "  This is a response.\n\n", parts + k, 64 - k, &err);  /* stripped */
    k += l3_chat_encode_assistant_header(t, parts + k, 64 - k, &err);
    CHECK(k == nw && memcmp(parts, want, sizeof want) == 0, "piecewise chat differs (%d)", k);

    /* Content is stripped with Python's str.strip() (Unicode whitespace included). */
    int32_t a[64], b2[64];
    int na = l3_chat_encode_message(t, "user", "\xE3\x80\x80\t hi \xC2\xA0\n", a, 64, &err);
    int nb = l3_chat_encode_message(t, "user", "hi", b2, 64, &err);
    CHECK(na == nb && na > 0 && memcmp(a, b2, (size_t)na * sizeof *a) == 0, "strip");
    /* Special-token text in content stays text. */
    int nc = l3_chat_encode_message(t, "user", "<|eot_id|>", a, 64, &err);
    CHECK(nc > 5 && a[nc - 1] == 128009 && a[nc - 2] != 128009, "special text in content must be plain");
    /* ipython is a role; anything else is refused with an error. */
    CHECK(l3_chat_encode_message(t, "ipython", "{}", a, 64, &err) > 0, "ipython role");
    CHECK(l3_chat_encode_message(t, "tool", "x", a, 64, &err) == LLAMA3_ERR_ARG && strstr(err.msg, "tool"),
          "unknown role must fail: %s", err.msg);
    llama3_message bad[1] = { { "bot", "x" } };
    CHECK(llama3_chat_encode(t, bad, 1, a, 64, &err) == LLAMA3_ERR_ARG, "bad role in dialog");
    CHECK(l3_tokenizer_has_llama3_chat(t), "has chat");
    /* End tokens. */
    CHECK(l3_tokenizer_is_end(t, 128009) && l3_tokenizer_is_end(t, 128008) && l3_tokenizer_is_end(t, 128001),
          "eot/eom/end_of_text end a turn");
    CHECK(!l3_tokenizer_is_end(t, 128000) && !l3_tokenizer_is_end(t, 13), "bos / '.' do not");
}

/* ---- special-token names: 3.1 names win, 3.0-only names are aliases ---------------------------- */
static void test_specials(const llama3_tokenizer *t) {
    for (int v = 0; v < 2; v++) {
        size_t len;
        char *tsv = slurp(v ? "tokenizer/special_tokens_llama3_1.tsv" : "tokenizer/special_tokens_llama3.tsv", &len);
        int n = 0;
        for (char *line = strtok(tsv, "\n"); line; line = strtok(NULL, "\n")) {
            char *tab = strchr(line, '\t');
            if (!tab) continue;
            int id = atoi(line);
            const char *name = tab + 1;
            int32_t got = llama3_token_id(t, name);
            if (v) {
                size_t bl;
                const char *b = llama3_token_bytes(t, id, &bl);
                CHECK(got == id, "3.1 name %s -> %d, want %d", name, (int)got, id);
                CHECK(b && bl == strlen(name) && memcmp(b, name, bl) == 0, "bytes of %d should be %s", id, name);
            } else {
                /* A 3.0 name maps to its 3.0 id unless 3.1 reuses the name for another id. */
                char n31[64];
                int reused = 0;
                for (int i = 0; i < 256; i++) {
                    l3_llama3_special_name(i, 1, n31, sizeof n31);
                    if (!strcmp(n31, name)) reused = 1;
                }
                CHECK(got == id || reused, "3.0 alias %s -> %d, want %d", name, (int)got, id);
            }
            n++;
        }
        CHECK(n == 256, "tsv has %d names", n);
        free(tsv);
    }
    CHECK(llama3_token_id(t, "<|eom_id|>") == 128008 && llama3_token_id(t, "<|python_tag|>") == 128010,
          "3.1 names");
    CHECK(llama3_token_id(t, "hello") == -1 && llama3_token_id(t, "<|nope|>") == -1, "unknown names");
    CHECK(llama3_tokenizer_n_vocab(t) == 128256, "n_vocab %d", llama3_tokenizer_n_vocab(t));
    CHECK(l3_tokenizer_bos(t) == 128000, "bos");
    /* With --special, 3.1 names parse; the default keeps them as text. */
    int n;
    int32_t *ids = encode(t, "<|python_tag|>x<|eom_id|>", 25, LLAMA3_TOK_SPECIAL, &n);
    CHECK(n == 3 && ids[0] == 128010 && ids[2] == 128008, "specials parsed");
    free(ids);
    size_t bl;
    CHECK(llama3_token_bytes(t, -1, &bl) == NULL && llama3_token_bytes(t, 128256, &bl) == NULL, "bad ids");
}

/* ---- stories260K: SentencePiece vocabulary from GGUF ------------------------------------------ */
static void test_spm(void) {
    llama3_tokenizer *t = load("stories260K/stories260K.gguf");
    char *p = fix_path("stories260K/greedy.json");
    json_error_t je;
    json_t *root = json_load_file(p, 0, &je);
    free(p);
    if (!root) { fprintf(stderr, "greedy.json: %s\n", je.text); exit(2); }
    json_t *ids = json_object_get(root, "greedy_ids");
    const char *want = json_string_value(json_object_get(root, "text"));
    size_t cap = 1 << 16, o = 0;
    char *out = malloc(cap);
    llama3_detok d = { 0 };
    llama3_error err = { 0 };
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) {
        int w = llama3_detok_push(&d, t, (int32_t)json_integer_value(v), out + o, cap - o, &err);
        CHECK(w >= 0, "detok push: %s", err.msg);
        if (w > 0) o += (size_t)w;
    }
    o += (size_t)llama3_detok_flush(&d, out + o, cap - o);
    out[o] = 0;
    CHECK(strncmp(out, "Once upon a time, there was a little girl named Lily.", 53) == 0, "stories text starts: '%.60s'",
          out);
    CHECK(strlen(want) <= o && strncmp(out, want, strlen(want)) == 0, "stories text differs from greedy.json:\n%s\n---\n%s",
          out, want);
    /* SentencePiece encode: the dummy prefix, then merges by score; decode gives the text back. */
    const char *text = "Once upon a time, there was a little girl named Lily.\nShe loved to play.";
    int n;
    int32_t *e = encode(t, text, strlen(text), LLAMA3_TOK_BOS, &n);
    CHECK(n > 2 && e[0] == 1 && e[1] == 403, "stories encode starts with BOS, 'Once' (403): %d %d", n > 0 ? e[0] : -1,
          n > 1 ? e[1] : -1);
    /* The greedy ids are the model's own choice, so only compare where they spell the same text. */
    d = (llama3_detok){ 0 };
    o = 0;
    for (int k = 0; k < n; k++) {
        int w = llama3_detok_push(&d, t, e[k], out + o, cap - o, &err);
        if (w > 0) o += (size_t)w;
    }
    out[o] = 0;
    CHECK(strcmp(out, text) == 0, "SPM roundtrip: '%s'", out);
    free(e);
    CHECK(l3_tokenizer_is_end(t, 2) && l3_tokenizer_bos(t) == 1, "SPM bos/eos");
    free(out);
    json_decref(root);
    llama3_tokenizer_free(t);
}

/* ---- errors: clear messages, never a crash ------------------------------------------------------ */
static void write_file(const char *path, const char *s) {
    FILE *f = fopen(path, "wb");
    fputs(s, f);
    fclose(f);
}

static void test_errors(void) {
    llama3_error err = { 0 };
    CHECK(!llama3_tokenizer_load("/nonexistent/tokenizer.model", &err) && err.code == LLAMA3_ERR_IO, "missing file");
    char tmpl[] = "/tmp/l3tokXXXXXX";
    int fd = mkstemp(tmpl);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    write_file(tmpl, "IQ== 0\nnot base64! 1\n");
    CHECK(!llama3_tokenizer_load(tmpl, &err) && err.code == LLAMA3_ERR_FORMAT && strstr(err.msg, "line 2"),
          "bad tiktoken line: %s", err.msg);
    write_file(tmpl, "IQ== 0\nIg== 0\n");
    CHECK(!llama3_tokenizer_load(tmpl, &err) && strstr(err.msg, "twice"), "duplicate rank: %s", err.msg);
    write_file(tmpl, "IQ== 0\n");  /* only one byte: not every byte has a token */
    CHECK(!llama3_tokenizer_load(tmpl, &err) && strstr(err.msg, "no token for byte"), "missing bytes: %s", err.msg);
    write_file(tmpl, "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}, \"pre_tokenizer\": null}");
    CHECK(!llama3_tokenizer_load(tmpl, &err) && err.code == LLAMA3_ERR_UNSUPPORTED, "json without pat_str: %s", err.msg);
    write_file(tmpl, "{\"model\": ");
    CHECK(!llama3_tokenizer_load(tmpl, &err) && err.code == LLAMA3_ERR_FORMAT, "truncated json: %s", err.msg);

    /* A GGUF vocabulary with another pre-tokenizer is refused by name. */
    l3_gguf_writer *w = l3_gguf_writer_new();
    l3_gguf_w_str(w, "tokenizer.ggml.model", "gpt2");
    l3_gguf_w_str(w, "tokenizer.ggml.pre", "qwen2");
    const char *toks[1] = { "a" };
    size_t lens[1] = { 1 };
    l3_gguf_w_arr_str(w, "tokenizer.ggml.tokens", toks, lens, 1);
    l3_gguf_w_arr_str(w, "tokenizer.ggml.merges", toks, lens, 0);
    CHECK(l3_gguf_write(w, tmpl, &err) == 0, "gguf write: %s", err.msg);
    l3_gguf_writer_free(w);
    CHECK(!llama3_tokenizer_load(tmpl, &err) && err.code == LLAMA3_ERR_UNSUPPORTED && strstr(err.msg, "qwen2"),
          "gguf pre: %s", err.msg);
    w = l3_gguf_writer_new();
    l3_gguf_w_str(w, "tokenizer.ggml.model", "bert");
    l3_gguf_write(w, tmpl, &err);
    l3_gguf_writer_free(w);
    CHECK(!llama3_tokenizer_load(tmpl, &err) && err.code == LLAMA3_ERR_UNSUPPORTED && strstr(err.msg, "bert"),
          "gguf model: %s", err.msg);
    /* A minimal byte-level vocabulary (the 256 GPT-2-mapped bytes): without tokenizer.ggml.pre
     * and without Meta's specials it is refused; with pre = llama-bpe it loads, and a chat
     * template that is not Llama 3's disables chat with a clear error. */
    char mapped[256][3];
    const char *mt[256];
    size_t ml[256];
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        unsigned cp = printable ? (unsigned)b : 0x100u + (unsigned)extra++;
        if (cp < 0x80) { mapped[b][0] = (char)cp; ml[b] = 1; }
        else { mapped[b][0] = (char)(0xC0 | (cp >> 6)); mapped[b][1] = (char)(0x80 | (cp & 0x3F)); ml[b] = 2; }
        mt[b] = mapped[b];
    }
    for (int variant = 0; variant < 2; variant++) {
        w = l3_gguf_writer_new();
        l3_gguf_w_str(w, "tokenizer.ggml.model", "gpt2");
        if (variant) {
            l3_gguf_w_str(w, "tokenizer.ggml.pre", "llama-bpe");
            l3_gguf_w_str(w, "tokenizer.chat_template", "{% for m in messages %}<|im_start|>{{ m.content }}{% endfor %}");
        }
        l3_gguf_w_arr_str(w, "tokenizer.ggml.tokens", mt, ml, 256);
        l3_gguf_w_arr_str(w, "tokenizer.ggml.merges", mt, ml, 0);
        CHECK(l3_gguf_write(w, tmpl, &err) == 0, "gguf write: %s", err.msg);
        l3_gguf_writer_free(w);
        llama3_tokenizer *bt = llama3_tokenizer_load(tmpl, &err);
        if (!variant) {
            CHECK(!bt && err.code == LLAMA3_ERR_UNSUPPORTED && strstr(err.msg, "tokenizer.ggml.pre"), "no pre: %s", err.msg);
            llama3_tokenizer_free(bt);
            continue;
        }
        CHECK(bt != NULL, "byte vocabulary: %s", err.msg);
        if (!bt) continue;
        int32_t ids[16];
        CHECK(llama3_tokenize(bt, "hi!", 3, 0, ids, 16, &err) == 3 && ids[0] == 'h' && ids[1] == 'i' && ids[2] == '!', "bytes");
        llama3_message m1 = { "user", "x" };
        CHECK(!l3_tokenizer_has_llama3_chat(bt) && llama3_chat_encode(bt, &m1, 1, ids, 16, &err) == LLAMA3_ERR_UNSUPPORTED,
              "foreign chat template: %s", err.msg);
        CHECK(llama3_tokenize(bt, "x", 1, LLAMA3_TOK_BOS, ids, 16, &err) == LLAMA3_ERR_UNSUPPORTED, "no BOS token");
        llama3_tokenizer_free(bt);
    }
    remove(tmpl);

    /* Bad ids for the decoder. */
    llama3_tokenizer *t = load("tokenizer/tokenizer.model");
    llama3_detok d = { 0 };
    char buf[64];
    CHECK(llama3_detok_push(&d, t, 999999, buf, sizeof buf, &err) == LLAMA3_ERR_ARG && strstr(err.msg, "999999"),
          "invalid id: %s", err.msg);
    CHECK(llama3_detok_push(&d, t, -5, buf, sizeof buf, &err) == LLAMA3_ERR_ARG, "negative id");
    CHECK(llama3_tokenize(t, "x", 1, 0x40, NULL, 0, &err) == LLAMA3_ERR_ARG, "unknown flag");
    CHECK(llama3_tokenize(t, "x", 1, 0, NULL, 5, &err) == LLAMA3_ERR_ARG, "NULL ids with cap");
    llama3_tokenizer_free(t);
}

/* ---- Meta's pat_str: contractions in any case, followed by letters ----------------------------- */
/* Pieces derived by hand from pat_str: (?i:'s|'t|'re|'ve|'m|'ll|'d) is the first alternative,
 * tried at every apostrophe whatever the case and whatever follows, so "O'DONNELL" is
 * O | 'D | ONNELL; a case-sensitive group would leave "'DONNELL" to the next alternative,
 * [^\r\n\p{L}\p{N}]?\p{L}+, as one piece. */
static const struct { const char *text; const char *pieces[8]; } k_contractions[] = {
    { "O'DONNELL", { "O", "'D", "ONNELL" } },
    { "WE'RE", { "WE", "'RE" } },
    { "I'M", { "I", "'M" } },
    { "THEY'LL", { "THEY", "'LL" } },
    { "SHE'S", { "SHE", "'S" } },
    { "YOU'VE", { "YOU", "'VE" } },
    { "HE'D", { "HE", "'D" } },
    { "CAN'T", { "CAN", "'T" } },
    { "We'Re", { "We", "'Re" } },
    { "WE'REALLY", { "WE", "'RE", "ALLY" } },
    { "IT'SELF", { "IT", "'S", "ELF" } },
    { "I'MAGE", { "I", "'M", "AGE" } },
    { "THEY'LLAMA", { "THEY", "'LL", "AMA" } },
    { "YOU'VEX", { "YOU", "'VE", "X" } },
    { "DON'TS", { "DON", "'T", "S" } },
    { "We'Rely", { "We", "'Re", "ly" } },
    { "o'donnell", { "o", "'d", "onnell" } },
    { "O'DONNELL SAID WE'RE LATE", { "O", "'D", "ONNELL", " SAID", " WE", "'RE", " LATE" } },
};
enum { N_CONTRACTIONS = sizeof k_contractions / sizeof k_contractions[0] };

typedef struct { const char *p[16]; size_t len[16]; int n; } piece_list;
static int collect_piece(void *ctx, const char *piece, size_t len) {
    piece_list *l = ctx;
    if (l->n < 16) l->p[l->n] = piece, l->len[l->n] = len;
    l->n++;
    return 0;
}

static void test_contractions(void) {
    llama3_error err = { 0 };
    l3_pretok *pt = NULL;
    CHECK(l3_pretok_new(&pt, &err) == 0, "pre-tokenizer: %s", err.msg);
    if (!pt) return;
    /* the pieces, from the pre-tokenizer itself */
    for (int c = 0; c < N_CONTRACTIONS; c++) {
        piece_list got = { .n = 0 };
        const char *text = k_contractions[c].text;
        CHECK(l3_pretok_split(pt, text, strlen(text), collect_piece, &got, &err) == 0, "split: %s", err.msg);
        int nw = 0;
        while (nw < 8 && k_contractions[c].pieces[nw]) nw++;
        int same = got.n == nw;
        for (int i = 0; same && i < nw; i++)
            same = got.len[i] == strlen(k_contractions[c].pieces[i]) && !memcmp(got.p[i], k_contractions[c].pieces[i], got.len[i]);
        if (!same) {
            fprintf(stderr, "  %s: got", text);
            for (int i = 0; i < got.n && i < 16; i++) fprintf(stderr, " [%.*s]", (int)got.len[i], got.p[i]);
            fputc('\n', stderr);
        }
        CHECK(same, "pieces of %s", text);
    }
    l3_pretok_free(pt);

    /* the ids: a piece that is one token of tokenizer.model (read here, independently of the
     * loader) is that token, as tiktoken encodes a piece found in its ranks directly; the
     * others are their own encoding. The whole text must encode as its pieces do. */
    size_t flen;
    char *file = slurp("tokenizer/tokenizer.model", &flen);
    int32_t rank[N_CONTRACTIONS][8];
    memset(rank, 0xff, sizeof rank);
    for (char *line = file; line < file + flen;) {
        char *nl = memchr(line, '\n', (size_t)(file + flen - line)), *sp = memchr(line, ' ', (size_t)(file + flen - line));
        if (!nl) nl = file + flen;
        if (sp && sp < nl) {
            *sp = 0;
            unsigned char tok[256];
            long tl = strlen(line) < 340 ? b64(line, tok) : -1;
            for (int c = 0; tl > 0 && c < N_CONTRACTIONS; c++)
                for (int i = 0; i < 8 && k_contractions[c].pieces[i]; i++)
                    if (strlen(k_contractions[c].pieces[i]) == (size_t)tl && !memcmp(k_contractions[c].pieces[i], tok, (size_t)tl))
                        rank[c][i] = (int32_t)strtol(sp + 1, NULL, 10);
        }
        line = nl + 1;
    }
    free(file);
    llama3_tokenizer *t = load("tokenizer/tokenizer.model");
    int singles = 0;
    for (int c = 0; c < N_CONTRACTIONS; c++) {
        const char *text = k_contractions[c].text;
        int32_t want[64];
        int nw = 0;
        for (int i = 0; i < 8 && k_contractions[c].pieces[i]; i++) {
            if (rank[c][i] >= 0) {
                want[nw++] = rank[c][i];
                singles++;
                continue;
            }
            int n;
            int32_t *ids = encode(t, k_contractions[c].pieces[i], strlen(k_contractions[c].pieces[i]), 0, &n);
            for (int k = 0; k < n && nw < 64; k++) want[nw++] = ids[k];
            free(ids);
        }
        int n;
        int32_t *got = encode(t, text, strlen(text), 0, &n);
        const int same = n == nw && !memcmp(got, want, (size_t)n * sizeof *got);
        if (!same) {
            fprintf(stderr, "%s:\n", text);
            print_ids("want", want, nw);
            print_ids("got ", got, n);
        }
        CHECK(same, "ids of %s", text);
        free(got);
    }
    fprintf(stderr, "contractions: %d cases, %d pieces that are single tokens of tokenizer.model\n", N_CONTRACTIONS, singles);
    CHECK(singles >= 30, "only %d pieces found as tokens", singles);
    llama3_tokenizer_free(t);
}

/* ---- tokenizer.json: a merge that is not exactly two tokens is refused, in either form ---------- */
static void test_hf_json_merges(void) {
    char *p = fix_path("tokenizer/llama3-tokenizer.json");
    json_error_t je;
    json_t *root = json_load_file(p, 0, &je);
    free(p);
    if (!root) { fprintf(stderr, "tokenizer.json: %s\n", je.text); exit(2); }
    /* a small copy: the byte tokens (ids 0..255), no added tokens */
    json_t *model = json_object_get(root, "model"), *small = json_object(), *v;
    const char *key;
    json_object_foreach(json_object_get(model, "vocab"), key, v)
        if (json_integer_value(v) < 256) json_object_set(small, key, v);
    json_object_set_new(model, "vocab", small);
    json_object_set_new(root, "added_tokens", json_array());
    char tmpl[] = "/tmp/l3tokXXXXXX";
    int fd = mkstemp(tmpl);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    /* merges[1] as JSON text: both forms of a pair load; every other shape is refused */
    static const char *const second[] = { "\"\xc4\xa0 t\"", "[\"\xc4\xa0\", \"t\"]",
                                          "\"\xc4\xa0\xc4\xa0\"", "\"\xc4\xa0 \xc4\xa0 \xc4\xa0\"", "\" \xc4\xa0\"", "\"\xc4\xa0 \"", "\"\"",
                                          "[\"\xc4\xa0\"]", "[\"\xc4\xa0\", \"\xc4\xa0\", \"\xc4\xa0\"]", "[\"\xc4\xa0\", \"\"]",
                                          "[\"\xc4\xa0\", 5]", "[]", "7", "null" };
    for (size_t i = 0; i < sizeof second / sizeof second[0]; i++) {
        json_t *m = json_loads(second[i], JSON_DECODE_ANY, &je), *merges = json_array();
        json_array_append_new(merges, json_string("\xc4\xa0 \xc4\xa0"));
        json_array_append_new(merges, m);
        json_object_set_new(model, "merges", merges);
        CHECK(m && json_dump_file(root, tmpl, 0) == 0, "write merges[1] = %s", second[i]);
        llama3_error err = { 0 };
        llama3_tokenizer *t = llama3_tokenizer_load(tmpl, &err);
        if (i < 2) {
            CHECK(t != NULL, "merges[1] = %s: %s", second[i], err.msg);
        } else {
            char *text = json_dumps(m, JSON_ENCODE_ANY | JSON_COMPACT), want[128];
            snprintf(want, sizeof want, "model.merges[1] = %s is not two tokens", text);
            free(text);
            CHECK(!t && err.code == LLAMA3_ERR_FORMAT && strstr(err.msg, tmpl) && strstr(err.msg, want),
                  "merges[1] = %s: %s", second[i], t ? "loaded" : err.msg);
            if (!t) fprintf(stderr, "refused: %s\n", err.msg);
        }
        llama3_tokenizer_free(t);
    }
    remove(tmpl);
    json_decref(root);
}

/* ---- the GGUF source: also through l3_tokenizer_from_source, as the model loader calls it ------ */
static void test_gguf_source(void) {
    char *p = fix_path("models/tok32/gguf/model-bf16.gguf");
    llama3_error err = { 0 };
    l3_gguf *g = NULL;
    CHECK(l3_gguf_open(p, &g, &err) == 0, "open: %s", err.msg);
    if (!g) { free(p); return; }
    l3_vocab_source src = { .kind = L3_VOCAB_GGUF, .gguf = g };
    llama3_tokenizer *t = NULL;
    CHECK(l3_tokenizer_from_source(&src, &t, &err) == 0 && t, "from_source: %s", err.msg);
    l3_gguf_close(g);  /* the tokenizer holds copies */
    if (t) {
        test_ggml_vocab(t);
        test_chat(t);
        CHECK(l3_tokenizer_has_llama3_chat(t), "the tok32 template is Llama 3's");
        CHECK(l3_tokenizer_is_end(t, 128009), "eos from metadata");
        llama3_tokenizer_free(t);
    }
    free(p);
    /* Small-vocabulary models: the first 512 Llama 3 tokens, a valid BPE on its own. */
    t = load("models/gqa/gguf/model-f32.gguf");
    int n;
    int32_t *ids = encode(t, "Hello world", 11, 0, &n);
    size_t dl;
    char *dec = decode_raw(t, ids, n, &dl);
    CHECK(n > 0 && dec && dl == 11 && !memcmp(dec, "Hello world", 11), "512-token vocab roundtrip");
    for (int i = 0; i < n; i++) CHECK(ids[i] < 512, "id %d in range", (int)ids[i]);
    free(dec);
    free(ids);
    llama3_tokenizer_free(t);
    src = (l3_vocab_source){ .kind = L3_VOCAB_NONE };
    CHECK(l3_tokenizer_from_source(&src, &t, &err) == 0 && t == NULL, "NONE source");
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s FIXTURES_DIR CASE\n", argv[0]);
        return 2;
    }
    g_fix = argv[1];
    const char *c = argv[2];
    if (!strcmp(c, "ggml_vocab_tiktoken")) {
        llama3_tokenizer *t = load("tokenizer/tokenizer.model");
        test_ggml_vocab(t);
        llama3_tokenizer_free(t);
    } else if (!strcmp(c, "ggml_vocab_hf_json")) {
        llama3_tokenizer *t = load("tokenizer/llama3-tokenizer.json");
        test_ggml_vocab(t);
        llama3_tokenizer_free(t);
    } else if (!strcmp(c, "ggml_vocab_gguf")) {
        test_gguf_source();
    } else if (!strcmp(c, "crosscheck_tiktoken") || !strcmp(c, "crosscheck_hf_json") || !strcmp(c, "crosscheck_gguf")) {
        const char *src = !strcmp(c, "crosscheck_tiktoken") ? "tokenizer/tokenizer.model"
                        : !strcmp(c, "crosscheck_hf_json") ? "tokenizer/llama3-tokenizer.json"
                                                           : "models/tok32/gguf/model-bf16.gguf";
        llama3_tokenizer *t = load(src);
        test_crosscheck(t);
        llama3_tokenizer_free(t);
    } else if (!strcmp(c, "chat")) {
        llama3_tokenizer *t = load("tokenizer/tokenizer.model");
        test_chat(t);
        llama3_tokenizer_free(t);
        t = load("models/tok32/hf");  /* HF folder: tokenizer.json + tokenizer_config.json */
        test_chat(t);
        llama3_tokenizer_free(t);
    } else if (!strcmp(c, "specials")) {
        const char *srcs[3] = { "tokenizer/tokenizer.model", "tokenizer/llama3-tokenizer.json",
                                "models/tok32/gguf/model-bf16.gguf" };
        for (int i = 0; i < 3; i++) {
            llama3_tokenizer *t = load(srcs[i]);
            test_specials(t);
            llama3_tokenizer_free(t);
        }
    } else if (!strcmp(c, "spm_stories")) {
        test_spm();
    } else if (!strcmp(c, "errors")) {
        test_errors();
    } else if (!strcmp(c, "contractions")) {
        test_contractions();
    } else if (!strcmp(c, "hf_json_merges")) {
        test_hf_json_merges();
    } else {
        fprintf(stderr, "unknown case %s\n", c);
        return 2;
    }
    if (check_failures) fprintf(stderr, "%d check(s) failed\n", check_failures);
    return check_failures ? 1 : 0;
}
