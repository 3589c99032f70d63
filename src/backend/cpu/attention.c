/* Attention over the CPU KV cache: softmax(q . K^T / sqrt(head_dim)) . V per row and head,
 * over the row's slot, positions 0..pos. */
#include <math.h>
#include <string.h>
#include "backend/cpu/cpu.h"

typedef struct attention_job {
    const llama3_args *a;
    const l3_kernel_set *k;
    const l3_kv_cache *kv;
    l3_scratch *s;
    const int *pos, *slot;
    int layer;
} attention_job;

/* q . (one head's key) and out += p * (one head's value), per KV-cache type */
static inline float kv_dot(const l3_kernel_set *k, llama3_kv_type t, const void *key, const float *q, int hd) {
    switch (t) {
    case LLAMA3_KV_F32: return k->dot_f32(q, key, hd);
    case LLAMA3_KV_Q8_0: return k->dot[L3_Q8_0](key, q, hd);
    default: return k->dot_f16_f32(key, q, hd);
    }
}
static inline void kv_axpy(const l3_kernel_set *k, llama3_kv_type t, float p, const void *val, float *out, int hd) {
    switch (t) {
    case LLAMA3_KV_F32: k->axpy_f32(p, val, out, hd); break;
    case LLAMA3_KV_Q8_0: k->axpy_q8_0(p, val, out, hd); break;
    default: k->axpy_f16(p, val, out, hd); break;
    }
}

/* One (row, KV head) pair per item, for an f16 cache with the kernel set's grouped
 * attention: the query heads that share the KV head go together, so each key and value row
 * is read and widened once for all of them (4 heads per KV head in Llama 3). Same
 * arithmetic otherwise: scores, softmax over positions 0..pos, weighted sum of values. */
static void attention_items_grouped(void *ctx, int64_t i0, int64_t i1, int thread) {
    const attention_job *j = ctx;
    const llama3_args *a = j->a;
    const l3_kernel_set *k = j->k;
    const l3_kv_cache *kv = j->kv;
    const int hd = a->head_dim, group = a->n_heads / a->n_kv_heads;
    const float scale = 1.0f / sqrtf((float)hd);
    float *scores = j->s->scores[thread];
    const int64_t ld = kv->n_ctx, kst = (int64_t)(kv->row_bytes / sizeof(uint16_t));
    for (int64_t item = i0; item < i1; item++) {
        const int t = (int)(item / a->n_kv_heads), kvh = (int)(item % a->n_kv_heads);
        const int np = j->pos[t] + 1, slot = j->slot[t];
        const float *q = j->s->q + (int64_t)t * a->n_heads * hd + kvh * group * hd;
        float *out = j->s->att + (int64_t)t * a->n_heads * hd + kvh * group * hd;
        k->attn_scores_f16(l3_kv_head(kv, l3_kv_row(kv, kv->k, slot, j->layer, 0), kvh), kst, np, q, group, hd, scores, ld);
        for (int g = 0; g < group; g++) k->softmax(scores + g * ld, np, scale);  /* (the causal mask is np = pos + 1) */
        k->attn_values_f16(l3_kv_head(kv, l3_kv_row(kv, kv->v, slot, j->layer, 0), kvh), kst, np, scores, ld, group, hd, out);
    }
}

/* One (row, head) pair per item: softmax(q . K^T / sqrt(head_dim)) . V over positions
 * 0..pos (the causal mask), reading this row's slot of the cache. */
static void attention_items(void *ctx, int64_t i0, int64_t i1, int thread) {
    const attention_job *j = ctx;
    const llama3_args *a = j->a;
    const l3_kernel_set *k = j->k;
    const l3_kv_cache *kv = j->kv;
    const int hd = a->head_dim, group = a->n_heads / a->n_kv_heads;
    const float scale = 1.0f / sqrtf((float)hd);
    float *scores = j->s->scores[thread];
    for (int64_t item = i0; item < i1; item++) {
        int t = (int)(item / a->n_heads), h = (int)(item % a->n_heads), kvh = h / group;
        int pos = j->pos[t], slot = j->slot[t];
        const float *q = j->s->q + (int64_t)t * a->n_heads * hd + h * hd;
        float *out = j->s->att + (int64_t)t * a->n_heads * hd + h * hd;
        for (int p = 0; p <= pos; p++)
            scores[p] = kv_dot(k, kv->type, l3_kv_head(kv, l3_kv_row(kv, kv->k, slot, j->layer, p), kvh), q, hd);
        k->softmax(scores, pos + 1, scale);
        memset(out, 0, (size_t)hd * sizeof *out);
        for (int p = 0; p <= pos; p++)
            kv_axpy(k, kv->type, scores[p], l3_kv_head(kv, l3_kv_row(kv, kv->v, slot, j->layer, p), kvh), out, hd);
    }
}

void l3_cpu_attention(cpu_session *s, int layer) {
    const llama3_args *a = &s->m->base.w->args;
    const l3_kernel_set *k = s->m->k;
    const l3_pass *p = s->pass;
    const int T = p->n, hd = a->head_dim;
    attention_job aj = { a, k, &s->kv, &s->scratch, p->pos, p->slot, layer };
    /* one (row, head) item costs about 2 x (pos + 1) x head_dim multiply-adds; small
     * jobs cost more to hand out than to do */
    int64_t work = 2LL * (p->pos[T - 1] + 1) * hd;
    if (s->kv.type == LLAMA3_KV_F16 && hd % 16 == 0 && k->attn_scores_f16)
        l3_parallel_for(s->pool, (int64_t)T * a->n_kv_heads, 16384 / (work * (a->n_heads / a->n_kv_heads)) + 1,
                        attention_items_grouped, &aj);
    else
        l3_parallel_for(s->pool, (int64_t)T * a->n_heads, 16384 / work + 1, attention_items, &aj);
}
