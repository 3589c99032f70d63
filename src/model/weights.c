/* Lifetime of a weights description, and the one place that checks it against ModelArgs. */
#include "model/weights.h"

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

static int check(const l3_tensor *t, l3_tensor_id id, int layer, const llama3_args *a, llama3_error *err) {
    const l3_tensor_desc *d = l3_tensor_table(id);
    const int64_t rows = l3_size_of(d->rows, a), cols = l3_size_of(d->cols, a);
    char full[64];
    if (l3_tensor_is_layer(id)) snprintf(full, sizeof full, "layer %d %s", layer, d->name);
    else snprintf(full, sizeof full, "%s", d->name);
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

/* Norm weights may be any type; the backend widens them as it needs. */
int l3_weights_validate(const l3_weights *w, llama3_error *err) {
    int rc;
    for (int id = 0; id < L3_FIRST_LAYER_TENSOR; id++)
        if ((rc = check(l3_weights_get(w, id, 0), id, -1, &w->args, err))) return rc;
    if (!w->layers) return l3_fail(err, LLAMA3_ERR_FORMAT, "no layers");
    for (int l = 0; l < w->args.n_layers; l++)
        for (int id = L3_FIRST_LAYER_TENSOR; id < L3_TENSOR_COUNT; id++)
            if ((rc = check(l3_weights_get(w, id, l), id, l, &w->args, err))) return rc;
    return 0;
}
