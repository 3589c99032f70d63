/* Weight element types: one row in a table per type (block size, bytes, conversions, dot).
 * Type ids are GGUF's (ggml_type), so a GGUF tensor's type needs no translation.
 * Adding a type = adding a row in tensor_types.c (and, for speed, kernels in kernels/). */
#ifndef LLAMA3_TENSOR_TYPES_H
#define LLAMA3_TENSOR_TYPES_H

#include <stddef.h>
#include <stdint.h>

typedef enum l3_type {
    L3_F32 = 0, L3_F16 = 1, L3_Q4_0 = 2, L3_Q4_1 = 3, L3_Q5_0 = 6, L3_Q5_1 = 7,
    L3_Q8_0 = 8, L3_Q8_1 = 9, L3_Q2_K = 10, L3_Q3_K = 11, L3_Q4_K = 12, L3_Q5_K = 13,
    L3_Q6_K = 14, L3_Q8_K = 15, L3_BF16 = 30,
    L3_TYPE_COUNT = 40
} l3_type;

typedef struct l3_type_info {
    const char *name;      /* "q8_0" */
    int block;             /* elements per block (1 for plain floats) */
    size_t block_bytes;    /* bytes per block */
    /* Row conversions; n is a multiple of block. */
    void (*to_float)(const void *src, float *dst, int64_t n);
    void (*from_float)(const float *src, void *dst, int64_t n);  /* reference quantizer */
    /* dot(row of this type, f32 vector), n a multiple of block: the scalar reference. */
    float (*dot_f32)(const void *row, const float *x, int64_t n);
} l3_type_info;

/* NULL for an id we cannot compute with. */
const l3_type_info *l3_type_get(uint32_t type);
const char *l3_type_name(uint32_t type);
/* Parse "q8_0", "bf16", ... ; -1 if unknown. */
int l3_type_from_name(const char *name);
/* Bytes of a row of n elements; 0 if n is not a multiple of the block. */
size_t l3_row_bytes(uint32_t type, int64_t n);

/* Half-precision helpers shared by kernels and formats. */
float l3_f16_to_f32(uint16_t h);
uint16_t l3_f32_to_f16(float f);  /* round to nearest even, like ggml / numpy */
static inline float l3_bf16_to_f32(uint16_t h) {
    union { uint32_t u; float f; } v = { .u = (uint32_t)h << 16 };
    return v.f;
}
uint16_t l3_f32_to_bf16(float f);  /* round to nearest even, NaN kept quiet */

/* Block layouts (identical to ggml's, so files map directly). */
#define L3_QK8_0 32
typedef struct { uint16_t d; int8_t qs[L3_QK8_0]; } l3_block_q8_0;
#define L3_QK4_0 32
typedef struct { uint16_t d; uint8_t qs[L3_QK4_0 / 2]; } l3_block_q4_0;

#endif
