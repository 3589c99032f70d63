/* AVX2 + FMA + F16C kernel set (compiled with those flags; used only when the CPU has them).
 * Float kernels use 4 independent accumulators to hide FMA latency; quantized weights are
 * widened in registers and multiplied by f32 activations (quant_simd.h). avx2_vnni.c builds
 * this file again with L3_AVX2_VNNI (and -mavxvnni): the "avx2vnni" set, whose 8-bit dots are
 * one AVX-VNNI instruction instead of two (CPUs with AVX-VNNI but without AVX-512). */
#include <immintrin.h>

#include "backend/cpu/kernels/x86/features.h"
#include "backend/cpu/kernels/kernels.h"
#include "backend/cpu/kernels/x86/sets.h"

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Lanes 0..r-1 of a mask for maskload/maskstore (0 < r < 8). */
static inline __m256i tail_mask(int64_t r) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)r), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* ---- the float side of quant_simd.h --------------------------------------------------- */

typedef __m256 vf;
static inline vf vf_zero(void) { return _mm256_setzero_ps(); }
static inline vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline float vf_hsum(vf v) { return hsum8(v); }
static inline vf vf_fma_s(float s, vf v, vf acc) { return _mm256_fmadd_ps(_mm256_set1_ps(s), v, acc); }
static inline __m256 cvt8(__m128i q) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)); }
static inline vf vf_dot16(__m128i q, const float *x) {
    __m256 p = _mm256_mul_ps(cvt8(q), _mm256_loadu_ps(x));
    return _mm256_fmadd_ps(cvt8(_mm_srli_si128(q, 8)), _mm256_loadu_ps(x + 8), p);
}
static inline vf vf_sum16(const float *x) { return _mm256_add_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8)); }
static inline void st16(float *dst, __m128i q, float s) {
    __m256 vs = _mm256_set1_ps(s);
    _mm256_storeu_ps(dst, _mm256_mul_ps(vs, cvt8(q)));
    _mm256_storeu_ps(dst + 8, _mm256_mul_ps(vs, cvt8(_mm_srli_si128(q, 8))));
}
static inline void st16_bias(float *dst, __m128i q, float s, float b) {
    __m256 vs = _mm256_set1_ps(s), vb = _mm256_set1_ps(b);
    _mm256_storeu_ps(dst, _mm256_add_ps(_mm256_mul_ps(cvt8(q), vs), vb));
    _mm256_storeu_ps(dst + 8, _mm256_add_ps(_mm256_mul_ps(cvt8(_mm_srli_si128(q, 8)), vs), vb));
}

#include "backend/cpu/kernels/x86/quant_simd.h"

#ifdef L3_AVX2_VNNI
/* u8 x s8 products summed 4 to an int32 lane: one AVX-VNNI vpdpbusd (exact for every u) */
static inline __m256i dot8acc(__m256i acc, __m256i u, __m256i x) { return _mm256_dpbusd_avx_epi32(acc, u, x); }
#else
/* u8 x s8 products summed 4 to an int32 lane: maddubs (pairs, saturating at 16 bits, exact
 * for u <= 128) then madd with ones */
static inline __m256i dot8acc(__m256i acc, __m256i u, __m256i x) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1)));
}
/* both activation levels, 256 (u . q) + u . q2: the 256 rides in the first madd's multiplier
 * instead of a shift (pair sums of maddubs are at most 2 x 128 x 127, so 256 times two of
 * them fit an int32): one operation fewer per 32 values, the same integers */
static inline __m256i dot16(__m256i u, __m256i q, __m256i q2) {
    return _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(u, q), _mm256_set1_epi16(256)),
                            _mm256_madd_epi16(_mm256_maddubs_epi16(u, q2), _mm256_set1_epi16(1)));
}
#define Q8_OWN_DOT16
#endif
#include "backend/cpu/kernels/x86/q8_simd.h"
#include "backend/cpu/kernels/x86/avx2/decode_tiles.h"
#include "backend/cpu/kernels/x86/avx2/group_lanes.h"

/* ---- f32 / f16 / bf16 ----------------------------------------------------------------- */

/* Loads 8 elements of each float format as f32. */
static inline __m256 ld_f32(const void *p, int64_t i) { return _mm256_loadu_ps((const float *)p + i); }
static inline __m256 ld_f16(const void *p, int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
}
static inline __m256 ld_bf16(const void *p, int64_t i) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}
static inline float el_f32(const void *p, int64_t i) { return ((const float *)p)[i]; }
static inline float el_f16(const void *p, int64_t i) { return l3_f16_to_f32(((const uint16_t *)p)[i]); }
static inline float el_bf16(const void *p, int64_t i) { return l3_bf16_to_f32(((const uint16_t *)p)[i]); }

/* dot(weights of a float format, f32 x), 32 per step in 4 accumulators, scalar tail. */
#define FLOAT_DOT(name, LD, EL)                                                            \
    static float dot_##name(const void *w, const float *x, int64_t n) {                    \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                         \
        int64_t i = 0;                                                                      \
        for (; i + 32 <= n; i += 32) {                                                      \
            a0 = _mm256_fmadd_ps(LD(w, i), _mm256_loadu_ps(x + i), a0);                     \
            a1 = _mm256_fmadd_ps(LD(w, i + 8), _mm256_loadu_ps(x + i + 8), a1);             \
            a2 = _mm256_fmadd_ps(LD(w, i + 16), _mm256_loadu_ps(x + i + 16), a2);           \
            a3 = _mm256_fmadd_ps(LD(w, i + 24), _mm256_loadu_ps(x + i + 24), a3);           \
        }                                                                                   \
        for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(LD(w, i), _mm256_loadu_ps(x + i), a0); \
        float s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));        \
        for (; i < n; i++) s += EL(w, i) * x[i];                                            \
        return s;                                                                           \
    }
FLOAT_DOT(f32w, ld_f32, el_f32)
FLOAT_DOT(f16w, ld_f16, el_f16)
FLOAT_DOT(bf16w, ld_bf16, el_bf16)

static void to_float_f16(const void *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, ld_f16(src, i));
    for (; i < n; i++) dst[i] = el_f16(src, i);
}
static void to_float_bf16(const void *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, ld_bf16(src, i));
    for (; i < n; i++) dst[i] = el_bf16(src, i);
}

static float dot_f32(const float *a, const float *b, int64_t n) { return dot_f32w(a, b, n); }
static float dot_f16_f32(const uint16_t *a, const float *b, int64_t n) { return dot_f16w(a, b, n); }

static void axpy_f32(float a, const float *x, float *y, int64_t n) {
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}
static void axpy_f16(float a, const uint16_t *x, float *y, int64_t n) {
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, ld_f16(x, i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * el_f16(x, i);
}

/* as the scalar reference: s = a * scale per block, then y + s * q (fused here) */
static void axpy_q8_0(float a, const void *x, float *y, int64_t n) {
    const l3_block_q8_0 *b = x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const __m256 s = _mm256_set1_ps(a * h2f(b[i].d));
        L3_UNROLL for (int j = 0; j < 32; j += 8)
            _mm256_storeu_ps(y + j, _mm256_fmadd_ps(s, cvt8(_mm_loadl_epi64((const __m128i *)(b[i].qs + j))),
                                                    _mm256_loadu_ps(y + j)));
    }
}

/* ---- tile product: 4 weight rows x 3 activation rows per micro-tile -------------------- */

/* 12 accumulators + 3 activation vectors + 1 weight vector fill the 16 ymm registers.
 * Missing rows at the edges alias the last valid row; their results are not stored. */
static void micro_4x3(const float *w, int64_t ldw, int nw, const float *x, int64_t ldx, int nx,
                      float *y, int64_t ldy, int64_t n) {
    const float *wp[4], *xp[3];
    for (int i = 0; i < 4; i++) wp[i] = w + (i < nw ? i : nw - 1) * ldw;
    for (int j = 0; j < 3; j++) xp[j] = x + (j < nx ? j : nx - 1) * ldx;
    __m256 acc[4][3];
    L3_UNROLL for (int i = 0; i < 4; i++)
        L3_UNROLL for (int j = 0; j < 3; j++) acc[i][j] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 x0 = _mm256_loadu_ps(xp[0] + k), x1 = _mm256_loadu_ps(xp[1] + k), x2 = _mm256_loadu_ps(xp[2] + k);
        L3_UNROLL for (int i = 0; i < 4; i++) {
            __m256 wv = _mm256_loadu_ps(wp[i] + k);
            acc[i][0] = _mm256_fmadd_ps(wv, x0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(wv, x1, acc[i][1]);
            acc[i][2] = _mm256_fmadd_ps(wv, x2, acc[i][2]);
        }
    }
    if (k < n) {  /* masked tail: lanes past n read as zero */
        __m256i m = tail_mask(n - k);
        __m256 x0 = _mm256_maskload_ps(xp[0] + k, m), x1 = _mm256_maskload_ps(xp[1] + k, m),
               x2 = _mm256_maskload_ps(xp[2] + k, m);
        L3_UNROLL for (int i = 0; i < 4; i++) {
            __m256 wv = _mm256_maskload_ps(wp[i] + k, m);
            acc[i][0] = _mm256_fmadd_ps(wv, x0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(wv, x1, acc[i][1]);
            acc[i][2] = _mm256_fmadd_ps(wv, x2, acc[i][2]);
        }
    }
    /* constant indices only (acc stays in registers), the edges' results not stored */
    L3_UNROLL for (int j = 0; j < 3; j++)
        L3_UNROLL for (int i = 0; i < 4; i++)
            if (i < nw && j < nx) y[j * ldy + i] += hsum8(acc[i][j]);
}

static void gemm_f32(const float *w, int64_t ldw, int nw, const float *x, int64_t ldx, int nx,
                     float *y, int64_t ldy, int64_t n) {
    /* activation block outermost: its 3 rows stay in L1 while the weight panel streams */
    for (int j = 0; j < nx; j += 3)
        for (int i = 0; i < nw; i += 4)
            micro_4x3(w + i * ldw, ldw, nw - i < 4 ? nw - i : 4, x + j * ldx, ldx, nx - j < 3 ? nx - j : 3,
                      y + (int64_t)j * ldy + i, ldy, n);
}


/* ---- prefill: the 8-bit tile product with weight rows in vector lanes ------------------
 * As avx512.c's, on 8 lanes: the tile's 16 panel rows are packed as two halves of 8 rows,
 * each 32-byte vector holding the same 4 values of 8 rows, and an activation row's 4 values
 * are broadcast to all lanes, so one integer dot advances 8 (weight row, activation row)
 * pairs by 4 values; scales, mins and the conversion to float are applied once per 16 (or
 * 32) values to 8 pairs at once, and results are stored as vectors (no horizontal sums). */

/* 32 values of 8 rows (r[i]: row i's) as the panel's 8 rows of 8 rows x 4 values at w: an 8 x 8
 * dword transpose */
static inline void transpose8_store(__m256i *r, uint8_t *w) {
    __m256i t[8];
    for (int i = 0; i < 8; i += 2) t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]), t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]), r[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]), r[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    /* r[0..3]: dwords 0, 1, 2, 3 of rows 0-3 | dwords 4-7 of the same rows; r[4..7]: rows 4-7 */
    for (int c = 0; c < 4; c++) {
        _mm256_storeu_si256((__m256i *)(w + 32 * c), _mm256_permute2x128_si256(r[c], r[4 + c], 0x20));
        _mm256_storeu_si256((__m256i *)(w + 32 * (4 + c)), _mm256_permute2x128_si256(r[c], r[4 + c], 0x31));
    }
}

/* the panel's flags after its mins' terms (panel_pack8), from its bytes' maximum umax */
static void panel8_flags(__m256i umax, uint32_t same32, int64_t n, const float *sc16, float *mn16) {
    /* every u <= 32: no byte above 32 (u - 33 saturates to 0 unsigned) */
    const uint32_t small = _mm256_testz_si256(_mm256_subs_epu8(umax, _mm256_set1_epi8(32)), _mm256_set1_epi8(-1));
#ifdef L3_AVX2_VNNI
    const uint32_t wide = 0;  /* (vpdpbusd: any u exact) */
    (void)sc16;
#else
    const uint32_t wide = !_mm256_testz_si256(_mm256_subs_epu8(umax, _mm256_set1_epi8((char)128)), _mm256_set1_epi8(-1));
    if (wide)  /* sc (u - 128) . x - (mn - 128 sc) s = sc u . x - mn s */
        for (int64_t i = 0; i < n; i++) mn16[i] -= 128 * sc16[i];
#endif
    memcpy(mn16 + n, &same32, sizeof same32);
    memcpy(mn16 + n + 1, &small, sizeof small);
    memcpy(mn16 + n + 2, &wide, sizeof wide);
}

/* out: [half][n/4][8 rows][4 values] (two halves of 8n bytes), then [n/16][16 rows] lane
 * scales (lane 4h: values 16h..16h+15) and as many mins' terms, then three flags: both 16s of
 * each 32 share their scale; every u <= 32 (four maddubs pair sums then fit 16 bits); some u >
 * 128 (Q8_0's panels: without VNNI the tile then takes w = u - 128 as signed bytes, and the
 * mins' terms here are mn - 128 sc, zero for Q8_0). */
static void panel_pack8(const uint8_t *u, const float *sc, const float *mn, int nw, int64_t n, uint8_t *out) {
    float *sc16 = (float *)(out + 16 * n), *mn16 = sc16 + n;
    __m256i umax = _mm256_setzero_si256();
    for (int half = 0; half < 2; half++) {
        uint8_t *w = out + half * 8 * n;
        for (int64_t g = 0; g < n / 32; g++) {  /* 32 values of 8 rows: an 8 x 8 dword transpose */
            __m256i r[8];
            for (int i = 0; i < 8; i++) {
                const int row = 8 * half + i;
                r[i] = row < nw ? _mm256_loadu_si256((const __m256i *)(u + row * n + 32 * g)) : _mm256_setzero_si256();
                umax = _mm256_max_epu8(umax, r[i]);
            }
            transpose8_store(r, w + 32 * 8 * g);
        }
    }
    panel8_flags(umax, pack_scales16(sc, mn, nw, n, sc16, mn16), n, sc16, mn16);
}

/* kernels.h panel_rows for Q8_0 (the file's rows: no Q8_0 groups here): panel_q8_0 and
 * panel_pack8 in one pass, each block of 8 rows read once (u = w + 128), their 8 scales
 * widened together (d, 128 d) */
static void panel_rows_q8_0(const void *rows, size_t row_bytes, int nw, int64_t n, uint8_t *out) {
    float *sc16 = (float *)(out + 16 * n), *mn16 = sc16 + n;
    const __m256i x80 = _mm256_set1_epi8((char)0x80);
    const __m256 f128 = _mm256_set1_ps(128.0f);
    __m256i umax = _mm256_setzero_si256();
    __m256 nan = _mm256_setzero_ps();
    for (int half = 0; half < 2; half++) {
        const l3_block_q8_0 *b[8];
        for (int i = 0; i < 8; i++) b[i] = 8 * half + i < nw ? (const l3_block_q8_0 *)((const uint8_t *)rows + (8 * half + i) * row_bytes) : NULL;
        for (int64_t k = 0; k < n / 32; k++) {
            __m256i r[8];
            __m128i h = _mm_setzero_si128();
            for (int i = 0; i < 8; i++) {
                r[i] = b[i] ? _mm256_xor_si256(ld32(b[i][k].qs), x80) : _mm256_setzero_si256();
                if (b[i]) h = _mm_insert_epi16(h, b[i][k].d, 0), h = _mm_alignr_epi8(h, h, 2);  /* (row i ends in lane i) */
                else h = _mm_alignr_epi8(h, h, 2);
                umax = _mm256_max_epu8(umax, r[i]);
            }
            const __m256 d = _mm256_cvtph_ps(h), dm = _mm256_mul_ps(f128, d);
            nan = _mm256_or_ps(nan, _mm256_cmp_ps(d, d, _CMP_UNORD_Q));
            _mm256_storeu_ps(sc16 + 16 * (2 * k) + 8 * half, d), _mm256_storeu_ps(sc16 + 16 * (2 * k + 1) + 8 * half, d);
            _mm256_storeu_ps(mn16 + 16 * (2 * k) + 8 * half, dm), _mm256_storeu_ps(mn16 + 16 * (2 * k + 1) + 8 * half, dm);
            transpose8_store(r, out + half * 8 * n + 32 * 8 * k);
        }
    }
    panel8_flags(umax, (uint32_t)_mm256_testz_ps(nan, nan), n, sc16, mn16);  /* (pack_scales16's same32) */
}

/* kernels.h panel_from_group: the two halves of a panel are two groups of 8 rows (group_panel.h) */
static inline __attribute__((always_inline)) void panel_group8(const int T, const uint8_t *group, int64_t n, uint8_t *out) {
    float *sc16 = (float *)(out + 16 * n), *mn16 = sc16 + n;
    const size_t bytes = 8 * l3_row_bytes(T, n);  /* a group of 8 rows */
    gi umax = _mm256_setzero_si256();
    int same32 = 1;
    const int l2 = l3_cpu()->intel;
    for (int half = 0; half < 2; half++) {
        int same;
        umax = gi_max_u8(umax, group_panel(T, group + half * bytes, 0, 0, n, out + half * 8 * n, sc16 + 8 * half, mn16 + 8 * half, &same, l2));
        same32 &= same;
    }
    panel8_flags(umax, (uint32_t)same32, n, sc16, mn16);
}
#define PANEL_GROUP(name, T) \
    static void panel_group_##name(const uint8_t *group, int r0, int64_t n, uint8_t *out) { (void)r0; panel_group8(T, group, n, out); }
PANEL_GROUP(q4_0, L3_Q4_0)
PANEL_GROUP(q4_K, L3_Q4_K)
PANEL_GROUP(q5_K, L3_Q5_K)
PANEL_GROUP(q6_K, L3_Q6_K)
#undef PANEL_GROUP

/* acc + the 8 lanes' dots of values 4c..4c+3 (c = 0..3) of 8 weight rows (w[c]) with the
 * activation's 16 values x (broadcast to both 128-bit halves). Without VNNI: maddubs pair
 * sums (exact: u <= 64), two added in 16 bits, or all four where every u <= 32 (NARROW). */
static inline __attribute__((always_inline)) __m256i quad8(__m256i acc, const __m256i *w, __m256i x, const int NARROW) {
    const __m256i x0 = _mm256_shuffle_epi32(x, 0x00), x1 = _mm256_shuffle_epi32(x, 0x55);
    const __m256i x2 = _mm256_shuffle_epi32(x, 0xaa), x3 = _mm256_shuffle_epi32(x, 0xff);
#ifdef L3_AVX2_VNNI
    (void)NARROW;
    acc = _mm256_dpbusd_avx_epi32(acc, w[0], x0);
    acc = _mm256_dpbusd_avx_epi32(acc, w[1], x1);
    acc = _mm256_dpbusd_avx_epi32(acc, w[2], x2);
    return _mm256_dpbusd_avx_epi32(acc, w[3], x3);
#else
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i a = _mm256_add_epi16(_mm256_maddubs_epi16(w[0], x0), _mm256_maddubs_epi16(w[1], x1));
    const __m256i b = _mm256_add_epi16(_mm256_maddubs_epi16(w[2], x2), _mm256_maddubs_epi16(w[3], x3));
    if (NARROW) return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_add_epi16(a, b), ones));
    return _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(a, ones), _mm256_madd_epi16(b, ones)));
#endif
}

/* The same for signed weights ws (|ws| <= 128, wa = |ws|) without VNNI: the weights' signs moved
 * onto the activation, each maddubs (pairs up to 2 x 128 x 127) widened on its own. */
static inline __attribute__((always_inline)) __m256i quad8s(__m256i acc, const __m256i *wa, const __m256i *ws, __m256i x) {
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i x0 = _mm256_shuffle_epi32(x, 0x00), x1 = _mm256_shuffle_epi32(x, 0x55);
    const __m256i x2 = _mm256_shuffle_epi32(x, 0xaa), x3 = _mm256_shuffle_epi32(x, 0xff);
    const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(wa[0], _mm256_sign_epi8(x0, ws[0])), ones);
    const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(wa[1], _mm256_sign_epi8(x1, ws[1])), ones);
    const __m256i p2 = _mm256_madd_epi16(_mm256_maddubs_epi16(wa[2], _mm256_sign_epi8(x2, ws[2])), ones);
    const __m256i p3 = _mm256_madd_epi16(_mm256_maddubs_epi16(wa[3], _mm256_sign_epi8(x3, ws[3])), ones);
    return _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_add_epi32(p0, p1), _mm256_add_epi32(p2, p3)));
}

/* RN activation rows x the 8 weight rows of a half tile; STEP values (16, or 32 where both
 * 16s of each block share the scale) per scale product; LEVELS 2: two-level activations (q2), 1: the first level alone;
 * SIGNED: the panel's flag of some u > 128 (w = u - 128, quad8s). Missing
 * activation rows alias the last valid one and are not stored; missing weight rows are zero
 * lanes, not stored. */
static inline __attribute__((always_inline)) void lanes8(const int RN, const int STEP, const int LEVELS, const int NARROW,
                                                         const int SIGNED,
                                                         const uint8_t *w, const float *sc16, const float *mn16, int nw,
                                                         const int8_t *q, const int8_t *q2, const float *d,
                                                         const float *s, int nx, float *y, int64_t ldy, int64_t n) {
    const int8_t *qp[4], *q2p[4];
    const float *dp[4], *sp[4];
    for (int j = 0; j < RN; j++) {
        const int r = j < nx ? j : nx - 1;
        qp[j] = q + r * n, q2p[j] = LEVELS == 2 ? q2 + r * n : q + r * n, dp[j] = d + r * n / 32, sp[j] = s + r * n / 16;
    }
    __m256 acc[4];
    L3_UNROLL for (int j = 0; j < RN; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t h = 0; h < n / 16; h += STEP / 16) {
        __m256i wv[8], ws[8];
        L3_UNROLL for (int i = 0; i < STEP / 4; i++) wv[i] = _mm256_loadu_si256((const __m256i *)(w + 128 * h + 32 * i));
        if (SIGNED)
            L3_UNROLL for (int i = 0; i < STEP / 4; i++)
                ws[i] = _mm256_xor_si256(wv[i], _mm256_set1_epi8((char)0x80)), wv[i] = _mm256_abs_epi8(ws[i]);
        const __m256 sv = _mm256_loadu_ps(sc16 + 16 * h);
        L3_UNROLL for (int j = 0; j < RN; j++) {
            __m256i hi = _mm256_setzero_si256(), lo = hi;
            L3_UNROLL for (int k = 0; k < STEP / 16; k++) {
                const __m256i x = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(qp[j] + 16 * (h + k))));
                hi = SIGNED ? quad8s(hi, wv + 4 * k, ws + 4 * k, x) : quad8(hi, wv + 4 * k, x, NARROW);
                if (LEVELS == 2) {
                    const __m256i x2 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(q2p[j] + 16 * (h + k))));
                    lo = SIGNED ? quad8s(lo, wv + 4 * k, ws + 4 * k, x2) : quad8(lo, wv + 4 * k, x2, NARROW);
                }
            }
            const __m256i v = LEVELS == 2 ? _mm256_add_epi32(_mm256_slli_epi32(hi, 8), lo) : hi;
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(v), _mm256_mul_ps(sv, _mm256_set1_ps(dp[j][h / 2])), acc[j]);
            L3_UNROLL for (int k = 0; k < STEP / 16; k++)
                acc[j] = _mm256_fnmadd_ps(_mm256_loadu_ps(mn16 + 16 * (h + k)), _mm256_set1_ps(sp[j][h + k]), acc[j]);
        }
    }
    L3_UNROLL for (int j = 0; j < RN; j++)
        if (j < nx) {
            if (nw >= 8) _mm256_storeu_ps(y + j * ldy, acc[j]);
            else _mm256_maskstore_ps(y + j * ldy, tail_mask(nw), acc[j]);
        }
}

static void gemm_q8_lanes(const uint8_t *u, const float *sc, const float *mn, int nw, const int8_t *q, const int8_t *q2,
                          const float *d, const float *s, int nx, float *y, int64_t ldy, int64_t n) {
    enum { RN = 4 };
    uint32_t same32, small, wide;
    memcpy(&same32, mn + n, sizeof same32);  /* panel_pack8's flags */
    memcpy(&small, mn + n + 1, sizeof small);
    memcpy(&wide, mn + n + 2, sizeof wide);
    for (int half = 0; half * 8 < nw; half++) {
        const uint8_t *w = u + (int64_t)half * 8 * n;
        const float *sch = sc + 8 * half, *mnh = mn + 8 * half;
        const int nwh = nw - 8 * half < 8 ? nw - 8 * half : 8;
        for (int j = 0; j < nx; j += RN) {
            const int m = nx - j < RN ? nx - j : RN;
            const int8_t *qj = q + j * n, *q2j = q2 ? q2 + j * n : NULL;
            const float *dj = d + j * n / 32, *sj = s + j * n / 16;
            float *yj = y + (int64_t)j * ldy + 8 * half;
#define LANES8(STEP, LEVELS, NARROW) lanes8(RN, STEP, LEVELS, NARROW, 0, w, sch, mnh, nwh, qj, q2j, dj, sj, m, yj, ldy, n)
#define SIGNED8(LEVELS) lanes8(RN, 16, LEVELS, 0, 1, w, sch, mnh, nwh, qj, q2j, dj, sj, m, yj, ldy, n)
            if (wide) {  /* (16 values per step: 8 registers of weights and their signs) */
                if (q2) SIGNED8(2);
                else SIGNED8(1);
            } else if (q2) {
                if (same32) small ? LANES8(32, 2, 1) : LANES8(32, 2, 0);
                else small ? LANES8(16, 2, 1) : LANES8(16, 2, 0);
            } else {
                if (same32) small ? LANES8(32, 1, 1) : LANES8(32, 1, 0);
                else small ? LANES8(16, 1, 1) : LANES8(16, 1, 0);
            }
#undef LANES8
#undef SIGNED8
        }
    }
}

#ifdef L3_AVX2_VNNI
int l3_kernels_init_avx2vnni(l3_kernel_set *k) {
    const l3_cpu_features *cpu = l3_cpu();
    if (!cpu->avx2 || !cpu->fma || !cpu->f16c || !cpu->avxvnni) return 0;
    k->isa = "avx2vnni";
#else
int l3_kernels_init_avx2(l3_kernel_set *k) {
    const l3_cpu_features *cpu = l3_cpu();
    if (!cpu->avx2 || !cpu->fma || !cpu->f16c) return 0;
    k->isa = "avx2";
#endif
    k->dot[L3_F32] = dot_f32w;
    k->dot[L3_F16] = dot_f16w;
    k->dot[L3_BF16] = dot_bf16w;
    k->to_float[L3_F16] = to_float_f16;
    k->to_float[L3_BF16] = to_float_bf16;
    install_quant_kernels(k);
    install_q8_kernels(k);
    install_decode_tiles(k);  /* dot_q8 and dotn_q8 of the types it has: multi-row decode */
    install_group_tiles(k);   /* decode on rows grouped at load (row_groups.h) */
    k->dot_f32 = dot_f32;
    k->axpy_f32 = axpy_f32;
    k->dot_f16_f32 = dot_f16_f32;
    k->axpy_f16 = axpy_f16;
    k->axpy_q8_0 = axpy_q8_0;  /* the AVX-512 set keeps this one */
    k->gemm_f32 = gemm_f32;
    k->gemm_q8 = gemm_q8_lanes;
    k->panel_pack = panel_pack8;
    if (!k->group_rows[L3_Q8_0]) k->panel_rows[L3_Q8_0] = panel_rows_q8_0;
    if (k->group_rows[L3_Q4_0] == 8) k->panel_from_group[L3_Q4_0] = panel_group_q4_0;
    if (k->group_rows[L3_Q4_K] == 8) k->panel_from_group[L3_Q4_K] = panel_group_q4_K;
    if (k->group_rows[L3_Q5_K] == 8) k->panel_from_group[L3_Q5_K] = panel_group_q5_K;
    if (k->group_rows[L3_Q6_K] == 8) k->panel_from_group[L3_Q6_K] = panel_group_q6_K;
    return 1;
}
