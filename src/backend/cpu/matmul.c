/* The CPU matrix product: picks a path per product from the weight type, the row count and
 * the kernel set, and splits it over the thread pool. */
#include "backend/cpu/matmul.h"

#include <string.h>

#include "backend/cpu/kernels/row_groups.h"

/* Two paths per product (three with row groups):
 * - 8-bit (quantized weight types with integer kernels in the current set): the activation
 *   rows are quantized once (per block of 32, kernels.h: a 16-bit value split into two int8
 *   levels, as accurate as f32 for the goldens, and the same numbers whether a row is decoded
 *   alone or in a batch; prompt rows flagged one_level keep the first level only, with a zero
 *   second level where they share a product with two-level rows, the same numbers either
 *   way, and a product of only such rows takes the kernels' one-level body), then decode
 *   and a few rows (T <= MM_DECODE_ROWS, or any number of rows all two-level: decoded tokens)
 *   take the kernel set's dotn_q8 over runs of weight
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
/* - row groups (a matrix the CPU model copied into the kernel set's groups, kernels.h
 *   group_rows): decode (any number of two-level rows) and up to MM_DECODE_ROWS rows of any
 *   kind take dotn_q8_groups over runs of whole
 *   groups (8-bit activations as above, several rows at a stride padded by MM_Q8_ROW_PAD,
 *   one vector lane per weight row, a row's bits the same alone or batched); prefill unpacks
 *   each row of a tile back to the file's layout for the panel (the same bits as without
 *   groups); the f32 paths read the file's rows. */
typedef struct matmul_job {
    const l3_tensor *W;
    const uint8_t *groups;     /* W's rows in the set's groups (row_groups.h), or NULL */
    const float *X;
    int T;
    int8_t *q, *q2;            /* where the 8-bit rows' two levels go: xq and xq2, or side by side in xq */
    int64_t ldq;               /* bytes between the 8-bit rows at q and at q2 (cols, or more) */
    const uint8_t *one_level;  /* per row (or NULL) */
    int all_one;               /* every row one-level: q2 is not written, and NULL for gemm_q8 */
    float *Y;
    l3_scratch *s;
    size_t row_bytes;
    const l3_kernel_set *k;
} matmul_job;

/* decode: one pass over the weights, a dot product per row in the weight type */
static void matmul_vec(void *ctx, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    const l3_kernel_set *k = j->k;
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
        j->Y[r] = j->k->dot_bf16_split(base + r * j->row_bytes, j->s->x_bf16, j->s->x_bf16 + n, n);
}

/* prefill: tiles [tile0, tile1) of MM_FROWS weight rows */
static void matmul_tiles(void *ctx, int64_t tile0, int64_t tile1, int thread) {
    const matmul_job *j = ctx;
    const l3_kernel_set *k = j->k;
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
     * of several rows take f32 (Q8_0 on ARM without i8mm), and a lone prompt row keeps two levels, close
     * to that, instead of one level's 1e-2 */
    const int levels = j->k->to_panel[j->W->type] != NULL;
    for (int64_t t = t0; t < t1; t++) {
        const int one = levels && j->one_level && j->one_level[t];
        int8_t *q2 = j->q2 + t * j->ldq;
        float *d = j->s->xd + t * n / 32;
        j->k->quantize_q8(j->X + t * n, j->q + t * j->ldq, one ? NULL : q2, d, j->s->xs + t * n / 16, n);
        if (j->all_one && j->k->gemm_q8_rows16) {  /* the tile product's own copy (kernels.h) */
            for (int64_t b = 0; b < n / 32; b++) j->s->xd16[L3_ROWS16(t, b, n / 32)] = d[b];
            for (int64_t h = 0; h < n / 16; h++) j->s->xs16[L3_ROWS16(t, h, n / 16)] = j->s->xs[t * n / 16 + h];
        }
        if (one && !j->all_one) {  /* as a two-level row: a zero second level, d per unit of it */
            memset(q2, 0, (size_t)n);
            for (int64_t b = 0; b < n / 32; b++) d[b] /= 256.0f;  /* exact: the sums s stay as they are */
        }
    }
}

static void matmul_vec_q8(void *ctx, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    const l3_kernel_set *k = j->k;
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
        j->k->dotn_q8[j->W->type]((const uint8_t *)j->W->data + r * j->row_bytes, j->row_bytes,
                                          r1 - r < MM_DECODE_RUN ? (int)(r1 - r) : MM_DECODE_RUN, s->xq, s->xq2, s->xd,
                                          s->xs, j->T, j->Y + r, j->W->rows, j->W->cols);
}

/* batched decode with float weights: MM_DECODE_RUN weight rows per dotn call, widened once in
 * registers for every activation row (no f32 panel; the kernel prefetches its weights) */
static void matmul_vecn(void *ctx, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    for (int64_t r = r0; r < r1; r += MM_DECODE_RUN)
        j->k->dotn[j->W->type]((const uint8_t *)j->W->data + r * j->row_bytes, j->row_bytes,
                                       r1 - r < MM_DECODE_RUN ? (int)(r1 - r) : MM_DECODE_RUN, j->X, j->T, j->Y + r, j->W->rows,
                                       j->W->cols);
}

/* decode and batched decode on grouped rows: groups [g0, g1) in one call, each group's rows
 * multiplied with every activation row (kernels.h dotn_q8_groups) */
static void matmul_groups_q8(void *ctx, int64_t g0, int64_t g1, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    const l3_scratch *s = j->s;
    const int G = j->k->group_rows[j->W->type];
    j->k->dotn_q8_groups[j->W->type](j->groups + g0 * G * j->row_bytes, (int)(g1 - g0), j->q, j->q2, j->ldq, s->xd,
                                     s->xs, j->T, j->Y + g0 * G, j->W->rows, j->W->cols);
}

static void matmul_tiles_q8(void *ctx, int64_t tile0, int64_t tile1, int thread) {
    const matmul_job *j = ctx;
    const l3_kernel_set *k = j->k;
    const int64_t cols = j->W->cols, rows = j->W->rows;
    const uint8_t *base = j->W->data;
    const l3_scratch *s = j->s;
    uint8_t *u = s->panel8[thread];
    float *sc = (float *)(u + MM_ROWS * cols), *mn = sc + MM_ROWS * cols / 4;
    const int8_t *q2 = j->all_one ? NULL : s->xq2;
    const int rows16 = j->all_one && k->gemm_q8_rows16;  /* d and s as the tile product takes them */
    const float *xd = rows16 ? s->xd16 : s->xd, *xs = rows16 ? s->xs16 : s->xs;
    const int G = j->groups ? k->group_rows[j->W->type] : 0;
    uint8_t *pk = (uint8_t *)(mn + MM_ROWS * cols / 16);  /* the kernel set's own tile layout, after the row panel */
    for (int64_t tile = tile0; tile < tile1; tile++) {
        const int64_t r0 = tile * MM_ROWS;
        const int nw = (int)(rows - r0 < MM_ROWS ? rows - r0 : MM_ROWS);
        const int from_group = G && nw == 16 && k->panel_from_group[j->W->type];
        if (from_group) {  /* the set's layout straight from the group */
            const uint8_t *group = j->groups + r0 / G * G * j->row_bytes;
            if (rows16 && k->gemm_q8_group[j->W->type]) {  /* the set makes it as it multiplies */
                k->gemm_q8_group[j->W->type](group, (int)(r0 % G), pk, s->xq, xd, xs, j->T, j->Y + r0, rows, cols);
                continue;
            }
            k->panel_from_group[j->W->type](group, (int)(r0 % G), cols, pk);
        } else if (!j->groups && k->panel_rows[j->W->type]) {  /* or from the file's rows in one pass */
            k->panel_rows[j->W->type](base + r0 * j->row_bytes, j->row_bytes, nw, cols, pk);
        } else {
            for (int i = 0; i < nw; i++) {
                const uint8_t *row = base + (r0 + i) * j->row_bytes;
                if (j->groups) {  /* the row back from its group, in the file's layout */
                    row = (const uint8_t *)s->row_buf[thread];
                    l3_row_groups_unpack(j->W->type, G, j->groups + (r0 + i) / G * G * j->row_bytes, (int)((r0 + i) % G),
                                         cols, s->row_buf[thread]);
                }
                k->to_panel[j->W->type](row, u + i * cols, sc + i * cols / 4, mn + i * cols / 16, cols);
            }
            if (k->panel_pack) k->panel_pack(u, sc, mn, nw, cols, pk);
        }
        if (from_group || k->panel_pack)
            k->gemm_q8(pk, (const float *)(pk + 16 * cols), (const float *)(pk + 16 * cols) + cols, nw, s->xq, q2, xd,
                       xs, j->T, j->Y + r0, rows, cols);
        else
            k->gemm_q8(u, sc, mn, nw, s->xq, q2, xd, xs, j->T, j->Y + r0, rows, cols);
    }
}

void l3_cpu_matmul(const l3_kernel_set *k, const l3_tensor *W, const void *groups, const float *X, int T,
                   const uint8_t *one_level, float *Y, l3_scratch *s, l3_pool *pool) {
    matmul_job j = { W, groups, X, T, s->xq, s->xq2, W->cols, one_level, 0, Y, s, l3_row_bytes(W->type, W->cols), k };
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
            l3_cpu_matmul(k, W, groups, X, n_dec, NULL, Y, s, pool);
            l3_cpu_matmul(k, W, groups, X + (int64_t)n_dec * W->cols, T - n_dec, one_level + n_dec,
                          Y + (int64_t)n_dec * W->rows, s, pool);
            return;
        }
    }
    const int grouped = groups && q8 && k->dotn_q8_groups[W->type];
    /* rows that are all two-level (decoded tokens, however many) take the decode kernels: a
     * token decoded beside 20 others gets the bits it gets alone, and a step reads each weight
     * once for all of them where the tile path would unpack every weight again per step */
    int decode = T <= MM_DECODE_ROWS || !one_level;
    if (!decode) {
        int t = 0;
        while (t < T && !one_level[t]) t++;
        decode = t == T;
    }
    if (decode && grouped) {
        if (T > 1) {  /* a row's two levels side by side, MM_Q8_ROW_PAD after each (AMX loads both as one operand) */
            j.q2 = s->xq + W->cols + MM_Q8_ROW_PAD;
            j.ldq = 2 * (W->cols + MM_Q8_ROW_PAD);
        }
        if (T == 1) quantize_rows(&j, 0, 1, 0);  /* once, shared by every thread */
        else l3_parallel_for(pool, T, 4, quantize_rows, &j);
        const int G = k->group_rows[W->type];
        l3_parallel_for(pool, W->rows / G, (MM_DECODE_RUN + G - 1) / G, matmul_groups_q8, &j);
    } else if (T == 1 && q8 && k->dot_q8[W->type]) {
        quantize_rows(&j, 0, 1, 0);  /* once, shared by every thread */
        if (k->dotn_q8[W->type]) l3_parallel_for(pool, W->rows, MM_DECODE_RUN, matmul_vecn_q8, &j);
        else l3_parallel_for(pool, W->rows, 8, matmul_vec_q8, &j);
    } else if (T == 1 && W->type == L3_BF16 && k->dot_bf16_split) {
        k->split_bf16(X, s->x_bf16, s->x_bf16 + W->cols, W->cols);  /* once, shared by every thread */
        l3_parallel_for(pool, W->rows, 8, matmul_vec_bf16, &j);
    } else if (T == 1) {
        l3_parallel_for(pool, W->rows, 8, matmul_vec, &j);  /* (for one row, faster than float dotn) */
    } else if (decode && q8 && k->dotn_q8[W->type]) {
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
