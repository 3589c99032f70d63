/* Streaming decoder: ids to text that never splits a UTF-8 character across writes.
 *
 * An incomplete but so far valid sequence at the end of a token is held back (at most 3 bytes in
 * d->pending) until the next token completes it. Bytes that can never form a character become
 * U+FFFD, one per maximal invalid subpart, as Python's bytes.decode(errors="replace") does in
 * Meta's Tokenizer.decode.
 *
 * Byte-level BPE special tokens decode to their names, as in Meta's decode. SentencePiece
 * control tokens decode to nothing, and the first piece of the stream loses the space the
 * encoder's dummy prefix added, as in SentencePiece; d->pending[7] (never used by pending bytes)
 * records that output has started, so a zeroed llama3_detok starts a stream. */
#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#define STARTED 7

/* Length of the longest prefix of s[0..n) that is a prefix of some valid UTF-8 sequence
 * (at least 1: a byte that starts nothing is a subpart of its own). */
static int valid_prefix(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    int need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 1;
    int k = 1;
    while (k < need && (size_t)k < n) {
        unsigned b = s[k];
        if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) break;
        k++;
    }
    return k;
}

typedef struct wbuf { char *p; size_t cap, n; int overflow; } wbuf;

static void put(wbuf *w, const void *src, size_t n) {
    if (w->n + n > w->cap) {
        w->overflow = 1;
        return;
    }
    memcpy(w->p + w->n, src, n);
    w->n += n;
}

/* Writes the complete characters of s, returns how many trailing bytes to hold back. */
static size_t emit_text(wbuf *w, const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] < 0x80) j++;  /* ASCII run */
        if (j > i) {
            put(w, s + i, j - i);
            i = j;
            continue;
        }
        int k = l3_utf8_valid_len(s + i, n - i);
        if (k) {
            put(w, s + i, (size_t)k);
            i += (size_t)k;
            continue;
        }
        int p = valid_prefix(s + i, n - i);
        if (i + (size_t)p == n && p < 4 && p > 0 && s[i] >= 0xC2 && s[i] <= 0xF4) return n - i;  /* incomplete */
        put(w, "\xEF\xBF\xBD", 3);
        i += (size_t)p;
    }
    return 0;
}

int llama3_detok_push(llama3_detok *d, const llama3_tokenizer *t, int32_t id, char *out,
                      size_t cap, llama3_error *err) {
    size_t len;
    const char *b = llama3_token_bytes(t, id, &len);
    if (!b)
        return l3_fail(err, LLAMA3_ERR_ARG, "token id %d is not in the vocabulary (0..%d)", (int)id,
                       t ? t->n_vocab - 1 : -1);
    if (d->n_pending < 0 || d->n_pending > 3) d->n_pending = 0;  /* garbage state: start over */
    if (t->kind == L3_TOK_SPM) {
        if (t->type[id] == L3_TT_CONTROL) return 0;
        if (t->type[id] == L3_TT_UNKNOWN) {
            b = " \xE2\x81\x87 ";  /* SentencePiece's rendering of <unk> */
            len = 5;
        }
        if (!d->pending[STARTED]) {
            if (t->add_space_prefix && len > 0 && b[0] == ' ') {
                b++;
                len--;
            }
            if (len == 0) return 0;
        }
    }
    /* pending + token bytes, in one buffer (tokens are short; long ones go to the heap). */
    unsigned char small[256], *buf = small;
    size_t n = (size_t)d->n_pending + len;
    if (n > sizeof small && !(buf = malloc(n))) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    memcpy(buf, d->pending, (size_t)d->n_pending);
    if (len) memcpy(buf + d->n_pending, b, len);
    wbuf w = { out, out ? cap : 0, 0, 0 };
    size_t hold = emit_text(&w, buf, n);
    int rc;
    if (w.overflow) {
        rc = l3_fail(err, LLAMA3_ERR_ARG, "llama3_detok_push: output buffer of %zu bytes too small", cap);
    } else {
        memcpy(d->pending, buf + n - hold, hold);
        d->n_pending = (int)hold;
        d->pending[STARTED] = 1;
        rc = (int)w.n;
    }
    if (buf != small) free(buf);
    return rc;
}

int llama3_detok_flush(llama3_detok *d, char *out, size_t cap) {
    int n = d->n_pending > 0 && d->n_pending <= 3 ? 1 : 0;  /* the held bytes are one invalid subpart */
    if (n && (!out || cap < 3)) return LLAMA3_ERR_ARG;
    if (n) memcpy(out, "\xEF\xBF\xBD", 3);
    memset(d, 0, sizeof *d);
    return n * 3;
}
