/* Lifetime of a weights description, and the one place that checks it against ModelArgs. */
#include "weights.h"

#include <stdlib.h>
#include <string.h>
#include "alloc_limit.h"
#include "formats/gguf.h"

int l3_weights_keep_map(l3_weights *w, l3_mapping *m) {
    l3_mapping *n = realloc(w->maps, (size_t)(w->n_maps + 1) * sizeof *n);
    if (!n) return LLAMA3_ERR_MEMORY;
    w->maps = n;
    w->maps[w->n_maps++] = *m;
    memset(m, 0, sizeof *m);
    return 0;
}

int l3_weights_keep_buffer(l3_weights *w, void *p) {
    void **n = realloc(w->owned, (size_t)(w->n_owned + 1) * sizeof *n);
    if (!n) return LLAMA3_ERR_MEMORY;
    w->owned = n;
    w->owned[w->n_owned++] = p;
    return 0;
}

void l3_weights_free(l3_weights *w) {
    for (int i = 0; i < w->n_maps; i++) l3_unmap(&w->maps[i]);
    free(w->maps);
    for (int i = 0; i < w->n_owned; i++) free(w->owned[i]);
    free(w->owned);
    l3_gguf_close(w->gguf_owned);
    free(w->layers);
    free(w->vocab.path);
    free(w->vocab.config_path);
    memset(w, 0, sizeof *w);
}

int l3_weights_alloc_layers(l3_weights *w, struct l3_alloc_budget *budget, const char *source, llama3_error *err) {
    char what[300];
    snprintf(what, sizeof what, "%s: layer table", source);
    int rc = l3_alloc_take(budget, (uint64_t)w->args.n_layers * sizeof *w->layers, what, err);
    if (rc) return rc;
    if (!(w->layers = calloc((size_t)w->args.n_layers, sizeof *w->layers)))
        return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", source);
    return 0;
}

static int check(const l3_tensor *t, const char *name, int layer, int64_t rows, int64_t cols, llama3_error *err) {
    char full[64];
    if (layer >= 0) snprintf(full, sizeof full, "layer %d %s", layer, name);
    else snprintf(full, sizeof full, "%s", name);
    if (!t->data) return l3_fail(err, LLAMA3_ERR_FORMAT, "missing required tensor: %s", full);
    if (t->rows != rows || t->cols != cols)
        return l3_fail(err, LLAMA3_ERR_FORMAT, "tensor %s has shape [%lld x %lld], expected [%lld x %lld] from the model's metadata",
                       full, (long long)t->rows, (long long)t->cols, (long long)rows, (long long)cols);
    const l3_type_info *ti = l3_type_get(t->type);
    if (!ti) return l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "tensor %s: unsupported type %u", full, t->type);
    size_t rb = l3_row_bytes(t->type, cols);
    uint64_t need;
    if (!rb || !l3_mul_ok(rb, (uint64_t)rows, &need) || need > t->nbytes)
        return l3_fail(err, LLAMA3_ERR_FORMAT, "tensor %s: %zu bytes of data, too few for [%lld x %lld] %s", full,
                       t->nbytes, (long long)rows, (long long)cols, ti->name);
    return 0;
}

/* Norm weights may be any type; the model widens them to float32 once at load. */
static int check_norm(const l3_tensor *t, const char *name, int layer, int64_t n, llama3_error *err) {
    return check(t, name, layer, 1, n, err);
}

int l3_weights_validate(const l3_weights *w, llama3_error *err) {
    const llama3_args *a = &w->args;
    int64_t kv = (int64_t)a->n_kv_heads * a->head_dim;
    int rc;
    if ((rc = check(&w->tok_embeddings, "tok_embeddings", -1, a->vocab_size, a->dim, err))) return rc;
    if ((rc = check_norm(&w->norm, "norm", -1, a->dim, err))) return rc;
    if ((rc = check(&w->output, "output", -1, a->vocab_size, a->dim, err))) return rc;
    if (!w->layers) return l3_fail(err, LLAMA3_ERR_FORMAT, "no layers");
    for (int l = 0; l < a->n_layers; l++) {
        const l3_layer_weights *L = &w->layers[l];
        if ((rc = check_norm(&L->attention_norm, "attention_norm", l, a->dim, err)) ||
            (rc = check(&L->wq, "wq", l, a->dim, a->dim, err)) ||
            (rc = check(&L->wk, "wk", l, kv, a->dim, err)) ||
            (rc = check(&L->wv, "wv", l, kv, a->dim, err)) ||
            (rc = check(&L->wo, "wo", l, a->dim, a->dim, err)) ||
            (rc = check_norm(&L->ffn_norm, "ffn_norm", l, a->dim, err)) ||
            (rc = check(&L->w1, "w1", l, a->hidden_dim, a->dim, err)) ||
            (rc = check(&L->w2, "w2", l, a->dim, a->hidden_dim, err)) ||
            (rc = check(&L->w3, "w3", l, a->hidden_dim, a->dim, err)))
            return rc;
    }
    return 0;
}
