#include "kv_cache.h"

#include <stdlib.h>
#include <string.h>
#include "tensor_types.h"
#include "util.h"

int l3_kv_init(l3_kv_cache *c, llama3_kv_type type, int n_slots, int n_layers, int n_ctx, int kv_dim,
               llama3_error *err) {
    memset(c, 0, sizeof *c);
    c->type = type;
    c->elem = type == LLAMA3_KV_F32 ? 4 : 2;
    c->n_slots = n_slots;
    c->n_layers = n_layers;
    c->n_ctx = n_ctx;
    c->kv_dim = kv_dim;
    uint64_t n;
    if (!l3_mul_ok((uint64_t)n_slots * n_layers, (uint64_t)n_ctx * kv_dim, &n) || !l3_mul_ok(n, c->elem, &n) ||
        n > ((uint64_t)1 << 40))
        return l3_fail(err, LLAMA3_ERR_MEMORY, "KV cache size overflows");
    c->k = malloc(n ? n : 1);
    c->v = malloc(n ? n : 1);
    if (!c->k || !c->v) {
        l3_kv_free(c);
        return l3_fail(err, LLAMA3_ERR_MEMORY, "cannot allocate the KV cache (%llu bytes); use a smaller -c",
                       (unsigned long long)(2 * n));
    }
    return 0;
}

void l3_kv_free(l3_kv_cache *c) {
    free(c->k);
    free(c->v);
    c->k = c->v = NULL;
}

size_t l3_kv_bytes(const l3_kv_cache *c) {
    return 2 * (size_t)c->n_slots * c->n_layers * c->n_ctx * c->kv_dim * c->elem;
}

void l3_kv_store(const l3_kv_cache *c, void *dst, const float *src) {
    if (c->type == LLAMA3_KV_F32) {
        memcpy(dst, src, (size_t)c->kv_dim * 4);
    } else {
        uint16_t *h = dst;
        for (int i = 0; i < c->kv_dim; i++) h[i] = l3_f32_to_f16(src[i]);
    }
}
