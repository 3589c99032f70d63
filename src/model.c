/* The forward pass, in Meta's names (model.py). Prefill and decode are the same code with
 * many rows or one; a batch of sequences is rows with their own position and KV slot. */
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/kernels.h"

/* ---- the building blocks -------------------------------------------------------------- */

/* RMSNorm.forward: x * rsqrt(mean(x^2) + eps) * weight, in float32. */
static void rmsnorm(float *out, const float *x, const float *weight, int n, float eps) {
    float ss = 0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    float r = 1.0f / sqrtf(ss / n + eps);
    for (int i = 0; i < n; i++) out[i] = x[i] * r * weight[i];
}

/* cos and sin of pos * freq[i] for every pair i: the same for q, k and every layer, so
 * computed once per row and pass. cs holds [cos, sin] pairs. */
static void rope_table(float *cs, int head_dim, int pos, const float *freqs) {
    for (int i = 0; i < head_dim / 2; i++) {
        float angle = (float)pos * freqs[i];
        cs[2 * i] = cosf(angle);
        cs[2 * i + 1] = sinf(angle);
    }
}

/* apply_rotary_emb: rotate each (even, odd) pair of a head by pos * freq[i]. HF weights keep
 * transformers' rotate-half order, where pair i is (i, i + head_dim/2) (see weights.h). */
static void rope(float *vec, int n_heads, int head_dim, const float *cs, l3_rope_layout layout) {
    int half = head_dim / 2;
    for (int i = 0; i < half; i++) {
        float c = cs[2 * i], s = cs[2 * i + 1];
        for (int h = 0; h < n_heads; h++) {
            float *v = vec + h * head_dim;
            int a = layout == L3_ROPE_HALF ? i : 2 * i;
            int b = layout == L3_ROPE_HALF ? i + half : 2 * i + 1;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}

static float silu(float x) { return x / (1.0f + expf(-x)); }

/* ---- matrix products ------------------------------------------------------------------ */

/* Two paths per product:
 * - 8-bit (quantized weight types with integer kernels in the current set): the activation
 *   rows are quantized once (per block of 32, kernels.h: a 16-bit value split into two int8
 *   levels, as accurate as f32 for the goldens, and the same numbers whether a row is decoded
 *   alone or in a batch; prompt rows flagged one_level keep the first level only, with a zero
 *   second level where they share a product with two-level rows, the same numbers either
 *   way, and a product of only such rows takes the kernels' one-level body), then decode
 *   and a few rows (T <= MM_DECODE_ROWS) take the kernel set's dotn_q8 over runs of weight
 *   rows (every activation row per weight row in registers, independent accumulator chains,
 *   the same bits as decoding each alone; dot_q8 per row where a type has none), and prefill
 *   unpacks a tile of MM_ROWS weight rows to 8-bit panel rows once and multiplies them with
 *   every activation row in the kernel set's register-blocked integer tile product.
 * - f32 (float weights, other types, the scalar reference set, LLAMA3_INT8=0): decode takes a
 *   dot product per row in the weight type; a few rows take dotn (float weights widened once
 *   in registers for every activation row); prefill walks a tile's columns in slices of
 *   MM_KC (a multiple of every block size, 256 for k-quants), widening a tile of MM_FROWS
 *   rows' slice to f32 once for the f32 tile product (through the kernel set's own panel
 *   layout where it has one), adding each slice's partial sums into Y. */
#define MM_ROWS 16
/* up to this many rows (a step of batched decode), types with a dotn_q8 kernel multiply each
 * weight row with every activation row in registers, with dot_q8's arithmetic (no panel);
 * past 8 rows the panel's tile product is as fast or faster (1B model, T = 16) */
#define MM_DECODE_ROWS 8
/* float weights: up to this many rows take dotn (8 activation rows per pass over a run of
 * weight rows, the later passes from cache) rather than widening and packing every weight
 * for the tile product (1B bf16, 2 threads: 16 rows 133 vs 61 t/s, 32 rows 119 vs 96, 48
 * rows even) */
#define MM_DOTN_ROWS 48
#define MM_DECODE_RUN 24  /* weight rows per dotn_q8 / dotn call; decode's thread shares split at whole runs */
#define MM_KC 2048    /* long slices: the AVX-512 f32 tile product runs faster the longer its panel */
#define MM_FROWS L3_PACK_F32_ROWS
#define MM_PANEL (2 * MM_FROWS * MM_KC)  /* the widened rows, then the kernel set's packed panel */
/* bytes of an 8-bit panel of MM_ROWS rows of n values: values, lane scales, sixteens' terms */
#define MM_PANEL8_BYTES(n) ((size_t)MM_ROWS * ((size_t)(n) + (size_t)(n) / 4 * sizeof(float) + (size_t)(n) / 16 * sizeof(float)) + \
                            L3_PACK16_BYTES(n))

typedef struct matmul_job {
    const l3_tensor *W;
    const float *X;
    int T;
    const uint8_t *one_level;  /* per row (or NULL) */
    int all_one;               /* every row one-level: q2 is not written, and NULL for gemm_q8 */
    float *Y;
    l3_scratch *s;
    size_t row_bytes;
} matmul_job;

/* decode: one pass over the weights, a dot product per row in the weight type */
static void matmul_vec(void *ctx, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    const l3_kernel_set *k = l3_kernels();
    const uint8_t *base = j->W->data;
    for (int64_t r = r0; r < r1; r++) j->Y[r] = k->dot[j->W->type](base + r * j->row_bytes, j->X, j->W->cols);
}

/* decode with BF16 weights where the set splits the activation into bf16 halves (kernels.h) */
static void matmul_vec_bf16(void *ctx, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    const int64_t n = j->W->cols;
    const uint8_t *base = j->W->data;
    for (int64_t r = r0; r < r1; r++)
        j->Y[r] = l3_kernels()->dot_bf16_split(base + r * j->row_bytes, j->s->x_bf16, j->s->x_bf16 + n, n);
}

/* prefill: tiles [tile0, tile1) of MM_FROWS weight rows */
static void matmul_tiles(void *ctx, int64_t tile0, int64_t tile1, int thread) {
    const matmul_job *j = ctx;
    const l3_kernel_set *k = l3_kernels();
    const l3_type_info *ti = l3_type_get(j->W->type);
    const int64_t cols = j->W->cols, rows = j->W->rows;
    const uint8_t *base = j->W->data;
    /* pack_f32 widens F16/BF16 rows itself; other types are widened to f32 rows first */
    const int widen = j->W->type != L3_F32 && !(k->pack_f32 && (j->W->type == L3_F16 || j->W->type == L3_BF16));
    float *panel = j->s->row_buf[thread], *packed = panel + MM_FROWS * MM_KC;
    for (int64_t tile = tile0; tile < tile1; tile++) {
        const int64_t r0 = tile * MM_FROWS;
        const int nw = (int)(rows - r0 < MM_FROWS ? rows - r0 : MM_FROWS);
        for (int t = 0; t < j->T; t++) memset(j->Y + (int64_t)t * rows + r0, 0, (size_t)nw * sizeof(float));
        for (int64_t k0 = 0; k0 < cols; k0 += MM_KC) {
            const int64_t kc = cols - k0 < MM_KC ? cols - k0 : MM_KC;
            const size_t off = (size_t)(k0 / ti->block) * ti->block_bytes;
            const void *w = base + r0 * j->row_bytes + off;  /* nw rows of kc values, ldw bytes apart */
            size_t ldw = j->row_bytes;
            uint32_t type = j->W->type;
            if (widen) {
                for (int i = 0; i < nw; i++) k->to_float[type](base + (r0 + i) * j->row_bytes + off, panel + i * kc, kc);
                w = panel, ldw = (size_t)kc * sizeof(float), type = L3_F32;
            }
            if (k->pack_f32) {
                k->pack_f32(type, w, ldw, nw, kc, packed);
                k->gemm_f32_packed(packed, nw, j->X + k0, cols, j->T, j->Y + r0, rows, kc);
            } else {
                k->gemm_f32(w, (int64_t)(ldw / sizeof(float)), nw, j->X + k0, cols, j->T, j->Y + r0, rows, kc);
            }
        }
    }
}

/* 8-bit: quantize activation rows [t0, t1) to two int8 levels, or the first alone (kernels.h) */
static void quantize_rows(void *ctx, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    const int64_t n = j->W->cols;
    /* one level only where the set has the 8-bit tile product for the type: elsewhere prompts
     * of several rows take f32 (AVX2's Q8_0), and a lone prompt row keeps two levels, close
     * to that, instead of one level's 1e-2 */
    const int levels = l3_kernels()->to_panel[j->W->type] != NULL;
    for (int64_t t = t0; t < t1; t++) {
        const int one = levels && j->one_level && j->one_level[t];
        int8_t *q2 = j->s->xq2 + t * n;
        float *d = j->s->xd + t * n / 32;
        l3_kernels()->quantize_q8(j->X + t * n, j->s->xq + t * n, one ? NULL : q2, d, j->s->xs + t * n / 16, n);
        if (one && !j->all_one) {  /* as a two-level row: a zero second level, d per unit of it */
            memset(q2, 0, (size_t)n);
            for (int64_t b = 0; b < n / 32; b++) d[b] /= 256.0f;  /* exact: the sums s stay as they are */
        }
    }
}

static void matmul_vec_q8(void *ctx, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    const l3_kernel_set *k = l3_kernels();
    const uint8_t *base = j->W->data;
    const l3_scratch *s = j->s;
    for (int64_t r = r0; r < r1; r++) {
        /* the weights stream once from memory through 4 KiB pages, where the hardware
         * prefetcher stops at each page end: ask for the row after next in advance */
        if (r + 2 < r1)
            for (size_t o = 0; o < j->row_bytes; o += 64) __builtin_prefetch(base + (r + 2) * j->row_bytes + o, 0, 0);
        j->Y[r] = k->dot_q8[j->W->type](base + r * j->row_bytes, s->xq, s->xq2, s->xd, s->xs, j->W->cols);
    }
}

/* decode and batched decode (a few activation rows): a run of weight rows per dotn_q8 call
 * multiplied with every activation row, the weights unpacked once in registers (no panel; the kernel
 * prefetches its weights), each result bit-identical to dot_q8's: a row decoded in a batch
 * gets the bits it gets alone */
static void matmul_vecn_q8(void *ctx, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    const l3_scratch *s = j->s;
    for (int64_t r = r0; r < r1; r += MM_DECODE_RUN)
        l3_kernels()->dotn_q8[j->W->type]((const uint8_t *)j->W->data + r * j->row_bytes, j->row_bytes,
                                          r1 - r < MM_DECODE_RUN ? (int)(r1 - r) : MM_DECODE_RUN, s->xq, s->xq2, s->xd,
                                          s->xs, j->T, j->Y + r, j->W->rows, j->W->cols);
}

/* batched decode with float weights: MM_DECODE_RUN weight rows per dotn call, widened once in
 * registers for every activation row (no f32 panel; the kernel prefetches its weights) */
static void matmul_vecn(void *ctx, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    for (int64_t r = r0; r < r1; r += MM_DECODE_RUN)
        l3_kernels()->dotn[j->W->type]((const uint8_t *)j->W->data + r * j->row_bytes, j->row_bytes,
                                       r1 - r < MM_DECODE_RUN ? (int)(r1 - r) : MM_DECODE_RUN, j->X, j->T, j->Y + r, j->W->rows,
                                       j->W->cols);
}

static void matmul_tiles_q8(void *ctx, int64_t tile0, int64_t tile1, int thread) {
    const matmul_job *j = ctx;
    const l3_kernel_set *k = l3_kernels();
    const int64_t cols = j->W->cols, rows = j->W->rows;
    const uint8_t *base = j->W->data;
    const l3_scratch *s = j->s;
    uint8_t *u = s->panel8[thread];
    float *sc = (float *)(u + MM_ROWS * cols), *mn = sc + MM_ROWS * cols / 4;
    const int8_t *q2 = j->all_one ? NULL : s->xq2;
    for (int64_t tile = tile0; tile < tile1; tile++) {
        const int64_t r0 = tile * MM_ROWS;
        const int nw = (int)(rows - r0 < MM_ROWS ? rows - r0 : MM_ROWS);
        for (int i = 0; i < nw; i++)
            k->to_panel[j->W->type](base + (r0 + i) * j->row_bytes, u + i * cols, sc + i * cols / 4, mn + i * cols / 16, cols);
        if (k->panel_pack) {  /* the kernel set's own tile layout, after the row panel */
            uint8_t *pk = (uint8_t *)(mn + MM_ROWS * cols / 16);
            k->panel_pack(u, sc, mn, nw, cols, pk);
            k->gemm_q8(pk, (const float *)(pk + 16 * cols), (const float *)(pk + 16 * cols) + cols, nw, s->xq, q2,
                       s->xd, s->xs, j->T, j->Y + r0, rows, cols);
        } else {
            k->gemm_q8(u, sc, mn, nw, s->xq, q2, s->xd, s->xs, j->T, j->Y + r0, rows, cols);
        }
    }
}

void l3_matmul(const l3_tensor *W, const float *X, int T, const uint8_t *one_level, float *Y, l3_scratch *s,
               l3_pool *pool) {
    const l3_kernel_set *k = l3_kernels();
    matmul_job j = { W, X, T, one_level, 0, Y, s, l3_row_bytes(W->type, W->cols) };
    const int q8 = k->use_q8 && s->xq && W->cols % 32 == 0;
    /* A step of batch.c lists its decoded tokens first, then prompt rows: with 8-bit kernels
     * the two run as two products, so that the decoded tokens take the path they take alone
     * (the decode kernels, up to MM_DECODE_ROWS of them: the bits of decoding alone) whatever
     * prompts are being prefilled beside them. */
    if (T > 1 && q8 && one_level && k->dot_q8[W->type] && !one_level[0]) {
        int n_dec = 1;
        while (n_dec < T && !one_level[n_dec]) n_dec++;
        int prompts_after = n_dec < T;
        for (int t = n_dec + 1; prompts_after && t < T; t++) prompts_after = one_level[t] != 0;
        if (prompts_after) {
            l3_matmul(W, X, n_dec, NULL, Y, s, pool);
            l3_matmul(W, X + (int64_t)n_dec * W->cols, T - n_dec, one_level + n_dec, Y + (int64_t)n_dec * W->rows, s, pool);
            return;
        }
    }
    if (T == 1 && q8 && k->dot_q8[W->type]) {
        quantize_rows(&j, 0, 1, 0);  /* once, shared by every thread */
        if (k->dotn_q8[W->type]) l3_parallel_for(pool, W->rows, MM_DECODE_RUN, matmul_vecn_q8, &j);
        else l3_parallel_for(pool, W->rows, 8, matmul_vec_q8, &j);
    } else if (T == 1 && W->type == L3_BF16 && k->dot_bf16_split) {
        k->split_bf16(X, s->x_bf16, s->x_bf16 + W->cols, W->cols);  /* once, shared by every thread */
        l3_parallel_for(pool, W->rows, 8, matmul_vec_bf16, &j);
    } else if (T == 1) {
        l3_parallel_for(pool, W->rows, 8, matmul_vec, &j);  /* (float dotn for one row measured slower) */
    } else if (T <= MM_DECODE_ROWS && q8 && k->dotn_q8[W->type]) {
        l3_parallel_for(pool, T, 4, quantize_rows, &j);
        l3_parallel_for(pool, W->rows, 8, matmul_vecn_q8, &j);
    } else if (T <= MM_DOTN_ROWS && k->dotn[W->type]) {
        l3_parallel_for(pool, W->rows, 8, matmul_vecn, &j);
    } else if (q8 && k->to_panel[W->type]) {
        j.all_one = one_level != NULL;  /* the panel product's one-level body, if every row allows it */
        for (int t = 0; j.all_one && t < T; t++) j.all_one = one_level[t] != 0;
        l3_parallel_for(pool, T, 4, quantize_rows, &j);
        l3_parallel_for(pool, (W->rows + MM_ROWS - 1) / MM_ROWS, 1, matmul_tiles_q8, &j);
    } else {
        l3_parallel_for(pool, (W->rows + MM_FROWS - 1) / MM_FROWS, 1, matmul_tiles, &j);
    }
}

/* ---- attention ------------------------------------------------------------------------ */

typedef struct attention_job {
    const llama3_model *m;
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
    const llama3_args *a = &j->m->w.args;
    const l3_kernel_set *k = l3_kernels();
    const l3_kv_cache *kv = j->kv;
    const int hd = a->head_dim, group = a->n_heads / a->n_kv_heads;
    const float scale = 1.0f / sqrtf((float)hd);
    float *scores = j->s->scores[thread];
    const int64_t ld = kv->n_ctx, kst = (int64_t)(kv->row_bytes / sizeof(uint16_t));
    for (int64_t item = i0; item < i1; item++) {
        const int t = (int)(item / a->n_kv_heads), kvh = (int)(item % a->n_kv_heads);
        const int np = j->pos[t] + 1, slot = j->slot[t];
        const float *q = j->s->q + (int64_t)t * a->dim + kvh * group * hd;
        float *out = j->s->att + (int64_t)t * a->dim + kvh * group * hd;
        k->attn_scores_f16(l3_kv_head(kv, l3_kv_row(kv, kv->k, slot, j->layer, 0), kvh), kst, np, q, group, hd, scores, ld);
        for (int g = 0; g < group; g++) k->softmax(scores + g * ld, np, scale);  /* (the causal mask is np = pos + 1) */
        k->attn_values_f16(l3_kv_head(kv, l3_kv_row(kv, kv->v, slot, j->layer, 0), kvh), kst, np, scores, ld, group, hd, out);
    }
}

/* One (row, head) pair per item: softmax(q . K^T / sqrt(head_dim)) . V over positions
 * 0..pos (the causal mask), reading this row's slot of the cache. */
static void attention_items(void *ctx, int64_t i0, int64_t i1, int thread) {
    const attention_job *j = ctx;
    const llama3_args *a = &j->m->w.args;
    const l3_kernel_set *k = l3_kernels();
    const l3_kv_cache *kv = j->kv;
    const int hd = a->head_dim, group = a->n_heads / a->n_kv_heads;
    const float scale = 1.0f / sqrtf((float)hd);
    float *scores = j->s->scores[thread];
    for (int64_t item = i0; item < i1; item++) {
        int t = (int)(item / a->n_heads), h = (int)(item % a->n_heads), kvh = h / group;
        int pos = j->pos[t], slot = j->slot[t];
        const float *q = j->s->q + (int64_t)t * a->dim + h * hd;
        float *out = j->s->att + (int64_t)t * a->dim + h * hd;
        for (int p = 0; p <= pos; p++)
            scores[p] = kv_dot(k, kv->type, l3_kv_head(kv, l3_kv_row(kv, kv->k, slot, j->layer, p), kvh), q, hd);
        k->softmax(scores, pos + 1, scale);
        memset(out, 0, (size_t)hd * sizeof *out);
        for (int p = 0; p <= pos; p++)
            kv_axpy(k, kv->type, scores[p], l3_kv_head(kv, l3_kv_row(kv, kv->v, slot, j->layer, p), kvh), out, hd);
    }
}

/* ---- the pass ------------------------------------------------------------------------- */

typedef struct norm_job { float *out; const float *x, *w; int n; float eps; } norm_job;
static void norm_rows(void *ctx, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    const norm_job *j = ctx;
    for (int64_t t = t0; t < t1; t++) rmsnorm(j->out + t * j->n, j->x + t * j->n, j->w, j->n, j->eps);
}

static void add_rows(float *x, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

void l3_forward(const llama3_model *m, l3_kv_cache *kv, l3_scratch *s, l3_pool *pool, const l3_forward_args *fa) {
    const l3_weights *w = &m->w;
    const llama3_args *a = &w->args;
    const l3_kernel_set *k = l3_kernels();
    const int T = fa->n, dim = a->dim, hd = a->head_dim, kv_dim = a->n_kv_heads * hd, hidden = a->hidden_dim;
    float *x = s->x, *xb = s->xb;

    /* h = tok_embeddings(tokens) */
    size_t emb_row = l3_row_bytes(w->tok_embeddings.type, dim);
    for (int t = 0; t < T; t++)
        k->to_float[w->tok_embeddings.type]((const uint8_t *)w->tok_embeddings.data + (size_t)fa->ids[t] * emb_row,
                                            x + (int64_t)t * dim, dim);

    for (int t = 0; t < T; t++) rope_table(s->rope_cs + (int64_t)t * hd, hd, fa->pos[t], m->rope_freqs);

    for (int l = 0; l < a->n_layers; l++) {
        const l3_layer_weights *L = &w->layers[l];
        /* h = x + attention(attention_norm(x)) */
        norm_job nj = { xb, x, m->attention_norm + (int64_t)l * dim, dim, a->norm_eps };
        l3_parallel_for(pool, T, 4, norm_rows, &nj);
        l3_matmul(&L->wq, xb, T, fa->one_level, s->q, s, pool);
        l3_matmul(&L->wk, xb, T, fa->one_level, s->k, s, pool);
        l3_matmul(&L->wv, xb, T, fa->one_level, s->v, s, pool);
        for (int t = 0; t < T; t++) {
            rope(s->q + (int64_t)t * dim, a->n_heads, hd, s->rope_cs + (int64_t)t * hd, w->rope_layout);
            rope(s->k + (int64_t)t * kv_dim, a->n_kv_heads, hd, s->rope_cs + (int64_t)t * hd, w->rope_layout);
            l3_kv_store(kv, l3_kv_row(kv, kv->k, fa->slot[t], l, fa->pos[t]), s->k + (int64_t)t * kv_dim);
            l3_kv_store(kv, l3_kv_row(kv, kv->v, fa->slot[t], l, fa->pos[t]), s->v + (int64_t)t * kv_dim);
        }
        attention_job aj = { m, kv, s, fa->pos, fa->slot, l };
        /* one (row, head) item costs about 2 x (pos + 1) x head_dim multiply-adds; small
         * jobs cost more to hand out than to do */
        int64_t work = 2LL * (fa->pos[T - 1] + 1) * hd;
        if (kv->type == LLAMA3_KV_F16 && hd % 16 == 0 && k->attn_scores_f16)
            l3_parallel_for(pool, (int64_t)T * a->n_kv_heads, 16384 / (work * (a->n_heads / a->n_kv_heads)) + 1,
                            attention_items_grouped, &aj);
        else
            l3_parallel_for(pool, (int64_t)T * a->n_heads, 16384 / work + 1, attention_items, &aj);
        l3_matmul(&L->wo, s->att, T, fa->one_level, xb, s, pool);
        add_rows(x, xb, (int64_t)T * dim);

        /* out = h + feed_forward(ffn_norm(h)), feed_forward = w2(silu(w1(x)) * w3(x)) */
        norm_job fj = { xb, x, m->ffn_norm + (int64_t)l * dim, dim, a->norm_eps };
        l3_parallel_for(pool, T, 4, norm_rows, &fj);
        l3_matmul(&L->w1, xb, T, fa->one_level, s->h1, s, pool);
        l3_matmul(&L->w3, xb, T, fa->one_level, s->h3, s, pool);
        for (int64_t i = 0; i < (int64_t)T * hidden; i++) s->h1[i] = silu(s->h1[i]) * s->h3[i];
        l3_matmul(&L->w2, s->h1, T, fa->one_level, xb, s, pool);
        add_rows(x, xb, (int64_t)T * dim);
    }

    /* logits = output(norm(h)), only for the rows asked for */
    for (int i = 0; i < fa->n_out; i++) {
        rmsnorm(xb + (int64_t)i * dim, x + (int64_t)fa->out_rows[i] * dim, m->norm, dim, a->norm_eps);
        s->out_one_level[i] = fa->one_level && fa->one_level[fa->out_rows[i]];
    }
    if (fa->n_out > 0) {
        /* logits rows for n_out activations: run as one product, rows of the output matrix
         * parallel, writing [n_out x vocab]. */
        l3_matmul(&w->output, xb, fa->n_out, fa->one_level ? s->out_one_level : NULL, fa->logits, s, pool);
    }
}

/* ---- scratch -------------------------------------------------------------------------- */

int l3_scratch_init(l3_scratch *s, const llama3_args *a, int max_rows, int n_ctx, int n_threads) {
    memset(s, 0, sizeof *s);
    s->max_rows = max_rows;
    s->n_threads = n_threads;
    size_t R = (size_t)max_rows, kv_dim = (size_t)a->n_kv_heads * a->head_dim;
    s->x = l3_alloc_lines(R * a->dim * sizeof(float));
    s->xb = l3_alloc_lines(R * a->dim * sizeof(float));
    s->q = l3_alloc_lines(R * a->dim * sizeof(float));
    s->k = l3_alloc_lines(R * kv_dim * sizeof(float));
    s->v = l3_alloc_lines(R * kv_dim * sizeof(float));
    s->att = l3_alloc_lines(R * a->dim * sizeof(float));
    s->h1 = l3_alloc_lines(R * a->hidden_dim * sizeof(float));
    s->h3 = l3_alloc_lines(R * a->hidden_dim * sizeof(float));
    s->rope_cs = malloc(R * a->head_dim * sizeof(float));
    s->row_buf = calloc((size_t)n_threads, sizeof *s->row_buf);
    s->scores = calloc((size_t)n_threads, sizeof *s->scores);
    s->panel8 = calloc((size_t)n_threads, sizeof *s->panel8);
    s->out_one_level = malloc(R);
    if (!s->x || !s->xb || !s->q || !s->k || !s->v || !s->att || !s->h1 || !s->h3 || !s->rope_cs || !s->row_buf || !s->scores ||
        !s->panel8 || !s->out_one_level)
        return -1;
    int widest = a->dim > a->hidden_dim ? a->dim : a->hidden_dim;
    s->xq = l3_alloc_lines(R * (size_t)widest);
    s->xq2 = l3_alloc_lines(R * (size_t)widest);
    s->xd = malloc(R * (size_t)widest / 32 * sizeof(float) + sizeof(float));
    s->xs = malloc(R * (size_t)widest / 16 * sizeof(float) + sizeof(float));
    s->x_bf16 = l3_alloc_lines(2 * (size_t)widest * sizeof(uint16_t));
    if (!s->xq || !s->xq2 || !s->xd || !s->xs || !s->x_bf16) return -1;
    for (int i = 0; i < n_threads; i++)
        if (!(s->panel8[i] = l3_alloc_lines(MM_PANEL8_BYTES(widest)))) return -1;
    if (widest < MM_PANEL) widest = MM_PANEL;  /* row_buf also holds the prefill weight panel */
    for (int i = 0; i < n_threads; i++) {
        s->row_buf[i] = l3_alloc_lines((size_t)widest * sizeof(float));
        s->scores[i] = l3_alloc_lines((size_t)n_ctx * (size_t)(a->n_heads / a->n_kv_heads) * sizeof(float));
        if (!s->row_buf[i] || !s->scores[i]) return -1;
    }
    return 0;
}

void l3_scratch_free(l3_scratch *s) {
    free(s->x); free(s->xb); free(s->q); free(s->k); free(s->v); free(s->att); free(s->h1); free(s->h3); free(s->rope_cs);
    for (int i = 0; s->row_buf && i < s->n_threads; i++) free(s->row_buf[i]);
    for (int i = 0; s->scores && i < s->n_threads; i++) free(s->scores[i]);
    for (int i = 0; s->panel8 && i < s->n_threads; i++) free(s->panel8[i]);
    free(s->panel8);
    free(s->out_one_level);
    free(s->x_bf16);
    free(s->xq); free(s->xq2); free(s->xd); free(s->xs);
    free(s->row_buf);
    free(s->scores);
    memset(s, 0, sizeof *s);
}

size_t l3_scratch_bytes(const l3_scratch *s, const llama3_args *a, int n_ctx) {
    size_t R = (size_t)s->max_rows, kv_dim = (size_t)a->n_kv_heads * a->head_dim;
    size_t widest = (size_t)(a->dim > a->hidden_dim ? a->dim : a->hidden_dim), w8 = widest;
    if (widest < MM_PANEL) widest = MM_PANEL;
    return sizeof(float) * (R * (4 * (size_t)a->dim + 2 * kv_dim + 2 * (size_t)a->hidden_dim + (size_t)a->head_dim) +
                            (size_t)s->n_threads * (widest + (size_t)n_ctx * (size_t)(a->n_heads / a->n_kv_heads))) +
           R * w8 * (64 + sizeof(float) * 3) / 32 + (size_t)s->n_threads * MM_PANEL8_BYTES(w8) + R /* out_one_level */ +
           2 * w8 * sizeof(uint16_t) /* x_bf16 */;
}
