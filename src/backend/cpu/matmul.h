/* The CPU matrix product (matmul.c): Y = X . W^T for any weight type, over the thread pool. */
#ifndef LLAMA3_CPU_MATMUL_H
#define LLAMA3_CPU_MATMUL_H

#include "backend/cpu/kernels/kernels.h"
#include "backend/cpu/scratch.h"
#include "model/weights.h"
#include "threads.h"

#define MM_ROWS 16
/* up to this many rows (a step of batched decode), types with a dotn_q8 kernel multiply each
 * weight row with every activation row in registers, with dot_q8's arithmetic (no panel);
 * past 8 rows the panel's tile product is as fast or faster (1B model, T = 16) */
#define MM_DECODE_ROWS 8
/* float weights: up to this many rows take dotn (8 activation rows per pass over a run of
 * weight rows, the later passes from cache) rather than widening and packing every weight
 * for the tile product, which costs more than it saves for so few rows (BENCHMARKS.md) */
#define MM_DOTN_ROWS 48
#define MM_DECODE_RUN 24  /* weight rows per dotn_q8 / dotn call; decode's thread shares split at whole runs */
/* bytes added to the stride of the 8-bit activation rows a batched step hands the row-group
 * kernels: at a stride of n (a multiple of 4 KiB in the feed-forward's 8192) every row's
 * values fall in the same L1 sets, 16 streams in 12 ways (8 rows, n = 8192: 1.3x for Q4_K) */
#define MM_Q8_ROW_PAD 64
#define MM_KC 2048    /* long slices: the AVX-512 f32 tile product runs faster the longer its panel */
#define MM_FROWS L3_PACK_F32_ROWS
#define MM_PANEL (2 * MM_FROWS * MM_KC)  /* the widened rows, then the kernel set's packed panel */
/* bytes of an 8-bit panel of MM_ROWS rows of n values: values, lane scales, sixteens' terms */
#define MM_PANEL8_BYTES(n) ((size_t)MM_ROWS * ((size_t)(n) + (size_t)(n) / 4 * sizeof(float) + (size_t)(n) / 16 * sizeof(float)) + \
                            L3_PACK16_BYTES(n))

/* Y[T x W.rows] = X[T x W.cols] . W^T with kernel set k (threads over rows of W). groups: W's
 * rows rewritten into k's groups (kernels.h group_rows; the CPU model makes them), taken by
 * decode and prefill where W's rows are a multiple of the group, or NULL. one_level
 * (per row, or NULL): rows whose 8-bit activations keep only the first level (kernels.h).
 * A row's numbers do not depend on the other rows' values; its path depends on the row count
 * (matmul.c), except that with 8-bit kernels decoded tokens listed before prompt rows run as
 * their own product, so they get what they get without the prompt rows. */
void l3_cpu_matmul(const l3_kernel_set *k, const l3_tensor *W, const void *groups, const float *X, int T,
                   const uint8_t *one_level, float *Y, l3_scratch *s, l3_pool *pool);

#endif
