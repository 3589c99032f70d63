/* One rank's slice of the weights (partition.h). */
#include "model/partition.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alloc_limit.h"

int l3_partition_check(const llama3_args *a, int n, llama3_error *err) {
    const struct { const char *name; int v; } sizes[] = {
        { "n_heads", a->n_heads }, { "n_kv_heads", a->n_kv_heads }, { "the FFN width", a->hidden_dim },
        { "vocab_size", a->vocab_size } };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i].v % n)
            return l3_fail(err, LLAMA3_ERR_ARG,
                           "%d processes cannot split this model: %s = %d is not a multiple of %d (n_heads %d, "
                           "n_kv_heads %d, FFN width %d, vocab_size %d)",
                           n, sizes[i].name, sizes[i].v, n, a->n_heads, a->n_kv_heads, a->hidden_dim, a->vocab_size);
    return 0;
}

void l3_partition_args(const llama3_args *full, int n, llama3_args *local) {
    *local = *full;
    local->n_heads = full->n_heads / n;
    local->n_kv_heads = full->n_kv_heads / n;
    local->hidden_dim = full->hidden_dim / n;
    local->vocab_size = full->vocab_size / n;
}

/* Columns [c0, c0 + cols) of every row of t, copied (whole blocks of t's type). */
static int slice_columns(const l3_tensor *t, int64_t c0, int64_t cols, l3_tensor *out, l3_weights *local,
                         l3_alloc_budget *budget, const char *name, llama3_error *err) {
    const l3_type_info *ti = l3_type_get(t->type);
    if (c0 % ti->block || cols % ti->block)
        return l3_fail(err, LLAMA3_ERR_ARG,
                       "%s: %s rows of %lld columns cannot be cut into slices of %lld: a slice must start on a "
                       "whole %d-value block",
                       name, ti->name, (long long)t->cols, (long long)cols, ti->block);
    const size_t src_row = l3_row_bytes(t->type, t->cols), dst_row = l3_row_bytes(t->type, cols),
                 skip = l3_row_bytes(t->type, c0);
    char what[128];
    snprintf(what, sizeof what, "%s: this rank's columns", name);
    int rc = l3_alloc_take(budget, (uint64_t)dst_row * (uint64_t)t->rows, what, err);
    if (rc) return rc;
    uint8_t *buf = l3_alloc_lines(dst_row * (size_t)t->rows);
    if (!buf || l3_weights_keep_buffer(local, buf)) {
        free(buf);
        return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", what);
    }
    for (int64_t r = 0; r < t->rows; r++) memcpy(buf + r * dst_row, (const uint8_t *)t->data + r * src_row + skip, dst_row);
    *out = (l3_tensor){ t->type, t->rows, cols, buf, dst_row * (size_t)t->rows };
    return 0;
}

/* Rows [r0, r0 + rows) of t: a view. */
static void slice_rows(const l3_tensor *t, int64_t r0, int64_t rows, l3_tensor *out) {
    const size_t rb = l3_row_bytes(t->type, t->cols);
    *out = (l3_tensor){ t->type, rows, t->cols, (const uint8_t *)t->data + r0 * rb, rb * (size_t)rows };
}

static int slice(const l3_weights *w, l3_tensor_id id, int layer, int rank, int n, l3_weights *local,
                 l3_alloc_budget *budget, llama3_error *err) {
    const l3_tensor_desc *d = l3_tensor_table(id);
    const l3_tensor *t = l3_weights_get(w, id, layer);
    l3_tensor *out = l3_weights_tensor(local, id, layer);
    char name[96];
    l3_tensor_name(id, L3_FMT_META, layer, name, sizeof name);
    switch (d->split) {
    case L3_SPLIT_NONE: *out = *t; return 0;
    case L3_SPLIT_ROWS: slice_rows(t, t->rows / n * rank, t->rows / n, out); return 0;
    case L3_SPLIT_COLS: return slice_columns(t, t->cols / n * rank, t->cols / n, out, local, budget, name, err);
    }
    return 0;
}

int l3_partition(const l3_weights *w, int rank, int n, l3_weights *local, l3_alloc_budget *budget, llama3_error *err) {
    memset(local, 0, sizeof *local);
    int rc = l3_partition_check(&w->args, n, err);
    if (rc) return rc;
    local->full = w->full;
    l3_partition_args(&w->args, n, &local->args);
    local->shard_rank = rank, local->shard_size = n;
    local->vocab_offset = (int64_t)local->args.vocab_size * rank;
    local->rope_layout = w->rope_layout;
    local->rope_freq_factors = w->rope_freq_factors;
    local->tied_output = w->tied_output;
    local->bos_id = w->bos_id, local->eos_id = w->eos_id;
    snprintf(local->format, sizeof local->format, "%s", w->format);
    if ((rc = l3_weights_alloc_layers(local, budget, "this rank's slice", err))) return rc;
    for (int id = 0; id < L3_FIRST_LAYER_TENSOR; id++)
        if ((rc = slice(w, id, 0, rank, n, local, budget, err))) return rc;
    for (int l = 0; l < w->args.n_layers; l++)
        for (int id = L3_FIRST_LAYER_TENSOR; id < L3_TENSOR_COUNT; id++)
            if ((rc = slice(w, id, l, rank, n, local, budget, err))) return rc;
    return l3_weights_validate(local, err);
}
