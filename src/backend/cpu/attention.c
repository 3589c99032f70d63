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
    const int *split_of;  /* rows split over their positions (-1: not), or NULL: none */
    int split0;           /* the first split row of this group (split_rows index) */
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
        if (j->split_of && j->split_of[t] >= 0) continue;  /* (attention_chunks) */
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

/* ---- decoded rows with long contexts, split over their positions -----------------------
 * A decode step has few rows, and each row only n_kv_heads items above: with many threads,
 * most would wait while a few walk a long cache. A decoded row with L3_ATT_SPLIT_MIN
 * positions or more is cut into chunks of its positions (scratch.h); each (row, KV head,
 * chunk) item gives the softmax-weighted values of its chunk with the chunk's maximum score
 * and sum of exponentials, and the chunks of a (row, KV head) are then merged: weights
 * sum * exp(max - overall max), as flash-decoding does. The cut depends only on the row's
 * own position count, so a row gets the same bits alone or in a batch. */
static int split_chunks(int np) {
    if (np < L3_ATT_SPLIT_MIN) return 1;
    const int c = (np + L3_ATT_CHUNK_MIN - 1) / L3_ATT_CHUNK_MIN;
    return c < L3_ATT_MAX_CHUNKS ? c : L3_ATT_MAX_CHUNKS;
}

/* one (row, KV head, chunk) of the part: out [G x hd], then max [G], then sum [G] */
static float *part_of(const attention_job *j, int row, int kvh, int c) {
    const llama3_args *a = j->a;
    const int G = a->n_heads / a->n_kv_heads;
    return j->s->att_part + (((size_t)row * a->n_kv_heads + kvh) * L3_ATT_MAX_CHUNKS + c) * (size_t)G * (a->head_dim + 2);
}

static void attention_chunks(void *ctx, int64_t i0, int64_t i1, int thread) {
    const attention_job *j = ctx;
    const llama3_args *a = j->a;
    const l3_kernel_set *k = j->k;
    const l3_kv_cache *kv = j->kv;
    const int hd = a->head_dim, G = a->n_heads / a->n_kv_heads;
    const float scale = 1.0f / sqrtf((float)hd);
    float *scores = j->s->scores[thread];
    const int64_t kst = (int64_t)(kv->row_bytes / sizeof(uint16_t));
    for (int64_t item = i0; item < i1; item++) {
        const int c = (int)(item % L3_ATT_MAX_CHUNKS), kvh = (int)(item / L3_ATT_MAX_CHUNKS % a->n_kv_heads);
        const int row = (int)(item / L3_ATT_MAX_CHUNKS / a->n_kv_heads), t = j->s->split_rows[j->split0 + row];
        const int np = j->pos[t] + 1, C = split_chunks(np), slot = j->slot[t];
        if (c >= C) continue;
        const int p0 = (int)((int64_t)np * c / C), len = (int)((int64_t)np * (c + 1) / C) - p0;
        const float *q = j->s->q + (int64_t)t * a->n_heads * hd + kvh * G * hd;
        float *part = part_of(j, row, kvh, c), *mx = part + G * hd, *sum = mx + G;
        k->attn_scores_f16(l3_kv_head(kv, l3_kv_row(kv, kv->k, slot, j->layer, p0), kvh), kst, len, q, G, hd, scores, len);
        for (int g = 0; g < G; g++) {
            const float *sg = scores + (int64_t)g * len;
            int best = 0;
            for (int p = 1; p < len; p++) best = sg[p] > sg[best] ? p : best;
            mx[g] = sg[best] * scale;
            k->softmax(scores + (int64_t)g * len, len, scale);
            sum[g] = 1.0f / sg[best];  /* the maximum's weight is exp(0) / sum */
        }
        k->attn_values_f16(l3_kv_head(kv, l3_kv_row(kv, kv->v, slot, j->layer, p0), kvh), kst, len, scores, len, G, hd,
                           part);
    }
}

static void attention_merge(void *ctx, int64_t i0, int64_t i1, int thread) {
    (void)thread;
    const attention_job *j = ctx;
    const llama3_args *a = j->a;
    const int hd = a->head_dim, G = a->n_heads / a->n_kv_heads;
    for (int64_t item = i0; item < i1; item++) {
        const int kvh = (int)(item % a->n_kv_heads), row = (int)(item / a->n_kv_heads);
        const int t = j->s->split_rows[j->split0 + row], C = split_chunks(j->pos[t] + 1);
        for (int g = 0; g < G; g++) {
            float m = -INFINITY, w[L3_ATT_MAX_CHUNKS], total = 0;
            for (int c = 0; c < C; c++) {
                const float mc = part_of(j, row, kvh, c)[G * hd + g];
                m = mc > m ? mc : m;
            }
            for (int c = 0; c < C; c++) {
                const float *part = part_of(j, row, kvh, c);
                w[c] = part[G * hd + G + g] * expf(part[G * hd + g] - m);
                total += w[c];
            }
            float *out = j->s->att + (int64_t)t * a->n_heads * hd + (kvh * G + g) * hd;
            memset(out, 0, (size_t)hd * sizeof *out);
            for (int c = 0; c < C; c++) j->k->axpy_f32(w[c] / total, part_of(j, row, kvh, c) + g * hd, out, hd);
        }
    }
}

/* Marks the pass's decoded rows long enough to split (split_of, split_rows); returns how
 * many. A decoded row: flagged so, or the only row of a pass without flags. */
static int find_split_rows(cpu_session *s, const l3_pass *p) {
    l3_scratch *sc = &s->scratch;
    int n = 0;
    for (int t = 0; t < p->n; t++) {
        const int decoded = p->prompt ? !p->prompt[t] : p->n == 1;
        sc->split_of[t] = decoded && split_chunks(p->pos[t] + 1) > 1 ? n : -1;
        if (sc->split_of[t] >= 0) sc->split_rows[n++] = t;
    }
    return n;
}

void l3_cpu_attention(cpu_session *s, int layer) {
    const llama3_args *a = &s->m->base.w->args;
    const l3_kernel_set *k = s->m->k;
    const l3_pass *p = s->pass;
    const int T = p->n, hd = a->head_dim;
    attention_job aj = { a, k, &s->kv, &s->scratch, p->pos, p->slot, layer, NULL, 0 };
    /* one (row, head) item costs about 2 x (pos + 1) x head_dim multiply-adds; small
     * jobs cost more to hand out than to do */
    int64_t work = 2LL * (p->pos[T - 1] + 1) * hd;
    if (s->kv.type == LLAMA3_KV_F16 && hd % 16 == 0 && k->attn_scores_f16) {
        const int n_split = s->scratch.att_part ? find_split_rows(s, p) : 0;
        if (n_split) aj.split_of = s->scratch.split_of;
        if (n_split < T)
            l3_parallel_for(s->pool, (int64_t)T * a->n_kv_heads, 16384 / (work * (a->n_heads / a->n_kv_heads)) + 1,
                            attention_items_grouped, &aj);
        for (aj.split0 = 0; aj.split0 < n_split; aj.split0 += L3_ATT_SPLIT_ROWS) {
            const int rows = n_split - aj.split0 < L3_ATT_SPLIT_ROWS ? n_split - aj.split0 : L3_ATT_SPLIT_ROWS;
            l3_parallel_for(s->pool, (int64_t)rows * a->n_kv_heads * L3_ATT_MAX_CHUNKS, 1, attention_chunks, &aj);
            l3_parallel_for(s->pool, (int64_t)rows * a->n_kv_heads, 1, attention_merge, &aj);
        }
    } else
        l3_parallel_for(s->pool, (int64_t)T * a->n_heads, 16384 / work + 1, attention_items, &aj);
}
