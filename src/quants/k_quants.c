/* k-quants: super-blocks of 256 values. Q4_K / Q5_K: 8 sub-blocks of 32 with 6-bit scales
 * and mins relative to two f16 super-scales, x = d*sc*q - dmin*m. Q6_K: 16 sub-blocks of 16
 * with int8 scales, x = d*sc*(q - 32). Q8_K: the activation type (f32 scale, int8 values).
 *
 * The quantizers reproduce ggml's reference quantizers (quantize_row_q{4,5,6,8}_K_ref)
 * bit for bit: the same search for scales (a weighted least-squares fit over a few candidate
 * inverse scales), the same float operations in the same order, the same rounding. Keep it
 * that way: any reordering of a sum changes some blocks. */
#include "quants/quants.h"

#include <math.h>
#include <string.h>
#include "tensor_types.h"

/* Below this a group is treated as all zeros (ggml's GROUP_MAX_EPS). */
#define GROUP_EPS 1e-15f

/* Round to nearest, ties to even, via the 1.5 * 2^23 trick (exact for |x| < 2^22). */
static inline int round_int(float x) {
    float v = x + 12582912.0f;
    int32_t bits;
    memcpy(&bits, &v, 4);
    return (bits & 0x007fffff) - 0x00400000;
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Fit x ~ scale * L + min with L in 0..nmax, min <= 0, minimizing the w-weighted squared error:
 * start from the min/max grid, then try nstep+1 candidate inverse scales around nmax/(max-min)
 * and keep the least-squares (scale, min) of the best one. Returns scale, *neg_min = -min. */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L, float *neg_min,
                           float rmin, float rdelta, int nstep) {
    float min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *neg_min = -min;
        return 0.0f;
    }
    float iscale = nmax / (max - min), scale = 1 / iscale, best_err = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clampi(round_int(iscale * (x[i] - min)), 0, nmax);
        float diff = scale * L[i] + min - x[i];
        best_err += w[i] * (diff * diff);
    }
    uint8_t cand[32];
    for (int step = 0; step <= nstep; step++) {
        iscale = (rmin + rdelta * step + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(round_int(iscale * (x[i] - min)), 0, nmax);
            cand[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0)) continue;  /* (NaN too, like ggml's `if (D > 0)`) */
        float s = (sum_w * sum_xl - sum_x * sum_l) / D, m = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (m > 0) {
            m = 0;
            s = sum_xl / sum_l2;
        }
        float err = 0;
        for (int i = 0; i < n; i++) {
            float diff = s * cand[i] + m - x[i];
            err += w[i] * (diff * diff);
        }
        if (err < best_err) {
            memcpy(L, cand, (size_t)n);
            best_err = err;
            scale = s;
            min = m;
        }
    }
    *neg_min = -min;
    return scale;
}

/* Symmetric fit x ~ scale * (L - nmax), L - nmax in -nmax..nmax-1, weights x^2: tries 19
 * inverse scales around -nmax/max and keeps the best least-squares scale. */
static float fit_scale_sym(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) { amax = fabsf(x[i]); max = x[i]; }
    if (amax < GROUP_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = -nmax / max, sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clampi(round_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int step = -9; step <= 9; step++) {
        if (step == 0) continue;
        iscale = -(nmax + 0.1f * step) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(round_int(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) L[i] = (int8_t)(nmax + clampi(round_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* ---- Q4_K / Q5_K shared: scales, mins and the 5-or-4-bit values of one super-block ------ */

/* Quantizes 256 values to L (0..nmax) with packed 6-bit scales/mins; returns d and dmin. */
static void k4_quantize(const float *x, int nmax, float rmin, int nstep, uint8_t L[L3_QK_K],
                        uint8_t packed[12], uint16_t *d_out, uint16_t *dmin_out) {
    float scales[8], mins[8], w[32], max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(xs[l]);
        scales[j] = fit_scale_min(32, nmax, xs, w, L + 32 * j, &mins[j], rmin, 0.1f, nstep);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f, inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    memset(packed, 0, 12);
    for (int j = 0; j < 8; j++) {
        uint8_t ls = (uint8_t)round_int(inv_scale * scales[j]), lm = (uint8_t)round_int(inv_min * mins[j]);
        if (ls > 63) ls = 63;
        if (lm > 63) lm = 63;
        if (j < 4) {
            packed[j] = ls;
            packed[j + 4] = lm;
        } else {  /* low 4 bits in bytes 8..11, high 2 bits on top of bytes 0..7 */
            packed[j + 4] = (uint8_t)((ls & 0xf) | (lm & 0xf) << 4);
            packed[j - 4] |= (uint8_t)((ls >> 4) << 6);
            packed[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d_out = l3_f32_to_f16(max_scale / 63.f);
    *dmin_out = l3_f32_to_f16(max_min / 63.f);
    /* Requantize against the scales as stored (rounded), so values match what is decoded. */
    const float d = l3_f16_to_f32(*d_out), dmin = l3_f16_to_f32(*dmin_out);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        l3_k4_scale_min(j, packed, &sc, &m);
        const float ds = d * sc;
        if (!ds) continue;
        const float dm = dmin * m;
        for (int l = 0; l < 32; l++) L[32 * j + l] = (uint8_t)clampi(round_int((x[32 * j + l] + dm) / ds), 0, nmax);
    }
}

/* ---- Q4_K: in each 64-value group, byte l holds value l (low) and value l+32 (high) ---- */

void l3_q4_K_from_float(const float *src, void *dst, int64_t n) {
    l3_block_q4_K *b = dst;
    uint8_t L[L3_QK_K];
    for (int64_t i = 0; i < n / L3_QK_K; i++, src += L3_QK_K) {
        k4_quantize(src, 15, -1.f, 20, L, b[i].scales, &b[i].d, &b[i].dmin);
        for (int g = 0; g < 4; g++)
            for (int l = 0; l < 32; l++) b[i].qs[32 * g + l] = (uint8_t)(L[64 * g + l] | L[64 * g + l + 32] << 4);
    }
}

/* Q4_K and Q5_K share the super-block layout: value l (0..31) of sub-block j (0..7) is a
 * nibble of qs, plus (Q5_K only, qh != NULL) a fifth bit from qh. */
static inline int k45_value(const uint8_t *qs, const uint8_t *qh, int j, int l) {
    int v = (qs[32 * (j / 2) + l] >> ((j & 1) * 4)) & 0xf;
    return qh ? v + ((qh[l] >> j) & 1) * 16 : v;
}

/* One super-block to floats. */
static void k45_to_float(uint16_t d16, uint16_t dmin16, const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                         float *dst) {
    const float d = l3_f16_to_f32(d16), dmin = l3_f16_to_f32(dmin16);
    for (int j = 0; j < 8; j++, dst += 32) {
        uint8_t sc, m;
        l3_k4_scale_min(j, scales, &sc, &m);
        const float ds = d * sc, dm = dmin * m;
        for (int l = 0; l < 32; l++) dst[l] = ds * k45_value(qs, qh, j, l) - dm;
    }
}

/* s + the dot product of one super-block with x, one sub-block at a time. */
static float k45_dot(float s, uint16_t d16, uint16_t dmin16, const uint8_t *scales, const uint8_t *qs,
                     const uint8_t *qh, const float *x) {
    const float d = l3_f16_to_f32(d16), dmin = l3_f16_to_f32(dmin16);
    for (int j = 0; j < 8; j++, x += 32) {
        uint8_t sc, m;
        l3_k4_scale_min(j, scales, &sc, &m);
        float qx = 0, sx = 0;
        for (int l = 0; l < 32; l++) {
            qx += k45_value(qs, qh, j, l) * x[l];
            sx += x[l];
        }
        s += d * sc * qx - dmin * m * sx;
    }
    return s;
}

void l3_q4_K_to_float(const void *src, float *dst, int64_t n) {
    const l3_block_q4_K *b = src;
    for (int64_t i = 0; i < n / L3_QK_K; i++, dst += L3_QK_K)
        k45_to_float(b[i].d, b[i].dmin, b[i].scales, b[i].qs, NULL, dst);
}

float l3_q4_K_dot(const void *row, const float *x, int64_t n) {
    const l3_block_q4_K *b = row;
    float s = 0;
    for (int64_t i = 0; i < n / L3_QK_K; i++, x += L3_QK_K)
        s = k45_dot(s, b[i].d, b[i].dmin, b[i].scales, b[i].qs, NULL, x);
    return s;
}

/* ---- Q5_K: Q4_K's nibbles plus a fifth bit: bit 2g of qh[l] for value l of group g's
 *      first half, bit 2g+1 for its second half ---------------------------------------- */

void l3_q5_K_from_float(const float *src, void *dst, int64_t n) {
    l3_block_q5_K *b = dst;
    uint8_t L[L3_QK_K];
    for (int64_t i = 0; i < n / L3_QK_K; i++, src += L3_QK_K) {
        k4_quantize(src, 31, -0.5f, 15, L, b[i].scales, &b[i].d, &b[i].dmin);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int g = 0; g < 4; g++)
            for (int l = 0; l < 32; l++) {
                int lo = L[64 * g + l], hi = L[64 * g + l + 32];
                b[i].qs[32 * g + l] = (uint8_t)((lo & 0xf) | (hi & 0xf) << 4);
                b[i].qh[l] |= (uint8_t)((lo >> 4) << (2 * g) | (hi >> 4) << (2 * g + 1));
            }
    }
}

void l3_q5_K_to_float(const void *src, float *dst, int64_t n) {
    const l3_block_q5_K *b = src;
    for (int64_t i = 0; i < n / L3_QK_K; i++, dst += L3_QK_K)
        k45_to_float(b[i].d, b[i].dmin, b[i].scales, b[i].qs, b[i].qh, dst);
}

float l3_q5_K_dot(const void *row, const float *x, int64_t n) {
    const l3_block_q5_K *b = row;
    float s = 0;
    for (int64_t i = 0; i < n / L3_QK_K; i++, x += L3_QK_K)
        s = k45_dot(s, b[i].d, b[i].dmin, b[i].scales, b[i].qs, b[i].qh, x);
    return s;
}

/* ---- Q6_K: per 128-value half, ql[l] holds values l (low) and l+64 (high), ql[l+32] values
 *      l+32 and l+96; qh[l] holds the top two bits of values l, l+32, l+64, l+96 --------- */

/* The 6-bit value (0..63) of element e (0..255) of a super-block. */
static inline int q6_value(const l3_block_q6_K *b, int e) {
    int h = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
    const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
    int lo = (ql[l + 32 * (quarter & 1)] >> (4 * (quarter >> 1))) & 0xf;
    return lo | ((qh[l] >> (2 * quarter)) & 3) << 4;
}

void l3_q6_K_from_float(const float *src, void *dst, int64_t n) {
    l3_block_q6_K *b = dst;
    int8_t L[L3_QK_K];
    float scales[16];
    for (int64_t i = 0; i < n / L3_QK_K; i++, src += L3_QK_K) {
        float max_scale = 0, max_abs = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = fit_scale_sym(16, 32, src + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > max_abs) { max_abs = fabsf(scales[j]); max_scale = scales[j]; }
        }
        if (max_abs < GROUP_EPS) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        const float iscale = -128.f / max_scale;
        b[i].d = l3_f32_to_f16(1 / iscale);
        for (int j = 0; j < 16; j++) {
            int v = round_int(iscale * scales[j]);
            b[i].scales[j] = (int8_t)(v > 127 ? 127 : v);
        }
        const float d = l3_f16_to_f32(b[i].d);
        for (int j = 0; j < 16; j++) {
            const float ds = d * b[i].scales[j];
            if (!ds) continue;
            for (int l = 0; l < 16; l++) L[16 * j + l] = (int8_t)(clampi(round_int(src[16 * j + l] / ds), -32, 31) + 32);
        }
        for (int h = 0; h < 2; h++) {
            const int8_t *Lh = L + 128 * h;
            uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((Lh[l] & 0xf) | (Lh[l + 64] & 0xf) << 4);
                ql[l + 32] = (uint8_t)((Lh[l + 32] & 0xf) | (Lh[l + 96] & 0xf) << 4);
                qh[l] = (uint8_t)(Lh[l] >> 4 | (Lh[l + 32] >> 4) << 2 | (Lh[l + 64] >> 4) << 4 | (Lh[l + 96] >> 4) << 6);
            }
        }
    }
}

void l3_q6_K_to_float(const void *src, float *dst, int64_t n) {
    const l3_block_q6_K *b = src;
    for (int64_t i = 0; i < n / L3_QK_K; i++, dst += L3_QK_K) {
        const float d = l3_f16_to_f32(b[i].d);
        for (int e = 0; e < L3_QK_K; e++) dst[e] = d * b[i].scales[e / 16] * (q6_value(&b[i], e) - 32);
    }
}

float l3_q6_K_dot(const void *row, const float *x, int64_t n) {
    const l3_block_q6_K *b = row;
    float s = 0;
    for (int64_t i = 0; i < n / L3_QK_K; i++) {
        const float d = l3_f16_to_f32(b[i].d);
        for (int j = 0; j < 16; j++, x += 16) {
            float qx = 0;
            for (int l = 0; l < 16; l++) qx += (q6_value(&b[i], 16 * j + l) - 32) * x[l];
            s += d * b[i].scales[j] * qx;
        }
    }
    return s;
}

/* ---- Q8_K --------------------------------------------------------------------------- */

void l3_q8_K_from_float(const float *src, void *dst, int64_t n) {
    l3_block_q8_K *b = dst;
    for (int64_t i = 0; i < n / L3_QK_K; i++, src += L3_QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < L3_QK_K; j++)
            if (fabsf(src[j]) > amax) { amax = fabsf(src[j]); max = src[j]; }
        if (!amax) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        /* -127 (not -128) keeps values symmetric, as ggml does */
        const float iscale = -127.f / max;
        for (int j = 0; j < L3_QK_K; j++) {
            int v = round_int(iscale * src[j]);
            b[i].qs[j] = (int8_t)(v > 127 ? 127 : v);
        }
        for (int j = 0; j < 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += b[i].qs[16 * j + l];
            b[i].bsums[j] = (int16_t)sum;
        }
        b[i].d = 1 / iscale;
    }
}

void l3_q8_K_to_float(const void *src, float *dst, int64_t n) {
    const l3_block_q8_K *b = src;
    for (int64_t i = 0; i < n / L3_QK_K; i++, dst += L3_QK_K)
        for (int j = 0; j < L3_QK_K; j++) dst[j] = b[i].d * b[i].qs[j];
}

float l3_q8_K_dot(const void *row, const float *x, int64_t n) {
    const l3_block_q8_K *b = row;
    float s = 0;
    for (int64_t i = 0; i < n / L3_QK_K; i++, x += L3_QK_K) {
        float qx = 0;
        for (int j = 0; j < L3_QK_K; j++) qx += b[i].qs[j] * x[j];
        s += b[i].d * qx;
    }
    return s;
}
