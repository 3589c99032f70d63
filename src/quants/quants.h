/* Block layouts and reference conversions for the ggml "legacy" (Q4_1, Q5_0, Q5_1) and
 * k-quant (Q4_K, Q5_K, Q6_K, Q8_K) weight types. Layouts are byte-identical to ggml's so GGUF
 * tensors map directly; the quantizers reproduce ggml's reference quantizers
 * (quantize_row_*_ref) bit for bit, so `llama3 quantize` writes what llama.cpp would. */
#ifndef LLAMA3_QUANTS_H
#define LLAMA3_QUANTS_H

#include <stdint.h>

#define L3_QK4_1 32
typedef struct { uint16_t d, m; uint8_t qs[L3_QK4_1 / 2]; } l3_block_q4_1;
#define L3_QK5_0 32
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[L3_QK5_0 / 2]; } l3_block_q5_0;
#define L3_QK5_1 32
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[L3_QK5_1 / 2]; } l3_block_q5_1;

/* k-quants: super-blocks of 256. */
#define L3_QK_K 256
/* 8 sub-blocks of 32, each with a 6-bit scale and 6-bit min packed in scales[12]. */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[L3_QK_K / 2]; } l3_block_q4_K;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[L3_QK_K / 8]; uint8_t qs[L3_QK_K / 2]; } l3_block_q5_K;
/* 16 sub-blocks of 16 with int8 scales; 6-bit values, low 4 bits in ql, high 2 in qh. */
typedef struct { uint8_t ql[L3_QK_K / 2]; uint8_t qh[L3_QK_K / 4]; int8_t scales[L3_QK_K / 16]; uint16_t d; } l3_block_q6_K;
/* Activation type of the k-quant family: f32 scale, int8 values, sums of each 16. */
typedef struct { float d; int8_t qs[L3_QK_K]; int16_t bsums[L3_QK_K / 16]; } l3_block_q8_K;

/* Scale and min (6 bits each) of sub-block j of a Q4_K / Q5_K super-block. */
static inline void l3_k4_scale_min(int j, const uint8_t *s, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4));
        *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

/* legacy_quants.c */
void l3_q4_1_to_float(const void *src, float *dst, int64_t n);
void l3_q4_1_from_float(const float *src, void *dst, int64_t n);
float l3_q4_1_dot(const void *row, const float *x, int64_t n);
void l3_q5_0_to_float(const void *src, float *dst, int64_t n);
void l3_q5_0_from_float(const float *src, void *dst, int64_t n);
float l3_q5_0_dot(const void *row, const float *x, int64_t n);
void l3_q5_1_to_float(const void *src, float *dst, int64_t n);
void l3_q5_1_from_float(const float *src, void *dst, int64_t n);
float l3_q5_1_dot(const void *row, const float *x, int64_t n);

/* k_quants.c */
void l3_q4_K_to_float(const void *src, float *dst, int64_t n);
void l3_q4_K_from_float(const float *src, void *dst, int64_t n);
float l3_q4_K_dot(const void *row, const float *x, int64_t n);
void l3_q5_K_to_float(const void *src, float *dst, int64_t n);
void l3_q5_K_from_float(const float *src, void *dst, int64_t n);
float l3_q5_K_dot(const void *row, const float *x, int64_t n);
void l3_q6_K_to_float(const void *src, float *dst, int64_t n);
void l3_q6_K_from_float(const float *src, void *dst, int64_t n);
float l3_q6_K_dot(const void *row, const float *x, int64_t n);
void l3_q8_K_to_float(const void *src, float *dst, int64_t n);
void l3_q8_K_from_float(const float *src, void *dst, int64_t n);
float l3_q8_K_dot(const void *row, const float *x, int64_t n);

#endif
