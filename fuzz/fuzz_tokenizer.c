/* The Llama 3 tokenizer with the real 128K vocabulary (tokenizer.model from the fixtures,
 * loaded once). Input byte 0 picks the mode, the rest is the payload:
 *   even: encode the payload as text, without and with special-token parsing (+BOS). For valid
 *         UTF-8 without special parsing, the ids' bytes (and the streaming detokenizer's output)
 *         must give back the payload exactly.
 *   odd:  the payload is little-endian int32 ids (any value): token bytes and the streaming
 *         detokenizer with an output buffer of (byte 0 >> 1) & 31 bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

static llama3_tokenizer *g_tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    g_tok = fz_llama3_tokenizer("fuzz_tokenizer");
    return 0;
}

/* Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF), written here rather
 * than borrowed from the tokenizer so the oracle is independent. */
static int valid_utf8(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) { i++; continue; }
        int k;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) { k = 2; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { k = 3; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { k = 4; cp = c & 0x07; min = 0x10000; }
        else return 0;
        if (i + (size_t)k > n) return 0;
        for (int j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += (size_t)k;
    }
    return 1;
}

static int32_t *encode(const uint8_t *s, size_t n, int flags, int *count) {
    llama3_error err;
    int32_t small[16];
    int k = llama3_tokenize(g_tok, (const char *)s, n, flags, small, 16, &err);
    if (k < 0) {
        if (!err.msg[0]) abort();
        return NULL;
    }
    int32_t *ids = malloc(((size_t)k + 1) * sizeof *ids);
    if (!ids) return NULL;
    int k2 = llama3_tokenize(g_tok, (const char *)s, n, flags, ids, k, &err);
    if (k2 != k) abort();  /* "call again with a bigger buffer" must give the same count */
    for (int i = 0; i < k && i < 16; i++)
        if (ids[i] != small[i]) abort();
    *count = k;
    return ids;
}

static void round_trip(const uint8_t *s, size_t n) {
    int k = 0;
    int32_t *ids = encode(s, n, 0, &k);
    if (!ids) {
        if (valid_utf8(s, n)) abort();  /* valid text must always encode */
        return;
    }
    int nv = llama3_tokenizer_n_vocab(g_tok);
    size_t at = 0;
    int ok = valid_utf8(s, n);
    char *out = malloc(n + 16);
    size_t out_n = 0;
    llama3_detok d = { 0 };
    for (int i = 0; i < k; i++) {
        if (ids[i] < 0 || ids[i] >= nv) abort();
        size_t len;
        const char *b = llama3_token_bytes(g_tok, ids[i], &len);
        if (!b) abort();
        if (ok) {
            if (at + len > n || memcmp(s + at, b, len) != 0) abort();  /* bytes must round-trip */
            at += len;
            llama3_error err;
            int r = llama3_detok_push(&d, g_tok, ids[i], out ? out + out_n : NULL, out ? n + 16 - out_n : 0, &err);
            if (out && (r < 0 || out_n + (size_t)r > n)) abort();
            if (r > 0) out_n += (size_t)r;
        }
    }
    if (ok) {
        if (at != n) abort();
        if (out) {
            int r = llama3_detok_flush(&d, out + out_n, n + 16 - out_n);
            if (r != 0 || out_n != n || memcmp(out, s, n) != 0) abort();  /* valid text streams back unchanged */
        }
    }
    free(out);
    free(ids);
    int k3 = 0;
    ids = encode(s, n, LLAMA3_TOK_BOS | LLAMA3_TOK_SPECIAL, &k3);
    if (ids) {
        for (int i = 0; i < k3; i++)
            if (ids[i] < 0 || ids[i] >= nv) abort();
        if (k3 < 1 || ids[0] != llama3_token_id(g_tok, "<|begin_of_text|>")) abort();  /* BOS first */
        free(ids);
    }
}

static void decode(const uint8_t *s, size_t n, size_t cap) {
    llama3_detok d = { 0 };
    char out[32];
    llama3_error err;
    for (size_t i = 0; i + 4 <= n; i += 4) {
        int32_t id;
        memcpy(&id, s + i, 4);
        size_t len = 99;
        const char *b = llama3_token_bytes(g_tok, id, &len);
        if (!b && len != 0) abort();
        int r = llama3_detok_push(&d, g_tok, id, out, cap, &err);
        if (r > (int)cap) abort();
    }
    int r = llama3_detok_flush(&d, out, cap);
    if (r > (int)cap) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_tok) LLVMFuzzerInitialize(NULL, NULL);
    if (size == 0) return 0;
    if (data[0] & 1) decode(data + 1, size - 1, (size_t)(data[0] >> 1) & 31);
    else round_trip(data + 1, size - 1);
    return 0;
}
