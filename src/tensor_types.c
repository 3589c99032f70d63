/* The type table: scalar reference conversions for every weight type. Fast kernels live in
 * kernels/ and are tested against these. */
#include "tensor_types.h"

#include <math.h>
#include <string.h>
#include "quants/quants.h"

/* ---- half precision ------------------------------------------------------------------- */

float l3_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    union { uint32_t u; float f; } v;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24 */
        float f = (float)mant * (1.0f / 16777216.0f);
        return sign ? -f : f;
    }
    if (exp == 31) v.u = sign | 0x7f800000u | (mant << 13);
    else v.u = sign | ((exp + 112) << 23) | (mant << 13);
    return v.f;
}

uint16_t l3_f32_to_f16(float f) {
    union { float f; uint32_t u; } v = { f };
    uint32_t sign = (v.u >> 16) & 0x8000;
    uint32_t abs = v.u & 0x7fffffff;
    if (abs >= 0x7f800000u) /* inf / nan */
        return (uint16_t)(sign | 0x7c00 | (abs > 0x7f800000u ? 0x200 : 0));
    if (abs >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds to inf */
    if (abs < 0x38800000u) {
        /* subnormal half: value / 2^-24, rounded to nearest even by the FPU */
        union { uint32_t u; float f; } a = { abs };
        float scaled = a.f * 16777216.0f;
        uint32_t m = (uint32_t)scaled;
        float rem = scaled - (float)m;
        if (rem > 0.5f || (rem == 0.5f && (m & 1))) m++;
        return (uint16_t)(sign | m);
    }
    uint32_t exp = (abs >> 23) - 112, mant = abs & 0x7fffff;
    uint32_t h = (exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

uint16_t l3_f32_to_bf16(float f) {
    union { float f; uint32_t u; } v = { f };
    if ((v.u & 0x7fffffff) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 64); /* quiet NaN */
    return (uint16_t)((v.u + (0x7fff + ((v.u >> 16) & 1))) >> 16);
}

/* ---- plain floats --------------------------------------------------------------------- */

static void f32_to_float(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * 4); }
static void f32_from_float(const float *src, void *dst, int64_t n) { memcpy(dst, src, (size_t)n * 4); }
static float f32_dot(const void *row, const float *x, int64_t n) {
    const float *w = row;
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += w[i] * x[i];
    return s;
}

static void f16_to_float(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = l3_f16_to_f32(h[i]);
}
static void f16_from_float(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = l3_f32_to_f16(src[i]);
}
static float f16_dot(const void *row, const float *x, int64_t n) {
    const uint16_t *h = row;
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += l3_f16_to_f32(h[i]) * x[i];
    return s;
}

static void bf16_to_float(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = l3_bf16_to_f32(h[i]);
}
static void bf16_from_float(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = l3_f32_to_bf16(src[i]);
}
static float bf16_dot(const void *row, const float *x, int64_t n) {
    const uint16_t *h = row;
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += l3_bf16_to_f32(h[i]) * x[i];
    return s;
}

/* ---- Q8_0: blocks of 32 int8 with one f16 scale (amax / 127) -------------------------- */

static void q8_0_to_float(const void *src, float *dst, int64_t n) {
    const l3_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / L3_QK8_0; i++) {
        float d = l3_f16_to_f32(b[i].d);
        for (int j = 0; j < L3_QK8_0; j++) dst[i * L3_QK8_0 + j] = d * b[i].qs[j];
    }
}
static void q8_0_from_float(const float *src, void *dst, int64_t n) {
    l3_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / L3_QK8_0; i++) {
        const float *x = src + i * L3_QK8_0;
        float amax = 0;
        for (int j = 0; j < L3_QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        b[i].d = l3_f32_to_f16(d);
        for (int j = 0; j < L3_QK8_0; j++) b[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}
static float q8_0_dot(const void *row, const float *x, int64_t n) {
    const l3_block_q8_0 *b = row;
    float s = 0;
    for (int64_t i = 0; i < n / L3_QK8_0; i++) {
        float bs = 0;
        for (int j = 0; j < L3_QK8_0; j++) bs += b[i].qs[j] * x[i * L3_QK8_0 + j];
        s += bs * l3_f16_to_f32(b[i].d);
    }
    return s;
}

/* ---- Q4_0: blocks of 32 4-bit values (offset 8), element j in the low nibble of byte j,
 *      element j+16 in the high nibble; scale = signed max / -8 -------------------------- */

static void q4_0_to_float(const void *src, float *dst, int64_t n) {
    const l3_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / L3_QK4_0; i++) {
        float d = l3_f16_to_f32(b[i].d);
        for (int j = 0; j < L3_QK4_0 / 2; j++) {
            dst[i * L3_QK4_0 + j] = d * ((b[i].qs[j] & 0x0f) - 8);
            dst[i * L3_QK4_0 + j + 16] = d * ((b[i].qs[j] >> 4) - 8);
        }
    }
}
static void q4_0_from_float(const float *src, void *dst, int64_t n) {
    l3_block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / L3_QK4_0; i++) {
        const float *x = src + i * L3_QK4_0;
        float amax = 0, max = 0;
        for (int j = 0; j < L3_QK4_0; j++)
            if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
        float d = max / -8.0f, id = d ? 1.0f / d : 0.0f;
        b[i].d = l3_f32_to_f16(d);
        for (int j = 0; j < L3_QK4_0 / 2; j++) {
            int q0 = (int)(int8_t)(x[j] * id + 8.5f), q1 = (int)(int8_t)(x[j + 16] * id + 8.5f);
            if (q0 > 15) q0 = 15;
            if (q1 > 15) q1 = 15;
            b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}
static float q4_0_dot(const void *row, const float *x, int64_t n) {
    const l3_block_q4_0 *b = row;
    float s = 0;
    for (int64_t i = 0; i < n / L3_QK4_0; i++) {
        const float *xb = x + i * L3_QK4_0;
        float bs = 0;
        for (int j = 0; j < L3_QK4_0 / 2; j++)
            bs += ((b[i].qs[j] & 0x0f) - 8) * xb[j] + ((b[i].qs[j] >> 4) - 8) * xb[j + 16];
        s += bs * l3_f16_to_f32(b[i].d);
    }
    return s;
}

/* ---- the table ------------------------------------------------------------------------ */

static const l3_type_info TYPES[L3_TYPE_COUNT] = {
    [L3_F32] = { "f32", 1, 4, f32_to_float, f32_from_float, f32_dot },
    [L3_F16] = { "f16", 1, 2, f16_to_float, f16_from_float, f16_dot },
    [L3_BF16] = { "bf16", 1, 2, bf16_to_float, bf16_from_float, bf16_dot },
    [L3_Q8_0] = { "q8_0", L3_QK8_0, sizeof(l3_block_q8_0), q8_0_to_float, q8_0_from_float, q8_0_dot },
    [L3_Q4_0] = { "q4_0", L3_QK4_0, sizeof(l3_block_q4_0), q4_0_to_float, q4_0_from_float, q4_0_dot },
    [L3_Q4_1] = { "q4_1", L3_QK4_1, sizeof(l3_block_q4_1), l3_q4_1_to_float, l3_q4_1_from_float, l3_q4_1_dot },
    [L3_Q5_0] = { "q5_0", L3_QK5_0, sizeof(l3_block_q5_0), l3_q5_0_to_float, l3_q5_0_from_float, l3_q5_0_dot },
    [L3_Q5_1] = { "q5_1", L3_QK5_1, sizeof(l3_block_q5_1), l3_q5_1_to_float, l3_q5_1_from_float, l3_q5_1_dot },
    [L3_Q4_K] = { "q4_K", L3_QK_K, sizeof(l3_block_q4_K), l3_q4_K_to_float, l3_q4_K_from_float, l3_q4_K_dot },
    [L3_Q5_K] = { "q5_K", L3_QK_K, sizeof(l3_block_q5_K), l3_q5_K_to_float, l3_q5_K_from_float, l3_q5_K_dot },
    [L3_Q6_K] = { "q6_K", L3_QK_K, sizeof(l3_block_q6_K), l3_q6_K_to_float, l3_q6_K_from_float, l3_q6_K_dot },
    [L3_Q8_K] = { "q8_K", L3_QK_K, sizeof(l3_block_q8_K), l3_q8_K_to_float, l3_q8_K_from_float, l3_q8_K_dot },
};

const l3_type_info *l3_type_get(uint32_t type) {
    if (type >= L3_TYPE_COUNT) return NULL;
    return TYPES[type].name ? &TYPES[type] : NULL;
}

const char *l3_type_name(uint32_t type) {
    const l3_type_info *t = l3_type_get(type);
    return t ? t->name : "unknown";
}

int l3_type_from_name(const char *name) {
    for (int i = 0; i < L3_TYPE_COUNT; i++) {
        const l3_type_info *t = l3_type_get((uint32_t)i);
        if (t && strcasecmp(t->name, name) == 0) return i;  /* "q4_k" names q4_K too */
    }
    return -1;
}

size_t l3_row_bytes(uint32_t type, int64_t n) {
    const l3_type_info *t = l3_type_get(type);
    if (!t || n % t->block) return 0;
    return (size_t)(n / t->block) * t->block_bytes;
}
