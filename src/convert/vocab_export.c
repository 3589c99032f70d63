/* The tokenizer.* keys of a converted model, as convert_hf_to_gguf.py writes them for
 * Llama 3 ("gpt2" BPE, pre-tokenizer "llama-bpe"):
 *   tokens      ordinary tokens as GPT-2 byte-mapped text, special tokens as their names;
 *   token_type  1 normal, 3 control (special), 4 user-defined, 5 unused ([PAD<id>] holes);
 *   merges      tokenizer.json's list; for tiktoken files derived as transformers'
 *               TikTokenConverter does: every split of a token into two tokens, grouped by
 *               the merged token's rank and ordered by the parts' ranks;
 *   bos / eos   token ids, and the chat template from tokenizer_config.json.
 * A vocabulary larger than the model's (the fixtures' 512-token models carry the start of
 * Llama 3's) is cut to the first vocab_size tokens and the merges that make them; a smaller
 * one is padded with [PAD<id>] as llama.cpp does. */
#include "convert/convert.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tokenizer/tokenizer.h"

/* GPT-2's byte -> code point table, UTF-8 encoded into out (at most 2 bytes). */
static int gpt2_map_byte(unsigned char b, char *out) {
    uint32_t cp;
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) cp = b;
    else if (b <= 0x20) cp = 0x100 + b;
    else if (b <= 0xA0) cp = 0x100 + 33 + (b - 0x7F);
    else cp = 0x100 + 67;  /* 0xAD */
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* A growing list of NUL-terminated strings in one arena. */
typedef struct strlist { char *arena; size_t n_bytes, cap_bytes; size_t *off; size_t n, cap; } strlist;

static int sl_push(strlist *s, const char *p, size_t len) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        size_t *o = realloc(s->off, cap * sizeof *o);
        if (!o) return -1;
        s->off = o;
        s->cap = cap;
    }
    if (s->n_bytes + len + 1 > s->cap_bytes) {
        size_t cap = s->cap_bytes ? s->cap_bytes : 65536;
        while (cap < s->n_bytes + len + 1) cap *= 2;
        char *a = realloc(s->arena, cap);
        if (!a) return -1;
        s->arena = a;
        s->cap_bytes = cap;
    }
    memcpy(s->arena + s->n_bytes, p, len);
    s->arena[s->n_bytes + len] = 0;
    s->off[s->n++] = s->n_bytes;
    s->n_bytes += len + 1;
    return 0;
}

static int sl_push_mapped(strlist *s, const char *bytes, size_t len, char *tmp) {
    size_t o = 0;
    for (size_t i = 0; i < len; i++) o += (size_t)gpt2_map_byte((unsigned char)bytes[i], tmp + o);
    return sl_push(s, tmp, o);
}

static void sl_free(strlist *s) { free(s->arena); free(s->off); }

/* Writes the list as a string array (pointers are taken once the arena stops moving). */
static int sl_write(l3_gguf_writer *w, const char *key, const strlist *s) {
    const char **v = malloc((s->n ? s->n : 1) * sizeof *v);
    if (!v) return -1;
    for (size_t i = 0; i < s->n; i++) v[i] = s->arena + s->off[i];
    l3_gguf_w_arr_str(w, key, v, NULL, s->n);
    free(v);
    return 0;
}

/* ---- merges -------------------------------------------------------------------------- */

typedef struct split { int32_t l, r; } split;
static int cmp_split(const void *a, const void *b) {
    const split *x = a, *y = b;
    if (x->l != y->l) return x->l < y->l ? -1 : 1;
    return (x->r > y->r) - (x->r < y->r);
}

/* tiktoken ranks are the ids, so merges are derived in id order; only tokens below
 * vocab_size are produced (their parts may lie beyond: that is what the fixtures hold). */
static int derive_merges(const llama3_tokenizer *t, int vocab_size, strlist *out, llama3_error *err) {
    size_t maxlen = 0;
    for (int id = 0; id < t->n_vocab; id++)
        if (t->len[id] > maxlen) maxlen = t->len[id];
    split *sp = malloc((maxlen + 1) * sizeof *sp);
    char *tmp = malloc(4 * maxlen + 8);
    if (!sp || !tmp) { free(sp); free(tmp); return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory deriving merges"); }
    int rc = 0;
    for (int id = 0; id < t->n_vocab && id < vocab_size && !rc; id++) {
        if (t->type[id] != L3_TT_NORMAL || t->len[id] < 2) continue;
        const char *b = t->blob + t->off[id];
        size_t n = t->len[id], k = 0;
        for (size_t i = 1; i < n; i++) {
            int32_t l = l3_tok_lookup(t, b, i), r = l3_tok_lookup(t, b + i, n - i);
            if (l >= 0 && r >= 0) sp[k++] = (split){ l, r };
        }
        qsort(sp, k, sizeof *sp, cmp_split);
        for (size_t j = 0; j < k && !rc; j++) {
            size_t o = 0;
            for (uint32_t i = 0; i < t->len[sp[j].l]; i++)
                o += (size_t)gpt2_map_byte((unsigned char)t->blob[t->off[sp[j].l] + i], tmp + o);
            tmp[o++] = ' ';
            for (uint32_t i = 0; i < t->len[sp[j].r]; i++)
                o += (size_t)gpt2_map_byte((unsigned char)t->blob[t->off[sp[j].r] + i], tmp + o);
            if (sl_push(out, tmp, o)) rc = l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory deriving merges");
        }
    }
    free(sp);
    free(tmp);
    return rc;
}

/* tokenizer.json's model.merges, kept while the merged token is one of the model's. */
static int json_merges(json_t *root, const llama3_tokenizer *t, int vocab_size, strlist *out, llama3_error *err) {
    json_t *merges = json_object_get(json_object_get(root, "model"), "merges");
    int rc = 0;
    size_t i;
    json_t *v;
    char *raw = NULL;
    size_t raw_cap = 0;
    json_array_foreach(merges, i, v) {
        const char *a = NULL, *b = NULL;
        size_t la = 0, lb = 0;
        if (json_is_string(v)) {
            a = json_string_value(v);
            const char *sp = strchr(a, ' ');
            if (!sp) continue;
            la = (size_t)(sp - a);
            b = sp + 1;
            lb = strlen(b);
        } else if (json_is_array(v) && json_array_size(v) == 2) {
            a = json_string_value(json_array_get(v, 0));
            b = json_string_value(json_array_get(v, 1));
            if (!a || !b) continue;
            la = strlen(a);
            lb = strlen(b);
        } else {
            continue;
        }
        if (vocab_size < t->n_vocab) {
            if (la + lb > raw_cap) {
                char *n = realloc(raw, raw_cap = 2 * (la + lb) + 64);
                if (!n) { rc = l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory"); break; }
                raw = n;
            }
            long x = l3_gpt2_unmap(a, la, raw), y = x < 0 ? -1 : l3_gpt2_unmap(b, lb, raw + x);
            int32_t id = y < 0 ? -1 : l3_tok_lookup(t, raw, (size_t)(x + y));
            if (id < 0 || id >= vocab_size) continue;
        }
        size_t n = la + 1 + lb;
        if (n + 1 > raw_cap) {
            char *nb = realloc(raw, raw_cap = 2 * n + 64);
            if (!nb) { rc = l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory"); break; }
            raw = nb;
        }
        memcpy(raw, a, la);
        raw[la] = ' ';
        memcpy(raw + la + 1, b, lb);
        if (sl_push(out, raw, n)) { rc = l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory"); break; }
    }
    free(raw);
    return rc;
}

/* tokenizer.json's added_tokens: their text as written (the tokenizer may know Llama 3.1 names
 * for the same ids) and CONTROL for special ones, USER_DEFINED otherwise, as llama.cpp. */
static int json_added_tokens(json_t *root, strlist *toks, int32_t *types, int vocab_size, llama3_error *err) {
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(root, "added_tokens"), i, v) {
        json_t *id = json_object_get(v, "id");
        const char *content = json_string_value(json_object_get(v, "content"));
        if (!json_is_integer(id) || !content || json_integer_value(id) < 0 || json_integer_value(id) >= vocab_size) continue;
        int k = (int)json_integer_value(id);
        size_t off = toks->n_bytes;
        if (sl_push(toks, content, strlen(content))) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
        toks->n--;  /* re-point entry k at the new text instead of appending */
        toks->off[k] = off;
        types[k] = json_is_true(json_object_get(v, "special")) ? L3_TT_CONTROL : L3_TT_USER;
    }
    return 0;
}

static int is_json_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int c;
    while ((c = fgetc(f)) == ' ' || c == '\n' || c == '\r' || c == '\t' || c == 0xEF || c == 0xBB || c == 0xBF) {}
    fclose(f);
    return c == '{';
}

/* tokenizer_config.json's chat_template: a string, or the "default" of a list. */
static char *read_chat_template(const char *config_path) {
    if (!config_path || !l3_file_exists(config_path)) return NULL;
    json_t *c = json_load_file(config_path, JSON_DECODE_INT_AS_REAL, NULL);  /* model_max_length overflows int64 */
    json_t *tmpl = json_object_get(c, "chat_template");
    const char *s = json_string_value(tmpl);
    if (json_is_array(tmpl)) {
        size_t i;
        json_t *v;
        json_array_foreach(tmpl, i, v) {
            const char *name = json_string_value(json_object_get(v, "name"));
            if (name && !strcmp(name, "default")) s = json_string_value(json_object_get(v, "template"));
        }
    }
    char *r = s ? strdup(s) : NULL;
    json_decref(c);
    return r;
}

static char *sibling_config(const char *path) {
    const char *slash = strrchr(path, '/');
    size_t d = slash ? (size_t)(slash - path) : 0;
    char *p = malloc(d + sizeof "/tokenizer_config.json");
    if (!p) return NULL;
    if (slash) memcpy(p, path, d);
    strcpy(p + d, slash ? "/tokenizer_config.json" : "tokenizer_config.json");
    return p;
}

static int copy_gguf_tokenizer(l3_gguf_writer *w, const l3_gguf *g, int vocab_size, llama3_error *err) {
    const l3_gguf_kv *tok = l3_gguf_find(g, "tokenizer.ggml.tokens");
    if (tok && tok->type == GGUF_ARRAY && tok->arr_n > (uint64_t)vocab_size)
        return l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "%s: vocabulary of %llu tokens, more than the model's %d",
                       g->map.path, (unsigned long long)tok->arr_n, vocab_size);
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].key.len > 10 && !memcmp(g->kv[i].key.p, "tokenizer.", 10)) l3_gguf_w_copy_kv(w, &g->kv[i]);
    return 0;
}

static int build_from_tokenizer(l3_gguf_writer *w, const llama3_tokenizer *t, const char *vocab_file,
                                const char *config_path, const l3_weights *wt, int vocab_size, llama3_error *err) {
    if (t->kind != L3_TOK_BPE)
        return l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "%s: only byte-level BPE (Llama 3) vocabularies can be converted", vocab_file);
    if (t->n_vocab > vocab_size)
        fprintf(stderr, "llama3 convert: note: keeping the first %d of the %d tokens of %s (the model's vocabulary size)\n",
                vocab_size, t->n_vocab, vocab_file);
    strlist toks = { 0 }, merges = { 0 };
    int32_t *types = malloc((size_t)vocab_size * sizeof *types);
    size_t maxlen = 16;
    for (int id = 0; id < t->n_vocab; id++)
        if (t->len[id] > maxlen) maxlen = t->len[id];
    char *tmp = malloc(2 * maxlen + 32);
    char *tmpl = NULL;
    json_t *root = NULL;
    int rc = 0;
    if (!types || !tmp) { rc = l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory"); goto done; }
    for (int id = 0; id < vocab_size && !rc; id++) {
        int ty = id < t->n_vocab ? t->type[id] : L3_TT_MISSING;
        const char *b = id < t->n_vocab ? t->blob + t->off[id] : NULL;
        size_t n = id < t->n_vocab ? t->len[id] : 0;
        int r;
        if (ty == L3_TT_NORMAL) r = sl_push_mapped(&toks, b, n, tmp);
        else if (ty == L3_TT_CONTROL || ty == L3_TT_USER) r = sl_push(&toks, b, n);
        else {
            ty = L3_TT_UNUSED;
            r = sl_push(&toks, tmp, (size_t)snprintf(tmp, 32, "[PAD%d]", id));
        }
        types[id] = ty;
        if (r) rc = l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    }
    if (rc) goto done;
    if (is_json_file(vocab_file)) {
        json_error_t je;
        if (!(root = json_load_file(vocab_file, 0, &je))) {
            rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: line %d: %s", vocab_file, je.line, je.text);
            goto done;
        }
        rc = json_added_tokens(root, &toks, types, vocab_size, err);
        if (!rc) rc = json_merges(root, t, vocab_size, &merges, err);
    } else {
        rc = derive_merges(t, vocab_size, &merges, err);
    }
    if (rc) goto done;
    l3_gguf_w_str(w, "tokenizer.ggml.model", "gpt2");
    l3_gguf_w_str(w, "tokenizer.ggml.pre", "llama-bpe");
    if (sl_write(w, "tokenizer.ggml.tokens", &toks)) { rc = l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory"); goto done; }
    l3_gguf_w_arr(w, "tokenizer.ggml.token_type", GGUF_I32, types, (uint64_t)vocab_size);
    if (sl_write(w, "tokenizer.ggml.merges", &merges)) { rc = l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory"); goto done; }
    int32_t bos = wt->bos_id, eos = wt->eos_id;
    if (bos < 0) bos = l3_tokenizer_bos(t);
    if (bos >= 0 && bos < vocab_size) l3_gguf_w_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)bos);
    if (eos >= 0 && eos < vocab_size) l3_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eos);
    if ((tmpl = read_chat_template(config_path))) l3_gguf_w_str(w, "tokenizer.chat_template", tmpl);
done:
    sl_free(&toks);
    sl_free(&merges);
    free(types);
    free(tmp);
    free(tmpl);
    json_decref(root);
    return rc;
}

int l3_vocab_export(l3_gguf_writer *w, const l3_weights *wt, const char *vocab_path, int vocab_size,
                    llama3_error *err) {
    if (!vocab_path && wt->vocab.kind == L3_VOCAB_GGUF) return copy_gguf_tokenizer(w, wt->vocab.gguf, vocab_size, err);
    const char *file = vocab_path ? vocab_path : wt->vocab.kind == L3_VOCAB_FILE ? wt->vocab.path : NULL;
    if (!file)
        return l3_fail(err, LLAMA3_ERR_FORMAT,
                       "the model has no tokenizer (tokenizer.json / tokenizer.model); give one with --vocab PATH");
    FILE *f = fopen(file, "rb");
    char magic[4] = { 0 };
    if (!f) return l3_fail(err, LLAMA3_ERR_IO, "%s: cannot open tokenizer", file);
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    if (got == 4 && !memcmp(magic, "GGUF", 4)) {
        l3_gguf *g;
        int rc = l3_gguf_open(file, &g, err);
        if (rc) return rc;
        rc = copy_gguf_tokenizer(w, g, vocab_size, err);
        l3_gguf_close(g);
        return rc;
    }
    llama3_tokenizer *t = llama3_tokenizer_load(file, err);
    if (!t) return err ? err->code : LLAMA3_ERR_FORMAT;
    char *cfg = NULL;
    const char *config = NULL;
    if (!vocab_path) config = wt->vocab.config_path;
    else if (is_json_file(file)) config = cfg = sibling_config(file);
    int rc = build_from_tokenizer(w, t, file, config, wt, vocab_size, err);
    free(cfg);
    llama3_tokenizer_free(t);
    return rc;
}
