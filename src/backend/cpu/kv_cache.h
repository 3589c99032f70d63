/* The CPU KV cache: per slot (sequence), per layer, n_ctx positions of n_kv_heads x head_dim
 * keys and values in host memory, each element of the cache's type (kv_types.h). */
#ifndef LLAMA3_CPU_KV_CACHE_H
#define LLAMA3_CPU_KV_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include "kv_types.h"
#include "llama3.h"

struct l3_alloc_budget;

typedef struct l3_kv_cache {
    llama3_kv_type type;
    int n_slots, n_layers, n_ctx, kv_dim, head_dim;
    size_t row_bytes;      /* bytes of one position's kv_dim keys (or values) */
    size_t head_bytes;     /* bytes of one head's head_dim elements within a row */
    uint8_t *k, *v;        /* [slot][layer][pos][row_bytes] */
} l3_kv_cache;

/* Allocates the cache, its bytes drawn from budget (may be NULL). */
int l3_kv_init(l3_kv_cache *c, llama3_kv_type type, int n_slots, int n_layers, int n_ctx, int n_kv_heads,
               int head_dim, struct l3_alloc_budget *budget, llama3_error *err);
void l3_kv_free(l3_kv_cache *c);
size_t l3_kv_bytes(const l3_kv_cache *c);
/* Address of one position's row (keys or values). */
static inline void *l3_kv_row(const l3_kv_cache *c, uint8_t *base, int slot, int layer, int pos) {
    size_t idx = ((size_t)slot * c->n_layers + layer) * c->n_ctx + pos;
    return base + idx * c->row_bytes;
}
/* Address of kv head h within a row. */
static inline const void *l3_kv_head(const l3_kv_cache *c, const void *row, int h) {
    return (const uint8_t *)row + (size_t)h * c->head_bytes;
}
/* Stores one row of kv_dim floats (converted or quantized to the cache's type). */
void l3_kv_store(const l3_kv_cache *c, void *dst, const float *src);

#endif
