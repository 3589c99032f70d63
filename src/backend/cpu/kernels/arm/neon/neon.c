/* ARM Advanced SIMD kernel set (ARMv8.0: every aarch64 CPU). Float kernels keep 4 independent
 * accumulators; 8-bit dot products are smull + smlal2 + sadalp per 16 values (exact: pairs of
 * int8 products fit int16). dotprod.c builds this file again with L3_ARM_DOTPROD (one sdot per
 * 16 values), i8mm.c with L3_ARM_I8MM as well (usmmla for the prompt tile product). */
#include <arm_neon.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "backend/cpu/kernels/arm/features.h"
#include "backend/cpu/kernels/arm/sets.h"
#include "backend/cpu/kernels/kernels.h"
#include "quants/quants.h"
#include "tensor_types.h"

#define AI static inline __attribute__((always_inline))

/* f16 scales: __fp16 is a storage type on every aarch64 compiler (one fcvt) */
AI float h2f(uint16_t h) {
    __fp16 f;
    memcpy(&f, &h, sizeof f);
    return (float)f;
}

/* ---- f32 / f16 / bf16 ----------------------------------------------------------------- */

/* 4 elements of each float format as f32 */
AI float32x4_t ld_f32(const void *p, int64_t i) { return vld1q_f32((const float *)p + i); }
AI float32x4_t ld_f16(const void *p, int64_t i) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)p + i)));
}
AI float32x4_t ld_bf16(const void *p, int64_t i) {
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)p + i), 16));
}
AI float el_f32(const void *p, int64_t i) { return ((const float *)p)[i]; }
AI float el_f16(const void *p, int64_t i) { return h2f(((const uint16_t *)p)[i]); }
AI float el_bf16(const void *p, int64_t i) { return l3_bf16_to_f32(((const uint16_t *)p)[i]); }

/* dot(weights of a float format, f32 x): 16 per step in 4 accumulators, then 4, then scalar */
#define FLOAT_DOT(name, LD, EL)                                                                 \
    static float dot_##name(const void *w, const float *x, int64_t n) {                         \
        float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;                             \
        int64_t i = 0;                                                                           \
        for (; i + 16 <= n; i += 16) {                                                           \
            a0 = vfmaq_f32(a0, LD(w, i), vld1q_f32(x + i));                                      \
            a1 = vfmaq_f32(a1, LD(w, i + 4), vld1q_f32(x + i + 4));                              \
            a2 = vfmaq_f32(a2, LD(w, i + 8), vld1q_f32(x + i + 8));                              \
            a3 = vfmaq_f32(a3, LD(w, i + 12), vld1q_f32(x + i + 12));                            \
        }                                                                                        \
        for (; i + 4 <= n; i += 4) a0 = vfmaq_f32(a0, LD(w, i), vld1q_f32(x + i));               \
        float s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));                    \
        for (; i < n; i++) s += EL(w, i) * x[i];                                                 \
        return s;                                                                                \
    }

/* f16 / bf16 rows widened exactly (4 at a time, then the tail) */
#define TO_FLOAT(name, LD, EL)                                                      \
    static void to_float_##name(const void *src, float *dst, int64_t n) {           \
        int64_t i = 0;                                                              \
        for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, LD(src, i));                  \
        for (; i < n; i++) dst[i] = EL(src, i);                                     \
    }
TO_FLOAT(f16, ld_f16, el_f16)
TO_FLOAT(bf16, ld_bf16, el_bf16)

/* 16 int8 to 4 f32 vectors */
AI void cvt16(int8x16_t q, float32x4_t *f) {
    const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q);
    f[0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo)));
    f[1] = vcvtq_f32_s32(vmovl_high_s16(lo));
    f[2] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi)));
    f[3] = vcvtq_f32_s32(vmovl_high_s16(hi));
}

/* Q8_0 and Q4_0 rows widened (as the reference: d times each value) and dotted with f32 x */
static void to_float_q8_0(const void *src, float *dst, int64_t n) {
    const l3_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        const float d = h2f(b[i].d);
        float32x4_t f[8];
        cvt16(vld1q_s8(b[i].qs), f), cvt16(vld1q_s8(b[i].qs + 16), f + 4);
        for (int k = 0; k < 8; k++) vst1q_f32(dst + 4 * k, vmulq_n_f32(f[k], d));
    }
}
AI int8x16_t q4_lo(uint8x16_t v) { return vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(15))), vdupq_n_s8(8)); }
AI int8x16_t q4_hi(uint8x16_t v) { return vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), vdupq_n_s8(8)); }
static void to_float_q4_0(const void *src, float *dst, int64_t n) {
    const l3_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        const float d = h2f(b[i].d);
        const uint8x16_t v = vld1q_u8(b[i].qs);
        float32x4_t f[8];
        cvt16(q4_lo(v), f), cvt16(q4_hi(v), f + 4);
        for (int k = 0; k < 8; k++) vst1q_f32(dst + 4 * k, vmulq_n_f32(f[k], d));
    }
}
static float dot_q8_0w(const void *row, const float *x, int64_t n) {
    const l3_block_q8_0 *b = row;
    float32x4_t acc = vdupq_n_f32(0);
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        float32x4_t f[8], a0 = vdupq_n_f32(0), a1 = a0;
        cvt16(vld1q_s8(b[i].qs), f), cvt16(vld1q_s8(b[i].qs + 16), f + 4);
        for (int k = 0; k < 8; k += 2) a0 = vfmaq_f32(a0, f[k], vld1q_f32(x + 4 * k)), a1 = vfmaq_f32(a1, f[k + 1], vld1q_f32(x + 4 * k + 4));
        acc = vfmaq_n_f32(acc, vaddq_f32(a0, a1), h2f(b[i].d));
    }
    return vaddvq_f32(acc);
}
static float dot_q4_0w(const void *row, const float *x, int64_t n) {
    const l3_block_q4_0 *b = row;
    float32x4_t acc = vdupq_n_f32(0);
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        const uint8x16_t v = vld1q_u8(b[i].qs);
        float32x4_t f[8], a0 = vdupq_n_f32(0), a1 = a0;
        cvt16(q4_lo(v), f), cvt16(q4_hi(v), f + 4);
        for (int k = 0; k < 8; k += 2) a0 = vfmaq_f32(a0, f[k], vld1q_f32(x + 4 * k)), a1 = vfmaq_f32(a1, f[k + 1], vld1q_f32(x + 4 * k + 4));
        acc = vfmaq_n_f32(acc, vaddq_f32(a0, a1), h2f(b[i].d));
    }
    return vaddvq_f32(acc);
}


static void axpy_f32(float a, const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
    for (; i < n; i++) y[i] += a * x[i];
}
static void axpy_f16(float a, const uint16_t *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), ld_f16(x, i), a));
    for (; i < n; i++) y[i] += a * el_f16(x, i);
}
/* as the reference: s = a * scale per block, then y + s * q (fused here) */
static void axpy_q8_0(float a, const void *x, float *y, int64_t n) {
    const l3_block_q8_0 *b = x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const float s = a * h2f(b[i].d);
        float32x4_t f[8];
        cvt16(vld1q_s8(b[i].qs), f), cvt16(vld1q_s8(b[i].qs + 16), f + 4);
        for (int k = 0; k < 8; k++) vst1q_f32(y + 4 * k, vfmaq_n_f32(vld1q_f32(y + 4 * k), f[k], s));
    }
}

/* ---- float tile product and batched decode: 4 weight rows x 4 activation rows ----------- */

/* out[i][j] = dot(weight row i, activation row j) for i < 4, j < 4 over n values: 16
 * accumulators, each weight vector widened once for the 4 activation rows. Rows past nw / nx
 * alias the last valid one (their sums are not used). */
#define FLOAT_MICRO(name, LD, EL)                                                                 \
    AI void micro_##name(const void *const *wp, const float *const *xp, int64_t n, float out[4][4]) { \
        float32x4_t acc[4][4];                                                                     \
        L3_UNROLL for (int i = 0; i < 4; i++) L3_UNROLL for (int j = 0; j < 4; j++) acc[i][j] = vdupq_n_f32(0); \
        int64_t k = 0;                                                                             \
        for (; k + 4 <= n; k += 4) {                                                               \
            const float32x4_t x0 = vld1q_f32(xp[0] + k), x1 = vld1q_f32(xp[1] + k), x2 = vld1q_f32(xp[2] + k), \
                              x3 = vld1q_f32(xp[3] + k);                                           \
            L3_UNROLL for (int i = 0; i < 4; i++) {                                                \
                const float32x4_t w = LD(wp[i], k);                                                \
                acc[i][0] = vfmaq_f32(acc[i][0], w, x0), acc[i][1] = vfmaq_f32(acc[i][1], w, x1); \
                acc[i][2] = vfmaq_f32(acc[i][2], w, x2), acc[i][3] = vfmaq_f32(acc[i][3], w, x3); \
            }                                                                                      \
        }                                                                                          \
        L3_UNROLL for (int i = 0; i < 4; i++) L3_UNROLL for (int j = 0; j < 4; j++) {              \
            float s = vaddvq_f32(acc[i][j]);                                                       \
            for (int64_t e = k; e < n; e++) s += EL(wp[i], e) * xp[j][e];                          \
            out[i][j] = s;                                                                         \
        }                                                                                          \
    }

#define FLOAT_DOTN(name)                                                                           \
    static void dotn_##name(const void *rows, size_t row_bytes, int nw, const float *x, int nx, float *y, \
                            int64_t ldy, int64_t n) {                                              \
        const uint8_t *r = rows;                                                                   \
        for (int i = 0; i < nw; i += 4)                                                            \
            for (int j = 0; j < nx; j += 4) {                                                      \
                const void *wp[4];                                                                 \
                const float *xp[4];                                                                \
                float out[4][4];                                                                   \
                for (int a = 0; a < 4; a++) wp[a] = r + (size_t)(i + a < nw ? i + a : nw - 1) * row_bytes; \
                for (int b = 0; b < 4; b++) xp[b] = x + (j + b < nx ? j + b : nx - 1) * n;         \
                micro_##name(wp, xp, n, out);                                                      \
                for (int b = 0; b < 4 && j + b < nx; b++)                                          \
                    for (int a = 0; a < 4 && i + a < nw; a++) y[(j + b) * ldy + i + a] = out[a][b]; \
            }                                                                                      \
    }
/* each float weight format: dot, the micro-kernel, batched dot */
#define FLOAT_FORMAT(name, LD, EL) FLOAT_DOT(name, LD, EL) FLOAT_MICRO(name, LD, EL) FLOAT_DOTN(name)
FLOAT_FORMAT(f32w, ld_f32, el_f32)
FLOAT_FORMAT(f16w, ld_f16, el_f16)
FLOAT_FORMAT(bf16w, ld_bf16, el_bf16)

static float dot_f32(const float *a, const float *b, int64_t n) { return dot_f32w(a, b, n); }
static float dot_f16_f32(const uint16_t *a, const float *b, int64_t n) { return dot_f16w(a, b, n); }

static void gemm_f32(const float *w, int64_t ldw, int nw, const float *x, int64_t ldx, int nx, float *y, int64_t ldy,
                     int64_t n) {
    /* activation block outermost: its 4 rows stay in L1 while the weight rows stream */
    for (int j = 0; j < nx; j += 4)
        for (int i = 0; i < nw; i += 4) {
            const void *wp[4];
            const float *xp[4];
            float out[4][4];
            for (int a = 0; a < 4; a++) wp[a] = w + (i + a < nw ? i + a : nw - 1) * ldw;
            for (int b = 0; b < 4; b++) xp[b] = x + (j + b < nx ? j + b : nx - 1) * ldx;
            micro_f32w(wp, xp, n, out);
            for (int b = 0; b < 4 && j + b < nx; b++)
                for (int a = 0; a < 4 && i + a < nw; a++) y[(j + b) * ldy + i + a] += out[a][b];
        }
}

/* ---- attention over an f16 KV cache, softmax ------------------------------------------ */

/* scores of NG query heads against every position: each key row widened once for the NG heads */
AI void scores_g(const int NG, const uint16_t *k, int64_t kst, int np, const float *q, int hd, float *s, int64_t ld) {
    for (int p = 0; p < np; p++) {
        const uint16_t *kr = k + p * kst;
        float32x4_t acc[4][4];
        L3_UNROLL for (int g = 0; g < NG; g++) L3_UNROLL for (int c = 0; c < 4; c++) acc[g][c] = vdupq_n_f32(0);
        for (int e = 0; e < hd; e += 16) {
            float32x4_t kv[4];
            L3_UNROLL for (int c = 0; c < 4; c++) kv[c] = ld_f16(kr, e + 4 * c);
            L3_UNROLL for (int g = 0; g < NG; g++)
                L3_UNROLL for (int c = 0; c < 4; c++) acc[g][c] = vfmaq_f32(acc[g][c], kv[c], vld1q_f32(q + g * hd + e + 4 * c));
        }
        L3_UNROLL for (int g = 0; g < NG; g++)
            s[g * ld + p] = vaddvq_f32(vaddq_f32(vaddq_f32(acc[g][0], acc[g][1]), vaddq_f32(acc[g][2], acc[g][3])));
    }
}
/* BODY(NG, g) for the heads g.. in groups of up to 4, NG a constant in each call */
#define IN_GROUPS_OF_4(G, BODY)                                                             \
    for (int g = 0; g < (G); g += 4) switch ((G) - g < 4 ? (G) - g : 4) {                   \
        case 1: BODY(1, g); break;                                                          \
        case 2: BODY(2, g); break;                                                          \
        case 3: BODY(3, g); break;                                                          \
        default: BODY(4, g); break;                                                         \
        }
static void attn_scores_f16(const uint16_t *k, int64_t kst, int np, const float *q, int G, int hd, float *s, int64_t ld) {
#define SCORES(NG, g) scores_g(NG, k, kst, np, q + (g) * hd, hd, s + (g) * ld, ld)
    IN_GROUPS_OF_4(G, SCORES)
#undef SCORES
}

/* out = weighted sum of value rows for NG heads, 16 values of the head at a time: each value
 * row's 16 widened once for the NG heads */
AI void values_g(const int NG, const uint16_t *v, int64_t vst, int np, const float *w, int64_t ld, int hd, float *out) {
    for (int e = 0; e < hd; e += 16) {
        float32x4_t acc[4][4];
        L3_UNROLL for (int g = 0; g < NG; g++) L3_UNROLL for (int c = 0; c < 4; c++) acc[g][c] = vdupq_n_f32(0);
        for (int p = 0; p < np; p++) {
            float32x4_t vv[4];
            L3_UNROLL for (int c = 0; c < 4; c++) vv[c] = ld_f16(v + p * vst, e + 4 * c);
            L3_UNROLL for (int g = 0; g < NG; g++) {
                const float a = w[g * ld + p];
                L3_UNROLL for (int c = 0; c < 4; c++) acc[g][c] = vfmaq_n_f32(acc[g][c], vv[c], a);
            }
        }
        L3_UNROLL for (int g = 0; g < NG; g++) L3_UNROLL for (int c = 0; c < 4; c++) vst1q_f32(out + g * hd + e + 4 * c, acc[g][c]);
    }
}
static void attn_values_f16(const uint16_t *v, int64_t vst, int np, const float *w, int64_t ld, int G, int hd, float *out) {
#define VALUES(NG, g) values_g(NG, v, vst, np, w + (g) * ld, ld, hd, out + (g) * hd)
    IN_GROUPS_OF_4(G, VALUES)
#undef VALUES
}

/* e^x for x <= 0 (softmax after subtracting the maximum): x = n ln2 + r, |r| <= ln2 / 2, e^r
 * by its Taylor series to r^7 (truncation below 2e-8 relative), 2^n in the exponent bits;
 * below -87.3 (where 2^n leaves the normal range) the result is 0. */
AI float32x4_t exp_neg(float32x4_t x) {
    const float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
    float32x4_t r = vsubq_f32(x, vmulq_n_f32(n, 0.693145751953125f));  /* ln 2 in two parts: n * hi is exact */
    r = vsubq_f32(r, vmulq_n_f32(n, 1.42860682030941723212e-6f));
    float32x4_t p = vdupq_n_f32(1.0f / 5040);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 720), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 120), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 24), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 6), p, r);
    p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    const int32x4_t ni = vcvtq_s32_f32(vmaxq_f32(n, vdupq_n_f32(-126)));
    const float32x4_t two_n = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(ni, vdupq_n_s32(127)), 23));
    const uint32x4_t live = vcgeq_f32(x, vdupq_n_f32(-87.3f));
    return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(vmulq_f32(p, two_n)), live));
}

static void softmax(float *s, int n, float scale) {
    float32x4_t m = vdupq_n_f32(-INFINITY);
    float max = -INFINITY, sum = 0;
    int p = 0;
    for (; p + 4 <= n; p += 4) {
        const float32x4_t v = vmulq_n_f32(vld1q_f32(s + p), scale);
        vst1q_f32(s + p, v);
        m = vmaxq_f32(m, v);
    }
    for (; p < n; p++) s[p] *= scale, max = fmaxf(max, s[p]);
    max = fmaxf(max, vmaxvq_f32(m));
    float32x4_t acc = vdupq_n_f32(0);
    for (p = 0; p + 4 <= n; p += 4) {
        const float32x4_t e = exp_neg(vsubq_f32(vld1q_f32(s + p), vdupq_n_f32(max)));
        vst1q_f32(s + p, e);
        acc = vaddq_f32(acc, e);
    }
    if (p < n) {  /* the tail through the same exp, padded with -inf (0) */
        float t[4] = { -INFINITY, -INFINITY, -INFINITY, -INFINITY };
        for (int i = p; i < n; i++) t[i - p] = s[i] - max;
        const float32x4_t e = exp_neg(vld1q_f32(t));
        vst1q_f32(t, e);
        acc = vaddq_f32(acc, e);
        for (int i = p; i < n; i++) s[i] = t[i - p];
    }
    sum = vaddvq_f32(acc);
    const float inv = 1.0f / sum;
    for (p = 0; p + 4 <= n; p += 4) vst1q_f32(s + p, vmulq_n_f32(vld1q_f32(s + p), inv));
    for (; p < n; p++) s[p] *= inv;
}

/* ---- 8-bit activations ------------------------------------------------------------------ */

/* acc + lane sums of a . b (16 int8 pairs): sdot, or smull + smlal2 (a pair of products of
 * int8 values fits int16) + sadalp */
AI int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#ifdef L3_ARM_DOTPROD
    return vdotq_s32(acc, a, b);
#else
    return vpadalq_s16(acc, vmlal_high_s8(vmull_s8(vget_low_s8(a), vget_low_s8(b)), a, b));
#endif
}
/* lane sums of a . b alone (saddlp in neon: no zeroed accumulator to copy) */
AI int32x4_t dot16z(int8x16_t a, int8x16_t b) {
#ifdef L3_ARM_DOTPROD
    return vdotq_s32(vdupq_n_s32(0), a, b);
#else
    return vpaddlq_s16(vmlal_high_s8(vmull_s8(vget_low_s8(a), vget_low_s8(b)), a, b));
#endif
}
/* 16 weights against both activation levels: 256 (w . q) + w . q2 */
AI int32x4_t dot16x2(int8x16_t w, const int8_t *q, const int8_t *q2) {
    return dot16(vshlq_n_s32(dot16z(w, vld1q_s8(q)), 8), w, vld1q_s8(q2));
}
/* 32 weights (w0, w1) against both levels */
AI int32x4_t dot32x2(int8x16_t w0, int8x16_t w1, const int8_t *q, const int8_t *q2) {
    const int32x4_t a = dot16(dot16z(w0, vld1q_s8(q)), w1, vld1q_s8(q + 16));
    return dot16(dot16(vshlq_n_s32(a, 8), w0, vld1q_s8(q2)), w1, vld1q_s8(q2 + 16));
}

/* The scalar reference's arithmetic (amax / 127, x * (127 / amax) rounded to nearest even, no
 * fused products), so q, q2, d and s are identical. */
static void quantize_q8(const float *x, int8_t *q, int8_t *q2, float *d, float *s, int64_t n) {
    for (int64_t b = 0; b < n / 32; b++, x += 32, q += 32) {
        float32x4_t v[8];
        for (int k = 0; k < 8; k++) v[k] = vld1q_f32(x + 4 * k);
        float32x4_t m = vabsq_f32(v[0]);
        for (int k = 1; k < 8; k++) m = vmaxq_f32(m, vabsq_f32(v[k]));
        const float amax = vmaxvq_f32(m);
        const float db = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
        int32x4_t iv[8];
        for (int k = 0; k < 8; k++) iv[k] = vcvtnq_s32_f32(vmulq_n_f32(v[k], id));
        for (int k = 0; k < 8; k += 4) {
            const int16x8_t a = vcombine_s16(vqmovn_s32(iv[k]), vqmovn_s32(iv[k + 1])),
                            c = vcombine_s16(vqmovn_s32(iv[k + 2]), vqmovn_s32(iv[k + 3]));
            vst1q_s8(q + 4 * k, vcombine_s8(vqmovn_s16(a), vqmovn_s16(c)));
        }
        d[b] = db;
        if (q2) {  /* the residual in units of db / 256, clamped to 127 */
            const float id2 = id * 256.0f;
            int32x4_t rv[8];
            for (int k = 0; k < 8; k++) {
                const float32x4_t res = vsubq_f32(v[k], vmulq_n_f32(vcvtq_f32_s32(iv[k]), db));
                rv[k] = vmaxq_s32(vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(res, id2)), vdupq_n_s32(127)), vdupq_n_s32(-127));
                iv[k] = vaddq_s32(vshlq_n_s32(iv[k], 8), rv[k]);
            }
            for (int k = 0; k < 8; k += 4) {
                const int16x8_t a = vcombine_s16(vqmovn_s32(rv[k]), vqmovn_s32(rv[k + 1])),
                                c = vcombine_s16(vqmovn_s32(rv[k + 2]), vqmovn_s32(rv[k + 3]));
                vst1q_s8(q2 + 32 * b + 4 * k, vcombine_s8(vqmovn_s16(a), vqmovn_s16(c)));
            }
            d[b] = db / 256.0f;
        }
        /* sums of the quantized values (64-bit: non-finite activations quantize to extremes) */
        for (int h = 0; h < 2; h++) {
            const int64_t sum = vaddlvq_s32(iv[4 * h]) + vaddlvq_s32(iv[4 * h + 1]) + vaddlvq_s32(iv[4 * h + 2]) +
                                vaddlvq_s32(iv[4 * h + 3]);
            s[2 * b + h] = d[b] * (float)sum;
        }
    }
}

/* ---- decode: NR weight rows against NX two-level activation rows -------------------------
 * Each (weight row, activation row) pair runs the same operations in the same order whatever
 * NR and NX are, so dot_q8 (one of each) and dotn_q8 give the same bits. Weight row r sits at
 * row + r*rb; activation row j at q + j*n, q2 + j*n, d + j*n/32, s + j*n/16; the result of
 * the pair goes to y[j*ldy + r]. Decode (one activation row) takes 2 weight rows per pass:
 * for Q8_0 and Q4_0 side by side (each activation vector loaded once for both, 4 accumulator
 * chains in flight), for the K-quants one after the other. */
enum { NXMAX = 4 };

/* Q8_0 and Q4_0 (nibbles minus the offset 8 as signed weights: no activation sums needed):
 * blocks alternate between two accumulators per pair, two blocks per step */
AI int8x16_t q8_0_w(const l3_block_q8_0 *b, int h) { return vld1q_s8(b->qs + 16 * h); }
AI int8x16_t q4_0_w(const l3_block_q4_0 *b, int h) {
    const uint8x16_t v = vld1q_u8(b->qs);
    return h ? q4_hi(v) : q4_lo(v);
}
#define ROWS_32(name, BLOCK)                                                                          \
    AI void rows_##name(const int NR, const int NX, const void *row, size_t rb, const int8_t *q, const int8_t *q2, \
                        const float *d, const float *s, int64_t n, float *y, int64_t ldy) {          \
        (void)s;                                                                                      \
        const BLOCK *b[2] = { row, (const BLOCK *)((const uint8_t *)row + rb) };                     \
        float32x4_t a0[2][NXMAX], a1[2][NXMAX];                                                       \
        L3_UNROLL for (int r = 0; r < NR; r++) L3_UNROLL for (int j = 0; j < NX; j++) a0[r][j] = a1[r][j] = vdupq_n_f32(0); \
        const int64_t nb = n / 32;                                                                    \
        int64_t i = 0;                                                                                \
        for (; i + 2 <= nb; i += 2)                                                                   \
            L3_UNROLL for (int r = 0; r < NR; r++) {                                                  \
                const int8x16_t w0 = name##_w(b[r] + i, 0), w1 = name##_w(b[r] + i, 1),               \
                                w2 = name##_w(b[r] + i + 1, 0), w3 = name##_w(b[r] + i + 1, 1);       \
                const float wd0 = h2f(b[r][i].d), wd1 = h2f(b[r][i + 1].d);                           \
                L3_UNROLL for (int j = 0; j < NX; j++) {                                              \
                    const int64_t o = j * n + 32 * i;                                                 \
                    const float32x4_t f0 = vcvtq_f32_s32(dot32x2(w0, w1, q + o, q2 + o)),             \
                                      f1 = vcvtq_f32_s32(dot32x2(w2, w3, q + o + 32, q2 + o + 32));   \
                    a0[r][j] = vfmaq_n_f32(a0[r][j], f0, wd0 * d[j * n / 32 + i]);                    \
                    a1[r][j] = vfmaq_n_f32(a1[r][j], f1, wd1 * d[j * n / 32 + i + 1]);                \
                }                                                                                     \
            }                                                                                         \
        if (i < nb)                                                                                   \
            L3_UNROLL for (int r = 0; r < NR; r++) {                                                  \
                const int8x16_t w0 = name##_w(b[r] + i, 0), w1 = name##_w(b[r] + i, 1);               \
                const float wd0 = h2f(b[r][i].d);                                                     \
                L3_UNROLL for (int j = 0; j < NX; j++) {                                              \
                    const int64_t o = j * n + 32 * i;                                                 \
                    a0[r][j] = vfmaq_n_f32(a0[r][j], vcvtq_f32_s32(dot32x2(w0, w1, q + o, q2 + o)),   \
                                           wd0 * d[j * n / 32 + i]);                                  \
                }                                                                                     \
            }                                                                                         \
        L3_UNROLL for (int r = 0; r < NR; r++)                                                        \
            L3_UNROLL for (int j = 0; j < NX; j++) y[j * ldy + r] = vaddvq_f32(vaddq_f32(a0[r][j], a1[r][j])); \
    }
ROWS_32(q8_0, l3_block_q8_0)
ROWS_32(q4_0, l3_block_q4_0)

/* The 6-bit scales and mins of the 8 sub-blocks of a Q4_K / Q5_K super-block, as f32 (lanes
 * 0-3 and 4-7). */
AI void k4_scales_mins(const uint8_t *scales, float32x4_t *sc, float32x4_t *mn) {
    uint32_t a, bm, c;
    memcpy(&a, scales, 4), memcpy(&bm, scales + 4, 4), memcpy(&c, scales + 8, 4);
    const uint64_t s = (a & 0x3f3f3f3fu) | (uint64_t)((c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u)) << 32;
    const uint64_t m = (bm & 0x3f3f3f3fu) | (uint64_t)(((c >> 4) & 0x0f0f0f0fu) | ((bm >> 2) & 0x30303030u)) << 32;
    const uint16x8_t s16 = vmovl_u8(vcreate_u8(s)), m16 = vmovl_u8(vcreate_u8(m));
    sc[0] = vcvtq_f32_u32(vmovl_u16(vget_low_u16(s16))), sc[1] = vcvtq_f32_u32(vmovl_high_u16(s16));
    mn[0] = vcvtq_f32_u32(vmovl_u16(vget_low_u16(m16))), mn[1] = vcvtq_f32_u32(vmovl_high_u16(m16));
}

/* Q4_K / Q5_K: byte pair p of qs holds sub-blocks 2p (low nibbles) and 2p+1 (high), Q5_K's
 * fifth bit of sub-block j is bit j of qh[e]. The mins multiply the activation sums. */
AI uint8x16_t k5_bit(uint8x16_t qh, int j) {
    return vandq_u8(vshlq_u8(qh, vdupq_n_s8((int8_t)(4 - j))), vdupq_n_u8(0x10));
}
AI void rows_k45(const int NX, const int Q5, const void *row, const int8_t *q, const int8_t *q2, const float *d,
                 const float *s, int64_t n, float *y, int64_t ldy) {
    const size_t bs = Q5 ? sizeof(l3_block_q5_K) : sizeof(l3_block_q4_K);
    float32x4_t a0[NXMAX], a1[NXMAX], corr[NXMAX];
    L3_UNROLL for (int j = 0; j < NX; j++) a0[j] = a1[j] = corr[j] = vdupq_n_f32(0);
    for (int64_t i = 0; i < n / L3_QK_K; i++) {
        const uint8_t *blk = (const uint8_t *)row + i * bs;
        const l3_block_q4_K *b4 = (const l3_block_q4_K *)blk;  /* d, dmin and scales: the same in both */
        const uint8_t *qs = blk + (Q5 ? offsetof(l3_block_q5_K, qs) : offsetof(l3_block_q4_K, qs));
        float32x4_t S[2], M[2];
        k4_scales_mins(b4->scales, S, M);
        const float dd = h2f(b4->d), dmin = h2f(b4->dmin);
        S[0] = vmulq_n_f32(S[0], dd), S[1] = vmulq_n_f32(S[1], dd);
        M[0] = vmulq_n_f32(M[0], dmin), M[1] = vmulq_n_f32(M[1], dmin);
        uint8x16_t h0 = vdupq_n_u8(0), h1 = h0;
        if (Q5) h0 = vld1q_u8(blk + offsetof(l3_block_q5_K, qh)), h1 = vld1q_u8(blk + offsetof(l3_block_q5_K, qh) + 16);
        /* sub-block scales times the activation scales (an array: lane indices must be constants) */
        float SD[NXMAX][8];
        L3_UNROLL for (int j = 0; j < NX; j++) {  /* and the mins times the pair sums of s (one per sub-block) */
            const float *sj = s + j * n / 16 + 16 * i, *dj = d + j * n / 32 + 8 * i;
            corr[j] = vfmaq_f32(corr[j], M[0], vpaddq_f32(vld1q_f32(sj), vld1q_f32(sj + 4)));
            corr[j] = vfmaq_f32(corr[j], M[1], vpaddq_f32(vld1q_f32(sj + 8), vld1q_f32(sj + 12)));
            vst1q_f32(SD[j], vmulq_f32(S[0], vld1q_f32(dj))), vst1q_f32(SD[j] + 4, vmulq_f32(S[1], vld1q_f32(dj + 4)));
        }
        L3_UNROLL for (int p = 0; p < 4; p++) {
            const uint8x16_t v0 = vld1q_u8(qs + 32 * p), v1 = vld1q_u8(qs + 32 * p + 16);
            uint8x16_t l0 = vandq_u8(v0, vdupq_n_u8(15)), l1 = vandq_u8(v1, vdupq_n_u8(15));
            uint8x16_t u0 = vshrq_n_u8(v0, 4), u1 = vshrq_n_u8(v1, 4);
            if (Q5) {
                l0 = vorrq_u8(l0, k5_bit(h0, 2 * p)), l1 = vorrq_u8(l1, k5_bit(h1, 2 * p));
                u0 = vorrq_u8(u0, k5_bit(h0, 2 * p + 1)), u1 = vorrq_u8(u1, k5_bit(h1, 2 * p + 1));
            }
            const int8x16_t wl0 = vreinterpretq_s8_u8(l0), wl1 = vreinterpretq_s8_u8(l1), wu0 = vreinterpretq_s8_u8(u0),
                            wu1 = vreinterpretq_s8_u8(u1);
            L3_UNROLL for (int j = 0; j < NX; j++) {
                const int64_t o = j * n + 256 * i + 64 * p;
                const float32x4_t fl = vcvtq_f32_s32(dot32x2(wl0, wl1, q + o, q2 + o)),
                                  fu = vcvtq_f32_s32(dot32x2(wu0, wu1, q + o + 32, q2 + o + 32));
                a0[j] = vfmaq_n_f32(a0[j], fl, SD[j][2 * p]);
                a1[j] = vfmaq_n_f32(a1[j], fu, SD[j][2 * p + 1]);
            }
        }
    }
    L3_UNROLL for (int j = 0; j < NX; j++) y[j * ldy] = vaddvq_f32(vsubq_f32(vaddq_f32(a0[j], a1[j]), corr[j]));
}

/* Q6_K quarter qt (32 values, 0..63) of a half: low 4 bits from ql, bits 2qt, 2qt+1 of qh */
AI uint8x16_t q6_u(uint8x16_t ql0, uint8x16_t ql1, uint8x16_t qh, int qt) {
    const uint8x16_t lo = qt == 0 ? vandq_u8(ql0, vdupq_n_u8(15))
                          : qt == 1 ? vandq_u8(ql1, vdupq_n_u8(15))
                          : qt == 2 ? vshrq_n_u8(ql0, 4)
                                    : vshrq_n_u8(ql1, 4);
    const uint8x16_t hb = vandq_u8(vshlq_u8(qh, vdupq_n_s8((int8_t)(4 - 2 * qt))), vdupq_n_u8(0x30));
    return vorrq_u8(lo, hb);
}

/* Q6_K: 16 sub-blocks of 16 with their own scale; the offset 32 multiplies the sums of s */
AI void rows_q6_K(const int NX, const void *row, const int8_t *q, const int8_t *q2, const float *d, const float *s,
                  int64_t n, float *y, int64_t ldy) {
    const l3_block_q6_K *b = row;
    float32x4_t a0[NXMAX], a1[NXMAX], corr[NXMAX];
    L3_UNROLL for (int j = 0; j < NX; j++) a0[j] = a1[j] = corr[j] = vdupq_n_f32(0);
    for (int64_t i = 0; i < n / L3_QK_K; i++) {
        const float dd = h2f(b[i].d);
        float32x4_t SC[4];
        /* the 16 scales times d, times the activation scale of their 32 (an array: lane indices
         * must be constants) */
        float SCD[NXMAX][16];
        cvt16(vld1q_s8(b[i].scales), SC);
        L3_UNROLL for (int c = 0; c < 4; c++) SC[c] = vmulq_n_f32(SC[c], dd);
        L3_UNROLL for (int j = 0; j < NX; j++) {
            const float *sj = s + j * n / 16 + 16 * i, *dj = d + j * n / 32 + 8 * i;
            L3_UNROLL for (int c = 0; c < 4; c++) corr[j] = vfmaq_f32(corr[j], SC[c], vld1q_f32(sj + 4 * c));
            const float32x4_t d0 = vld1q_f32(dj), d1 = vld1q_f32(dj + 4);
            vst1q_f32(SCD[j], vmulq_f32(SC[0], vzip1q_f32(d0, d0))), vst1q_f32(SCD[j] + 4, vmulq_f32(SC[1], vzip2q_f32(d0, d0)));
            vst1q_f32(SCD[j] + 8, vmulq_f32(SC[2], vzip1q_f32(d1, d1))), vst1q_f32(SCD[j] + 12, vmulq_f32(SC[3], vzip2q_f32(d1, d1)));
        }
        L3_UNROLL for (int h = 0; h < 2; h++) {
            const uint8x16_t ql00 = vld1q_u8(b[i].ql + 64 * h), ql01 = vld1q_u8(b[i].ql + 64 * h + 16),
                             ql10 = vld1q_u8(b[i].ql + 64 * h + 32), ql11 = vld1q_u8(b[i].ql + 64 * h + 48),
                             qh0 = vld1q_u8(b[i].qh + 32 * h), qh1 = vld1q_u8(b[i].qh + 32 * h + 16);
            L3_UNROLL for (int qt = 0; qt < 4; qt++) {
                const int8x16_t w0 = vreinterpretq_s8_u8(q6_u(ql00, ql10, qh0, qt)),
                                w1 = vreinterpretq_s8_u8(q6_u(ql01, ql11, qh1, qt));
                const int k = 8 * h + 2 * qt;  /* scale of the first 16; k + 1 of the second */
                L3_UNROLL for (int j = 0; j < NX; j++) {
                    const int64_t o = j * n + 32 * (8 * i + 4 * h + qt);
                    const float32x4_t f0 = vcvtq_f32_s32(dot16x2(w0, q + o, q2 + o)),
                                      f1 = vcvtq_f32_s32(dot16x2(w1, q + o + 16, q2 + o + 16));
                    a0[j] = vfmaq_n_f32(a0[j], f0, SCD[j][k]);
                    a1[j] = vfmaq_n_f32(a1[j], f1, SCD[j][k + 1]);
                }
            }
        }
    }
    L3_UNROLL for (int j = 0; j < NX; j++)
        y[j * ldy] = vaddvq_f32(vsubq_f32(vaddq_f32(a0[j], a1[j]), vmulq_n_f32(corr[j], 32)));
}

/* the K-quants take their NR weight rows one after the other: two rows' super-blocks side by
 * side spill the 32 registers (more instructions per weight, not fewer) */
AI void rows_q4_K(const int NR, const int NX, const void *row, size_t rb, const int8_t *q, const int8_t *q2,
                  const float *d, const float *s, int64_t n, float *y, int64_t ldy) {
    for (int r = 0; r < NR; r++) rows_k45(NX, 0, (const uint8_t *)row + r * rb, q, q2, d, s, n, y + r, ldy);
}
AI void rows_q5_K(const int NR, const int NX, const void *row, size_t rb, const int8_t *q, const int8_t *q2,
                  const float *d, const float *s, int64_t n, float *y, int64_t ldy) {
    for (int r = 0; r < NR; r++) rows_k45(NX, 1, (const uint8_t *)row + r * rb, q, q2, d, s, n, y + r, ldy);
}
AI void rows_q6_Kn(const int NR, const int NX, const void *row, size_t rb, const int8_t *q, const int8_t *q2,
                   const float *d, const float *s, int64_t n, float *y, int64_t ldy) {
    for (int r = 0; r < NR; r++) rows_q6_K(NX, (const uint8_t *)row + r * rb, q, q2, d, s, n, y + r, ldy);
}

/* dot_q8 is one pair; dotn_q8 takes weight rows two at a time for one activation row
 * (decode), one at a time against up to NXMAX activation rows otherwise, and prefetches the
 * rows after the ones it multiplies (the weights stream once from memory). ROWS(NR, NX, ...)
 * is the type's body. */
#define Q8_DECODE(name, ROWS)                                                                       \
    /* decode's loop: two weight rows, one activation row (its own function: BENCHMARKS.md counts it) */ \
    static __attribute__((noinline)) void dot2_q8_##name(const void *row, size_t rb, const int8_t *q, const int8_t *q2, \
                                                         const float *d, const float *s, int64_t n, float *y) { \
        ROWS(2, 1, row, rb, q, q2, d, s, n, y, 1);                                           \
    }                                                                                               \
    static float dot_q8_##name(const void *row, const int8_t *q, const int8_t *q2, const float *d,  \
                               const float *s, int64_t n) {                                         \
        float y;                                                                                    \
        ROWS(1, 1, row, 0, q, q2, d, s, n, &y, 1);                                           \
        return y;                                                                                   \
    }                                                                                               \
    static void dotn_q8_##name(const void *rows, size_t row_bytes, int nw, const int8_t *q, const int8_t *q2, \
                               const float *d, const float *s, int nx, float *y, int64_t ldy, int64_t n) { \
        const uint8_t *base = rows;                                                                 \
        const int step = nx == 1 ? 2 : 1;                                                           \
        for (int i = 0; i < nw; i += step) {                                                        \
            const uint8_t *r = base + (size_t)i * row_bytes;                                        \
            if (i + 2 * step <= nw)                                                                 \
                for (size_t o = 0; o < (size_t)step * row_bytes; o += 64)                           \
                    __builtin_prefetch(r + (size_t)step * row_bytes + o, 0, 0);                     \
            if (nx == 1) {                                                                          \
                if (i + 1 < nw) dot2_q8_##name(r, row_bytes, q, q2, d, s, n, y + i);                \
                else ROWS(1, 1, r, row_bytes, q, q2, d, s, n, y + i, ldy);                   \
                continue;                                                                           \
            }                                                                                       \
            for (int j = 0; j < nx; j += NXMAX) {                                                   \
                const int64_t oq = (int64_t)j * n;                                                  \
                const int8_t *qj = q + oq, *q2j = q2 + oq;                                          \
                const float *dj = d + oq / 32, *sj = s + oq / 16;                                   \
                float *yj = y + (int64_t)j * ldy + i;                                               \
                switch (nx - j < NXMAX ? nx - j : NXMAX) {                                          \
                case 1: ROWS(1, 1, r, 0, qj, q2j, dj, sj, n, yj, ldy); break;                \
                case 2: ROWS(1, 2, r, 0, qj, q2j, dj, sj, n, yj, ldy); break;                \
                case 3: ROWS(1, 3, r, 0, qj, q2j, dj, sj, n, yj, ldy); break;                \
                default: ROWS(1, 4, r, 0, qj, q2j, dj, sj, n, yj, ldy); break;               \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
    }
Q8_DECODE(q8_0, rows_q8_0)
Q8_DECODE(q4_0, rows_q4_0)
Q8_DECODE(q4_K, rows_q4_K)
Q8_DECODE(q5_K, rows_q5_K)
Q8_DECODE(q6_K, rows_q6_Kn)

/* ---- prefill: panel rows (the reference's layout, see kernels.h) ------------------------- */

AI void put32(float *sc, float *mn, float s, float m) {
    vst1q_f32(sc, vdupq_n_f32(s)), vst1q_f32(sc + 4, vdupq_n_f32(s));
    mn[0] = mn[1] = m;
}
static void panel_q8_0(const void *row, uint8_t *u, float *sc, float *mn, int64_t n) {
    const l3_block_q8_0 *b = row;
    for (int64_t i = 0; i < n / 32; i++, u += 32) {
        const float dd = h2f(b[i].d);
        vst1q_u8(u, veorq_u8(vld1q_u8((const uint8_t *)b[i].qs), vdupq_n_u8(0x80)));
        vst1q_u8(u + 16, veorq_u8(vld1q_u8((const uint8_t *)b[i].qs + 16), vdupq_n_u8(0x80)));
        put32(sc + 8 * i, mn + 2 * i, dd, 128 * dd);
    }
}
static void panel_q4_0(const void *row, uint8_t *u, float *sc, float *mn, int64_t n) {
    const l3_block_q4_0 *b = row;
    for (int64_t i = 0; i < n / 32; i++, u += 32) {
        const float dd = h2f(b[i].d);
        const uint8x16_t v = vld1q_u8(b[i].qs);
        vst1q_u8(u, vandq_u8(v, vdupq_n_u8(15))), vst1q_u8(u + 16, vshrq_n_u8(v, 4));
        put32(sc + 8 * i, mn + 2 * i, dd, 8 * dd);
    }
}
/* Q4_K / Q5_K panels (Q5: the fifth bit of sub-block j is bit j of qh[e]) */
AI void panel_k45(const int Q5, const void *row, uint8_t *u, float *sc, float *mn, int64_t n) {
    const size_t bs = Q5 ? sizeof(l3_block_q5_K) : sizeof(l3_block_q4_K);
    for (int64_t i = 0; i < n / L3_QK_K; i++) {
        const uint8_t *blk = (const uint8_t *)row + i * bs;
        const l3_block_q4_K *b4 = (const l3_block_q4_K *)blk;  /* d, dmin and scales: the same in both */
        const uint8_t *qs = blk + (Q5 ? offsetof(l3_block_q5_K, qs) : offsetof(l3_block_q4_K, qs));
        const uint8x16_t h0 = Q5 ? vld1q_u8(blk + offsetof(l3_block_q5_K, qh)) : vdupq_n_u8(0),
                         h1 = Q5 ? vld1q_u8(blk + offsetof(l3_block_q5_K, qh) + 16) : vdupq_n_u8(0);
        const float dd = h2f(b4->d), dmin = h2f(b4->dmin);
        for (int j = 0; j < 8; j++, u += 32) {
            uint8_t s6, m6;
            l3_k4_scale_min(j, b4->scales, &s6, &m6);
            const uint8x16_t v0 = vld1q_u8(qs + 32 * (j / 2)), v1 = vld1q_u8(qs + 32 * (j / 2) + 16);
            uint8x16_t w0 = j & 1 ? vshrq_n_u8(v0, 4) : vandq_u8(v0, vdupq_n_u8(15));
            uint8x16_t w1 = j & 1 ? vshrq_n_u8(v1, 4) : vandq_u8(v1, vdupq_n_u8(15));
            if (Q5) w0 = vorrq_u8(w0, k5_bit(h0, j)), w1 = vorrq_u8(w1, k5_bit(h1, j));
            vst1q_u8(u, w0), vst1q_u8(u + 16, w1);
            put32(sc + 64 * i + 8 * j, mn + 16 * i + 2 * j, dd * s6, dmin * m6);
        }
    }
}
static void panel_q4_K(const void *row, uint8_t *u, float *sc, float *mn, int64_t n) { panel_k45(0, row, u, sc, mn, n); }
static void panel_q5_K(const void *row, uint8_t *u, float *sc, float *mn, int64_t n) { panel_k45(1, row, u, sc, mn, n); }
static void panel_q6_K(const void *row, uint8_t *u, float *sc, float *mn, int64_t n) {
    const l3_block_q6_K *b = row;
    for (int64_t i = 0; i < n / L3_QK_K; i++, u += 256, sc += 64, mn += 16) {
        const float dd = h2f(b[i].d);
        for (int h = 0; h < 2; h++) {
            const uint8x16_t ql00 = vld1q_u8(b[i].ql + 64 * h), ql01 = vld1q_u8(b[i].ql + 64 * h + 16),
                             ql10 = vld1q_u8(b[i].ql + 64 * h + 32), ql11 = vld1q_u8(b[i].ql + 64 * h + 48),
                             qh0 = vld1q_u8(b[i].qh + 32 * h), qh1 = vld1q_u8(b[i].qh + 32 * h + 16);
            for (int qt = 0; qt < 4; qt++) {
                vst1q_u8(u + 128 * h + 32 * qt, q6_u(ql00, ql10, qh0, qt));
                vst1q_u8(u + 128 * h + 32 * qt + 16, q6_u(ql01, ql11, qh1, qt));
            }
        }
        for (int k = 0; k < 16; k++) {
            const float ds = dd * b[i].scales[k];
            vst1q_f32(sc + 4 * k, vdupq_n_f32(ds));
            mn[k] = 32 * ds;
        }
    }
}

/* ---- prefill: the tile product ------------------------------------------------------------
 * Every panel type of these sets has one scale per 16 values (lanes 0-3 and 4-7 of a 32), so
 * the integer sums are taken per 16 and scaled once each. Offsets and mins times the
 * activation sums are subtracted at the end. */

/* sum over k < n/16 of mn[k] * s[k] */
AI float mn_dot(const float *mn, const float *s, int64_t n16) {
    float32x4_t c = vdupq_n_f32(0);
    int64_t k = 0;
    for (; k + 4 <= n16; k += 4) c = vfmaq_f32(c, vld1q_f32(mn + k), vld1q_f32(s + k));
    float r = vaddvq_f32(c);
    for (; k < n16; k++) r += mn[k] * s[k];
    return r;
}

/* the rows of a micro-tile: panel rows (u, sc) and activation rows (q, q2, d); rows past nw /
 * nx alias the last valid one (their results are not stored) */
typedef struct tile_rows {
    const uint8_t *u[4];
    const float *sc[4], *d[4];
    const int8_t *q[4], *q2[4];
} tile_rows;
AI void tile_setup(tile_rows *t, int mr, int nr, const uint8_t *u, const float *sc, int nw, const int8_t *q,
                   const int8_t *q2, const float *d, int nx, int64_t n) {
    for (int i = 0; i < mr; i++) {
        const int r = i < nw ? i : nw - 1;
        t->u[i] = u + r * n, t->sc[i] = sc + r * n / 4;
    }
    for (int j = 0; j < nr; j++) {
        const int r = j < nx ? j : nx - 1;
        t->q[j] = q + r * n, t->q2[j] = q2 ? q2 + r * n : NULL, t->d[j] = d + r * n / 32;
    }
}

#ifndef L3_ARM_I8MM
/* 4 panel rows x 2 activation rows (values up to 127: signed 8-bit dots); missing rows alias
 * the last valid one and are not stored. LEVELS 1: q2 NULL. */
AI void q8_micro(const int LEVELS, const uint8_t *u, const float *sc, const float *mn, int nw, const int8_t *q,
                 const int8_t *q2, const float *d, const float *s, int nx, float *y, int64_t ldy, int64_t n) {
    enum { MR = 4, NR = 2 };
    tile_rows t;
    tile_setup(&t, MR, NR, u, sc, nw, q, LEVELS == 2 ? q2 : NULL, d, nx, n);
    float32x4_t acc[MR][NR];
    L3_UNROLL for (int i = 0; i < MR; i++) L3_UNROLL for (int j = 0; j < NR; j++) acc[i][j] = vdupq_n_f32(0);
    for (int64_t e = 0; e < n; e += 16) {
        int8x16_t xv[NR], xv2[NR];
        L3_UNROLL for (int j = 0; j < NR; j++) {
            xv[j] = vld1q_s8(t.q[j] + e);
            if (LEVELS == 2) xv2[j] = vld1q_s8(t.q2[j] + e);
        }
        L3_UNROLL for (int i = 0; i < MR; i++) {
            const int8x16_t uv = vreinterpretq_s8_u8(vld1q_u8(t.u[i] + e));
            const float sv = t.sc[i][e / 4];
            L3_UNROLL for (int j = 0; j < NR; j++) {
                int32x4_t v = dot16z(uv, xv[j]);
                if (LEVELS == 2) v = dot16(vshlq_n_s32(v, 8), uv, xv2[j]);
                acc[i][j] = vfmaq_n_f32(acc[i][j], vcvtq_f32_s32(v), sv * t.d[j][e / 32]);
            }
        }
    }
    L3_UNROLL for (int j = 0; j < NR; j++)
        L3_UNROLL for (int i = 0; i < MR; i++)
            if (i < nw && j < nx)
                y[j * ldy + i] = vaddvq_f32(acc[i][j]) - mn_dot(mn + (int64_t)i * n / 16, s + (int64_t)j * n / 16, n / 16);
}
#define Q8_MR 4
#define Q8_NR 2
#else
/* 4 panel rows x 4 activation rows with usmmla: rows are taken in pairs, 8 values of each
 * row of a pair side by side in one vector; one usmmla gives the 2x2 dots of 8 values of a
 * weight pair and an activation pair (u up to 255: unsigned x signed, exact). */
AI void q8_micro(const int LEVELS, const uint8_t *u, const float *sc, const float *mn, int nw, const int8_t *q,
                 const int8_t *q2, const float *d, const float *s, int nx, float *y, int64_t ldy, int64_t n) {
    enum { MR = 4, NR = 4 };
    tile_rows t;
    tile_setup(&t, MR, NR, u, sc, nw, q, LEVELS == 2 ? q2 : NULL, d, nx, n);
    /* acc[a][b]: weight pair a (rows 2a, 2a+1) x activation pair b: lanes (2a,2b) (2a,2b+1) (2a+1,2b) (2a+1,2b+1) */
    float32x4_t acc[2][2];
    L3_UNROLL for (int a = 0; a < 2; a++) L3_UNROLL for (int b = 0; b < 2; b++) acc[a][b] = vdupq_n_f32(0);
    for (int64_t e = 0; e < n; e += 16) {
        uint8x16_t wv[2][2];
        int8x16_t xv[2][2], xv2[2][2];
        float32x4_t sv[2], dv[2];
        L3_UNROLL for (int a = 0; a < 2; a++) {
            const uint64x2_t r0 = vreinterpretq_u64_u8(vld1q_u8(t.u[2 * a] + e)),
                             r1 = vreinterpretq_u64_u8(vld1q_u8(t.u[2 * a + 1] + e));
            wv[a][0] = vreinterpretq_u8_u64(vzip1q_u64(r0, r1)), wv[a][1] = vreinterpretq_u8_u64(vzip2q_u64(r0, r1));
            const float s0 = t.sc[2 * a][e / 4], s1 = t.sc[2 * a + 1][e / 4];
            sv[a] = vcombine_f32(vdup_n_f32(s0), vdup_n_f32(s1));
        }
        L3_UNROLL for (int b = 0; b < 2; b++) {
            const int64x2_t r0 = vreinterpretq_s64_s8(vld1q_s8(t.q[2 * b] + e)), r1 = vreinterpretq_s64_s8(vld1q_s8(t.q[2 * b + 1] + e));
            xv[b][0] = vreinterpretq_s8_s64(vzip1q_s64(r0, r1)), xv[b][1] = vreinterpretq_s8_s64(vzip2q_s64(r0, r1));
            if (LEVELS == 2) {
                const int64x2_t t0 = vreinterpretq_s64_s8(vld1q_s8(t.q2[2 * b] + e)),
                                t1 = vreinterpretq_s64_s8(vld1q_s8(t.q2[2 * b + 1] + e));
                xv2[b][0] = vreinterpretq_s8_s64(vzip1q_s64(t0, t1)), xv2[b][1] = vreinterpretq_s8_s64(vzip2q_s64(t0, t1));
            }
            const float d0 = t.d[2 * b][e / 32], d1 = t.d[2 * b + 1][e / 32];
            const float32x2_t dd = { d0, d1 };
            dv[b] = vcombine_f32(dd, dd);
        }
        L3_UNROLL for (int a = 0; a < 2; a++)
            L3_UNROLL for (int b = 0; b < 2; b++) {
                int32x4_t v = vusmmlaq_s32(vusmmlaq_s32(vdupq_n_s32(0), wv[a][0], xv[b][0]), wv[a][1], xv[b][1]);
                if (LEVELS == 2) v = vusmmlaq_s32(vusmmlaq_s32(vshlq_n_s32(v, 8), wv[a][0], xv2[b][0]), wv[a][1], xv2[b][1]);
                acc[a][b] = vfmaq_f32(acc[a][b], vcvtq_f32_s32(v), vmulq_f32(sv[a], dv[b]));
            }
    }
    L3_UNROLL for (int a = 0; a < 2; a++)
        L3_UNROLL for (int b = 0; b < 2; b++) {
            float r[4];
            vst1q_f32(r, acc[a][b]);
            for (int l = 0; l < 4; l++) {
                const int i = 2 * a + (l >> 1), j = 2 * b + (l & 1);
                if (i < nw && j < nx)
                    y[j * ldy + i] = r[l] - mn_dot(mn + (int64_t)i * n / 16, s + (int64_t)j * n / 16, n / 16);
            }
        }
}
#define Q8_MR 4
#define Q8_NR 4
#endif

static void gemm_q8(const uint8_t *u, const float *sc, const float *mn, int nw, const int8_t *q, const int8_t *q2,
                    const float *d, const float *s, int nx, float *y, int64_t ldy, int64_t n) {
    for (int j = 0; j < nx; j += Q8_NR)
        for (int i = 0; i < nw; i += Q8_MR) {
            const int mw = nw - i < Q8_MR ? nw - i : Q8_MR, mx = nx - j < Q8_NR ? nx - j : Q8_NR;
            float *yt = y + (int64_t)j * ldy + i;
            const uint8_t *ut = u + (int64_t)i * n;
            const float *sct = sc + (int64_t)i * n / 4, *mnt = mn + (int64_t)i * n / 16;
            if (q2)
                q8_micro(2, ut, sct, mnt, mw, q + (int64_t)j * n, q2 + (int64_t)j * n, d + (int64_t)j * n / 32,
                         s + (int64_t)j * n / 16, mx, yt, ldy, n);
            else
                q8_micro(1, ut, sct, mnt, mw, q + (int64_t)j * n, NULL, d + (int64_t)j * n / 32, s + (int64_t)j * n / 16,
                         mx, yt, ldy, n);
        }
}

#if defined(L3_ARM_I8MM)
int l3_kernels_init_i8mm(l3_kernel_set *k) {
    const l3_arm_features *cpu = l3_arm_cpu();
    if (!cpu->neon || !cpu->dotprod || !cpu->i8mm) return 0;
    k->isa = "i8mm";
    const int wide_u8 = 1;  /* usmmla: Q8_0's panel values up to 255 too */
#elif defined(L3_ARM_DOTPROD)
int l3_kernels_init_dotprod(l3_kernel_set *k) {
    const l3_arm_features *cpu = l3_arm_cpu();
    if (!cpu->neon || !cpu->dotprod) return 0;
    k->isa = "dotprod";
    const int wide_u8 = 0;
#else
int l3_kernels_init_neon(l3_kernel_set *k) {
    const l3_arm_features *cpu = l3_arm_cpu();
    if (!cpu->neon) return 0;
    k->isa = "neon";
    const int wide_u8 = 0;
#endif
    /* float weights: dot, batched dot, widening */
    k->dot[L3_F32] = dot_f32w, k->dotn[L3_F32] = dotn_f32w;
    k->dot[L3_F16] = dot_f16w, k->dotn[L3_F16] = dotn_f16w, k->to_float[L3_F16] = to_float_f16;
    k->dot[L3_BF16] = dot_bf16w, k->dotn[L3_BF16] = dotn_bf16w, k->to_float[L3_BF16] = to_float_bf16;
    k->dot[L3_Q8_0] = dot_q8_0w, k->to_float[L3_Q8_0] = to_float_q8_0;
    k->dot[L3_Q4_0] = dot_q4_0w, k->to_float[L3_Q4_0] = to_float_q4_0;
    k->gemm_f32 = gemm_f32;
    /* vectors and attention */
    k->dot_f32 = dot_f32, k->axpy_f32 = axpy_f32, k->dot_f16_f32 = dot_f16_f32, k->axpy_f16 = axpy_f16;
    k->axpy_q8_0 = axpy_q8_0;
    k->attn_scores_f16 = attn_scores_f16, k->attn_values_f16 = attn_values_f16, k->softmax = softmax;
    /* 8-bit activations */
    k->quantize_q8 = quantize_q8;
    for (int t = 0; t < L3_TYPE_COUNT; t++) k->dot_q8[t] = NULL, k->dotn_q8[t] = NULL, k->to_panel[t] = NULL;
#define SET(T, name) k->dot_q8[T] = dot_q8_##name, k->dotn_q8[T] = dotn_q8_##name, k->to_panel[T] = panel_##name
    SET(L3_Q8_0, q8_0); SET(L3_Q4_0, q4_0); SET(L3_Q4_K, q4_K); SET(L3_Q5_K, q5_K); SET(L3_Q6_K, q6_K);
#undef SET
    if (!wide_u8) k->to_panel[L3_Q8_0] = NULL;  /* signed dots: panel values up to 127 only */
    k->gemm_q8 = gemm_q8;
    k->panel_pack = NULL;
    k->use_q8 = 1;
    return 1;
}
