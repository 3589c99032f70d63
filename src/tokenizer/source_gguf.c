/* The vocabulary in GGUF metadata (tokenizer.ggml.*), as llama.cpp's converters write it.
 *   model "gpt2": byte-level BPE; tokens are GPT-2 byte-mapped text, merges "A B" give the
 *                 ranks. Only the Llama 3 pre-tokenizer is implemented, so tokenizer.ggml.pre
 *                 must name it (llama-bpe, llama3, smaug-bpe use the same pat_str); older files
 *                 without the key are taken to be Llama 3 only if they hold Meta's special tokens.
 *   model "llama": SentencePiece; tokens with scores, '▁' for space, <0xNN> byte tokens.
 * Everything is copied, so the GGUF file may be closed afterwards. */
#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>
#include "formats/gguf.h"

static const l3_gguf_kv *arr_key(const l3_gguf *g, const char *key, uint32_t want, int is_int, uint64_t n,
                                 const char *what, llama3_error *err, int *rc) {
    *rc = 0;
    const l3_gguf_kv *kv = l3_gguf_find(g, key);
    if (!kv) return NULL;
    int ok = kv->type == GGUF_ARRAY;
    if (ok && is_int) ok = kv->arr_type <= GGUF_I32 && kv->arr_type != GGUF_F32 && kv->arr_type != GGUF_BOOL;
    else if (ok) ok = kv->arr_type == want || (want == GGUF_F32 && kv->arr_type == GGUF_F64);
    if (ok && n && kv->arr_n != n) ok = 0;
    if (!ok) {
        *rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: key '%s' must be an array of %s%s", what, key,
                      is_int ? "integers" : want == GGUF_STRING ? "strings" : "floats",
                      n ? " with one entry per token" : "");
        return NULL;
    }
    return kv;
}

static int get_id(const l3_gguf *g, const char *key, int32_t *out, int n_vocab, const char *what,
                  llama3_error *err) {
    uint32_t v;
    int rc = l3_gguf_get_u32(g, key, false, &v, err);
    if (rc < 0) return rc;
    if (rc == 1) return 0;
    if (v >= (uint32_t)n_vocab)
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: %s = %u is not below the vocabulary size %d", what, key, v, n_vocab);
    *out = (int32_t)v;
    return 0;
}

/* SentencePiece pieces: '▁' (U+2581) -> ' '; "<0xNN>" byte tokens -> that byte. */
static int set_spm_token(llama3_tokenizer *t, int32_t id, const char *s, size_t n, int type, char *tmp) {
    if (type == L3_TT_BYTE && n == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' && s[5] == '>') {
        char hex[3] = { s[3], s[4], 0 };
        char *end;
        long v = strtol(hex, &end, 16);
        if (*end == 0) {
            char b = (char)v;
            return l3_tok_set(t, id, &b, 1, type);
        }
    }
    if (type == L3_TT_CONTROL || type == L3_TT_UNKNOWN || type == L3_TT_BYTE) return l3_tok_set(t, id, s, n, type);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
            tmp[o++] = ' ';
            i += 3;
        } else {
            tmp[o++] = s[i++];
        }
    }
    return l3_tok_set(t, id, tmp, o, type);
}

/* "A B": the halves are split at the first space after the first byte (mapped text has no
 * raw spaces, GPT-2 maps ' ' to U+0120). */
static int merge_get(void *ctx, size_t i, const char **l, size_t *ll, const char **r, size_t *rl) {
    l3_gguf_str s = l3_gguf_arr_str((const l3_gguf_kv *)ctx, i);
    const char *sp = s.len > 1 ? memchr(s.p + 1, ' ', s.len - 1) : NULL;
    if (!sp) return 0;
    *l = s.p;
    *ll = (size_t)(sp - s.p);
    *r = sp + 1;
    *rl = s.len - *ll - 1;
    return 1;
}

int l3_tok_load_gguf(const l3_gguf *g, const char *what, llama3_tokenizer **out, llama3_error *err) {
    *out = NULL;
    int rc;
    char *model = NULL, *tmp = NULL;
    llama3_tokenizer *t = NULL;
    if ((rc = l3_gguf_get_str(g, "tokenizer.ggml.model", true, &model, err)) != 0) return rc;
    l3_tok_kind kind;
    if (strcmp(model, "gpt2") == 0) kind = L3_TOK_BPE;
    else if (strcmp(model, "llama") == 0) kind = L3_TOK_SPM;
    else {
        rc = l3_fail(err, LLAMA3_ERR_UNSUPPORTED,
                     "%s: tokenizer.ggml.model = '%.64s' is not supported (expected 'gpt2' for Llama 3 or 'llama' for SentencePiece)",
                     what, model);
        goto done;
    }
    if (kind == L3_TOK_BPE) {
        const l3_gguf_kv *pre = l3_gguf_find(g, "tokenizer.ggml.pre");
        if (pre && (pre->type != GGUF_STRING ||
                    !(l3_gguf_str_eq(pre->s, "llama-bpe") || l3_gguf_str_eq(pre->s, "llama3") ||
                      l3_gguf_str_eq(pre->s, "smaug-bpe")))) {
            rc = l3_fail(err, LLAMA3_ERR_UNSUPPORTED,
                         "%s: tokenizer.ggml.pre = '%.*s' is not supported (only the Llama 3 pre-tokenizer: llama-bpe, llama3, smaug-bpe)",
                         what, pre->type == GGUF_STRING ? (int)(pre->s.len > 64 ? 64 : pre->s.len) : 9,
                         pre->type == GGUF_STRING ? pre->s.p : "not text");
            goto done;
        }
    }
    const l3_gguf_kv *tokens = arr_key(g, "tokenizer.ggml.tokens", GGUF_STRING, 0, 0, what, err, &rc);
    if (rc) goto done;
    if (!tokens) {
        rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: required key 'tokenizer.ggml.tokens' is missing", what);
        goto done;
    }
    if (tokens->arr_n == 0 || tokens->arr_n > (1u << 24)) {
        rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: tokenizer.ggml.tokens has %llu entries (expected 1..16777216)",
                     what, (unsigned long long)tokens->arr_n);
        goto done;
    }
    int n = (int)tokens->arr_n;
    const l3_gguf_kv *types = arr_key(g, "tokenizer.ggml.token_type", 0, 1, (uint64_t)n, what, err, &rc);
    if (rc) goto done;
    const l3_gguf_kv *scores = arr_key(g, "tokenizer.ggml.scores", GGUF_F32, 0, (uint64_t)n, what, err, &rc);
    if (rc) goto done;
    const l3_gguf_kv *merges = arr_key(g, "tokenizer.ggml.merges", GGUF_STRING, 0, 0, what, err, &rc);
    if (rc) goto done;
    if (kind == L3_TOK_BPE && !merges) {
        rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: a 'gpt2' vocabulary needs tokenizer.ggml.merges", what);
        goto done;
    }
    if (!(t = l3_tok_alloc(kind, n, err, what))) { rc = err ? err->code : LLAMA3_ERR_MEMORY; goto done; }

    size_t maxlen = 16;
    for (int i = 0; i < n; i++) {
        l3_gguf_str s = l3_gguf_arr_str(tokens, (uint64_t)i);
        if (s.len > maxlen) maxlen = s.len;
    }
    if (!(tmp = malloc(maxlen))) { rc = l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", what); goto done; }

    for (int i = 0; i < n; i++) {
        l3_gguf_str s = l3_gguf_arr_str(tokens, (uint64_t)i);
        int64_t ty = types ? l3_gguf_arr_int(types, (uint64_t)i) : L3_TT_NORMAL;
        if (ty < L3_TT_NORMAL || ty > L3_TT_BYTE) ty = L3_TT_NORMAL;
        if (scores) t->score[i] = (float)l3_gguf_arr_float(scores, (uint64_t)i);
        if (kind == L3_TOK_SPM) {
            rc = set_spm_token(t, i, s.p, s.len, (int)ty, tmp);
        } else if (ty == L3_TT_CONTROL || ty == L3_TT_USER || ty == L3_TT_UNKNOWN) {
            rc = l3_tok_set(t, i, s.p, s.len, (int)ty);  /* added tokens are stored as plain text */
        } else {
            long k = l3_gpt2_unmap(s.p, s.len, tmp);
            if (k < 0) {
                rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: token %d ('%.*s') is not GPT-2 byte-mapped text", what, i,
                             (int)(s.len > 40 ? 40 : s.len), s.p);
                goto done;
            }
            rc = l3_tok_set(t, i, tmp, (size_t)k, (int)ty);
        }
        if (rc) { rc = l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", what); goto done; }
    }

    if (kind == L3_TOK_SPM) {  /* llama.cpp's defaults for SentencePiece */
        t->bos = 1 < n ? 1 : -1;
        t->eos = 2 < n ? 2 : -1;
        bool asp = true;
        if ((rc = l3_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", false, &asp, err)) < 0) goto done;
        t->add_space_prefix = asp;
    }
    int32_t eot = -1, eom = -1;
    if ((rc = get_id(g, "tokenizer.ggml.bos_token_id", &t->bos, n, what, err)) ||
        (rc = get_id(g, "tokenizer.ggml.eos_token_id", &t->eos, n, what, err)) ||
        (rc = get_id(g, "tokenizer.ggml.unknown_token_id", &t->unk, n, what, err)) ||
        (rc = get_id(g, "tokenizer.ggml.eot_token_id", &eot, n, what, err)) ||
        (rc = get_id(g, "tokenizer.ggml.eom_token_id", &eom, n, what, err)))
        goto done;
    l3_tok_add_end(t, eot);
    l3_tok_add_end(t, eom);
    const l3_gguf_kv *tmpl = l3_gguf_find(g, "tokenizer.chat_template");
    if (tmpl && tmpl->type == GGUF_STRING) l3_tok_note_chat_template(t, tmpl->s.p, tmpl->s.len);

    if ((rc = l3_tok_finish(t, what, err))) goto done;
    /* Without tokenizer.ggml.pre, trust the Llama 3 pre-tokenizer only for Meta's vocabulary. */
    if (kind == L3_TOK_BPE && !l3_gguf_find(g, "tokenizer.ggml.pre") && !t->llama3_layout) {
        rc = l3_fail(err, LLAMA3_ERR_UNSUPPORTED,
                     "%s: no tokenizer.ggml.pre and the vocabulary lacks Llama 3's special tokens: cannot tell which pre-tokenizer it needs",
                     what);
        goto done;
    }

    if (kind == L3_TOK_BPE && l3_tok_rank_merges(t, merges->arr_n, merge_get, (void *)merges) != 0)
        rc = l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", what);
done:
    free(model);
    free(tmp);
    if (rc) llama3_tokenizer_free(t);
    else *out = t;
    return rc;
}
