/* Compute kernels of the CPU backend, one set per instruction-set level, chosen once at
 * start-up from the CPU's features (or forced with LLAMA3_ISA, e.g. scalar|avx2|avx2vnni|avx512|amx
 * on x86). Every set is tested against the scalar set, which is the reference. The sets of
 * each architecture live in its own folder (x86/, arm/) with its own feature probe. */
#ifndef LLAMA3_KERNELS_H
#define LLAMA3_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include "tensor_types.h"

/* Register-blocked micro-kernels keep their accumulators in registers only when the loops
 * over the block are fully unrolled, which -O2 does not do by itself (GCC and clang). Clang
 * takes its own spelling: it accepts GCC's but left loops inside macros rolled, with their
 * arrays on the stack (the AVX-512 Q4_0 group tile ran at a third of GCC's speed). Fuzzing
 * builds keep GCC's: under the fuzzers' sanitizers the unrolled kernels took clang 7 minutes
 * a file (3 with GCC's spelling), and their speed does not matter there. */
#if defined(__clang__) && !defined(FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
#define L3_UNROLL _Pragma("unroll")
#else
#define L3_UNROLL _Pragma("GCC unroll 16")
#endif

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
    /* attention over an f16 KV cache for the G query heads that share one KV head (head
     * dimension hd a multiple of 16; NULL: per head through dot_f16_f32 and axpy_f16):
     * scores: s[g*ld + p] = dot(q + g*hd, k + p*kst) for p < np;
     * values: out[g*hd + e] = sum over p < np of w[g*ld + p] * v[p*vst + e] */
    void (*attn_scores_f16)(const uint16_t *k, int64_t kst, int np, const float *q, int G, int hd, float *s,
                            int64_t ld);
    void (*attn_values_f16)(const uint16_t *v, int64_t vst, int np, const float *w, int64_t ld, int G, int hd,
                            float *out);
    /* s = softmax(s * scale) over n positions, in place (attention weights) */
    void (*softmax)(float *s, int n, float scale);
    /* attention over a Q8_0 KV cache: keys through dot[L3_Q8_0]; values y += a * x for x a
     * row of n / 32 l3_block_q8_0 (n a multiple of 32) */
    void (*axpy_q8_0)(float a, const void *x, float *y, int64_t n);
    /* Tile product for prefill: y[j*ldy + i] += dot(w + i*ldw, x + j*ldx) over n elements,
     * for nw weight rows (already widened to f32) and nx activation rows (any counts). */
    void (*gemm_f32)(const float *w, int64_t ldw, int nw, const float *x, int64_t ldx, int nx,
                     float *y, int64_t ldy, int64_t n);
    /* Optional (NULL: gemm_f32 on the rows): the set's own prefill layout for float rows.
     * pack_f32 widens and rearranges nw <= L3_PACK_F32_ROWS rows of n values of type t
     * (L3_F32, L3_F16 or L3_BF16; row i at w + i*ldw bytes) into out (L3_PACK_F32_ROWS * n
     * floats); gemm_f32_packed then adds what gemm_f32 adds (y[j*ldy + i] += dot(row i,
     * x + j*ldx) over n, for i < nw and j < nx) from that panel. */
    void (*pack_f32)(int t, const void *w, size_t ldw, int nw, int64_t n, float *out);
    void (*gemm_f32_packed)(const float *panel, int nw, const float *x, int64_t ldx, int nx, float *y, int64_t ldy,
                            int64_t n);

    /* Optional decode path for BF16 weights (NULL: dot[L3_BF16]): the activation row split once
     * into two bf16 halves, x ~ hi[e] + lo[e] (16 significant bits, about 4e-6 relative), then
     * dot(row, x) as bf16 pair products (vdpbf16ps): no widening of the weights, half the
     * instructions per byte, so more of the row is in flight at once. n any. */
    void (*split_bf16)(const float *x, uint16_t *hi, uint16_t *lo, int64_t n);
    float (*dot_bf16_split)(const void *row, const uint16_t *hi, const uint16_t *lo, int64_t n);
    /* batched decode with float weights (F32, F16, BF16): y[j*ldy + i] = dot(weight row i,
     * x + j*n) for nw weight rows (at rows + i*row_bytes) and nx f32 activation rows of n
     * values, each 16 weights widened once in registers for every activation row. NULL: the
     * tile path. */
    void (*dotn[L3_TYPE_COUNT])(const void *rows, size_t row_bytes, int nw, const float *x, int nx, float *y,
                                int64_t ldy, int64_t n);

    /* ---- 8-bit activations (integer dot products) ----
     * An activation row of n values (n a multiple of 32) quantized once per matmul, per block
     * of 32 with an f32 scale d[n/32]: q[n] int8 = round(x / d), d = amax / 127; or, with a
     * second int8 array q2 (what l3_cpu_matmul uses: one level costs about 1e-2 relative error in
     * the logits), a 16-bit value split in two: x ~ d * (256 q + q2), d = amax / 127 / 256,
     * q2 the rounded residual. s[n/16] are
     * the f32 sums of each 16 x (what weight offsets and mins multiply). Row j of a matrix
     * sits at q + j*n, d + j*n/32, s + j*n/16. */
    void (*quantize_q8)(const float *x, int8_t *q, int8_t *q2, float *d, float *s, int64_t n);
    /* decode: dot(weight row, two-level activation row); NULL: no integer path for the type */
    float (*dot_q8[L3_TYPE_COUNT])(const void *row, const int8_t *q, const int8_t *q2, const float *d,
                                   const float *s, int64_t n);
    /* batched decode: y[j*ldy + i] = dot_q8[t](weight row i, activation row j) for nw weight rows
     * (at rows + i*row_bytes) and nx two-level activation rows (the layout above), each
     * result bit-identical to dot_q8's, the weights unpacked once for all activation rows.
     * Decode (nx = 1) goes through it too where it exists (several weight rows per call:
     * independent accumulator chains). NULL: dot_q8 per row, and the panel tile product for
     * a few rows. */
    void (*dotn_q8[L3_TYPE_COUNT])(const void *rows, size_t row_bytes, int nw, const int8_t *q, const int8_t *q2,
                                   const float *d, const float *s, int nx, float *y, int64_t ldy, int64_t n);
    /* Optional decode path on weight rows the CPU backend rewrites at load into groups of
     * group_rows[t] = G rows (row_groups.h; 0: none), where a matrix's rows are a multiple of
     * G: y[j*ldy + i] = dot(row i, activation row j) for the ng*G rows of ng consecutive groups
     * and nx two-level activation rows (the layout above, but with the values of row j at
     * q + j*ldq and q2 + j*ldq, ldq >= n: l3_cpu_matmul pads several rows' stride so that rows
     * a multiple of 4 KiB apart do not all fall in the same L1 sets), with the set's own
     * arithmetic (not dot_q8's bits) but the same operations on every (row, activation row)
     * pair whatever nx is: a row decoded in a batch gets the bits it gets alone. */
    int group_rows[L3_TYPE_COUNT];
    void (*dotn_q8_groups[L3_TYPE_COUNT])(const void *groups, int ng, const int8_t *q, const int8_t *q2,
                                          int64_t ldq, const float *d, const float *s, int nx, float *y, int64_t ldy,
                                          int64_t n);
    /* prefill: a weight row unpacked to a panel row: u[n] unsigned 8-bit values, sc[n/32 * 8]
     * the f32 scale of each of the 8 int32 lanes of a 32-value dot product (4 values per
     * lane), mn[n/16] what each 16's activation sum is multiplied by and subtracted:
     * w[e] = sc[lane(e)] * u[e] - mn[e / 16]. NULL: no integer prefill for the type. */
    void (*to_panel[L3_TYPE_COUNT])(const void *row, uint8_t *u, float *sc, float *mn, int64_t n);
    /* Optional (NULL: gemm_q8 reads the row panel): rearranges a tile of nw <= 16 panel rows
     * (to_panel's layout) into out (L3_PACK16_BYTES(n)) for gemm_q8, which then gets
     * u = out, sc = out + 16n bytes, mn = sc + n (see avx512.c). */
    void (*panel_pack)(const uint8_t *u, const float *sc, const float *mn, int nw, int64_t n, uint8_t *out);
    /* Optional (NULL: to_panel per row, then panel_pack): panel_pack's output for the nw <= 16
     * rows of type t in the file's layout at rows + i*row_bytes, made in one pass */
    void (*panel_rows[L3_TYPE_COUNT])(const void *rows, size_t row_bytes, int nw, int64_t n, uint8_t *out);
    /* Optional (NULL: each row unpacked from its group, to_panel, then panel_pack): panel_pack's
     * output for the 16 rows r0..r0 + 15 (r0 a multiple of 16) of a group of group_rows[t] rows
     * of type t (row_groups.h), made straight from the group */
    void (*panel_from_group[L3_TYPE_COUNT])(const uint8_t *group, int r0, int64_t n, uint8_t *out);
    /* Optional (NULL: panel_from_group, then gemm_q8): gemm_q8 for one-level rows (d and s in
     * gemm_q8_rows16's layout) by the 16 rows r0..r0 + 15 of a group of type t, with the bits
     * gemm_q8 gives on panel_from_group's panel, which it may make in work (L3_PACK16_BYTES(n)
     * bytes) as it goes */
    void (*gemm_q8_group[L3_TYPE_COUNT])(const uint8_t *group, int r0, uint8_t *work, const int8_t *q, const float *d,
                                         const float *s, int nx, float *y, int64_t ldy, int64_t n);
    /* y[j*ldy + i] = dot(panel row i, activation row j) for nw panel rows (rows of n values,
     * stored at u + i*n, sc + i*n/4, mn + i*n/16, or packed by panel_pack) and nx two-level
     * activation rows, or one-level rows (q2 NULL, d = amax / 127: half the integer work);
     * only for panels of the types this set has to_panel for. A set may take part of a
     * panel's offset from the quantized activation itself instead of s (plain AVX2, where some
     * u > 128: Q8_0's panels, u - 128 as signed bytes): the same result where s are the sums
     * of the values q and q2 stand for, and where they are the unquantized sums (l3_cpu_matmul)
     * the weights' own product with the quantized values. */
    void (*gemm_q8)(const uint8_t *u, const float *sc, const float *mn, int nw, const int8_t *q, const int8_t *q2,
                    const float *d, const float *s, int nx, float *y, int64_t ldy, int64_t n);
    /* 1 where gemm_q8 takes one-level rows' (q2 NULL) scales d and sums s interleaved by 16
     * rows, the row fastest (L3_ROWS16 below: a tile of 16 rows reads each block's 16 values
     * from one place), as l3_cpu_matmul then writes them beside kernels.h's layout */
    int gemm_q8_rows16;
    /* whether l3_cpu_matmul takes the 8-bit paths (off in the scalar reference set, and with
     * LLAMA3_INT8=0) */
    int use_q8;
} l3_kernel_set;

/* where row j's value k of a per-row array of `per_row` values (d: n / 32, s: n / 16) sits in
 * gemm_q8_rows16's layout (rows padded to a multiple of 16) */
#define L3_ROWS16(j, k, per_row) (((size_t)(j) / 16 * (size_t)(per_row) + (size_t)(k)) * 16 + (size_t)(j) % 16)

/* rows in a pack_f32 panel */
#define L3_PACK_F32_ROWS 32
/* bytes panel_pack writes for a tile of 16 rows of n values */
#define L3_PACK16_BYTES(n) ((size_t)(n) * (16 + 2 * sizeof(float)) + 64)

const l3_kernel_set *l3_kernels(void);
/* Force a set by name; returns 0, or -1 if unknown or unsupported by this CPU. */
int l3_kernels_select(const char *isa);
/* Sets this CPU supports, best last (for tests that run every path): fills up to cap names
 * and returns how many there are (which may be more than cap). */
int l3_kernels_available(const char **names, int cap);

/* The reference set: plain C, every type. */
void l3_kernels_init_scalar(l3_kernel_set *k);

/* A faster set of one architecture: init overrides what it implements in a copy of the set
 * below it, and returns 0 when this CPU cannot run it. */
typedef struct l3_kernel_tier {
    const char *name;
    int (*init)(l3_kernel_set *k);
} l3_kernel_tier;
/* The faster sets of the architecture this build targets, slowest first (<arch>/sets.c);
 * *n receives their number. */
const l3_kernel_tier *l3_arch_kernel_tiers(int *n);
/* The architecture's probed features the sets are chosen from, space-separated (for info). */
void l3_arch_cpu_features(char *buf, size_t cap);

#endif
