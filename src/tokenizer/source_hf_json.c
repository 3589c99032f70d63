/* Hugging Face tokenizer.json (and tokenizer_config.json next to it), parsed with jansson.
 *
 * Why jansson: tokenizer.json is 9 MB of JSON with escapes in nearly every key; a maintained
 * parser that handles \uXXXX and surrogate pairs correctly is worth more than the ~100 ms a
 * hand-rolled scanner would save, and jansson is small, C, and already a dependency.
 *
 * model.vocab maps GPT-2 byte-mapped text to ids, model.merges ("A B" or ["A", "B"]) give the
 * ranks, added_tokens are the special tokens (stored as plain text). The pre-tokenizer must be
 * Meta's pat_str: it is the only one implemented. */
#include "tokenizer/tokenizer.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* hardening: size caps on the files, read whole before parsing (Llama 3's tokenizer.json is
 * 9 MB and its tokenizer_config.json 50 KB), so a huge file is refused before jansson builds
 * a tree several times its size. */
#define HF_TOKENIZER_MAX_BYTES ((size_t)64 << 20)
#define HF_TOKENIZER_CONFIG_MAX_BYTES ((size_t)4 << 20)
/* The largest id may leave at most this many ids unused beyond the number of entries. Cut-down
 * vocabularies (tests, fuzz seeds) keep Llama 3's specials at 128000..128255, so the slack
 * covers that gap; an unused id costs ~25 bytes of tables, so a tiny file gets ~3 MB at most
 * (an id of 2^24 - 1 alone would otherwise cost ~1 GB). */
#define HF_VOCAB_MAX_HOLES (1 << 17)

/* json_load_file without a size limit would read anything: read at most max bytes first. */
static json_t *load_capped(const char *path, size_t max, size_t flags, llama3_error *err, int *rc) {
    char *text;
    size_t len;
    if ((*rc = l3_read_file(path, max, &text, &len, err))) return NULL;
    json_error_t je;
    json_t *root = json_loadb(text, len, flags, &je);
    free(text);
    if (!root) *rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: line %d: %s", path, je.line, je.text);
    return root;
}

static const char k_pat_str[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* 1 if some Split pre-tokenizer in j uses Meta's pattern, -1 if one uses another, 0 if none. */
static int check_pretok(json_t *j) {
    if (!json_is_object(j)) return 0;
    json_t *pat = json_object_get(j, "pattern");
    json_t *re = pat ? json_object_get(pat, "Regex") : NULL;
    if (json_is_string(re)) return strcmp(json_string_value(re), k_pat_str) == 0 ? 1 : -1;
    json_t *seq = json_object_get(j, "pretokenizers");
    int found = 0;
    size_t i;
    json_t *v;
    json_array_foreach(seq, i, v) {
        int r = check_pretok(v);
        if (r < 0) return -1;
        if (r > 0) found = 1;
    }
    return found;
}

static const char *token_name(json_t *v) {
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_object(v)) {
        json_t *c = json_object_get(v, "content");
        if (json_is_string(c)) return json_string_value(c);
    }
    return NULL;
}

/* tokenizer_config.json: chat template, bos/eos names. Missing file or keys are fine. */
static int read_config(llama3_tokenizer *t, const char *config_path, llama3_error *err) {
    if (!config_path || !l3_file_exists(config_path)) return 0;
    int rc;
    json_t *c = load_capped(config_path, HF_TOKENIZER_CONFIG_MAX_BYTES, JSON_DECODE_INT_AS_REAL, err, &rc);
    if (!c) return rc;
    json_t *tmpl = json_object_get(c, "chat_template");
    if (json_is_string(tmpl)) {
        l3_tok_note_chat_template(t, json_string_value(tmpl), json_string_length(tmpl));
    } else if (json_is_array(tmpl)) {  /* [{"name": "default", "template": ...}, ...] */
        size_t i;
        json_t *v;
        json_array_foreach(tmpl, i, v) {
            json_t *name = json_object_get(v, "name"), *tx = json_object_get(v, "template");
            if (json_is_string(tx) && (!json_is_string(name) || strcmp(json_string_value(name), "default") == 0)) {
                l3_tok_note_chat_template(t, json_string_value(tx), json_string_length(tx));
                break;
            }
        }
    }
    const char *bos = token_name(json_object_get(c, "bos_token"));
    const char *eos = token_name(json_object_get(c, "eos_token"));
    if (bos && llama3_token_id(t, bos) >= 0) t->bos = llama3_token_id(t, bos);
    if (eos && llama3_token_id(t, eos) >= 0) {
        t->eos = llama3_token_id(t, eos);
        l3_tok_add_end(t, t->eos);
    }
    json_decref(c);
    return 0;
}

/* Is v a merge of exactly two tokens: "A B" (one space, both halves non-empty: byte-level
 * text has no raw spaces, GPT-2 maps ' ' to U+0120) or ["A", "B"] (two non-empty strings)? */
static int merge_is_pair(json_t *v) {
    if (json_is_string(v)) {
        const char *s = json_string_value(v), *end = s + json_string_length(v);
        const char *sp = memchr(s, ' ', (size_t)(end - s));
        return sp && sp > s && sp + 1 < end && !memchr(sp + 1, ' ', (size_t)(end - sp - 1));
    }
    json_t *a = json_array_get(v, 0), *b = json_array_get(v, 1);
    return json_array_size(v) == 2 && json_is_string(a) && json_is_string(b) && json_string_length(a) > 0 &&
           json_string_length(b) > 0;
}

/* A merge that is not two tokens is a damaged file: refused, naming it, rather than skipped
 * (which would load another tokenizer than the file describes). */
static int check_merges(json_t *merges, const char *path, llama3_error *err) {
    size_t i;
    json_t *v;
    json_array_foreach(merges, i, v) {
        if (merge_is_pair(v)) continue;
        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        int rc = l3_fail(err, LLAMA3_ERR_FORMAT,
                         "%s: model.merges[%zu] = %.60s is not two tokens (expected \"A B\" or [\"A\", \"B\"], A and B non-empty)",
                         path, i, text ? text : "?");
        free(text);
        return rc;
    }
    return 0;
}

/* A merge is "A B" (split at the first space after the first byte) or ["A", "B"]. */
static int merge_get(void *ctx, size_t i, const char **l, size_t *ll, const char **r, size_t *rl) {
    json_t *v = json_array_get((json_t *)ctx, i);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        const char *sp = s[0] ? strchr(s + 1, ' ') : NULL;
        if (!sp) return 0;
        *l = s;
        *ll = (size_t)(sp - s);
        *r = sp + 1;
        *rl = json_string_length(v) - *ll - 1;
        return 1;
    }
    json_t *a = json_array_get(v, 0), *b = json_array_get(v, 1);
    if (json_array_size(v) != 2 || !json_is_string(a) || !json_is_string(b)) return 0;
    *l = json_string_value(a);
    *ll = json_string_length(a);
    *r = json_string_value(b);
    *rl = json_string_length(b);
    return 1;
}

int l3_tok_load_hf_json(const char *path, const char *config_path, llama3_tokenizer **out, llama3_error *err) {
    *out = NULL;
    int rc = 0;
    json_t *root = load_capped(path, HF_TOKENIZER_MAX_BYTES, JSON_ALLOW_NUL, err, &rc);
    if (!root) return rc;
    llama3_tokenizer *t = NULL;
    char *tmp = NULL;
    json_t *model = json_object_get(root, "model");
    json_t *type = json_object_get(model, "type");
    json_t *vocab = json_object_get(model, "vocab");
    json_t *merges = json_object_get(model, "merges");
    json_t *added = json_object_get(root, "added_tokens");
    if (!json_is_object(vocab) || !json_is_array(merges) ||
        (json_is_string(type) && strcmp(json_string_value(type), "BPE") != 0)) {
        rc = l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "%s: expected a BPE model (model.type \"BPE\" with model.vocab and model.merges)",
                     path);
        goto done;
    }
    if (check_pretok(json_object_get(root, "pre_tokenizer")) != 1) {
        rc = l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "%s: the pre-tokenizer is not Llama 3's Split regex (pat_str); only Llama 3 is supported",
                     path);
        goto done;
    }
    if ((rc = check_merges(merges, path, err))) goto done;
    /* The vocabulary size: one past the largest id in vocab or added_tokens. */
    json_int_t max_id = -1;
    const char *key;
    json_t *v;
    size_t i, maxlen = 16;
    json_object_foreach(vocab, key, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= (1 << 24)) {
            rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: model.vocab['%.40s'] is not an id in 0..16777215", path, key);
            goto done;
        }
        if (json_integer_value(v) > max_id) max_id = json_integer_value(v);
        size_t n = strlen(key);
        if (n > maxlen) maxlen = n;
    }
    json_array_foreach(added, i, v) {
        json_t *id = json_object_get(v, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= (1 << 24) ||
            !json_is_string(json_object_get(v, "content"))) {
            rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: added_tokens[%zu] needs an id in 0..16777215 and a content string",
                         path, i);
            goto done;
        }
        if (json_integer_value(id) > max_id) max_id = json_integer_value(id);
    }
    /* hardening: the tables are sized by the largest id, so one entry with id 16777215 in a
     * 300-byte file would cost ~1 GB of tables. Ids must (nearly) fill the range. */
    size_t entries = json_object_size(vocab) + json_array_size(added);
    if (max_id >= 0 && (uint64_t)max_id >= (uint64_t)entries + HF_VOCAB_MAX_HOLES) {
        rc = l3_fail(err, LLAMA3_ERR_FORMAT,
                     "%s: largest token id %lld is far beyond the %zu entries of model.vocab and added_tokens "
                     "(at most %d ids may be unused)",
                     path, (long long)max_id, entries, HF_VOCAB_MAX_HOLES);
        goto done;
    }
    if (!(t = l3_tok_alloc(L3_TOK_BPE, (int)max_id + 1, err, path))) { rc = err ? err->code : LLAMA3_ERR_MEMORY; goto done; }
    if (!(tmp = malloc(maxlen + 1))) { rc = l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", path); goto done; }

    json_object_foreach(vocab, key, v) {
        size_t n = strlen(key);
        long k = l3_gpt2_unmap(key, n, tmp);
        if (k < 0) {
            rc = l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "%s: model.vocab['%.40s'] is not GPT-2 byte-mapped text (not a byte-level BPE)",
                         path, key);
            goto done;
        }
        if (l3_tok_set(t, (int32_t)json_integer_value(v), tmp, (size_t)k, L3_TT_NORMAL)) goto oom;
    }
    json_array_foreach(added, i, v) {
        json_t *c = json_object_get(v, "content");
        int special = json_is_true(json_object_get(v, "special"));
        if (l3_tok_set(t, (int32_t)json_integer_value(json_object_get(v, "id")), json_string_value(c),
                       json_string_length(c), special ? L3_TT_CONTROL : L3_TT_USER))
            goto oom;
    }
    if ((rc = l3_tok_finish(t, path, err))) goto done;
    if (l3_tok_rank_merges(t, json_array_size(merges), merge_get, merges) != 0) goto oom;
    rc = read_config(t, config_path, err);
    goto done;
oom:
    rc = l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", path);
done:
    json_decref(root);
    free(tmp);
    if (rc) llama3_tokenizer_free(t);
    else *out = t;
    return rc;
}
