/* Q4_1, Q5_0, Q5_1: blocks of 32 with an f16 scale (and an f16 min for the _1 types).
 * Element j of a block sits in the low nibble of byte j, element j+16 in the high nibble;
 * Q5 types keep the fifth bit of element j in bit j of the 32-bit qh.
 * The quantizers follow ggml's quantize_row_*_ref arithmetic step for step (same operations,
 * same order, same truncations), which is what makes them bit-exact. */
#include "quants/quants.h"

#include <float.h>
#include <math.h>
#include <string.h>
#include "tensor_types.h"

/* ---- Q4_1: x = d * q + m, q in 0..15 -------------------------------------------------- */

void l3_q4_1_to_float(const void *src, float *dst, int64_t n) {
    const l3_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / L3_QK4_1; i++, dst += L3_QK4_1) {
        float d = l3_f16_to_f32(b[i].d), m = l3_f16_to_f32(b[i].m);
        for (int j = 0; j < 16; j++) {
            dst[j] = (b[i].qs[j] & 0xf) * d + m;
            dst[j + 16] = (b[i].qs[j] >> 4) * d + m;
        }
    }
}

/* Block min and max of 32 values, as ggml scans them. */
static void min_max32(const float *x, float *min, float *max) {
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < 32; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *min = lo;
    *max = hi;
}

void l3_q4_1_from_float(const float *src, void *dst, int64_t n) {
    l3_block_q4_1 *b = dst;
    for (int64_t i = 0; i < n / L3_QK4_1; i++, src += L3_QK4_1) {
        float min, max;
        min_max32(src, &min, &max);
        const float d = (max - min) / 15, id = d ? 1.0f / d : 0.0f;
        b[i].d = l3_f32_to_f16(d);
        b[i].m = l3_f32_to_f16(min);
        for (int j = 0; j < 16; j++) {
            int q0 = (int)((src[j] - min) * id + 0.5f), q1 = (int)((src[j + 16] - min) * id + 0.5f);
            b[i].qs[j] = (uint8_t)((q0 > 15 ? 15 : q0) | (q1 > 15 ? 15 : q1) << 4);
        }
    }
}

float l3_q4_1_dot(const void *row, const float *x, int64_t n) {
    const l3_block_q4_1 *b = row;
    float s = 0;
    for (int64_t i = 0; i < n / L3_QK4_1; i++, x += L3_QK4_1) {
        float qx = 0, sx = 0;
        for (int j = 0; j < 16; j++) {
            qx += (b[i].qs[j] & 0xf) * x[j] + (b[i].qs[j] >> 4) * x[j + 16];
            sx += x[j] + x[j + 16];
        }
        s += qx * l3_f16_to_f32(b[i].d) + sx * l3_f16_to_f32(b[i].m);
    }
    return s;
}

/* ---- Q5_0: x = d * (q - 16), q in 0..31 ---------------------------------------------- */

static uint32_t load_qh(const uint8_t qh[4]) {
    uint32_t v;
    memcpy(&v, qh, 4);  /* little-endian, as in the file */
    return v;
}

/* The 5-bit value of element j (0..31) of a block. */
static int q5_value(const uint8_t *qs, uint32_t qh, int j) {
    int lo = j < 16 ? qs[j] & 0xf : qs[j - 16] >> 4;
    return lo | (int)((qh >> j) & 1) << 4;
}

void l3_q5_0_to_float(const void *src, float *dst, int64_t n) {
    const l3_block_q5_0 *b = src;
    for (int64_t i = 0; i < n / L3_QK5_0; i++, dst += L3_QK5_0) {
        float d = l3_f16_to_f32(b[i].d);
        uint32_t qh = load_qh(b[i].qh);
        for (int j = 0; j < 32; j++) dst[j] = (q5_value(b[i].qs, qh, j) - 16) * d;
    }
}

void l3_q5_0_from_float(const float *src, void *dst, int64_t n) {
    l3_block_q5_0 *b = dst;
    for (int64_t i = 0; i < n / L3_QK5_0; i++, src += L3_QK5_0) {
        float amax = 0, max = 0;  /* the value of largest magnitude, with its sign */
        for (int j = 0; j < 32; j++)
            if (amax < fabsf(src[j])) { amax = fabsf(src[j]); max = src[j]; }
        const float d = max / -16, id = d ? 1.0f / d : 0.0f;
        b[i].d = l3_f32_to_f16(d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = (int)(src[j] * id + 16.5f), q1 = (int)(src[j + 16] * id + 16.5f);
            if (q0 > 31) q0 = 31;
            if (q1 > 31) q1 = 31;
            b[i].qs[j] = (uint8_t)((q0 & 0xf) | (q1 & 0xf) << 4);
            qh |= (uint32_t)(q0 >> 4) << j | (uint32_t)(q1 >> 4) << (j + 16);
        }
        memcpy(b[i].qh, &qh, 4);
    }
}

float l3_q5_0_dot(const void *row, const float *x, int64_t n) {
    const l3_block_q5_0 *b = row;
    float s = 0;
    for (int64_t i = 0; i < n / L3_QK5_0; i++, x += L3_QK5_0) {
        uint32_t qh = load_qh(b[i].qh);
        float qx = 0;
        for (int j = 0; j < 32; j++) qx += (q5_value(b[i].qs, qh, j) - 16) * x[j];
        s += qx * l3_f16_to_f32(b[i].d);
    }
    return s;
}

/* ---- Q5_1: x = d * q + m, q in 0..31 -------------------------------------------------- */

void l3_q5_1_to_float(const void *src, float *dst, int64_t n) {
    const l3_block_q5_1 *b = src;
    for (int64_t i = 0; i < n / L3_QK5_1; i++, dst += L3_QK5_1) {
        float d = l3_f16_to_f32(b[i].d), m = l3_f16_to_f32(b[i].m);
        uint32_t qh = load_qh(b[i].qh);
        for (int j = 0; j < 32; j++) dst[j] = q5_value(b[i].qs, qh, j) * d + m;
    }
}

void l3_q5_1_from_float(const float *src, void *dst, int64_t n) {
    l3_block_q5_1 *b = dst;
    for (int64_t i = 0; i < n / L3_QK5_1; i++, src += L3_QK5_1) {
        float min, max;
        min_max32(src, &min, &max);
        const float d = (max - min) / 31, id = d ? 1.0f / d : 0.0f;
        b[i].d = l3_f32_to_f16(d);
        b[i].m = l3_f32_to_f16(min);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            /* ggml truncates to uint8 without clamping: (max - min) * id can round to 31.0x */
            uint8_t q0 = (uint8_t)((src[j] - min) * id + 0.5f), q1 = (uint8_t)((src[j + 16] - min) * id + 0.5f);
            b[i].qs[j] = (uint8_t)((q0 & 0xf) | (q1 & 0xf) << 4);
            qh |= (uint32_t)((q0 & 0x10) >> 4) << j | (uint32_t)((q1 & 0x10) >> 4) << (j + 16);
        }
        memcpy(b[i].qh, &qh, 4);
    }
}

float l3_q5_1_dot(const void *row, const float *x, int64_t n) {
    const l3_block_q5_1 *b = row;
    float s = 0;
    for (int64_t i = 0; i < n / L3_QK5_1; i++, x += L3_QK5_1) {
        uint32_t qh = load_qh(b[i].qh);
        float qx = 0, sx = 0;
        for (int j = 0; j < 32; j++) {
            qx += q5_value(b[i].qs, qh, j) * x[j];
            sx += x[j];
        }
        s += qx * l3_f16_to_f32(b[i].d) + sx * l3_f16_to_f32(b[i].m);
    }
    return s;
}
