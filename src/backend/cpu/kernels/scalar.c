/* The reference kernel set: plain C from the type table, what every faster set is tested
 * against. */
#include "backend/cpu/kernels/kernels.h"

#include <math.h>
#include <string.h>
#include "quants/quants.h"

static float dot_f32(const float *a, const float *b, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void axpy_f32(float a, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static float dot_f16_f32(const uint16_t *a, const float *b, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += l3_f16_to_f32(a[i]) * b[i];
    return s;
}

static void axpy_f16(float a, const uint16_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * l3_f16_to_f32(x[i]);
}

/* per block one product a * scale, then one multiply-add per value */
static void axpy_q8_0(float a, const void *x, float *y, int64_t n) {
    const l3_block_q8_0 *b = x;
    for (int64_t i = 0; i < n / L3_QK8_0; i++, y += L3_QK8_0) {
        const float s = a * l3_f16_to_f32(b[i].d);
        for (int j = 0; j < L3_QK8_0; j++) y[j] += s * (float)b[i].qs[j];
    }
}

static void softmax(float *s, int n, float scale) {
    float max = -INFINITY, sum = 0;
    for (int p = 0; p < n; p++) {
        s[p] *= scale;
        if (s[p] > max) max = s[p];
    }
    for (int p = 0; p < n; p++) sum += s[p] = expf(s[p] - max);
    for (int p = 0; p < n; p++) s[p] /= sum;
}

static void gemm_f32(const float *w, int64_t ldw, int nw, const float *x, int64_t ldx, int nx,
                     float *y, int64_t ldy, int64_t n) {
    for (int j = 0; j < nx; j++)
        for (int i = 0; i < nw; i++) y[j * ldy + i] += dot_f32(w + i * ldw, x + j * ldx, n);
}

/* ---- 8-bit activations: the reference ----------------------------------------------- */

static void quantize_q8(const float *x, int8_t *q, int8_t *q2, float *d, float *s, int64_t n) {
    for (int64_t b = 0; b < n / 32; b++, x += 32, q += 32) {
        float amax = 0;
        for (int e = 0; e < 32; e++) amax = fmaxf(amax, fabsf(x[e]));
        const float db = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
        int v[32];
        for (int e = 0; e < 32; e++) q[e] = (int8_t)(v[e] = (int)lrintf(x[e] * id));  /* nearest even, like cvtps2dq */
        d[b] = db;
        if (q2) {  /* the residual in units of db / 256 (|r| <= db / 2, clamped to 127) */
            const float id2 = id * 256.0f;
            for (int e = 0; e < 32; e++) {
                long r = lrintf((x[e] - db * q[e]) * id2);
                r = r > 127 ? 127 : r < -127 ? -127 : r;
                q2[32 * b + e] = (int8_t)r;
                v[e] = 256 * v[e] + (int)r;
            }
            d[b] = db / 256.0f;
        }
        /* sums of the quantized values (not of x): offsets and mins then cancel their share of
         * the rounding error, as if the weights were multiplied by the rounded x */
        for (int h = 0; h < 2; h++) {
            int sum = 0;
            for (int e = 16 * h; e < 16 * h + 16; e++) sum += v[e];
            s[2 * b + h] = d[b] * (float)sum;
        }
    }
}

/* Panel rows (see kernels.h): 8 lane scales per 32 values, one subtracted term per 16. */
static void put32(float *sc, float *mn, float s, float m) {
    for (int l = 0; l < 8; l++) sc[l] = s;
    mn[0] = mn[1] = m;
}

static void panel_q8_0(const void *row, uint8_t *u, float *sc, float *mn, int64_t n) {
    const l3_block_q8_0 *b = row;
    for (int64_t i = 0; i < n / 32; i++, u += 32) {
        const float d = l3_f16_to_f32(b[i].d);
        for (int e = 0; e < 32; e++) u[e] = (uint8_t)(b[i].qs[e] + 128);
        put32(sc + 8 * i, mn + 2 * i, d, 128 * d);
    }
}
static void panel_q4_0(const void *row, uint8_t *u, float *sc, float *mn, int64_t n) {
    const l3_block_q4_0 *b = row;
    for (int64_t i = 0; i < n / 32; i++, u += 32) {
        const float d = l3_f16_to_f32(b[i].d);
        for (int e = 0; e < 16; e++) u[e] = b[i].qs[e] & 15, u[e + 16] = b[i].qs[e] >> 4;
        put32(sc + 8 * i, mn + 2 * i, d, 8 * d);
    }
}
static void panel_q4_1(const void *row, uint8_t *u, float *sc, float *mn, int64_t n) {
    const l3_block_q4_1 *b = row;
    for (int64_t i = 0; i < n / 32; i++, u += 32) {
        for (int e = 0; e < 16; e++) u[e] = b[i].qs[e] & 15, u[e + 16] = b[i].qs[e] >> 4;
        put32(sc + 8 * i, mn + 2 * i, l3_f16_to_f32(b[i].d), -l3_f16_to_f32(b[i].m));
    }
}
static void q5_values(const uint8_t *qs, const uint8_t *qh, uint8_t *u) {
    uint32_t h;
    memcpy(&h, qh, 4);
    for (int e = 0; e < 16; e++) {
        u[e] = (uint8_t)((qs[e] & 15) | (((h >> e) & 1) << 4));
        u[e + 16] = (uint8_t)((qs[e] >> 4) | (((h >> (e + 16)) & 1) << 4));
    }
}
static void panel_q5_0(const void *row, uint8_t *u, float *sc, float *mn, int64_t n) {
    const l3_block_q5_0 *b = row;
    for (int64_t i = 0; i < n / 32; i++, u += 32) {
        const float d = l3_f16_to_f32(b[i].d);
        q5_values(b[i].qs, b[i].qh, u);
        put32(sc + 8 * i, mn + 2 * i, d, 16 * d);
    }
}
static void panel_q5_1(const void *row, uint8_t *u, float *sc, float *mn, int64_t n) {
    const l3_block_q5_1 *b = row;
    for (int64_t i = 0; i < n / 32; i++, u += 32) {
        q5_values(b[i].qs, b[i].qh, u);
        put32(sc + 8 * i, mn + 2 * i, l3_f16_to_f32(b[i].d), -l3_f16_to_f32(b[i].m));
    }
}
/* Q4_K / Q5_K: sub-block j is nibble (j & 1) of bytes 32*(j/2).., plus Q5_K's bit j of qh. */
static void panel_k45(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh, float d, float dmin,
                      uint8_t *u, float *sc, float *mn) {
    for (int j = 0; j < 8; j++, u += 32) {
        uint8_t s6, m6;
        l3_k4_scale_min(j, scales, &s6, &m6);
        for (int e = 0; e < 32; e++) {
            const uint8_t v = qs[32 * (j / 2) + e];
            u[e] = (uint8_t)((j & 1 ? v >> 4 : v & 15) | (qh ? ((qh[e] >> j) & 1) << 4 : 0));
        }
        put32(sc + 8 * j, mn + 2 * j, d * s6, dmin * m6);
    }
}
static void panel_q4_K(const void *row, uint8_t *u, float *sc, float *mn, int64_t n) {
    const l3_block_q4_K *b = row;
    for (int64_t i = 0; i < n / L3_QK_K; i++)
        panel_k45(b[i].scales, b[i].qs, NULL, l3_f16_to_f32(b[i].d), l3_f16_to_f32(b[i].dmin), u + 256 * i,
                  sc + 64 * i, mn + 16 * i);
}
static void panel_q5_K(const void *row, uint8_t *u, float *sc, float *mn, int64_t n) {
    const l3_block_q5_K *b = row;
    for (int64_t i = 0; i < n / L3_QK_K; i++)
        panel_k45(b[i].scales, b[i].qs, b[i].qh, l3_f16_to_f32(b[i].d), l3_f16_to_f32(b[i].dmin), u + 256 * i,
                  sc + 64 * i, mn + 16 * i);
}
/* Q6_K: 16 sub-blocks of 16 with their own scale: lanes 0-3 and 4-7 of a 32 differ. */
static void panel_q6_K(const void *row, uint8_t *u, float *sc, float *mn, int64_t n) {
    const l3_block_q6_K *b = row;
    for (int64_t i = 0; i < n / L3_QK_K; i++, u += 256, sc += 64, mn += 16) {
        const float d = l3_f16_to_f32(b[i].d);
        for (int e = 0; e < 256; e++) {
            const int h = e / 128, qt = (e % 128) / 32, l = e % 32;
            const uint8_t ql = b[i].ql[64 * h + 32 * (qt & 1) + l], qh = b[i].qh[32 * h + l];
            u[e] = (uint8_t)((qt < 2 ? ql & 15 : ql >> 4) | (((qh >> (2 * qt)) & 3) << 4));
        }
        for (int k = 0; k < 16; k++) {
            const float ds = d * b[i].scales[k];
            for (int l = 0; l < 4; l++) sc[4 * k + l] = ds;
            mn[k] = 32 * ds;
        }
    }
}

/* dot(panel row, activation row); q2 NULL: one-level activations */
static float panel_dot(const uint8_t *u, const float *sc, const float *mn, const int8_t *q, const int8_t *q2,
                       const float *d, const float *s, int64_t n) {
    float acc = 0, corr = 0;
    for (int64_t b = 0; b < n / 32; b++)
        for (int l = 0; l < 8; l++) {
            int v = 0;
            for (int64_t e = 32 * b + 4 * l; e < 32 * b + 4 * l + 4; e++) v += u[e] * (q2 ? 256 * q[e] + q2[e] : q[e]);
            acc += sc[8 * b + l] * d[b] * (float)v;
        }
    for (int64_t k = 0; k < n / 16; k++) corr += mn[k] * s[k];
    return acc - corr;
}

static void gemm_q8(const uint8_t *u, const float *sc, const float *mn, int nw, const int8_t *q, const int8_t *q2,
                    const float *d, const float *s, int nx, float *y, int64_t ldy, int64_t n) {
    for (int j = 0; j < nx; j++)
        for (int i = 0; i < nw; i++)
            y[j * ldy + i] = panel_dot(u + i * n, sc + i * n / 4, mn + i * n / 16, q + j * n, q2 ? q2 + j * n : NULL,
                                       d + j * n / 32, s + j * n / 16, n);
}

/* decode reference: each block (or super-block) unpacked to a panel, then panel_dot */
#define DOT_Q8(name, bs)                                                                          \
    static float dot_q8_##name(const void *row, const int8_t *q, const int8_t *q2, const float *d, \
                               const float *s, int64_t n) {                                       \
        uint8_t u[256];                                                                           \
        float sc[64], mn[16], r = 0;                                                              \
        const size_t bb = l3_row_bytes(l3_type_from_name(#name), bs);                             \
        for (int64_t i = 0; i < n / (bs); i++) {                                                  \
            panel_##name((const uint8_t *)row + i * bb, u, sc, mn, bs);                           \
            r += panel_dot(u, sc, mn, q + i * (bs), q2 + i * (bs), d + i * (bs) / 32, s + i * (bs) / 16, bs); \
        }                                                                                         \
        return r;                                                                                 \
    }
DOT_Q8(q8_0, 32)
DOT_Q8(q4_0, 32)
DOT_Q8(q4_1, 32)
DOT_Q8(q5_0, 32)
DOT_Q8(q5_1, 32)
DOT_Q8(q4_K, 256)
DOT_Q8(q5_K, 256)
DOT_Q8(q6_K, 256)

void l3_kernels_init_scalar(l3_kernel_set *k) {
    k->isa = "scalar";
    for (int t = 0; t < L3_TYPE_COUNT; t++) {
        const l3_type_info *ti = l3_type_get((uint32_t)t);
        k->dot[t] = ti ? ti->dot_f32 : NULL;
        k->to_float[t] = ti ? ti->to_float : NULL;
    }
    k->dot_f32 = dot_f32;
    k->axpy_f32 = axpy_f32;
    k->dot_f16_f32 = dot_f16_f32;
    k->axpy_f16 = axpy_f16;
    k->axpy_q8_0 = axpy_q8_0;
    k->gemm_f32 = gemm_f32;
    k->softmax = softmax;
    /* the 8-bit paths' reference: tested against, not used by l3_cpu_matmul in this set */
    k->quantize_q8 = quantize_q8;
#define SET(T, name) k->dot_q8[T] = dot_q8_##name, k->to_panel[T] = panel_##name
    SET(L3_Q8_0, q8_0); SET(L3_Q4_0, q4_0); SET(L3_Q4_1, q4_1); SET(L3_Q5_0, q5_0); SET(L3_Q5_1, q5_1);
    SET(L3_Q4_K, q4_K); SET(L3_Q5_K, q5_K); SET(L3_Q6_K, q6_K);
#undef SET
    k->gemm_q8 = gemm_q8;
    k->use_q8 = 0;
}
