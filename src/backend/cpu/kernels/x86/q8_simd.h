/* 8-bit activation kernels shared by the AVX2 and AVX-512 sets (see kernels.h for the
 * layouts): activations quantized once per matmul to int8 blocks of 32, weights unpacked to
 * unsigned 8-bit values in 256-bit registers, and one integer dot product per 32 values
 * giving 8 int32 lanes (4 products each). The includer defines, after quant_simd.h:
 *   __m256i dot8acc(__m256i acc, __m256i u, __m256i x)
 *                                         acc + lane-wise sums of 4 products u8 x s8 (u <= 128
 *                                         where it is built without VNNI: maddubs saturates)
 *   Q8_OWN_DOT16 (optional)               it defines dot16 (the two-level lanes) itself
 * Weight offsets (Q4_0's 8, Q6_K's 32, Q8_0's 128) and mins are not applied per value: they
 * multiply the block sums of the activations (the s array), once per 16 values. */
#ifndef LLAMA3_Q8_SIMD_H
#define LLAMA3_Q8_SIMD_H

#include <immintrin.h>
#include <math.h>
#include <string.h>
#include "quants/quants.h"
#include "tensor_types.h"

static inline __m256i ld32(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline __m256i lo32(__m256i v) { return _mm256_and_si256(v, _mm256_set1_epi8(15)); }
static inline __m256i hi32(__m256i v) { return _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(15)); }
/* 16 packed bytes to 32 nibbles: low nibbles (values 0..15), then high (16..31) */
static inline __m256i nib16(const uint8_t *p) {
    /* the 16 bytes in both halves (a broadcast load), the upper half shifted by a nibble */
    const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
    return _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(15));
}
static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline __m256 fma_lanes(__m256i v, float s, __m256 acc) {
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(v), _mm256_set1_ps(s), acc);
}

/* Weight prefetch of the multi-row decode tiles: a pass reads several rows side by side, but
 * the rows are contiguous, so a tile prefetches a later pass's rows in address order, the
 * share of its bytes matching the step (`bytes` from p, one prefetch per 64 bytes: no line
 * skipped). The memory then sees one stream per thread, not one per row: with the bandwidth
 * contended, reading several interleaved row streams runs slower than one sequential stream
 * (BENCHMARKS.md). */
static inline __attribute__((always_inline)) void seq_prefetch(const uint8_t *p, const int bytes) {
    L3_UNROLL for (int o = 0; o < bytes; o += 64) _mm_prefetch((const char *)p + o, _MM_HINT_T0);
}
/* the same into L2 only (L2 = 1, a constant: on Intel CPUs, the row-group tiles and the AVX2
 * sets' Q8_0 tiles, variants picked at start-up: install_group_tiles, install_decode_tiles) */
static inline __attribute__((always_inline)) void seq_prefetch_to(const int L2, const uint8_t *p, const int bytes) {
    if (L2) L3_UNROLL for (int o = 0; o < bytes; o += 64) _mm_prefetch((const char *)p + o, _MM_HINT_T1);
    else seq_prefetch(p, bytes);
}

/* lanes of u . x (one-level) and of u . (256 q + q2) (two-level activations) */
static inline __m256i dot8(__m256i u, __m256i x) { return dot8acc(_mm256_setzero_si256(), u, x); }
#ifndef Q8_OWN_DOT16  /* (an includer may define its own, with the same exact integers) */
static inline __m256i dot16(__m256i u, __m256i q, __m256i q2) {
    return dot8acc(_mm256_slli_epi32(dot8(u, q), 8), u, q2);
}
#endif
static inline __m256i dot16p(__m256i u, const int8_t *q, const int8_t *q2) { return dot16(u, ld32(q), ld32(q2)); }

/* ---- activation quantization ---------------------------------------------------------- */

/* 8 int32 to int8 in order, packed per 128-bit lane then reordered */
static inline __m256i pack4(const __m256i *v) {
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* The scalar reference's arithmetic (amax / 127, x * (127 / amax) rounded to nearest even),
 * so q and d are identical; q2 may differ by one where a product is fused. */
static void quantize_q8(const float *x, int8_t *q, int8_t *q2, float *d, float *s, int64_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / 32; b++, x += 32, q += 32) {
        __m256 v[4], m;
        for (int k = 0; k < 4; k++) v[k] = _mm256_loadu_ps(x + 8 * k);
        m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
                          _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        const float amax = _mm_cvtss_f32(h);
        const float db = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
        __m256i i32[4];
        for (int k = 0; k < 4; k++) i32[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], _mm256_set1_ps(id)));
        _mm256_storeu_si256((__m256i *)q, pack4(i32));
        d[b] = db;
        if (q2) {
            const __m256 vd = _mm256_set1_ps(db), vi2 = _mm256_set1_ps(id * 256.0f);
            for (int k = 0; k < 4; k++) {
                __m256i r = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_sub_ps(v[k], _mm256_mul_ps(vd, _mm256_cvtepi32_ps(i32[k]))), vi2));
                r = _mm256_max_epi32(_mm256_min_epi32(r, _mm256_set1_epi32(127)), _mm256_set1_epi32(-127));
                i32[k] = _mm256_add_epi32(_mm256_slli_epi32(i32[k], 8), r);
                v[k] = _mm256_castsi256_ps(r);
            }
            __m256i r4[4] = { _mm256_castps_si256(v[0]), _mm256_castps_si256(v[1]), _mm256_castps_si256(v[2]),
                              _mm256_castps_si256(v[3]) };
            _mm256_storeu_si256((__m256i *)(q2 + 32 * b), pack4(r4));
            d[b] = db / 256.0f;
        }
        /* sums of the quantized values (not of x): offsets and mins then cancel their share
         * of the rounding error, as if the weights were multiplied by the rounded x */
        const __m256i s0 = _mm256_add_epi32(i32[0], i32[1]), s1 = _mm256_add_epi32(i32[2], i32[3]);
        __m256i hs = _mm256_hadd_epi32(s0, s1);  /* [s0 pairs, s1 pairs | s0 pairs, s1 pairs] */
        hs = _mm256_hadd_epi32(hs, hs);
        /* summed in 64 bits: non-finite activations quantize to extreme values */
        s[2 * b] = d[b] * (float)((int64_t)_mm256_extract_epi32(hs, 0) + _mm256_extract_epi32(hs, 4));
        s[2 * b + 1] = d[b] * (float)((int64_t)_mm256_extract_epi32(hs, 1) + _mm256_extract_epi32(hs, 5));
    }
}

/* ---- decode: dot(weight row, two-level activations) ----------------------------------- */

static float dot_q8_q8_0(const void *row, const int8_t *q, const int8_t *q2, const float *d, const float *s, int64_t n) {
    (void)s;
    const l3_block_q8_0 *b = row;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    for (int64_t i = 0; i < n / 32; i++) {  /* |w| times x with w's sign */
        const __m256i w = ld32(b[i].qs);
        const __m256i v = dot16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(ld32(q + 32 * i), w),
                                _mm256_sign_epi8(ld32(q2 + 32 * i), w));
        if (i & 1) a1 = fma_lanes(v, h2f(b[i].d) * d[i], a1);
        else a0 = fma_lanes(v, h2f(b[i].d) * d[i], a0);
    }
    return hsum256(_mm256_add_ps(a0, a1));
}

static float dot_q8_q4_0(const void *row, const int8_t *q, const int8_t *q2, const float *d, const float *s, int64_t n) {
    const l3_block_q4_0 *b = row;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    float c = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        const float w = h2f(b[i].d);
        const __m256i v = dot16p(nib16(b[i].qs), q + 32 * i, q2 + 32 * i);
        if (i & 1) a1 = fma_lanes(v, w * d[i], a1);
        else a0 = fma_lanes(v, w * d[i], a0);
        c += w * (s[2 * i] + s[2 * i + 1]);
    }
    return hsum256(_mm256_add_ps(a0, a1)) - 8 * c;
}

/* The 6-bit scales and mins (l3_k4_scale_min) of all 8 sub-blocks of a Q4_K / Q5_K super-block
 * at once, byte j of *sc (*m) for sub-block j, in registers (bytes stored one by one and
 * reloaded as a vector stall store forwarding). */
static inline void k4_scales_mins(const uint8_t *scales, uint64_t *sc, uint64_t *m) {
    uint32_t a, bm, c;
    memcpy(&a, scales, 4), memcpy(&bm, scales + 4, 4), memcpy(&c, scales + 8, 4);
    *sc = (a & 0x3f3f3f3fu) | (uint64_t)((c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u)) << 32;
    *m = (bm & 0x3f3f3f3fu) | (uint64_t)(((c >> 4) & 0x0f0f0f0fu) | ((bm >> 2) & 0x30303030u)) << 32;
}

/* Q4_K and Q5_K: byte pair p holds sub-blocks 2p (low nibbles) and 2p+1 (high). Scales,
 * mins and the activation scales are combined 8 at a time in vectors; lane j of S is the
 * scale of sub-block j. */
static inline void dot_q8_k45(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh, float dd, float dmin,
                              const int8_t *q, const int8_t *q2, const float *d, const float *s, __m256 *acc,
                              __m256 *corr) {
    uint64_t sc, m;
    k4_scales_mins(scales, &sc, &m);
    const __m256 S = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc))),
                                                 _mm256_set1_ps(dd)), _mm256_loadu_ps(d));
    /* mins times pair sums of s: hadd gives pairs in order 0 1 4 5 2 3 6 7 */
    const __m256 M = _mm256_permutevar8x32_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)m))),
                                              _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7));
    *corr = _mm256_fmadd_ps(_mm256_mul_ps(M, _mm256_set1_ps(dmin)),
                            _mm256_hadd_ps(_mm256_loadu_ps(s), _mm256_loadu_ps(s + 8)), *corr);
    const __m256i hv = qh ? ld32(qh) : _mm256_setzero_si256(), b4 = _mm256_set1_epi8(0x10);
    __m256 a0 = acc[0], a1 = acc[1];
    for (int p = 0; p < 4; p++) {
        const __m256i v = ld32(qs + 32 * p);
        __m256i u0 = lo32(v), u1 = hi32(v);
        if (qh) {
            u0 = _mm256_or_si256(u0, _mm256_and_si256(_mm256_slli_epi16(_mm256_srl_epi16(hv, _mm_cvtsi32_si128(2 * p)), 4), b4));
            u1 = _mm256_or_si256(u1, _mm256_and_si256(_mm256_slli_epi16(_mm256_srl_epi16(hv, _mm_cvtsi32_si128(2 * p + 1)), 4), b4));
        }
        const int j = 2 * p;
        a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot16p(u0, q + 32 * j, q2 + 32 * j)),
                             _mm256_permutevar8x32_ps(S, _mm256_set1_epi32(j)), a0);
        a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot16p(u1, q + 32 * j + 32, q2 + 32 * j + 32)),
                             _mm256_permutevar8x32_ps(S, _mm256_set1_epi32(j + 1)), a1);
    }
    acc[0] = a0, acc[1] = a1;
}

static float dot_q8_q4_K(const void *row, const int8_t *q, const int8_t *q2, const float *d, const float *s, int64_t n) {
    const l3_block_q4_K *b = row;
    __m256 acc[2] = { _mm256_setzero_ps(), _mm256_setzero_ps() }, corr = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / L3_QK_K; i++)
        dot_q8_k45(b[i].scales, b[i].qs, NULL, h2f(b[i].d), h2f(b[i].dmin), q + 256 * i, q2 + 256 * i, d + 8 * i,
                   s + 16 * i, acc, &corr);
    return hsum256(_mm256_sub_ps(_mm256_add_ps(acc[0], acc[1]), corr));
}

static float dot_q8_q5_K(const void *row, const int8_t *q, const int8_t *q2, const float *d, const float *s, int64_t n) {
    const l3_block_q5_K *b = row;
    __m256 acc[2] = { _mm256_setzero_ps(), _mm256_setzero_ps() }, corr = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / L3_QK_K; i++)
        dot_q8_k45(b[i].scales, b[i].qs, b[i].qh, h2f(b[i].d), h2f(b[i].dmin), q + 256 * i, q2 + 256 * i, d + 8 * i,
                   s + 16 * i, acc, &corr);
    return hsum256(_mm256_sub_ps(_mm256_add_ps(acc[0], acc[1]), corr));
}

/* Q6_K quarter qt of half h: 32 values 0..63, low 4 bits from ql, bits 2qt, 2qt+1 of qh */
static inline __m256i q6_u(__m256i ql0, __m256i ql1, __m256i qh, int qt) {
    const __m256i m30 = _mm256_set1_epi8(0x30);
    switch (qt) {
    case 0: return _mm256_or_si256(lo32(ql0), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
    case 1: return _mm256_or_si256(lo32(ql1), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
    case 2: return _mm256_or_si256(hi32(ql0), _mm256_and_si256(qh, m30));
    default: return _mm256_or_si256(hi32(ql1), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
    }
}

static float dot_q8_q6_K(const void *row, const int8_t *q, const int8_t *q2, const float *d, const float *s, int64_t n) {
    const l3_block_q6_K *b = row;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, corr = a0;
    for (int64_t i = 0; i < n / L3_QK_K; i++) {
        const __m256 dd = _mm256_set1_ps(h2f(b[i].d));
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)b[i].scales);
        /* the 16 sub-block scales times d; the offset 32 multiplies the 16 sums of s */
        const __m256 SC[2] = { _mm256_mul_ps(dd, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc8))),
                               _mm256_mul_ps(dd, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(sc8, 8)))) };
        corr = _mm256_fmadd_ps(SC[0], _mm256_loadu_ps(s + 16 * i), corr);
        corr = _mm256_fmadd_ps(SC[1], _mm256_loadu_ps(s + 16 * i + 8), corr);
        for (int h = 0; h < 2; h++) {
            const __m256i ql0 = ld32(b[i].ql + 64 * h), ql1 = ld32(b[i].ql + 64 * h + 32), qh = ld32(b[i].qh + 32 * h);
            for (int qt = 0; qt < 4; qt++) {
                const int64_t blk = 8 * i + 4 * h + qt;
                /* lanes 0-3: scale of the first 16 values (2qt of this half), 4-7: the second */
                const __m256i sel = _mm256_setr_epi32(2 * qt, 2 * qt, 2 * qt, 2 * qt, 2 * qt + 1, 2 * qt + 1, 2 * qt + 1, 2 * qt + 1);
                const __m256 scv = _mm256_mul_ps(_mm256_permutevar8x32_ps(SC[h], sel), _mm256_broadcast_ss(d + blk));
                const __m256 v = _mm256_cvtepi32_ps(dot16p(q6_u(ql0, ql1, qh, qt), q + 32 * blk, q2 + 32 * blk));
                if (qt & 1) a1 = _mm256_fmadd_ps(v, scv, a1);
                else a0 = _mm256_fmadd_ps(v, scv, a0);
            }
        }
    }
    return hsum256(_mm256_sub_ps(_mm256_add_ps(a0, a1), _mm256_mul_ps(_mm256_set1_ps(32), corr)));
}

/* ---- prefill: panel rows and the tile product ----------------------------------------- */

static inline void put32(float *sc, float *mn, float s, float m) {
    _mm256_storeu_ps(sc, _mm256_set1_ps(s));
    mn[0] = mn[1] = m;
}
static inline void st_u(uint8_t *u, __m256i v) { _mm256_storeu_si256((__m256i *)u, v); }

static void panel_q8_0(const void *row, uint8_t *u, float *sc, float *mn, int64_t n) {
    const l3_block_q8_0 *b = row;
    for (int64_t i = 0; i < n / 32; i++, u += 32) {
        const float dd = h2f(b[i].d);
        st_u(u, _mm256_xor_si256(ld32(b[i].qs), _mm256_set1_epi8((char)0x80)));
        put32(sc + 8 * i, mn + 2 * i, dd, 128 * dd);
    }
}
static void panel_q4_0(const void *row, uint8_t *u, float *sc, float *mn, int64_t n) {
    const l3_block_q4_0 *b = row;
    for (int64_t i = 0; i < n / 32; i++, u += 32) {
        const float dd = h2f(b[i].d);
        st_u(u, nib16(b[i].qs));
        put32(sc + 8 * i, mn + 2 * i, dd, 8 * dd);
    }
}
static void panel_k45(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh, float dd, float dmin,
                      uint8_t *u, float *sc, float *mn) {
    const __m256i hv = qh ? ld32(qh) : _mm256_setzero_si256(), b4 = _mm256_set1_epi8(0x10);
    for (int j = 0; j < 8; j++, u += 32) {
        uint8_t s6, m6;
        l3_k4_scale_min(j, scales, &s6, &m6);
        const __m256i v = ld32(qs + 32 * (j / 2));
        __m256i w = j & 1 ? hi32(v) : lo32(v);
        if (qh) w = _mm256_or_si256(w, _mm256_and_si256(_mm256_slli_epi16(_mm256_srl_epi16(hv, _mm_cvtsi32_si128(j)), 4), b4));
        st_u(u, w);
        put32(sc + 8 * j, mn + 2 * j, dd * s6, dmin * m6);
    }
}
static void panel_q4_K(const void *row, uint8_t *u, float *sc, float *mn, int64_t n) {
    const l3_block_q4_K *b = row;
    for (int64_t i = 0; i < n / L3_QK_K; i++)
        panel_k45(b[i].scales, b[i].qs, NULL, h2f(b[i].d), h2f(b[i].dmin), u + 256 * i, sc + 64 * i, mn + 16 * i);
}
static void panel_q5_K(const void *row, uint8_t *u, float *sc, float *mn, int64_t n) {
    const l3_block_q5_K *b = row;
    for (int64_t i = 0; i < n / L3_QK_K; i++)
        panel_k45(b[i].scales, b[i].qs, b[i].qh, h2f(b[i].d), h2f(b[i].dmin), u + 256 * i, sc + 64 * i, mn + 16 * i);
}
static void panel_q6_K(const void *row, uint8_t *u, float *sc, float *mn, int64_t n) {
    const l3_block_q6_K *b = row;
    for (int64_t i = 0; i < n / L3_QK_K; i++, u += 256, sc += 64, mn += 16) {
        const float dd = h2f(b[i].d);
        for (int h = 0; h < 2; h++) {
            const __m256i ql0 = ld32(b[i].ql + 64 * h), ql1 = ld32(b[i].ql + 64 * h + 32), qh = ld32(b[i].qh + 32 * h);
            for (int qt = 0; qt < 4; qt++) st_u(u + 128 * h + 32 * qt, q6_u(ql0, ql1, qh, qt));
        }
        for (int k = 0; k < 16; k++) {
            const float ds = dd * b[i].scales[k];
            _mm_storeu_ps(sc + 4 * k, _mm_set1_ps(ds));
            mn[k] = 32 * ds;
        }
    }
}

/* ---- prefill: what the packed tile products (weight rows in vector lanes) share ---------- */

/* The lane scales and mins' terms of a tile of nw <= 16 panel rows per 16 values, [n/16][16
 * rows] (lane 4h of a row's scales: values 16h..16h+15; zeros for missing rows). Returns
 * whether both 16s of every block of 32 share their scale in every row. */
static uint32_t pack_scales16(const float *sc, const float *mn, int nw, int64_t n, float *sc16, float *mn16) {
    uint32_t same32 = 1;
    for (int64_t h = 0; h < n / 16; h++)
        for (int r = 0; r < 16; r++) {
            sc16[16 * h + r] = r < nw ? sc[r * (n / 4) + 4 * h] : 0.0f;
            mn16[16 * h + r] = r < nw ? mn[r * (n / 16) + h] : 0.0f;
            if (h % 2 == 1 && sc16[16 * h + r] != sc16[16 * (h - 1) + r]) same32 = 0;
        }
    return same32;
}

/* Installs the 8-bit kernels (each set's tile product takes Q8_0's panel values up to 255:
 * vpdpbusd, or signed bytes with plain AVX2) */
static void install_q8_kernels(l3_kernel_set *k) {
    for (int t = 0; t < L3_TYPE_COUNT; t++) k->dot_q8[t] = NULL, k->to_panel[t] = NULL, k->dotn_q8[t] = NULL;
    k->quantize_q8 = quantize_q8;
#define SET(T, name) k->dot_q8[T] = dot_q8_##name, k->to_panel[T] = panel_##name
    SET(L3_Q8_0, q8_0); SET(L3_Q4_0, q4_0); SET(L3_Q4_K, q4_K); SET(L3_Q5_K, q5_K); SET(L3_Q6_K, q6_K);
#undef SET
    k->gemm_q8 = NULL;  /* (each set installs its own tile product and panel layout) */
    k->panel_pack = NULL;
    k->use_q8 = 1;
}

#endif
