/* The CPU backend's buffers for one pass: activations, per-thread panels and attention
 * scores, and the 8-bit activation rows of a matmul. */
#ifndef LLAMA3_CPU_SCRATCH_H
#define LLAMA3_CPU_SCRATCH_H

#include <stddef.h>
#include <stdint.h>
#include "llama3.h"

/* Scratch for one forward pass of up to max_rows rows (activations are [rows x width]). */
typedef struct l3_scratch {
    int max_rows;
    float *x, *xb, *q, *k, *v, *att, *h1, *h3;
    float *rope_cs;    /* per row: cos, sin of each RoPE pair at the row's position */
    int n_threads;
    float **row_buf;   /* per thread: a widened weight row or the prefill weight panel (l3_cpu_matmul) */
    float **scores;    /* per thread: attention scores (n_ctx floats) */
    /* 8-bit activations of a matmul's input rows (kernels.h's layout: values, scales, sums) */
    int8_t *xq, *xq2;  /* the two levels (xq2: the second half of xq's allocation, so that a
                        * product may also lay a row's two levels side by side in xq) */
    float *xd, *xs;
    float *xd16, *xs16;  /* one-level rows' d and s again, interleaved by 16 rows (kernels.h gemm_q8_rows16) */
    uint8_t **panel8;  /* per thread: a prefill tile of weight rows unpacked to 8 bits */
    uint8_t *out_one_level;  /* the one_level flags of the logits rows */
    uint16_t *x_bf16;        /* a decoded row split into bf16 halves (hi, then lo) */
    /* attention split over positions (attention.c; NULL when n_ctx is too short to split):
     * per row, its index among the split rows of the pass or -1; the split rows; and the
     * partial results of L3_ATT_SPLIT_ROWS rows at a time */
    int *split_of, *split_rows;
    float *att_part;
} l3_scratch;

/* Attention of a decoded row with at least L3_ATT_SPLIT_MIN positions is split into chunks
 * of its positions, at least L3_ATT_CHUNK_MIN each and at most L3_ATT_MAX_CHUNKS (a function
 * of the row's own position count only); L3_ATT_SPLIT_ROWS such rows are done at a time. */
#define L3_ATT_SPLIT_MIN 1024
#define L3_ATT_CHUNK_MIN 256
#define L3_ATT_MAX_CHUNKS 16
#define L3_ATT_SPLIT_ROWS 8
/* floats of att_part: per (row, KV head, chunk), the group's outputs, maxima and sums */
#define L3_ATT_PART_FLOATS(a) \
    ((size_t)L3_ATT_SPLIT_ROWS * (a)->n_kv_heads * L3_ATT_MAX_CHUNKS * ((size_t)(a)->n_heads / (a)->n_kv_heads) * ((a)->head_dim + 2))

int l3_scratch_init(l3_scratch *s, const llama3_args *a, int max_rows, int n_ctx, int n_threads);
void l3_scratch_free(l3_scratch *s);
size_t l3_scratch_bytes(const l3_scratch *s, const llama3_args *a, int n_ctx);
/* What l3_scratch_init allocates for these sizes (to check against a cap first). */
size_t l3_scratch_size(const llama3_args *a, int max_rows, int n_ctx, int n_threads);

#endif
