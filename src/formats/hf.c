/* Hugging Face folders: config.json + model.safetensors (or shards listed in
 * model.safetensors.index.json), tokenizer.json / tokenizer_config.json.
 * Weights stay memory-mapped in their stored dtype. transformers permutes the rows of q_proj
 * and k_proj so that RoPE rotates the pairs (i, i + head_dim/2) ("rotate half") instead of
 * Meta's (2i, 2i+1); since attention only sees q.k, running the stored rows with the half-split
 * rotation gives Meta's results without copying the weights back (rope_layout = L3_ROPE_HALF). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_limit.h"
#include "formats/json_config.h"
#include "formats/safetensors.h"
#include "loader.h"
#include "args.h"

typedef struct hf_ctx {
    const char *dir;
    json_t *weight_map;            /* index.json's "weight_map", or NULL for one file */
    char **shard_names;            /* file names, parallel to shards */
    l3_safetensors **shards;
    int n_shards;
    l3_weights *w;
    l3_alloc_budget budget;        /* max_alloc_bytes: aligned copies and the layer table */
} hf_ctx;

/* Shard file names come from index.json: refuse anything that could leave the folder. */
static int hf_safe_file_name(const char *s) {
    return s[0] && s[0] != '.' && !strchr(s, '/') && !strchr(s, '\\');
}

static int hf_open_shard(hf_ctx *c, const char *name, llama3_error *err) {
    for (int i = 0; i < c->n_shards; i++)
        if (strcmp(c->shard_names[i], name) == 0) return 0;
    char **names = realloc(c->shard_names, sizeof(char *) * (size_t)(c->n_shards + 1));
    if (names) c->shard_names = names;
    l3_safetensors **shards = realloc(c->shards, sizeof(void *) * (size_t)(c->n_shards + 1));
    if (shards) c->shards = shards;
    char *path = l3_path_join(c->dir, name);
    if (!names || !shards || !path) { free(path); return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", c->dir); }
    l3_safetensors *st;
    int rc = l3_st_open(path, &st, err);
    free(path);
    if (rc) return rc;
    /* The weights description owns the mapping from now on; st keeps the tensor table. */
    if (l3_weights_keep_map(c->w, &st->map) != 0 || !(c->shard_names[c->n_shards] = strdup(name))) {
        l3_st_close(st);
        return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", c->dir);
    }
    c->shards[c->n_shards++] = st;
    return 0;
}

static int hf_open_weights(hf_ctx *c, json_t **index_root, llama3_error *err) {
    char *index_path = l3_path_join(c->dir, "model.safetensors.index.json");
    if (!index_path) return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", c->dir);
    int rc = 0;
    if (!l3_file_exists(index_path)) {
        free(index_path);
        char *single = l3_path_join(c->dir, "model.safetensors");
        int exists = single && l3_file_exists(single);
        free(single);
        if (!exists)
            return l3_fail(err, LLAMA3_ERR_IO,
                           "%s: neither model.safetensors nor model.safetensors.index.json found", c->dir);
        return hf_open_shard(c, "model.safetensors", err);
    }
    if ((rc = l3_json_load(index_path, index_root, err))) goto done;
    c->weight_map = json_object_get(*index_root, "weight_map");
    if (!json_is_object(c->weight_map)) {
        rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: missing \"weight_map\" object", index_path);
        goto done;
    }
    const char *tensor;
    json_t *file;
    json_object_foreach(c->weight_map, tensor, file) {
        if (!json_is_string(file) || !hf_safe_file_name(json_string_value(file))) {
            rc = l3_fail(err, LLAMA3_ERR_FORMAT,
                         "%s: weight_map[\"%s\"] must be a file name in the same folder", index_path, tensor);
            goto done;
        }
        if ((rc = hf_open_shard(c, json_string_value(file), err))) goto done;
    }
done:
    free(index_path);
    return rc;
}

static const l3_st_tensor *hf_find(const hf_ctx *c, const char *name, const char **file) {
    int shard = 0;
    if (c->weight_map) {
        const char *f = json_string_value(json_object_get(c->weight_map, name));
        if (!f) return NULL;
        for (shard = 0; shard < c->n_shards && strcmp(c->shard_names[shard], f) != 0; shard++) {}
    }
    if (shard >= c->n_shards) return NULL;
    *file = c->shard_names[shard];
    return l3_st_find(c->shards[shard], name);
}

/* One weight: present, float dtype, shape [rows, cols] (rows 0: a vector of cols). */
static int hf_tensor(hf_ctx *c, const char *name, int64_t rows, int64_t cols, l3_tensor *out,
                     llama3_error *err) {
    const char *file = "model.safetensors";
    const l3_st_tensor *t = hf_find(c, name, &file);
    if (!t)
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: tensor %s missing from %s", c->dir, name,
                       c->weight_map ? "model.safetensors.index.json's weight_map or its shard" : file);
    if (t->l3type < 0)
        return l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "%s/%s: %s: dtype %s, expected BF16, F16 or F32",
                       c->dir, file, name, t->dtype);
    int ok = rows == 0 ? t->n_dims == 1 && t->shape[0] == cols
                       : t->n_dims == 2 && t->shape[0] == rows && t->shape[1] == cols;
    if (!ok) {
        char got[128] = "", want[64];
        size_t n = 0;
        for (int i = 0; i < t->n_dims && n < sizeof got - 24; i++)
            n += (size_t)snprintf(got + n, sizeof got - n, "%s%lld", i ? "," : "", (long long)t->shape[i]);
        if (rows == 0) snprintf(want, sizeof want, "%lld", (long long)cols);
        else snprintf(want, sizeof want, "%lld,%lld", (long long)rows, (long long)cols);
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s/%s: %s: shape [%s], expected [%s] from config.json",
                       c->dir, file, name, got, want);
    }
    const void *data = t->data;
    if ((uintptr_t)data % (uintptr_t)t->elem_size != 0) {
        /* The data section starts at 8 + header length, which writers usually pad; if not,
         * a private aligned copy keeps the kernels' loads legal. */
        char what[200];
        snprintf(what, sizeof what, "%s: aligned copy of %s", c->dir, name);
        int rc = l3_alloc_take(&c->budget, t->nbytes, what, err);
        if (rc) return rc;
        void *copy = malloc(t->nbytes ? t->nbytes : 1);
        if (!copy || l3_weights_keep_buffer(c->w, copy) != 0) {
            free(copy);
            return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory copying %s", c->dir, name);
        }
        memcpy(copy, data, t->nbytes);
        data = copy;
    }
    out->type = (uint32_t)t->l3type;
    out->rows = rows == 0 ? 1 : rows;
    out->cols = cols;
    out->data = data;
    out->nbytes = (size_t)t->nbytes;
    return 0;
}

/* bos_token_id / eos_token_id: an integer, or a list whose first entry we keep (the tokenizer
 * recognises every end token itself). Absent keys leave *out unchanged. */
static int hf_token_id(const json_t *cfg, const char *key, int32_t *out, const char *path, llama3_error *err) {
    const json_t *v = json_object_get(cfg, key);
    if (!v || json_is_null(v)) return 0;
    if (json_is_array(v)) v = json_array_get(v, 0);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: \"%s\" must be a token id or a list of them", path, key);
    *out = (int32_t)json_integer_value(v);
    return 0;
}

/* RoPE: "rope_scaling" (transformers 4) or "rope_parameters" (transformers 5, which also
 * carries rope_theta); rope_type "default" or null means no scaling. */
static int hf_rope_scaling(const json_t *cfg, llama3_args *a, const char *path, llama3_error *err) {
    const char *key = "rope_scaling";
    const json_t *rs = json_object_get(cfg, key);
    if (!rs || json_is_null(rs)) rs = json_object_get(cfg, key = "rope_parameters");
    if (!rs || json_is_null(rs)) return 0;
    if (!json_is_object(rs))
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: \"%s\" must be an object or null", path, key);
    int rc = l3_json_float(rs, "rope_theta", false, &a->rope_theta, path, err);
    if (rc) return rc;
    const char *type = json_string_value(json_object_get(rs, "rope_type"));
    if (!type) type = json_string_value(json_object_get(rs, "type"));  /* older transformers */
    if (type && strcmp(type, "default") == 0) return 0;
    if (!type || strcmp(type, "llama3") != 0)
        return l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "%s: rope_scaling type \"%s\" unsupported (expected \"llama3\")",
                       path, type ? type : "(none)");
    a->use_scaled_rope = 1;
    if ((rc = l3_json_float(rs, "factor", true, &a->rope_scale_factor, path, err)) ||
        (rc = l3_json_float(rs, "low_freq_factor", true, &a->rope_low_freq_factor, path, err)) ||
        (rc = l3_json_float(rs, "high_freq_factor", true, &a->rope_high_freq_factor, path, err)) ||
        (rc = l3_json_int(rs, "original_max_position_embeddings", true, &a->rope_original_ctx, path, err)))
        return rc;
    return 0;
}

/* Options this engine does not implement are refused rather than silently ignored. */
static int hf_check_architecture(const json_t *cfg, const char *path, llama3_error *err) {
    const char *mt = json_string_value(json_object_get(cfg, "model_type"));
    if (mt && strcmp(mt, "llama") != 0)
        return l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "%s: model_type \"%s\", expected \"llama\"", path, mt);
    const char *act = json_string_value(json_object_get(cfg, "hidden_act"));
    if (act && strcmp(act, "silu") != 0)
        return l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "%s: hidden_act \"%s\", expected \"silu\"", path, act);
    if (json_is_true(json_object_get(cfg, "attention_bias")) || json_is_true(json_object_get(cfg, "mlp_bias")))
        return l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "%s: attention_bias / mlp_bias are not supported", path);
    return 0;
}

static int hf_read_config(const char *dir, l3_weights *w, bool *tied, llama3_error *err) {
    char *path = l3_path_join(dir, "config.json");
    if (!path) return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", dir);
    json_t *cfg = NULL;
    llama3_args *a = &w->args;
    l3_args_defaults(a);
    a->multiple_of = 0;  /* the FFN width is given directly */
    /* transformers' LlamaConfig defaults where config.json is silent (not model.py's). */
    a->norm_eps = 1e-6f;
    a->rope_theta = 10000.0f;
    a->max_seq_len = 2048;
    int rc, head_dim = 0;
    if ((rc = l3_json_load(path, &cfg, err)) || (rc = hf_check_architecture(cfg, path, err)) ||
        (rc = l3_json_int(cfg, "hidden_size", true, &a->dim, path, err)) ||
        (rc = l3_json_int(cfg, "num_hidden_layers", true, &a->n_layers, path, err)) ||
        (rc = l3_json_int(cfg, "num_attention_heads", true, &a->n_heads, path, err)) ||
        (rc = l3_json_int(cfg, "vocab_size", true, &a->vocab_size, path, err)) ||
        (rc = l3_json_int(cfg, "intermediate_size", true, &a->hidden_dim, path, err)))
        goto done;
    a->n_kv_heads = a->n_heads;  /* transformers' default: no grouping */
    if ((rc = l3_json_int(cfg, "num_key_value_heads", false, &a->n_kv_heads, path, err)) ||
        (rc = l3_json_float(cfg, "rms_norm_eps", false, &a->norm_eps, path, err)) ||
        (rc = l3_json_float(cfg, "rope_theta", false, &a->rope_theta, path, err)) ||
        (rc = l3_json_int(cfg, "max_position_embeddings", false, &a->max_seq_len, path, err)) ||
        (rc = l3_json_int(cfg, "head_dim", false, &head_dim, path, err)) ||
        (rc = l3_json_bool(cfg, "tie_word_embeddings", false, tied, path, err)) ||
        (rc = hf_rope_scaling(cfg, a, path, err)) ||
        (rc = hf_token_id(cfg, "bos_token_id", &w->bos_id, path, err)) ||
        (rc = hf_token_id(cfg, "eos_token_id", &w->eos_id, path, err)) ||
        (rc = l3_args_finalize(a, path, err)))
        goto done;
    if (head_dim != 0 && head_dim != a->head_dim)
        rc = l3_fail(err, LLAMA3_ERR_UNSUPPORTED,
                     "%s: head_dim %d differs from hidden_size / num_attention_heads = %d; unsupported",
                     path, head_dim, a->head_dim);
done:
    json_decref(cfg);
    free(path);
    return rc;
}

/* generation_config.json, when present, overrides the token ids of config.json. */
static int hf_read_generation_config(const char *dir, l3_weights *w, llama3_error *err) {
    char *path = l3_path_join(dir, "generation_config.json");
    if (!path) return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", dir);
    int rc = 0;
    json_t *cfg = NULL;
    if (l3_file_exists(path) &&
        !(rc = l3_json_load(path, &cfg, err)) &&
        !(rc = hf_token_id(cfg, "bos_token_id", &w->bos_id, path, err)))
        rc = hf_token_id(cfg, "eos_token_id", &w->eos_id, path, err);
    json_decref(cfg);
    free(path);
    return rc;
}

static int hf_vocab_source(const char *dir, l3_weights *w, llama3_error *err) {
    static const char *const candidates[] = {"tokenizer.json", "tokenizer.model"};
    for (size_t i = 0; i < 2 && w->vocab.kind == L3_VOCAB_NONE; i++) {
        char *p = l3_path_join(dir, candidates[i]);
        if (!p) return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", dir);
        if (l3_file_exists(p)) { w->vocab.kind = L3_VOCAB_FILE; w->vocab.path = p; }
        else free(p);
    }
    if (w->vocab.kind == L3_VOCAB_FILE) {
        char *p = l3_path_join(dir, "tokenizer_config.json");
        if (!p) return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", dir);
        if (l3_file_exists(p)) w->vocab.config_path = p;
        else free(p);
    }
    return 0;
}

/* The table's tensor id of layer l, shaped by config.json. */
static int hf_table_tensor(hf_ctx *c, l3_tensor_id id, int l, llama3_error *err) {
    const l3_tensor_desc *d = l3_tensor_table(id);
    const llama3_args *a = &c->w->args;
    char name[128];
    l3_tensor_name(id, L3_FMT_HF, l, name, sizeof name);
    int64_t rows = d->rows == L3_SIZE_ONE ? 0 : l3_size_of(d->rows, a);
    return hf_tensor(c, name, rows, l3_size_of(d->cols, a), l3_weights_tensor(c->w, id, l), err);
}

static int hf_map_tensors(hf_ctx *c, bool tied, llama3_error *err) {
    l3_weights *w = c->w;
    int rc;
    for (int id = 0; id < L3_FIRST_LAYER_TENSOR; id++) {
        if (tied && l3_tensor_table(id)->tied) {
            w->output = w->tok_embeddings;  /* transformers ignores a stored lm_head when tied */
            w->tied_output = 1;
        } else if ((rc = hf_table_tensor(c, id, 0, err))) {
            return rc;
        }
    }
    if ((rc = l3_weights_alloc_layers(w, &c->budget, c->dir, err))) return rc;
    for (int l = 0; l < w->args.n_layers; l++)
        for (int id = L3_FIRST_LAYER_TENSOR; id < L3_TENSOR_COUNT; id++)
            if ((rc = hf_table_tensor(c, id, l, err))) return rc;
    return 0;
}

int l3_load_hf(const char *dir, const llama3_load_options *opt, l3_weights *w, llama3_error *err) {
    w->bos_id = w->eos_id = -1;
    w->rope_layout = L3_ROPE_HALF;
    snprintf(w->format, sizeof w->format, "hf");
    bool tied = false;
    hf_ctx c = { .dir = dir, .w = w };
    l3_alloc_budget_init(&c.budget, opt);
    json_t *index_root = NULL;
    int rc;
    if (!(rc = hf_read_config(dir, w, &tied, err)) &&
        !(rc = hf_read_generation_config(dir, w, err)) &&
        !(rc = hf_vocab_source(dir, w, err)) &&
        !(rc = hf_open_weights(&c, &index_root, err)))
        rc = hf_map_tensors(&c, tied, err);
    for (int i = 0; i < c.n_shards; i++) { l3_st_close(c.shards[i]); free(c.shard_names[i]); }
    free(c.shards);
    free(c.shard_names);
    json_decref(index_root);
    return rc;
}
