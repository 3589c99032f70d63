/* Compute kernels, one set per instruction-set level, chosen once at start-up from the CPU's
 * features (or forced with LLAMA3_ISA=scalar|avx2|avx512 for testing). Every set is tested
 * against the scalar set, which is the reference. */
#ifndef LLAMA3_KERNELS_H
#define LLAMA3_KERNELS_H

#include <stdint.h>
#include "tensor_types.h"

typedef struct l3_kernel_set {
    const char *isa;
    /* dot(weight row of type t, f32 vector) over n elements (n a multiple of the block). */
    float (*dot[L3_TYPE_COUNT])(const void *row, const float *x, int64_t n);
    /* widen a weight row to f32 (for matrix-matrix products and embeddings). */
    void (*to_float[L3_TYPE_COUNT])(const void *row, float *out, int64_t n);
    /* plain f32 dot product and y += a * x, used by attention and the f32 matmul path. */
    float (*dot_f32)(const float *a, const float *b, int64_t n);
    void (*axpy_f32)(float a, const float *x, float *y, int64_t n);
    /* attention over an f16 KV cache */
    float (*dot_f16_f32)(const uint16_t *a, const float *b, int64_t n);
    void (*axpy_f16)(float a, const uint16_t *x, float *y, int64_t n);
    /* Tile product for prefill: y[j*ldy + i] += dot(w + i*ldw, x + j*ldx) over n elements,
     * for nw weight rows (already widened to f32) and nx activation rows (any counts). */
    void (*gemm_f32)(const float *w, int64_t ldw, int nw, const float *x, int64_t ldx, int nx,
                     float *y, int64_t ldy, int64_t n);
} l3_kernel_set;

const l3_kernel_set *l3_kernels(void);
/* Force a set by name; returns 0, or -1 if unknown or unsupported by this CPU. */
int l3_kernels_select(const char *isa);
/* Sets this CPU supports, best last (for tests that run every path). */
int l3_kernels_available(const char **names, int cap);

/* Per-ISA constructors (NULL when not compiled in or not supported by the CPU). */
void l3_kernels_init_scalar(l3_kernel_set *k);
int l3_kernels_init_avx2(l3_kernel_set *k);    /* returns 0 if unavailable */
int l3_kernels_init_avx512(l3_kernel_set *k);

#endif
