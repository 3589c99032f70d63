/* GGUF (llama.cpp's "llama" architecture) -> weights description. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_limit.h"
#include "args.h"
#include "formats/gguf.h"
#include "loader.h"

/* GGUF stores ne[0] = columns (input features), ne[1] = rows. */
static int view(const l3_gguf *g, const char *name, bool required, l3_tensor *t, llama3_error *err) {
    const l3_gguf_tensor *gt = l3_gguf_find_tensor(g, name);
    if (!gt) {
        if (!required) return 0;
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: missing required tensor '%s'", g->map.path, name);
    }
    if (gt->n_dims > 2 || gt->ne[2] != 1 || gt->ne[3] != 1)
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: tensor '%s' has %u dimensions, expected at most 2", g->map.path,
                       name, gt->n_dims);
    t->type = gt->type;
    t->cols = gt->ne[0];
    t->rows = gt->ne[1];
    t->data = gt->data;
    t->nbytes = gt->nbytes;
    return 0;
}

/* The table's tensor id of layer l (tied ones may be absent). */
static int view_table(const l3_gguf *g, l3_weights *w, l3_tensor_id id, int l, llama3_error *err) {
    char name[96];
    l3_tensor_name(id, L3_FMT_GGUF, l, name, sizeof name);
    return view(g, name, !l3_tensor_table(id)->tied, l3_weights_tensor(w, id, l), err);
}

static int read_args(const l3_gguf *g, llama3_args *a, llama3_error *err) {
    const char *p = g->map.path;
    char *arch = NULL;
    int rc = l3_gguf_get_str(g, "general.architecture", true, &arch, err);
    if (rc) return rc;
    if (strcmp(arch, "llama") != 0) {
        rc = l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "%s: architecture '%s' is not supported (expected 'llama')", p, arch);
        free(arch);
        return rc;
    }
    free(arch);
    uint32_t u;
    l3_args_defaults(a);
#define GET_U32(key, field, req)                                    \
    if ((rc = l3_gguf_get_u32(g, key, req, &u, err)) < 0) return rc; \
    if (rc == 0) {                                                  \
        if (u > (1u << 30)) return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: %s = %u is implausibly large", p, key, u); \
        a->field = (int)u;                                          \
    }
    GET_U32("llama.embedding_length", dim, true);
    GET_U32("llama.block_count", n_layers, true);
    GET_U32("llama.attention.head_count", n_heads, true);
    a->n_kv_heads = a->n_heads;
    GET_U32("llama.attention.head_count_kv", n_kv_heads, false);
    GET_U32("llama.feed_forward_length", hidden_dim, true);
    GET_U32("llama.context_length", max_seq_len, false);
    GET_U32("llama.vocab_size", vocab_size, false);
#undef GET_U32
    a->multiple_of = 0;  /* GGUF gives the FFN width directly */
    if ((rc = l3_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", true, &a->norm_eps, err)) < 0) return rc;
    a->rope_theta = 10000.0f;  /* llama.cpp's default when the key is absent */
    if ((rc = l3_gguf_get_f32(g, "llama.rope.freq_base", false, &a->rope_theta, err)) < 0) return rc;
    /* Llama 3.1 scaling parameters, when the file records them (the factors themselves come
     * from rope_freqs.weight). */
    float f;
    if ((rc = l3_gguf_get_f32(g, "llama.rope.scaling.factor", false, &f, err)) < 0) return rc;
    if (rc == 0 && f > 1) a->rope_scale_factor = f;
    if (a->vocab_size == 0) {
        const l3_gguf_kv *tok = l3_gguf_find(g, "tokenizer.ggml.tokens");
        if (tok && tok->type == GGUF_ARRAY) a->vocab_size = (int)(tok->arr_n > (1u << 24) ? 0 : tok->arr_n);
        if (!a->vocab_size) {
            const l3_gguf_tensor *e = l3_gguf_find_tensor(g, "token_embd.weight");
            if (e && e->ne[1] < (1 << 24)) a->vocab_size = (int)e->ne[1];
        }
    }
    return 0;
}

/* general.alignment may be any power of two, even 1, so tensor data can
 * sit at any address, while the kernels load whole floats and halves (a misaligned load is
 * undefined behaviour, reported by UBSan, and faults on strict-alignment CPUs). Misaligned
 * tensors get an aligned private copy, counted against the allocation cap. */
static int align_one(l3_weights *w, const void **data, size_t nbytes, l3_alloc_budget *b, const char *path,
                     llama3_error *err) {
    if ((uintptr_t)*data % 4 == 0) return 0;
    char what[320];
    snprintf(what, sizeof what, "%.280s: aligned tensor copies", path);
    int rc = l3_alloc_take(b, nbytes, what, err);
    if (rc) return rc;
    void *copy = malloc(nbytes ? nbytes : 1);
    if (!copy || l3_weights_keep_buffer(w, copy) != 0) {
        free(copy);
        return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory copying a misaligned tensor", path);
    }
    memcpy(copy, *data, nbytes);
    *data = copy;
    return 0;
}

static int align_copies(l3_weights *w, const llama3_load_options *opt, const char *path, llama3_error *err) {
    l3_alloc_budget b;
    l3_alloc_budget_init(&b, opt);
    int rc;
    if ((rc = align_one(w, &w->tok_embeddings.data, w->tok_embeddings.nbytes, &b, path, err)) ||
        (rc = align_one(w, &w->norm.data, w->norm.nbytes, &b, path, err)))
        return rc;
    if (w->tied_output) w->output = w->tok_embeddings;
    else if ((rc = align_one(w, &w->output.data, w->output.nbytes, &b, path, err))) return rc;
    for (int l = 0; l < w->args.n_layers; l++)
        for (int id = L3_FIRST_LAYER_TENSOR; id < L3_TENSOR_COUNT; id++) {
            l3_tensor *t = l3_weights_tensor(w, id, l);
            if ((rc = align_one(w, &t->data, t->nbytes, &b, path, err))) return rc;
        }
    if (w->rope_freq_factors) {
        const void *p = w->rope_freq_factors;
        if ((rc = align_one(w, &p, (size_t)(w->args.head_dim / 2) * sizeof(float), &b, path, err))) return rc;
        w->rope_freq_factors = p;
    }
    return 0;
}

int l3_load_gguf(const char *path, const llama3_load_options *opt, l3_weights *w, llama3_error *err) {
    l3_gguf *g;
    int rc = l3_gguf_open(path, &g, err);
    if (rc) return rc;
    w->gguf_owned = g;
    snprintf(w->format, sizeof w->format, "gguf v%u", g->version);
    if ((rc = read_args(g, &w->args, err))) return rc;
    if ((rc = l3_args_finalize(&w->args, path, err))) return rc;
    uint32_t rope_dims;
    if (l3_gguf_get_u32(g, "llama.rope.dimension_count", false, &rope_dims, NULL) == 0 &&
        (int)rope_dims != w->args.head_dim)
        return l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "%s: llama.rope.dimension_count %u differs from head_dim %d (partial RoPE is not Llama 3)",
                       path, rope_dims, w->args.head_dim);

    w->rope_layout = L3_ROPE_INTERLEAVED;
    /* allocations sized by file data go through the cap */
    l3_alloc_budget budget;
    l3_alloc_budget_init(&budget, opt);
    if ((rc = l3_weights_alloc_layers(w, &budget, path, err))) return rc;
    for (int id = 0; id < L3_FIRST_LAYER_TENSOR; id++)
        if ((rc = view_table(g, w, id, 0, err))) return rc;
    for (int l = 0; l < w->args.n_layers; l++)
        for (int id = L3_FIRST_LAYER_TENSOR; id < L3_TENSOR_COUNT; id++)
            if ((rc = view_table(g, w, id, l, err))) return rc;
    if (!w->output.data) {  /* tied embeddings (Llama 3.2) */
        w->output = w->tok_embeddings;
        w->tied_output = 1;
    }
    const l3_gguf_tensor *rf = l3_gguf_find_tensor(g, "rope_freqs.weight");
    if (rf) {
        if (rf->type != L3_F32 || rf->n_dims != 1 || rf->ne[0] != w->args.head_dim / 2)
            return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: rope_freqs.weight must be f32 [%d]", path, w->args.head_dim / 2);
        w->rope_freq_factors = rf->data;
        w->args.use_scaled_rope = 1;
        w->args.rope_freqs_in_file = 1;
        /* the lowest frequencies are divided by the whole scale factor */
        float maxf = 0;
        for (int i = 0; i < w->args.head_dim / 2; i++) {
            float f;
            memcpy(&f, (const uint8_t *)rf->data + (size_t)i * sizeof f, sizeof f);  /* may be unaligned */
            if (!(f > 0 && f < 1e6f))
                return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: rope_freqs.weight[%d] = %g is not a valid factor", path, i, f);
            if (f > maxf) maxf = f;
        }
        w->args.rope_scale_factor = maxf;
    }
    /* A file without tokenizer metadata still runs on ids (--prompt-ids). */
    if (l3_gguf_find(g, "tokenizer.ggml.model")) {
        w->vocab.kind = L3_VOCAB_GGUF;
        w->vocab.gguf = g;
    }
    uint32_t id;
    w->bos_id = w->eos_id = -1;
    if (l3_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", false, &id, NULL) == 0) w->bos_id = (int32_t)id;
    if (l3_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", false, &id, NULL) == 0) w->eos_id = (int32_t)id;
    return align_copies(w, opt, path, err);
}
