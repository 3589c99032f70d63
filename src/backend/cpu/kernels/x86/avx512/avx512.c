/* AVX-512 (F, BW, VL, DQ) kernel set: 16 lanes per vector, mask registers for tails and for
 * Q5's fifth bits; quantized weights are widened in registers (quant_simd.h). */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "backend/cpu/kernels/x86/features.h"
#include "backend/cpu/kernels/kernels.h"
#include "backend/cpu/kernels/x86/sets.h"
#include "backend/cpu/kernels/row_groups.h"

static inline __mmask16 tail16(int64_t r) { return (__mmask16)((1u << r) - 1); }

/* ---- the float side of quant_simd.h --------------------------------------------------- */

typedef __m512 vf;
static inline vf vf_zero(void) { return _mm512_setzero_ps(); }
static inline vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline float vf_hsum(vf v) { return _mm512_reduce_add_ps(v); }
static inline vf vf_fma_s(float s, vf v, vf acc) { return _mm512_fmadd_ps(_mm512_set1_ps(s), v, acc); }
static inline __m512 cvt16(__m128i q) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)); }
static inline vf vf_dot16(__m128i q, const float *x) { return _mm512_mul_ps(cvt16(q), _mm512_loadu_ps(x)); }
static inline vf vf_sum16(const float *x) { return _mm512_loadu_ps(x); }
static inline void st16(float *dst, __m128i q, float s) { _mm512_storeu_ps(dst, _mm512_mul_ps(_mm512_set1_ps(s), cvt16(q))); }
static inline void st16_bias(float *dst, __m128i q, float s, float b) {
    _mm512_storeu_ps(dst, _mm512_add_ps(_mm512_mul_ps(cvt16(q), _mm512_set1_ps(s)), _mm512_set1_ps(b)));
}

#include "backend/cpu/kernels/x86/quant_simd.h"

/* u8 x s8 products summed 4 to an int32 lane (AVX512-VNNI on 256-bit vectors) */
static inline __m256i dot8acc(__m256i acc, __m256i u, __m256i x) { return _mm256_dpbusd_epi32(acc, u, x); }
#include "backend/cpu/kernels/x86/q8_simd.h"

/* The prefill tile product on 512-bit registers, one vector lane per weight row: the tile's
 * 16 panel rows are packed so that each 64-byte vector holds the same 4 values of all 16 rows
 * (panel_pack16), and each activation row's 4 values are broadcast to all lanes, so one
 * integer dot product advances 16 (row, activation row) pairs by 4 values and the scales are
 * applied once per 16 values to 16 pairs at once (no horizontal sums; results are stored as
 * vectors). Per 16 values and activation row: 8 dots (4 per level), a shift, a convert, the scale product, an FMA and the mins' term. */
/* r[k] = column k of the 16 x 16 matrix of 32-bit values whose rows are r[0..15] */
static inline void transpose16_epi32(__m512i *r) {
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]), t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]), r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]), r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < 4; k++) {
            t[8 * h + k] = _mm512_shuffle_i32x4(r[8 * h + k], r[8 * h + 4 + k], 0x88);
            t[8 * h + 4 + k] = _mm512_shuffle_i32x4(r[8 * h + k], r[8 * h + 4 + k], 0xdd);
        }
    for (int k = 0; k < 8; k++) r[k] = _mm512_shuffle_i32x4(t[k], t[8 + k], 0x88), r[8 + k] = _mm512_shuffle_i32x4(t[k], t[8 + k], 0xdd);
}

/* pack_scales16 (q8_simd.h) 16 sixteens at a time where n is a multiple of 256: each row's
 * sixteens' scales (every 4th lane scale) and mins, transposed to [sixteen][row] */
static uint32_t pack_scales16_512(const float *sc, const float *mn, int nw, int64_t n, float *sc16, float *mn16) {
    if (n % 256) return pack_scales16(sc, mn, nw, n, sc16, mn16);
    const __m512i every4 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0);
    __mmask16 differ = 0;
    for (int64_t h0 = 0; h0 < n / 16; h0 += 16) {
        __m512i vs[16], vm[16];
        for (int r = 0; r < 16; r++) {
            if (r >= nw) {
                vs[r] = vm[r] = _mm512_setzero_si512();
                continue;
            }
            const float *p = sc + r * (n / 4) + 4 * h0;  /* 64 lane scales, of which every 4th */
            const __m512 lo = _mm512_permutex2var_ps(_mm512_loadu_ps(p), every4, _mm512_loadu_ps(p + 16));
            const __m512 hi = _mm512_permutex2var_ps(_mm512_loadu_ps(p + 32), every4, _mm512_loadu_ps(p + 48));
            vs[r] = _mm512_castps_si512(_mm512_shuffle_f32x4(lo, hi, 0x44));
            vm[r] = _mm512_loadu_si512(mn + r * (n / 16) + h0);
        }
        transpose16_epi32(vs);
        transpose16_epi32(vm);
        for (int k = 0; k < 16; k++) {
            _mm512_storeu_si512(sc16 + 16 * (h0 + k), vs[k]);
            _mm512_storeu_si512(mn16 + 16 * (h0 + k), vm[k]);
            if (k % 2) differ |= _mm512_cmp_ps_mask(_mm512_castsi512_ps(vs[k]), _mm512_castsi512_ps(vs[k - 1]), _CMP_NEQ_UQ);
        }
    }
    return differ == 0;
}

static void panel_pack16(const uint8_t *u, const float *sc, const float *mn, int nw, int64_t n, uint8_t *out) {
    uint8_t *w = out;                                         /* [n/4][16 rows][4 values] */
    float *sc16 = (float *)(out + 16 * n), *mn16 = sc16 + n;  /* [n/16][16 rows] */
    int64_t g0 = 0;
    for (; g0 + 16 <= n / 4; g0 += 16) {  /* 64 values of the 16 rows at a time: a transpose of their 4-byte groups */
        __m512i r[16];
        for (int i = 0; i < 16; i++) r[i] = i < nw ? _mm512_loadu_si512(u + i * n + 4 * g0) : _mm512_setzero_si512();
        transpose16_epi32(r);
        for (int k = 0; k < 16; k++) _mm512_storeu_si512(w + 64 * (g0 + k), r[k]);
    }
    for (int64_t g = g0; g < n / 4; g++)
        for (int r = 0; r < 16; r++) {
            if (r < nw) memcpy(w + 64 * g + 4 * r, u + r * n + 4 * g, 4);
            else memset(w + 64 * g + 4 * r, 0, 4);
        }
    const uint32_t same32 = pack_scales16_512(sc, mn, nw, n, sc16, mn16);
    memcpy(mn16 + n, &same32, sizeof same32);
}

/* the 16 bytes at p in every 128-bit lane; then bytes 4c..4c+3 in every 32-bit lane (dword c
 * broadcast within the lanes). A broadcast load per 4 bytes (or a broadcast memory operand
 * of vpdpbusd) runs at a third of this speed here (measured). */
static inline __m512i lanes16(const int8_t *p) { return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)p)); }
#define DWORD(v, c) _mm512_shuffle_epi32(v, (_MM_PERM_ENUM)((c) * 0x55))
/* the NR activation rows of a multi-row tile (kernels.h layout); missing rows (j >= nx) alias
 * the last valid one, and their results are not stored. q2 may be NULL (one level: q2p NULL),
 * sp too (types without mins). */
static inline __attribute__((always_inline)) void act_rows(const int NR, int nx, const int8_t *q, const int8_t *q2,
                                                           const float *d, const float *s, int64_t n, const int8_t **qp,
                                                           const int8_t **q2p, const float **dp, const float **sp) {
    for (int j = 0; j < NR; j++) {
        const int r = j < nx ? j : nx - 1;
        qp[j] = q + r * n, q2p[j] = q2 ? q2 + r * n : NULL, dp[j] = d + r * n / 32;
        if (sp) sp[j] = s + r * n / 16;
    }
}
/* RN activation rows (a constant after inlining); missing ones alias the last valid row.
 * LEVELS 2: two-level activations (256 x the first level's dots + the second's, d per unit of
 * the second); 1: the first level alone (q2 NULL, d per unit of q): half the integer work. */
static inline __attribute__((always_inline)) void q8_rows16(const int RN, const int STEP, const int LEVELS,
                                                            const uint8_t *w, const float *sc16, const float *mn16,
                                                            int nw, const int8_t *q, const int8_t *q2, const float *d,
                                                            const float *s, int nx, float *y, int64_t ldy, int64_t n) {
    const int8_t *qp[8], *q2p[8];
    const float *dp[8], *sp[8];
    act_rows(RN, nx, q, LEVELS == 2 ? q2 : NULL, d, s, n, qp, q2p, dp, sp);
    __m512 acc[8];
    L3_UNROLL for (int j = 0; j < RN; j++) acc[j] = _mm512_setzero_ps();
    /* STEP values (16, or 32 where both 16s of each block share the scale) per scale product */
    for (int64_t h = 0; h < n / 16; h += STEP / 16) {
        __m512i wv[8];
        L3_UNROLL for (int i = 0; i < STEP / 4; i++) wv[i] = _mm512_loadu_si512(w + 256 * h + 64 * i);
        const __m512 sv = _mm512_loadu_ps(sc16 + 16 * h);
        L3_UNROLL for (int j = 0; j < RN; j++) {
            const __m512i z = _mm512_setzero_si512();
            __m512i hi = z, lo = z;
            L3_UNROLL for (int k = 0; k < STEP / 16; k++) {
                /* (the shuffle's immediate must be a literal for clang) */
                const __m512i x = lanes16(qp[j] + 16 * (h + k));
                hi = _mm512_dpbusd_epi32(hi, wv[4 * k], DWORD(x, 0));
                hi = _mm512_dpbusd_epi32(hi, wv[4 * k + 1], DWORD(x, 1));
                hi = _mm512_dpbusd_epi32(hi, wv[4 * k + 2], DWORD(x, 2));
                hi = _mm512_dpbusd_epi32(hi, wv[4 * k + 3], DWORD(x, 3));
                if (LEVELS == 2) {
                    const __m512i x2 = lanes16(q2p[j] + 16 * (h + k));
                    lo = _mm512_dpbusd_epi32(lo, wv[4 * k], DWORD(x2, 0));
                    lo = _mm512_dpbusd_epi32(lo, wv[4 * k + 1], DWORD(x2, 1));
                    lo = _mm512_dpbusd_epi32(lo, wv[4 * k + 2], DWORD(x2, 2));
                    lo = _mm512_dpbusd_epi32(lo, wv[4 * k + 3], DWORD(x2, 3));
                }
            }
            const __m512i v = LEVELS == 2 ? _mm512_add_epi32(_mm512_slli_epi32(hi, 8), lo) : hi;
            acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), _mm512_mul_ps(sv, _mm512_set1_ps(dp[j][h / 2])), acc[j]);
            L3_UNROLL for (int k = 0; k < STEP / 16; k++)
                acc[j] = _mm512_fnmadd_ps(_mm512_loadu_ps(mn16 + 16 * (h + k)), _mm512_set1_ps(sp[j][h + k]), acc[j]);
        }
    }
    const __mmask16 m = nw >= 16 ? (__mmask16)0xffff : tail16(nw);
    L3_UNROLL for (int j = 0; j < RN; j++)
        if (j < nx) _mm512_mask_storeu_ps(y + j * ldy, m, acc[j]);
}
static void gemm_q8_512(const uint8_t *u, const float *sc, const float *mn, int nw, const int8_t *q, const int8_t *q2,
                        const float *d, const float *s, int nx, float *y, int64_t ldy, int64_t n) {
    enum { RN = 4 };  /* activation rows per pass: 6 or 8 spill registers (one level: 4 beats 2, 3, 6, 8 too) */
    uint32_t same32;
    memcpy(&same32, mn + n, sizeof same32);  /* panel_pack16's flag */
    for (int j = 0; j < nx; j += RN) {
        const int m = nx - j < RN ? nx - j : RN;
        const int8_t *qj = q + j * n, *q2j = q2 ? q2 + j * n : NULL;
        const float *dj = d + j * n / 32, *sj = s + j * n / 16;
        float *yj = y + (int64_t)j * ldy;
        if (same32 && q2) q8_rows16(RN, 32, 2, u, sc, mn, nw, qj, q2j, dj, sj, m, yj, ldy, n);
        else if (q2) q8_rows16(RN, 16, 2, u, sc, mn, nw, qj, q2j, dj, sj, m, yj, ldy, n);
        else if (same32) q8_rows16(RN, 32, 1, u, sc, mn, nw, qj, NULL, dj, sj, m, yj, ldy, n);
        else q8_rows16(RN, 16, 1, u, sc, mn, nw, qj, NULL, dj, sj, m, yj, ldy, n);
    }
}

/* ---- multi-row decode: one body per type for MR weight rows x NR activation rows ---------
 * Decode runs DR = 4-6 weight rows x 1 activation row per pass (independent accumulator
 * chains, each activation vector loaded once), a step of batched decode BMR x 4 or BMR x 2
 * (BMR = 4 for Q8_0 and Q4_0, 3 for the K-quants, whose scale products take more registers:
 * every pass rereads the activation rows, from L1 or L2, so the more weight rows per pass the
 * better, as long as nothing spills; 4 x 4 against 3 x 4: 6-9% more tokens/s at 8 rows); every
 * (weight row, activation row) pair takes the same instructions in the same order whatever
 * MR and NR are, so a row decoded in a batch gets the bits it gets alone, and dot_q8 is the
 * 1 x 1 case (Q8_0: the AVX2-width dot_q8_q8_0, whose arithmetic the body repeats). The
 * bodies prefetch a later pass's weights in address order as they go (seq_prefetch). */
#define DOTN_ENTRY(name, TILE, DR, BMR, ...)                                                        \
    __VA_ARGS__ static void dotn_##name(const void *rows, size_t row_bytes, int nw, const int8_t *q, const int8_t *q2, \
                            const float *d, const float *s, int nx, float *y, int64_t ldy, int64_t n) { \
        const uint8_t *r = rows;                                                                    \
        if (nx == 1) { /* decode */                                                                \
            for (int i = 0; i < nw; i += DR)                                                        \
                TILE(DR, 1, r + i * row_bytes, row_bytes, nw - i < DR ? nw - i : DR, q, q2, d, s, 1, y + i, ldy, n); \
            return;                                                                                 \
        }                                                                                           \
        for (int i = 0; i < nw; i += BMR)                                                           \
            for (int j = 0; j < nx; j += 4) {                                                       \
                const int64_t o = (int64_t)j * n;                                                   \
                const int mw = nw - i < BMR ? nw - i : BMR, mx = nx - j < 4 ? nx - j : 4;           \
                if (mx > 2)                                                                         \
                    TILE(BMR, 4, r + i * row_bytes, row_bytes, mw, q + o, q2 + o, d + o / 32, s + o / 16, mx, y + j * ldy + i, ldy, n); \
                else                                                                                \
                    TILE(BMR, 2, r + i * row_bytes, row_bytes, mw, q + o, q2 + o, d + o / 32, s + o / 16, mx, y + j * ldy + i, ldy, n); \
            }                                                                                       \
    }
static inline __m512 pair_ps(float lo, float hi) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(lo)), _mm256_set1_ps(hi), 1);
}
static inline __m512i pair_si(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}
static inline float hsum_pair(__m512 a) {
    return hsum256(_mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1)));
}

/* per int32 lane: the dot product of unsigned weight bytes u with a two-level activation
 * (256 x + x2, kernels.h), 4 bytes per lane */
static inline __m512i dot2_16(__m512i u, __m512i x, __m512i x2) {
    return _mm512_dpbusd_epi32(_mm512_slli_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), u, x), 8), u, x2);
}

/* ---- Q8_0: dot_q8_q8_0's arithmetic with its even blocks in the low and its odd blocks in
 * the high half of one accumulator (blocks b, b + 1 per step); the weights as w + 128
 * unsigned, minus 128 times the activation lane sums: the same exact integers as its sign
 * trick, the same scale products, FMAs and final sum. */
#define Q80_STEP(TWO)                                                                               \
    const __mmask64 mb = TWO ? ~(__mmask64)0 : (__mmask64)0xffffffffu;                             \
    const int64_t b1 = TWO ? b + 1 : b;                                                             \
    __m512i uv[4];                                                                                  \
    __m512 wv[4];                                                                                   \
    seq_prefetch(next + b * 34 * MR, 68 * MR);                                                      \
    L3_UNROLL for (int i = 0; i < MR; i++) {                                                        \
        uv[i] = _mm512_xor_si512(pair_si(ld32(wr[i][b].qs), ld32(wr[i][b1].qs)), k80);              \
        wv[i] = pair_ps(h2f(wr[i][b].d), TWO ? h2f(wr[i][b1].d) : 0.0f);                            \
    }                                                                                               \
    L3_UNROLL for (int j = 0; j < NR; j++) {                                                        \
        __m512i x = TWO ? _mm512_loadu_si512(qp[j] + 32 * b) : _mm512_maskz_loadu_epi8(mb, qp[j] + 32 * b); \
        __m512i x2 = TWO ? _mm512_loadu_si512(q2p[j] + 32 * b) : _mm512_maskz_loadu_epi8(mb, q2p[j] + 32 * b); \
        __asm__("" : "+v"(x), "+v"(x2)); /* loaded once for every weight row */                    \
        const __m512i cq = dot2_16(k80, x, x2); \
        const __m512 dv = _mm512_permutexvar_ps(dsel, _mm512_castps128_ps512(_mm_maskz_loadu_ps(TWO ? 3 : 1, dp[j] + b))); \
        L3_UNROLL for (int i = 0; i < MR; i++) {                                                    \
            const __m512i v = _mm512_sub_epi32(dot2_16(uv[i], x, x2), cq);                        \
            acc[i][j] = TWO ? _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), _mm512_mul_ps(wv[i], dv), acc[i][j]) \
                            : _mm512_mask3_fmadd_ps(_mm512_cvtepi32_ps(v), _mm512_mul_ps(wv[i], dv), acc[i][j], 0x00ff); \
        }                                                                                           \
    }
static inline __attribute__((always_inline)) void q80_tile(const int MR, const int NR, const uint8_t *rows,
                                                           size_t row_bytes, int nw, const int8_t *q, const int8_t *q2,
                                                           const float *d, const float *s, int nx, float *y,
                                                           int64_t ldy, int64_t n) {
    (void)s;
    const l3_block_q8_0 *wr[4];
    const int8_t *qp[4], *q2p[4];
    const float *dp[4];
    for (int i = 0; i < MR; i++) wr[i] = (const l3_block_q8_0 *)(rows + (i < nw ? i : nw - 1) * row_bytes);
    const uint8_t *next = rows + 2 * MR * row_bytes;  /* two passes on (1 pass: 1 thread 5% slower) */
    act_rows(NR, nx, q, q2, d, NULL, n, qp, q2p, dp, NULL);
    const __m512i dsel = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m512i k80 = _mm512_set1_epi8((char)0x80);
    __m512 acc[4][4];
    L3_UNROLL for (int i = 0; i < MR; i++)
        L3_UNROLL for (int j = 0; j < NR; j++) acc[i][j] = _mm512_setzero_ps();
    const int64_t nb = n / 32;
    int64_t b = 0;
    for (; b + 1 < nb; b += 2) { Q80_STEP(1) }
    if (b < nb) { Q80_STEP(0) }
    L3_UNROLL for (int j = 0; j < NR; j++)
        L3_UNROLL for (int i = 0; i < MR; i++)
            if (i < nw && j < nx) y[j * ldy + i] = hsum_pair(acc[i][j]);
}
DOTN_ENTRY(q8_0, q80_tile, 4, 4)


/* ---- Q4_0 (see the multi-row section above). A step covers blocks b and b + 1 (64
 * values): one 64-byte load holds both blocks (36 bytes), a byte permute lays out the bytes
 * of their 64 nibbles, a GFNI bit-matrix multiply takes each nibble, and a word permute lays
 * out their two scales. The offset 8 is exact integer work: 8 times
 * the activation's two-level sums (one pair of dots with a constant, per activation row),
 * subtracted from each weight row's dots. */
static const uint8_t q40_nib_idx[64] = {
    2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
    20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35 };
static const uint16_t q40_d_idx[32] = { 0, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9,
                                        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
/* one step of q40_tile: blocks b and b + 1 (TWO), or block b alone */
#define Q40_STEP(TWO)                                                                               \
    const __mmask64 mw = TWO ? ((__mmask64)1 << 36) - 1 : ((__mmask64)1 << 18) - 1;                \
    __m512i uv[8];                                                                                  \
    __m512 wv[8];                                                                                   \
    seq_prefetch(next + b * 18 * MR, 36 * MR);                                                      \
    L3_UNROLL for (int i = 0; i < MR; i++) {                                                        \
        const uint8_t *blk = wr[i] + 18 * b;                                                        \
        const __m512i raw = _mm512_maskz_loadu_epi8(mw, blk);                                       \
        uv[i] = _mm512_gf2p8affine_epi64_epi8(_mm512_permutexvar_epi8(nib_idx, raw), nib_sel, 0);  \
        wv[i] = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(d_idx, raw)));     \
    }                                                                                               \
    L3_UNROLL for (int j = 0; j < NR; j++) {                                                        \
        __m512i x = TWO ? _mm512_loadu_si512(qp[j] + 32 * b) : _mm512_maskz_loadu_epi8(0xffffffffu, qp[j] + 32 * b); \
        __m512i x2 = TWO ? _mm512_loadu_si512(q2p[j] + 32 * b) : _mm512_maskz_loadu_epi8(0xffffffffu, q2p[j] + 32 * b); \
        __asm__("" : "+v"(x), "+v"(x2)); /* loaded once for every weight row */                    \
        /* 8 x (256 x + x2) summed per lane: the offset's share of every weight row's dots */      \
        const __m512i cq = dot2_16(k8, x, x2); \
        const __m512 dv = _mm512_permutexvar_ps(dsel, _mm512_castps128_ps512(_mm_maskz_loadu_ps(TWO ? 3 : 1, dp[j] + b))); \
        L3_UNROLL for (int i = 0; i < MR; i++) {                                                    \
            const __m512i v = _mm512_sub_epi32(dot2_16(uv[i], x, x2), cq);                        \
            acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), _mm512_mul_ps(wv[i], dv), acc[i][j]); \
        }                                                                                           \
    }
/* GFNI only where the CPU reports it (l3_kernels_init_avx512): the functions that use it say
 * so themselves rather than the whole file, so that no other code here can come to need it */
#define L3_GFNI __attribute__((target("gfni")))
static inline __attribute__((always_inline)) L3_GFNI void q40_tile(const int MR, const int NR, const uint8_t *rows,
                                                           size_t row_bytes, int nw, const int8_t *q, const int8_t *q2,
                                                           const float *d, const float *s, int nx, float *y,
                                                           int64_t ldy, int64_t n) {
    (void)s;
    const uint8_t *wr[8];
    const int8_t *qp[4], *q2p[4];
    const float *dp[4];
    for (int i = 0; i < MR; i++) wr[i] = rows + (i < nw ? i : nw - 1) * row_bytes;
    const uint8_t *next = rows + MR * row_bytes;  /* (one pass on: two were slower) */
    act_rows(NR, nx, q, q2, d, NULL, n, qp, q2p, dp, NULL);
    const __m512i nib_idx = _mm512_loadu_si512(q40_nib_idx), d_idx = _mm512_loadu_si512(q40_d_idx);
    const __m512i k8 = _mm512_set1_epi8(8);
    /* per 64-bit lane, the bit matrix (GFNI affine) that keeps each byte's low nibble, or
     * moves its high nibble down: the lanes of values 16-31 of each block (one instruction
     * instead of a shift, a mask and an AND) */
    const __m512i nib_sel = _mm512_setr_epi64(0x0102040800000000LL, 0x0102040800000000LL, 0x1020408000000000LL,
                                              0x1020408000000000LL, 0x0102040800000000LL, 0x0102040800000000LL,
                                              0x1020408000000000LL, 0x1020408000000000LL);
    const __m512i dsel = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    __m512 acc[8][4];
    L3_UNROLL for (int i = 0; i < MR; i++)
        L3_UNROLL for (int j = 0; j < NR; j++) acc[i][j] = _mm512_setzero_ps();
    const int64_t nb = n / 32;
    int64_t b = 0;
    for (; b + 1 < nb; b += 2) { Q40_STEP(1) }
    if (b < nb) { Q40_STEP(0) }  /* the last block alone: the upper halves stay zero */
    L3_UNROLL for (int j = 0; j < NR; j++)
        L3_UNROLL for (int i = 0; i < MR; i++)
            if (i < nw && j < nx) y[j * ldy + i] = _mm512_reduce_add_ps(acc[i][j]);
}
L3_GFNI static float dot_q8_q4_0_512(const void *row, const int8_t *q, const int8_t *q2, const float *d, const float *s,
                             int64_t n) {
    float y;
    q40_tile(1, 1, row, 0, 1, q, q2, d, s, 1, &y, 1, n);
    return y;
}
DOTN_ENTRY(q4_0, q40_tile, 6, 4, L3_GFNI)

/* ---- K-quants: decode and batched decode ---------------------------------------------- *
 * One body per family for MR weight rows x NR activation rows (constants after inlining);
 * decode is the 1 x 1 case, and every (weight row, activation row) pair takes the same
 * instructions in the same order whatever MR and NR are, so a row decoded in a batch gets
 * the bits it gets alone. Each step covers 64 values (two blocks of 32 in the halves of a
 * vector): two integer dots (the activation levels), a convert, the product of the weight
 * and activation scales (permuted into place) and an FMA, with one accumulator per pair.
 * The mins (Q4_K, Q5_K) and the offset 32 (Q6_K) times the activation sums are subtracted
 * from the same accumulator once per super-block. A missing row aliases the last valid one
 * and is not stored. */
static const int32_t kq_sel2[4][16] = {  /* lanes 0-7: 2p, 8-15: 2p + 1 */
    { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1 }, { 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3 },
    { 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5 }, { 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7 } };
static const int32_t kq_sel4[4][16] = {  /* lanes 4c..4c+3: 4m + c */
    { 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3 }, { 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7 },
    { 8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11 },
    { 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15 } };

/* FAMILY: 0 = Q4_K, 1 = Q5_K (fifth bits in qh), 2 = Q6_K */
static inline __attribute__((always_inline)) void kq_tile(const int FAMILY, const int MR, const int NR,
                                                          const uint8_t *rows, size_t row_bytes, int nw,
                                                          const int8_t *q, const int8_t *q2, const float *d,
                                                          const float *s, int nx, float *y, int64_t ldy, int64_t n) {
    const size_t bb = FAMILY == 0 ? sizeof(l3_block_q4_K) : FAMILY == 1 ? sizeof(l3_block_q5_K) : sizeof(l3_block_q6_K);
    const uint8_t *wr[4];
    const int8_t *qp[4], *q2p[4];
    const float *dp[4], *sp[4];
    for (int i = 0; i < MR; i++) wr[i] = rows + (i < nw ? i : nw - 1) * row_bytes;
    act_rows(NR, nx, q, q2, d, s, n, qp, q2p, dp, sp);
    const __m512i m15 = _mm512_set1_epi8(15), b4 = _mm512_set1_epi8(0x10), m30 = _mm512_set1_epi8(0x30);
    const __m512i sh_even = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i sh_odd = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    __m512 acc[4][4];
    L3_UNROLL for (int i = 0; i < MR; i++)
        L3_UNROLL for (int j = 0; j < NR; j++) acc[i][j] = _mm512_setzero_ps();
    for (int64_t ib = 0; ib < n / L3_QK_K; ib++) {
        /* per weight row: the scales (x d) of its sub-blocks, and the mins' term */
        __m512 W[4];
        L3_UNROLL for (int i = 0; i < MR; i++) {
            const uint8_t *blk = wr[i] + ib * bb;
            if (FAMILY == 2) {
                const l3_block_q6_K *b6 = (const l3_block_q6_K *)blk;
                W[i] = _mm512_mul_ps(_mm512_set1_ps(h2f(b6->d)),
                                     _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b6->scales))));
                /* offset 32 times the 16 sums of each activation row */
                const __m512 W32 = _mm512_mul_ps(_mm512_set1_ps(32.0f), W[i]);
                L3_UNROLL for (int j = 0; j < NR; j++)
                    acc[i][j] = _mm512_fnmadd_ps(W32, _mm512_loadu_ps(sp[j] + 16 * ib), acc[i][j]);
            } else {
                uint16_t hd, hm;
                memcpy(&hd, blk, 2), memcpy(&hm, blk + 2, 2);
                uint64_t sc, m;
                k4_scales_mins(blk + 4, &sc, &m);
                W[i] = _mm512_zextps256_ps512(_mm256_mul_ps(
                    _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc))), _mm256_set1_ps(h2f(hd))));
                /* mins times pair sums of s: hadd gives pairs in order 0 1 4 5 2 3 6 7 */
                const __m256 M = _mm256_mul_ps(
                    _mm256_permutevar8x32_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)m))),
                                             _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7)), _mm256_set1_ps(h2f(hm)));
                L3_UNROLL for (int j = 0; j < NR; j++) {
                    const __m256 P = _mm256_hadd_ps(_mm256_loadu_ps(sp[j] + 16 * ib), _mm256_loadu_ps(sp[j] + 16 * ib + 8));
                    acc[i][j] = _mm512_fnmadd_ps(_mm512_zextps256_ps512(M), _mm512_zextps256_ps512(P), acc[i][j]);
                }
            }
        }
        /* each pair's sub-block scales times the activation's block scales, once per super-block
         * (then one permute per 64 values instead of a permute and a product): Q4_K, Q5_K 8
         * sub-blocks of 32, one activation block each; Q6_K 16 of 16, two per block */
        __m512 WD[4][4];
        L3_UNROLL for (int j = 0; j < NR; j++) {
            __m512 dj = _mm512_castps256_ps512(_mm256_loadu_ps(dp[j] + 8 * ib));
            if (FAMILY == 2) dj = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7), dj);
            L3_UNROLL for (int i = 0; i < MR; i++) WD[i][j] = _mm512_mul_ps(W[i], dj);
        }
        L3_UNROLL for (int p = 0; p < 4; p++) {  /* values 64p .. 64p + 63 of the super-block */
            const int pf = ((int)bb * MR + 3) / 4;  /* a quarter of the next pass's super-blocks */
            seq_prefetch(rows + MR * row_bytes + ib * bb * MR + p * pf, pf);  /* (2 passes on: same) */
            const __m512i sel2 = _mm512_loadu_si512(kq_sel2[p]), sel4 = _mm512_loadu_si512(kq_sel4[p]);
            __m512i uv[4];
            L3_UNROLL for (int i = 0; i < MR; i++) {
                const uint8_t *blk = wr[i] + ib * bb;
                if (FAMILY == 2) {  /* half h = p / 2: quarters 2(p % 2) (low 256 bits), 2(p % 2) + 1 */
                    const l3_block_q6_K *b6 = (const l3_block_q6_K *)blk;
                    const __m512i L = _mm512_loadu_si512(b6->ql + 64 * (p / 2)), QH = _mm512_broadcast_i64x4(ld32(b6->qh + 32 * (p / 2)));
                    /* the quarter's 2 high bits to bits 4-5 (a shift per half: p even 4 and 2 left, odd
                     * 0 and 2 right), its 4 low bits (ql's low or high nibbles) below them, in one
                     * ternary-logic (A & C) | B: 3-4 operations instead of 5 */
                    const __m512i hb = _mm512_and_si512(p % 2 == 0 ? _mm512_sllv_epi16(QH, sh_even) : _mm512_srlv_epi16(QH, sh_odd), m30);
                    uv[i] = _mm512_ternarylogic_epi32(p % 2 == 0 ? L : _mm512_srli_epi16(L, 4), hb, m15, 0xEC);
                } else {  /* byte group p: sub-block 2p in the low nibbles, 2p + 1 in the high */
                    const uint8_t *qs = blk + 16 + (FAMILY == 1 ? 32 : 0);
                    __m512i u = _mm512_broadcast_i64x4(ld32(qs + 32 * p));
                    u = _mm512_and_si512(_mm512_mask_srli_epi16(u, (__mmask32)0xffff0000u, u, 4), m15);
                    if (FAMILY == 1) { /* bit 2p of qh for the low half, 2p + 1 for the high half */
                        const __m512i bit = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << 2 * p)),
                                                               _mm256_set1_epi8((char)(1 << (2 * p + 1))), 1);
                        const __m512i QH = _mm512_broadcast_i64x4(ld32(blk + 16));
                        u = _mm512_or_si512(u, _mm512_maskz_mov_epi8(_mm512_test_epi8_mask(QH, bit), b4));
                    }
                    uv[i] = u;
                }
            }
            L3_UNROLL for (int j = 0; j < NR; j++) {
                __m512i x = _mm512_loadu_si512(qp[j] + 256 * ib + 64 * p), x2 = _mm512_loadu_si512(q2p[j] + 256 * ib + 64 * p);
                __asm__("" : "+v"(x), "+v"(x2));  /* loaded once for every weight row */
                const __m512i sel = FAMILY == 2 ? sel4 : sel2;
                L3_UNROLL for (int i = 0; i < MR; i++)
                    acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot2_16(uv[i], x, x2)), _mm512_permutexvar_ps(sel, WD[i][j]),
                                                acc[i][j]);
            }
        }
    }
    L3_UNROLL for (int j = 0; j < NR; j++)
        L3_UNROLL for (int i = 0; i < MR; i++)
            if (i < nw && j < nx) y[j * ldy + i] = _mm512_reduce_add_ps(acc[i][j]);
}

#define KQ_KERNELS(name, FAMILY)                                                                    \
    static inline __attribute__((always_inline)) void name##_tile(const int MR, const int NR, const uint8_t *rows, \
        size_t row_bytes, int nw, const int8_t *q, const int8_t *q2, const float *d, const float *s, int nx, float *y, \
        int64_t ldy, int64_t n) {                                                                   \
        kq_tile(FAMILY, MR, NR, rows, row_bytes, nw, q, q2, d, s, nx, y, ldy, n);                   \
    }                                                                                               \
    static float dot_q8_##name##_512(const void *row, const int8_t *q, const int8_t *q2, const float *d, \
                                     const float *s, int64_t n) {                                   \
        float y;                                                                                    \
        name##_tile(1, 1, row, 0, 1, q, q2, d, s, 1, &y, 1, n);                                     \
        return y;                                                                                   \
    }                                                                                               \
    DOTN_ENTRY(name, name##_tile, 4, 3)
KQ_KERNELS(q4_K, 0)
KQ_KERNELS(q5_K, 1)
KQ_KERNELS(q6_K, 2)

/* ---- f32 / f16 / bf16 ----------------------------------------------------------------- */

/* 16 elements of each float format as f32; masked variants read only the first r. */
static inline __m512 ld_f32(const void *p, int64_t i) { return _mm512_loadu_ps((const float *)p + i); }
static inline __m512 ld_f16(const void *p, int64_t i) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)p + i)));
}
static inline __m512 ld_bf16(const void *p, int64_t i) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)p + i)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}
static inline __m512 ldm_f32(const void *p, int64_t i, __mmask16 m) { return _mm512_maskz_loadu_ps(m, (const float *)p + i); }
static inline __m512 ldm_f16(const void *p, int64_t i, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i));
}
static inline __m512 ldm_bf16(const void *p, int64_t i, __mmask16 m) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

/* dot(weights of a float format, f32 x): 64 per step in 4 accumulators, masked tail. */
#define FLOAT_DOT(name, LD, LDM)                                                           \
    static float dot_##name(const void *w, const float *x, int64_t n) {                    \
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                         \
        int64_t i = 0;                                                                      \
        for (; i + 64 <= n; i += 64) {                                                      \
            a0 = _mm512_fmadd_ps(LD(w, i), _mm512_loadu_ps(x + i), a0);                     \
            a1 = _mm512_fmadd_ps(LD(w, i + 16), _mm512_loadu_ps(x + i + 16), a1);           \
            a2 = _mm512_fmadd_ps(LD(w, i + 32), _mm512_loadu_ps(x + i + 32), a2);           \
            a3 = _mm512_fmadd_ps(LD(w, i + 48), _mm512_loadu_ps(x + i + 48), a3);           \
        }                                                                                   \
        for (; i + 16 <= n; i += 16) a0 = _mm512_fmadd_ps(LD(w, i), _mm512_loadu_ps(x + i), a0); \
        if (i < n) {                                                                        \
            __mmask16 m = tail16(n - i);                                                    \
            a1 = _mm512_fmadd_ps(LDM(w, i, m), _mm512_maskz_loadu_ps(m, x + i), a1);        \
        }                                                                                   \
        return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3))); \
    }
FLOAT_DOT(f32w, ld_f32, ldm_f32)
FLOAT_DOT(f16w, ld_f16, ldm_f16)
FLOAT_DOT(bf16w, ld_bf16, ldm_bf16)

#define FLOAT_WIDEN(name, LD, LDM)                                                         \
    static void to_float_##name(const void *src, float *dst, int64_t n) {                   \
        int64_t i = 0;                                                                      \
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, LD(src, i));                 \
        if (i < n) _mm512_mask_storeu_ps(dst + i, tail16(n - i), LDM(src, i, tail16(n - i))); \
    }
FLOAT_WIDEN(f16, ld_f16, ldm_f16)
FLOAT_WIDEN(bf16, ld_bf16, ldm_bf16)

/* bf16 decode (kernels.h): x split into bf16 hi + lo once per product, each row then costs
 * two vdpbf16ps per 32 weights and no widening */
static void split_bf16(const float *x, uint16_t *hi, uint16_t *lo, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail16(n - i);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        const __m256i h = (__m256i)_mm512_cvtneps_pbh(v);  /* round to nearest even */
        const __m512 hf = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
        _mm256_mask_storeu_epi16(hi + i, m, h);
        _mm256_mask_storeu_epi16(lo + i, m, (__m256i)_mm512_cvtneps_pbh(_mm512_sub_ps(v, hf)));
    }
}
static float dot_bf16_split(const void *row, const uint16_t *hi, const uint16_t *lo, int64_t n) {
    const uint16_t *w = row;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        const __m512i w0 = _mm512_loadu_si512(w + i), w1 = _mm512_loadu_si512(w + i + 32);
        a0 = _mm512_dpbf16_ps(a0, (__m512bh)w0, (__m512bh)_mm512_loadu_si512(hi + i));
        a1 = _mm512_dpbf16_ps(a1, (__m512bh)w0, (__m512bh)_mm512_loadu_si512(lo + i));
        a2 = _mm512_dpbf16_ps(a2, (__m512bh)w1, (__m512bh)_mm512_loadu_si512(hi + i + 32));
        a3 = _mm512_dpbf16_ps(a3, (__m512bh)w1, (__m512bh)_mm512_loadu_si512(lo + i + 32));
    }
    for (; i < n; i += 32) {  /* (masked: zero pairs add nothing) */
        const __mmask32 m = n - i >= 32 ? ~(__mmask32)0 : (__mmask32)((1u << (n - i)) - 1);
        const __m512i w0 = _mm512_maskz_loadu_epi16(m, w + i);
        a0 = _mm512_dpbf16_ps(a0, (__m512bh)w0, (__m512bh)_mm512_maskz_loadu_epi16(m, hi + i));
        a1 = _mm512_dpbf16_ps(a1, (__m512bh)w0, (__m512bh)_mm512_maskz_loadu_epi16(m, lo + i));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

static float dot_f32(const float *a, const float *b, int64_t n) { return dot_f32w(a, b, n); }
static float dot_f16_f32(const uint16_t *a, const float *b, int64_t n) { return dot_f16w(a, b, n); }

#define FLOAT_AXPY(name, T, LD, LDM)                                                       \
    static void axpy_##name(float a, const T *x, float *y, int64_t n) {                     \
        __m512 va = _mm512_set1_ps(a);                                                      \
        int64_t i = 0;                                                                      \
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, LD(x, i), _mm512_loadu_ps(y + i))); \
        if (i < n) {                                                                        \
            __mmask16 m = tail16(n - i);                                                    \
            _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, LDM(x, i, m), _mm512_maskz_loadu_ps(m, y + i))); \
        }                                                                                   \
    }
FLOAT_AXPY(f32, float, ld_f32, ldm_f32)
FLOAT_AXPY(f16, uint16_t, ld_f16, ldm_f16)

/* ---- attention over an f16 KV cache, the query heads of one KV head together ---------- */

/* lane i of the result: the sum of the 16 lanes of v[i] */
static inline __m512 hsum16x16(const __m512 *v) {
    __m512 w[8], x[4];
    for (int k = 0; k < 8; k++)  /* per 128-bit lane: pairs of vectors, lanes summed pairwise */
        w[k] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * k], v[2 * k + 1]), _mm512_unpackhi_ps(v[2 * k], v[2 * k + 1]));
    for (int k = 0; k < 4; k++)  /* per 128-bit lane: the 4 partial sums of vectors 4k .. 4k + 3 */
        x[k] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(w[2 * k]), _mm512_castps_pd(w[2 * k + 1]))),
                             _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(w[2 * k]), _mm512_castps_pd(w[2 * k + 1]))));
    /* the four 128-bit lanes of each x[k] summed, x[k]'s total in 128-bit lane k */
    const __m512 z01 = _mm512_add_ps(_mm512_shuffle_f32x4(x[0], x[1], 0x44), _mm512_shuffle_f32x4(x[0], x[1], 0xee));
    const __m512 z23 = _mm512_add_ps(_mm512_shuffle_f32x4(x[2], x[3], 0x44), _mm512_shuffle_f32x4(x[2], x[3], 0xee));
    return _mm512_add_ps(_mm512_shuffle_f32x4(z01, z23, 0x88), _mm512_shuffle_f32x4(z01, z23, 0xdd));
}

/* 16 keys at a time widened once to f32 (on the stack), then per query head 16 dot products
 * summed together by hsum16x16 */
static void attn_scores_f16(const uint16_t *k, int64_t kst, int np, const float *q, int G, int hd, float *s, int64_t ld) {
    float kf[16 * 256];
    if (hd > 256) {  /* not a Llama 3 shape: one key at a time */
        for (int g = 0; g < G; g++)
            for (int p = 0; p < np; p++) s[g * ld + p] = dot_f16w(k + p * kst, q + g * hd, hd);
        return;
    }
    for (int p0 = 0; p0 < np; p0 += 16) {
        const int m = np - p0 < 16 ? np - p0 : 16;
        for (int i = 0; i < 16; i++)
            for (int e = 0; e < hd; e += 16)
                _mm512_storeu_ps(kf + i * hd + e, i < m ? ld_f16(k + (p0 + i) * kst, e) : _mm512_setzero_ps());
        for (int g = 0; g < G; g++) {
            const float *qg = q + g * hd;
            __m512 acc[16];
            for (int i = 0; i < 16; i++) {
                acc[i] = _mm512_mul_ps(_mm512_loadu_ps(qg), _mm512_loadu_ps(kf + i * hd));
                for (int e = 16; e < hd; e += 16)
                    acc[i] = _mm512_fmadd_ps(_mm512_loadu_ps(qg + e), _mm512_loadu_ps(kf + i * hd + e), acc[i]);
            }
            _mm512_mask_storeu_ps(s + g * ld + p0, tail16(m), hsum16x16(acc));
        }
    }
}

/* out_g += w_g[p] * v_p: each value row widened once for every query head, 64 (G <= 4) or 16
 * columns of every head's output in registers per pass */
static void attn_values_f16(const uint16_t *v, int64_t vst, int np, const float *w, int64_t ld, int G, int hd, float *out) {
    for (int g0 = 0; g0 < G; g0 += 4) {
        const int gn = G - g0 < 4 ? G - g0 : 4;
        for (int e = 0; e < hd; e += 64) {
            const int nc = hd - e < 64 ? (hd - e) / 16 : 4;  /* vectors of 16 columns */
            __m512 acc[4][4];
            for (int g = 0; g < 4; g++)
                for (int c = 0; c < 4; c++) acc[g][c] = _mm512_setzero_ps();
            for (int p = 0; p < np; p++) {
                __m512 vv[4];
                for (int c = 0; c < nc; c++) vv[c] = ld_f16(v + p * vst, e + 16 * c);
                for (int g = 0; g < gn; g++) {
                    const __m512 wg = _mm512_set1_ps(w[(g0 + g) * ld + p]);
                    for (int c = 0; c < nc; c++) acc[g][c] = _mm512_fmadd_ps(wg, vv[c], acc[g][c]);
                }
            }
            for (int g = 0; g < gn; g++)
                for (int c = 0; c < nc; c++) _mm512_storeu_ps(out + (g0 + g) * hd + e + 16 * c, acc[g][c]);
        }
    }
}

/* e^x within about 1 ulp: x = n ln2 + r with |r| <= ln2 / 2 (ln2 in two parts, so r is
 * exact), e^r by its Taylor polynomial to r^7 (truncation < 1e-8 relative), times 2^n by
 * scalef (which also flushes what underflows). x is clamped at -104, where e^x is 0 in f32
 * (and -inf would give inf - inf); NaN stays NaN. */
static inline __m512 exp16(__m512 x) {
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145752f), x);  /* ln2's high part: 12 bits, n * it exact */
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860677e-6f), r);
    static const float c[] = { 1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f };
    __m512 p = _mm512_set1_ps(c[0]);
    for (int i = 1; i < 8; i++) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c[i]));
    return _mm512_scalef_ps(p, n);
}

/* the scalar set's three passes (scale and max, exponentials and their sum, normalize), 16
 * positions at a time */
static void softmax(float *s, int n, float scale) {
    const __m512 vs = _mm512_set1_ps(scale);
    __m512 vmax = _mm512_set1_ps(-INFINITY), vsum = _mm512_setzero_ps();
    for (int p = 0; p < n; p += 16) {
        const __mmask16 m = n - p >= 16 ? (__mmask16)0xffff : tail16(n - p);
        const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + p), vs);
        _mm512_mask_storeu_ps(s + p, m, v);
        vmax = _mm512_mask_max_ps(vmax, m, vmax, v);
    }
    const __m512 max = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
    for (int p = 0; p < n; p += 16) {
        const __mmask16 m = n - p >= 16 ? (__mmask16)0xffff : tail16(n - p);
        const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + p), max));
        _mm512_mask_storeu_ps(s + p, m, e);
        vsum = _mm512_mask_add_ps(vsum, m, vsum, e);
    }
    const __m512 sum = _mm512_set1_ps(_mm512_reduce_add_ps(vsum));
    for (int p = 0; p < n; p += 16) {
        const __mmask16 m = n - p >= 16 ? (__mmask16)0xffff : tail16(n - p);
        _mm512_mask_storeu_ps(s + p, m, _mm512_div_ps(_mm512_maskz_loadu_ps(m, s + p), sum));
    }
}

/* ---- batched decode with float weights ----------------------------------------------- */

static inline __m512 ld_w(int kind, const void *p, int64_t i) {
    return kind == L3_F32 ? ld_f32(p, i) : kind == L3_F16 ? ld_f16(p, i) : ld_bf16(p, i);
}
static inline __m512 ldm_w(int kind, const void *p, int64_t i, __mmask16 m) {
    return kind == L3_F32 ? ldm_f32(p, i, m) : kind == L3_F16 ? ldm_f16(p, i, m) : ldm_bf16(p, i, m);
}
/* FD_MR weight rows x NR activation rows (NR a constant after inlining: 8, 4, 2 or 1), each
 * 16 weights widened once per step for every activation row (24 accumulators at NR = 8),
 * over kc columns of activation rows ldx apart; acc: add to y (a later column slice). A
 * missing weight row aliases the last valid one and is not stored. */
enum { FD_MR = 3, FD_PF_ROWS = 3 * FD_MR };
static inline __attribute__((always_inline)) void fdotn_tile(int kind, const int NR, const void *rows, size_t row_bytes,
                                                             int nw, const float *x, int64_t ldx, float *y, int64_t ldy,
                                                             int64_t n, int acc) {
    const uint8_t *wp[FD_MR];
    for (int i = 0; i < FD_MR; i++) wp[i] = (const uint8_t *)rows + (i < nw ? i : nw - 1) * row_bytes;
    __m512 a[FD_MR][8];
    L3_UNROLL for (int i = 0; i < FD_MR; i++)
        L3_UNROLL for (int j = 0; j < NR; j++) a[i][j] = _mm512_setzero_ps();
    const int64_t esz = kind == L3_F32 ? 4 : 2;
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        /* the same line FD_PF_ROWS rows on, in the weight rows a later pass reads: the
         * weights stream from memory, and the hardware prefetcher alone keeps too few
         * lines in flight when there is this much arithmetic per byte (half the speed
         * without); into L2 only, which keeps L1 for the activation slice */
        if ((k * esz) % 64 == 0)
            L3_UNROLL for (int i = 0; i < FD_MR; i++) _mm_prefetch((const char *)wp[i] + FD_PF_ROWS * row_bytes + k * esz, _MM_HINT_T1);
        __m512 wv[FD_MR];
        L3_UNROLL for (int i = 0; i < FD_MR; i++) wv[i] = ld_w(kind, wp[i], k);
        L3_UNROLL for (int j = 0; j < NR; j++) {
            __m512 xv = _mm512_loadu_ps(x + j * ldx + k);
            __asm__("" : "+v"(xv));  /* one load per activation vector, not one per FMA */
            L3_UNROLL for (int i = 0; i < FD_MR; i++) a[i][j] = _mm512_fmadd_ps(wv[i], xv, a[i][j]);
        }
    }
    if (k < n) {
        const __mmask16 m = tail16(n - k);
        __m512 wv[FD_MR];
        L3_UNROLL for (int i = 0; i < FD_MR; i++) wv[i] = ldm_w(kind, wp[i], k, m);
        L3_UNROLL for (int j = 0; j < NR; j++) {
            const __m512 xv = _mm512_maskz_loadu_ps(m, x + j * ldx + k);
            L3_UNROLL for (int i = 0; i < FD_MR; i++) a[i][j] = _mm512_fmadd_ps(wv[i], xv, a[i][j]);
        }
    }
    L3_UNROLL for (int j = 0; j < NR; j++)
        L3_UNROLL for (int i = 0; i < FD_MR; i++)
            if (i < nw) y[j * ldy + i] = (acc ? y[j * ldy + i] : 0.0f) + _mm512_reduce_add_ps(a[i][j]);
}
/* Columns per slice: a run of weight rows is multiplied slice by slice, so that 8 activation
 * rows' slice (32 KiB) stays in L1 for all of them (512 columns: slower). */
#define FD_KC 1024
#define FDOTN(name, KIND)                                                                          \
    static void dotn_##name(const void *rows, size_t row_bytes, int nw, const float *x, int nx, float *y, \
                            int64_t ldy, int64_t n) {                                               \
        const int64_t esz = KIND == L3_F32 ? 4 : 2;                                                 \
        for (int64_t k0 = 0; k0 < n; k0 += FD_KC) {                                                 \
            const int64_t kc = n - k0 < FD_KC ? n - k0 : FD_KC;                                     \
            const uint8_t *rk = (const uint8_t *)rows + k0 * esz;                                   \
            for (int i = 0; i < nw; i += FD_MR) {                                                   \
                const uint8_t *r = rk + i * row_bytes;                                              \
                const int mw = nw - i < FD_MR ? nw - i : FD_MR, acc = k0 > 0;                       \
                int j = 0;                                                                          \
                for (; j + 8 <= nx; j += 8) fdotn_tile(KIND, 8, r, row_bytes, mw, x + j * n + k0, n, y + j * ldy + i, ldy, kc, acc); \
                if (nx - j >= 4) fdotn_tile(KIND, 4, r, row_bytes, mw, x + j * n + k0, n, y + j * ldy + i, ldy, kc, acc), j += 4; \
                if (nx - j >= 2) fdotn_tile(KIND, 2, r, row_bytes, mw, x + j * n + k0, n, y + j * ldy + i, ldy, kc, acc), j += 2; \
                if (nx - j >= 1) fdotn_tile(KIND, 1, r, row_bytes, mw, x + j * n + k0, n, y + j * ldy + i, ldy, kc, acc);        \
            }                                                                                       \
        }                                                                                           \
    }
FDOTN(f32w, L3_F32)
FDOTN(f16w, L3_F16)
FDOTN(bf16w, L3_BF16)

/* ---- tile product: 32 weight rows x 8 activation rows per micro-tile -------------------- */

/* The weight rows are transposed into a panel whose column k holds the 32 rows' values at k
 * (two vectors), so the product is a sum of outer products: per k, two weight vectors times
 * 8 broadcast activation values into 16 accumulators that each hold 16 finished dot
 * products (no horizontal sums). Measured on the 1B shape (prefill, f16 weights): 8
 * activation rows beat 12 (the 12 row pointers spill) and 3 weight vectors; the longer the
 * panel the better (2048 columns: 256 KiB, in L2), so l3_cpu_matmul packs whole slices. */
enum { GF_MV = L3_PACK_F32_ROWS / 16, GF_NR = 8 };

static inline __attribute__((always_inline)) void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int g = 0; g < 16; g += 4) {  /* rows 4g'..: per 128-bit lane L, column 4L + c in u[g + c] */
        const __m512d t0 = _mm512_castps_pd(t[g]), t1 = _mm512_castps_pd(t[g + 1]);
        const __m512d t2 = _mm512_castps_pd(t[g + 2]), t3 = _mm512_castps_pd(t[g + 3]);
        r[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        r[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        r[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        r[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    for (int c = 0; c < 4; c++) {  /* gather lane L of the four row groups: column 4L + c */
        const __m512 v = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88), w = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xdd);
        const __m512 v2 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88), w2 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xdd);
        t[c] = _mm512_shuffle_f32x4(v, v2, 0x88);
        t[8 + c] = _mm512_shuffle_f32x4(v, v2, 0xdd);
        t[4 + c] = _mm512_shuffle_f32x4(w, w2, 0x88);
        t[12 + c] = _mm512_shuffle_f32x4(w, w2, 0xdd);
    }
    for (int i = 0; i < 16; i++) r[i] = t[i];
}

/* pack_rows reads 16 rows at once from memory, more streams than the hardware prefetcher
 * follows: each row's line PK_PF values on is asked for in advance */
enum { PK_PF = 128 };
/* panel[k*L3_PACK_F32_ROWS + i] = row i's value k as f32 for k < kc (row i of type KIND at
 * w + i*ldw bytes), rows past nw zero */
static inline __attribute__((always_inline)) void pack_rows(const int kind, const void *w, size_t ldw, int nw, int64_t kc,
                                                            float *panel) {
    for (int h = 0; h < L3_PACK_F32_ROWS; h += 16)
        for (int64_t k = 0; k < kc; k += 16) {
            const __mmask16 m = kc - k >= 16 ? (__mmask16)0xffff : tail16(kc - k);
            __m512 r[16];
            const int64_t esz = kind == L3_F32 ? 4 : 2;
            if ((k * esz) % 64 == 0)
                for (int i = 0; i < 16 && h + i < nw; i++)
                    _mm_prefetch((const char *)w + (h + i) * ldw + (k + PK_PF) * esz, _MM_HINT_T0);
            for (int i = 0; i < 16; i++)
                r[i] = h + i < nw ? ldm_w(kind, (const uint8_t *)w + (h + i) * ldw, k, m) : _mm512_setzero_ps();
            transpose16(r);
            for (int c = 0; c < 16 && k + c < kc; c++) _mm512_storeu_ps(panel + (k + c) * L3_PACK_F32_ROWS + h, r[c]);
        }
}
static void pack_f32(int type, const void *w, size_t ldw, int nw, int64_t kc, float *panel) {
    switch (type) {
    case L3_F16: pack_rows(L3_F16, w, ldw, nw, kc, panel); break;
    case L3_BF16: pack_rows(L3_BF16, w, ldw, nw, kc, panel); break;
    default: pack_rows(L3_F32, w, ldw, nw, kc, panel); break;
    }
}

/* y[j*ldy + i] += sum over k of panel[k][i] * x[j*ldx + k] for i < 32 (stored under the
 * masks m0, m1) and j < NR */
static inline __attribute__((always_inline)) void gf_micro(const int NR, const float *panel, const float *x, int64_t ldx,
                                                           float *y, int64_t ldy, const __mmask16 *m, int64_t kc) {
    __m512 acc[GF_NR][GF_MV];
    const float *xp[GF_NR];
    L3_UNROLL for (int j = 0; j < NR; j++) {
        xp[j] = x + j * ldx;
        L3_UNROLL for (int v = 0; v < GF_MV; v++) acc[j][v] = _mm512_setzero_ps();
    }
    for (int64_t k = 0; k < kc; k++) {
        __m512 w[GF_MV];
        L3_UNROLL for (int v = 0; v < GF_MV; v++) w[v] = _mm512_loadu_ps(panel + k * L3_PACK_F32_ROWS + 16 * v);
        L3_UNROLL for (int j = 0; j < NR; j++) {
            const __m512 b = _mm512_set1_ps(xp[j][k]);
            L3_UNROLL for (int v = 0; v < GF_MV; v++) acc[j][v] = _mm512_fmadd_ps(w[v], b, acc[j][v]);
        }
    }
    L3_UNROLL for (int j = 0; j < NR; j++)
        L3_UNROLL for (int v = 0; v < GF_MV; v++) {
            float *yj = y + j * ldy + 16 * v;
            _mm512_mask_storeu_ps(yj, m[v], _mm512_add_ps(_mm512_maskz_loadu_ps(m[v], yj), acc[j][v]));
        }
}

static void gemm_f32_packed(const float *panel, int nw, const float *x, int64_t ldx, int nx, float *y, int64_t ldy,
                            int64_t n) {
    __mmask16 m[GF_MV];
    for (int v = 0; v < GF_MV; v++) m[v] = nw - 16 * v >= 16 ? (__mmask16)0xffff : nw > 16 * v ? tail16(nw - 16 * v) : 0;
    int j = 0;
    for (; j + GF_NR <= nx; j += GF_NR) gf_micro(GF_NR, panel, x + j * ldx, ldx, y + j * ldy, ldy, m, n);
    if (nx - j >= 4) gf_micro(4, panel, x + j * ldx, ldx, y + j * ldy, ldy, m, n), j += 4;
    for (; j < nx; j++) gf_micro(1, panel, x + j * ldx, ldx, y + j * ldy, ldy, m, n);
}

#include "backend/cpu/kernels/x86/avx512/group_lanes.h"

/* kernels.h panel_from_group: 16 rows of a group (group_panel.h) are the packed panel; Q4_0's
 * groups of 32 rows hold two, vector r0 / 16. l3_avx512_panel_cols: columns c0..c1 of it (the
 * amx set makes a panel a piece at a time while it multiplies), the flag after the mins' terms
 * once c1 = n (for Q6_K, only right if c0..c1 covered every column) */
static inline __attribute__((always_inline)) void panel_group16(const int T, const uint8_t *group, int r0, int64_t n,
                                                                int64_t c0, int64_t c1, uint8_t *out) {
    float *sc16 = (float *)(out + 16 * n), *mn16 = sc16 + n;
    int same;
    group_panel(T, group, r0 / LANES, c0, c1, out, sc16, mn16, &same, l3_cpu()->intel);
    const uint32_t same32 = (uint32_t)same;
    if (c1 == n) memcpy(mn16 + n, &same32, sizeof same32);
}
void l3_avx512_panel_cols(int t, const uint8_t *group, int r0, int64_t n, int64_t c0, int64_t c1, uint8_t *out) {
    switch (t) {
    case L3_Q8_0: panel_group16(L3_Q8_0, group, r0, n, c0, c1, out); break;
    case L3_Q4_0: panel_group16(L3_Q4_0, group, r0, n, c0, c1, out); break;
    case L3_Q4_K: panel_group16(L3_Q4_K, group, r0, n, c0, c1, out); break;
    case L3_Q5_K: panel_group16(L3_Q5_K, group, r0, n, c0, c1, out); break;
    case L3_Q6_K: panel_group16(L3_Q6_K, group, r0, n, c0, c1, out); break;
    default: break;
    }
}
#define PANEL_GROUP(name, T) \
    static void panel_group_##name(const uint8_t *group, int r0, int64_t n, uint8_t *out) { l3_avx512_panel_cols(T, group, r0, n, 0, n, out); }
PANEL_GROUP(q8_0, L3_Q8_0)
PANEL_GROUP(q4_0, L3_Q4_0)
PANEL_GROUP(q4_K, L3_Q4_K)
PANEL_GROUP(q5_K, L3_Q5_K)
PANEL_GROUP(q6_K, L3_Q6_K)
#undef PANEL_GROUP

int l3_kernels_init_avx512(l3_kernel_set *k) {
    const l3_cpu_features *cpu = l3_cpu();
    if (!cpu->avx512f || !cpu->avx512bw || !cpu->avx512vl || !cpu->avx512dq || !cpu->avx2 || !cpu->fma || !cpu->f16c)
        return 0;
    k->isa = "avx512";
    k->dot[L3_F32] = dot_f32w;
    k->dot[L3_F16] = dot_f16w;
    k->dot[L3_BF16] = dot_bf16w;
    k->to_float[L3_F16] = to_float_f16;
    k->to_float[L3_BF16] = to_float_bf16;
    k->dotn[L3_F32] = dotn_f32w;
    k->dotn[L3_F16] = dotn_f16w;
    k->dotn[L3_BF16] = dotn_bf16w;
    if (cpu->avx512bf16) k->split_bf16 = split_bf16, k->dot_bf16_split = dot_bf16_split;
    install_quant_kernels(k);
    if (cpu->avx512vnni) {  /* else keep AVX2's */
        install_q8_kernels(k);
        k->gemm_q8 = gemm_q8_512;
        k->panel_pack = panel_pack16;
        for (int t = 0; t < L3_TYPE_COUNT; t++)  /* (the AVX2 sets' are for their own panel layout) */
            k->panel_rows[t] = NULL, k->panel_from_group[t] = NULL;
        k->dotn_q8[L3_Q8_0] = dotn_q8_0;
        /* (dot_q8 stays AVX2's dot_q8_q8_0: dotn_q8_0 gives the same bits) */
        if (cpu->avx512vbmi && cpu->gfni) { /* (byte permutes, bit-matrix nibbles; else AVX2's Q4_0 kernels) */
            k->dotn_q8[L3_Q4_0] = dotn_q4_0;
            k->dot_q8[L3_Q4_0] = dot_q8_q4_0_512;
        }
        k->dot_q8[L3_Q4_K] = dot_q8_q4_K_512;
        k->dot_q8[L3_Q5_K] = dot_q8_q5_K_512;
        k->dot_q8[L3_Q6_K] = dot_q8_q6_K_512;
        k->dotn_q8[L3_Q4_K] = dotn_q4_K;
        k->dotn_q8[L3_Q5_K] = dotn_q5_K;
        k->dotn_q8[L3_Q6_K] = dotn_q6_K;
        install_group_tiles(k);  /* decode on rows grouped at load (row_groups.h) */
        if (k->group_rows[L3_Q8_0] == 16) k->panel_from_group[L3_Q8_0] = panel_group_q8_0;
        if (k->group_rows[L3_Q4_0] == 32) k->panel_from_group[L3_Q4_0] = panel_group_q4_0;
        if (k->group_rows[L3_Q4_K] == 16) k->panel_from_group[L3_Q4_K] = panel_group_q4_K;
        if (k->group_rows[L3_Q5_K] == 16) k->panel_from_group[L3_Q5_K] = panel_group_q5_K;
        if (k->group_rows[L3_Q6_K] == 16) k->panel_from_group[L3_Q6_K] = panel_group_q6_K;
    }
    k->dot_f32 = dot_f32;
    k->axpy_f32 = axpy_f32;
    k->dot_f16_f32 = dot_f16_f32;
    k->axpy_f16 = axpy_f16;
    k->attn_scores_f16 = attn_scores_f16;
    k->attn_values_f16 = attn_values_f16;
    k->softmax = softmax;
    k->pack_f32 = pack_f32;  /* l3_cpu_matmul takes these two instead of gemm_f32 */
    k->gemm_f32_packed = gemm_f32_packed;
    return 1;
}
