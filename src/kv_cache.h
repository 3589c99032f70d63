/* The KV cache: per slot (sequence), per layer, n_ctx positions of n_kv_heads x head_dim
 * keys and values, stored as f32 or f16. */
#ifndef LLAMA3_KV_CACHE_H
#define LLAMA3_KV_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include "llama3.h"

typedef struct l3_kv_cache {
    llama3_kv_type type;
    int n_slots, n_layers, n_ctx, kv_dim;
    size_t elem;           /* bytes per element */
    uint8_t *k, *v;        /* [slot][layer][pos][kv_dim] */
} l3_kv_cache;

int l3_kv_init(l3_kv_cache *c, llama3_kv_type type, int n_slots, int n_layers, int n_ctx, int kv_dim,
               llama3_error *err);
void l3_kv_free(l3_kv_cache *c);
size_t l3_kv_bytes(const l3_kv_cache *c);
/* Address of one position's row (keys or values). */
static inline void *l3_kv_row(const l3_kv_cache *c, uint8_t *base, int slot, int layer, int pos) {
    size_t idx = (((size_t)slot * c->n_layers + layer) * c->n_ctx + pos) * c->kv_dim;
    return base + idx * c->elem;
}
void l3_kv_store(const l3_kv_cache *c, void *dst, const float *src);

#endif
