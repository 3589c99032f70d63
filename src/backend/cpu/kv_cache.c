/* The CPU KV cache: host memory, rows on cache lines. */
#include "backend/cpu/kv_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alloc_limit.h"
#include "tensor_types.h"
#include "util.h"

int l3_kv_init(l3_kv_cache *c, llama3_kv_type type, int n_slots, int n_layers, int n_ctx, int n_kv_heads,
               int head_dim, l3_alloc_budget *budget, llama3_error *err) {
    memset(c, 0, sizeof *c);
    int rc = l3_kv_check_type(type, head_dim, err);
    if (rc) return rc;
    c->type = type;
    c->n_slots = n_slots;
    c->n_layers = n_layers;
    c->n_ctx = n_ctx;
    c->kv_dim = n_kv_heads * head_dim;
    c->head_dim = head_dim;
    c->head_bytes = l3_kv_type_bytes(type, head_dim);
    c->row_bytes = (size_t)n_kv_heads * c->head_bytes;
    uint64_t n;
    if (!l3_mul_ok((uint64_t)n_slots * n_layers, (uint64_t)n_ctx, &n) || !l3_mul_ok(n, c->row_bytes, &n) ||
        n > ((uint64_t)1 << 40))
        return l3_fail(err, LLAMA3_ERR_MEMORY, "KV cache size overflows");
    char what[160];
    snprintf(what, sizeof what, "KV cache (%d slot%s x %d positions, %s)", n_slots, n_slots == 1 ? "" : "s", n_ctx,
             llama3_kv_type_name(type));
    if (budget && (rc = l3_alloc_take(budget, 2 * n, what, err))) return rc;
    c->k = l3_alloc_lines(n);  /* rows on cache lines, as the kernels load them */
    c->v = l3_alloc_lines(n);
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
    return 2 * (size_t)c->n_slots * c->n_layers * c->n_ctx * c->row_bytes;
}

void l3_kv_store(const l3_kv_cache *c, void *dst, const float *src) {
    switch (c->type) {
    case LLAMA3_KV_F32:
        memcpy(dst, src, (size_t)c->kv_dim * 4);
        break;
    case LLAMA3_KV_F16: {
        uint16_t *h = dst;
        for (int i = 0; i < c->kv_dim; i++) h[i] = l3_f32_to_f16(src[i]);
        break;
    }
    case LLAMA3_KV_Q8_0:  /* ggml's quantize_row_q8_0_ref; head_dim % 32 == 0, so blocks stay within a head */
        l3_type_get(L3_Q8_0)->from_float(src, dst, c->kv_dim);
        break;
    }
}
