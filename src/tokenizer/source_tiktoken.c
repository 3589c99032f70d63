/* Meta's tokenizer.model: tiktoken's text format, one "base64(token bytes) rank" per line.
 * A token's id is its rank; as in Meta's tokenizer.py the 256 special tokens follow the last
 * rank (ids 128000..128255 for Llama 3). */
#include "tokenizer/tokenizer.h"

#include <string.h>

static int b64val(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard base64 with optional '=' padding. Returns the decoded length or -1. */
static long b64decode(const char *s, size_t n, unsigned char *out) {
    while (n && s[n - 1] == '=') n--;
    if (n % 4 == 1) return -1;
    long o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return o;
}

int l3_tok_load_tiktoken(const char *path, llama3_tokenizer **out, llama3_error *err) {
    *out = NULL;
    l3_mapping m;
    int rc = l3_map_file(path, &m, err);
    if (rc) return rc;
    const char *p = (const char *)m.data, *end = p + m.size;
    llama3_tokenizer *t = NULL;

    /* Count lines first: the vocabulary is allocated once. size_t: a file of more than 2^31
     * lines must not wrap the count (the vocabulary limit is checked below). */
    size_t n = 0;
    for (const char *q = p; q < end;) {
        const char *nl = memchr(q, '\n', (size_t)(end - q));
        const char *le = nl ? nl : end;
        if (le > q && !(le - q == 1 && *q == '\r')) n++;
        q = nl ? nl + 1 : end;
    }
    if (n == 0) {
        rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: empty tokenizer.model (expected lines 'base64 rank')", path);
        goto done;
    }
    /* The 256 special tokens follow the ranks: n + 256 must stay within l3_tok_alloc's limit. */
    if (n > ((size_t)1 << 24) - 256) {
        rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: %zu token lines, more than the %d a vocabulary may have", path, n,
                     (1 << 24) - 256);
        goto done;
    }
    if (!(t = l3_tok_alloc(L3_TOK_BPE, (int)n + 256, err, path))) { rc = err ? err->code : LLAMA3_ERR_MEMORY; goto done; }

    unsigned char buf[1024];
    size_t line = 0;
    for (const char *q = p; q < end;) {
        const char *nl = memchr(q, '\n', (size_t)(end - q));
        const char *le = nl ? nl : end;
        line++;
        if (le > q && le[-1] == '\r') le--;
        if (le > q) {
            const char *sp = memchr(q, ' ', (size_t)(le - q));
            long rank = 0;
            const char *r = sp ? sp + 1 : le;
            int ok = sp && r < le && (le - r) <= 9;
            for (const char *d = r; ok && d < le; d++) {
                if (*d < '0' || *d > '9') ok = 0;
                else rank = rank * 10 + (*d - '0');
            }
            long blen = ok && (size_t)(sp - q) <= sizeof buf * 4 / 3 ? b64decode(q, (size_t)(sp - q), buf) : -1;
            if (!ok || blen <= 0) {
                rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: line %zu: expected 'base64(token) rank'", path, line);
                goto done;
            }
            if ((size_t)rank >= n || t->type[rank] != L3_TT_MISSING) {
                rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: line %zu: rank %ld %s", path, line, rank,
                             (size_t)rank >= n ? "is not below the number of lines (ranks must be 0..n-1)" : "appears twice");
                goto done;
            }
            if (l3_tok_set(t, (int32_t)rank, buf, (size_t)blen, L3_TT_NORMAL) != 0) {
                rc = l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", path);
                goto done;
            }
            t->rank[rank] = (int32_t)rank;
        }
        q = nl ? nl + 1 : end;
    }
    if ((rc = l3_tok_apply_llama3_specials(t, (int32_t)n, err)) != 0) goto done;
    rc = l3_tok_finish(t, path, err);
done:
    l3_unmap(&m);
    if (rc) llama3_tokenizer_free(t);
    else *out = t;
    return rc;
}
