/* The encoder: Meta's tokenizer.py pipeline around the BPE.
 *
 *   text -> tokenizer.py's chunks (400k characters, and runs of more than 25k consecutive
 *           whitespace / non-whitespace characters split) -> special-token text (only with
 *           LLAMA3_TOK_SPECIAL) -> ordinary text -> pat_str pieces -> BPE ids.
 *
 * Invalid UTF-8 (which a Python str cannot hold, so Meta defines nothing for it): every byte
 * that does not belong to a valid UTF-8 sequence (stray continuation, truncated sequence,
 * overlong form, surrogate, > U+10FFFF) is its own single-byte token, and the valid text on each
 * side is pre-tokenized separately, as if the invalid byte were a special token. Every byte
 * has a token in a byte-level vocabulary, so decode(encode(x)) == x for any byte string. For
 * chunking, an invalid byte counts as one non-whitespace character. */
#include "tokenizer/tokenizer.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define META_MAX_ENCODE_CHARS 400000
#define META_MAX_NO_WHITESPACE_CHARS 25000

typedef struct piece_ctx { const llama3_tokenizer *t; l3_idsink *out; } piece_ctx;

static int on_piece(void *ctx, const char *p, size_t n) {
    piece_ctx *c = ctx;
    return l3_bpe_piece(c->t, p, n, c->out, 0);
}

/* Ordinary (non-special) text for a byte-level BPE. */
static int encode_ordinary(const llama3_tokenizer *t, const char *s, size_t n, l3_idsink *out,
                           llama3_error *err) {
    const unsigned char *u = (const unsigned char *)s;
    piece_ctx c = { t, out };
    size_t run = 0, i = 0;
    int rc;
    while (i < n) {
        if (u[i] < 0x80) { i++; continue; }
        int k = l3_utf8_valid_len(u + i, n - i);
        if (k) { i += (size_t)k; continue; }
        if (i > run && (rc = l3_pretok_split(t->pretok, s + run, i - run, on_piece, &c, err)) != 0)
            goto fail;
        l3_sink_push(out, t->byte_id[u[i]]);
        run = ++i;
    }
    if (n > run && (rc = l3_pretok_split(t->pretok, s + run, n - run, on_piece, &c, err)) != 0) goto fail;
    return 0;
fail:
    if (rc == LLAMA3_ERR_MEMORY) return l3_fail(err, rc, "out of memory encoding text");
    return rc;
}

/* Finds the first special-token name in s[0..n): returns its offset (n if none). */
static size_t find_special(const llama3_tokenizer *t, const char *s, size_t n, int32_t *id, size_t *len) {
    for (size_t i = 0; i < n; i++) {
        if (!t->special_first[(unsigned char)s[i]]) continue;
        for (int k = 0; k < t->n_special_lens; k++) {
            size_t L = (size_t)t->special_lens[k];
            if (L > n - i) continue;
            const l3_hentry *e = l3_hmap_get(&t->special, s + i, L);
            if (e) {
                *id = e->id;
                *len = L;
                return i;
            }
        }
    }
    return n;
}

/* One fragment of ordinary text for SentencePiece: llama.cpp adds the dummy-prefix space to
 * the first fragment and to any fragment that follows a special token. */
static int spm_fragment(const llama3_tokenizer *t, const char *s, size_t n, int prefix, l3_idsink *out,
                        llama3_error *err) {
    if (!prefix || !t->add_space_prefix) return l3_spm_encode(t, s, n, out, err);
    char *buf = malloc(n + 1);
    if (!buf) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory encoding text");
    buf[0] = ' ';
    memcpy(buf + 1, s, n);
    int rc = l3_spm_encode(t, buf, n + 1, out, err);
    free(buf);
    return rc;
}

static int encode_chunk(const llama3_tokenizer *t, const char *s, size_t n, int special, l3_idsink *out,
                        int *prev_special, llama3_error *err) {
    int rc;
    while (special && n > 0 && t->n_special_lens > 0) {
        int32_t id = -1;
        size_t len = 0, at = find_special(t, s, n, &id, &len);
        if (at == n) break;
        if (at > 0) {
            rc = t->kind == L3_TOK_SPM ? spm_fragment(t, s, at, *prev_special, out, err)
                                       : encode_ordinary(t, s, at, out, err);
            if (rc) return rc;
        }
        l3_sink_push(out, id);
        *prev_special = 1;
        s += at + len;
        n -= at + len;
    }
    if (n == 0) return 0;
    if (t->kind == L3_TOK_SPM) {
        rc = spm_fragment(t, s, n, *prev_special, out, err);
        *prev_special = 0;
        return rc;
    }
    return encode_ordinary(t, s, n, out, err);
}

/* Meta's chunking (tokenizer.py: TIKTOKEN_MAX_ENCODE_CHARS, _split_whitespaces_or_nonwhitespaces):
 * blocks of 400k characters, each cut wherever a run of whitespace or of non-whitespace exceeds
 * 25k characters. It changes the ids of very long inputs, so it is reproduced exactly. */
static int encode_meta_chunks(const llama3_tokenizer *t, const char *text, size_t len, int special,
                              l3_idsink *out, llama3_error *err) {
    const unsigned char *u = (const unsigned char *)text;
    size_t slice_start = 0, i = 0;
    long block_chars = 0, cur_len = 0;
    int cur_space = 0, prev_special = 1, rc;
    while (i < len) {
        int k = u[i] < 0x80 ? 1 : l3_utf8_valid_len(u + i, len - i);
        int sp = k ? l3_unicode_isspace(l3_utf8_decode(u + i, k)) : 0;
        if (!k) k = 1;
        if (block_chars == META_MAX_ENCODE_CHARS) {  /* a new 400k block: state starts over */
            if ((rc = encode_chunk(t, text + slice_start, i - slice_start, special, out, &prev_special, err)))
                return rc;
            slice_start = i;
            block_chars = 0;
        }
        if (block_chars == 0) {
            cur_space = sp;
            cur_len = 0;
        }
        if (cur_space != sp) {
            cur_len = 1;
            cur_space = sp;
        } else if (++cur_len > META_MAX_NO_WHITESPACE_CHARS) {
            if ((rc = encode_chunk(t, text + slice_start, i - slice_start, special, out, &prev_special, err)))
                return rc;
            slice_start = i;
            cur_len = 1;
        }
        block_chars++;
        i += (size_t)k;
    }
    return encode_chunk(t, text + slice_start, len - slice_start, special, out, &prev_special, err);
}

int l3_tokenize_sink(const llama3_tokenizer *t, const char *text, size_t len, int flags,
                     l3_idsink *out, llama3_error *err) {
    if (flags & LLAMA3_TOK_BOS) {
        if (t->bos < 0)
            return l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "this vocabulary has no beginning-of-text token");
        l3_sink_push(out, t->bos);
    }
    int special = (flags & LLAMA3_TOK_SPECIAL) != 0;
    if (t->meta_chunking) return encode_meta_chunks(t, text, len, special, out, err);
    int prev_special = 1;
    return encode_chunk(t, text, len, special, out, &prev_special, err);
}

int llama3_tokenize(const llama3_tokenizer *t, const char *text, size_t len, int flags,
                    int32_t *ids, int cap, llama3_error *err) {
    if (!t) return l3_fail(err, LLAMA3_ERR_ARG, "llama3_tokenize: no tokenizer");
    if ((!text && len) || cap < 0 || (!ids && cap > 0))
        return l3_fail(err, LLAMA3_ERR_ARG, "llama3_tokenize: bad arguments (text %p, len %zu, ids %p, cap %d)",
                       (const void *)text, len, (void *)ids, cap);
    if (flags & ~(LLAMA3_TOK_BOS | LLAMA3_TOK_SPECIAL))
        return l3_fail(err, LLAMA3_ERR_ARG, "llama3_tokenize: unknown flags 0x%x", (unsigned)flags);
    l3_idsink out = { ids, cap, 0 };
    int rc = l3_tokenize_sink(t, text ? text : "", len, flags, &out, err);
    if (rc) return rc;
    if (out.n > INT_MAX)
        return l3_fail(err, LLAMA3_ERR_ARG, "llama3_tokenize: %lld tokens do not fit an int", (long long)out.n);
    return (int)out.n;
}
