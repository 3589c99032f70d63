/* The AVX2 sets' lanes for the row-group tiles (x86/group_tiles.h; avx2.c includes this
 * after its decode tiles): groups of 8 rows, one ymm lane each. The activation's 4-byte chunks
 * reach every lane as a 16-byte broadcast load and a shuffle each; the 8-bit dots are one
 * vpdpbusd each with AVX-VNNI, else maddubs pair sums added in 16 bits and widened with one
 * vpmaddwd: 16 products of weights up to 15 and |x| <= 127 stay below 2^15, weights up to 31
 * (Q5_K) are widened every 8 products, up to 63 (Q6_K) every 4. */
#ifndef LLAMA3_AVX2_GROUP_LANES_H
#define LLAMA3_AVX2_GROUP_LANES_H

#define LANES 8
#define G_VECS_Q4_0 1  /* one ymm per group: 16 registers (g_dot32 takes one vector) */
_Static_assert(G_VECS_Q4_0 == 1, "the AVX2 dots take one vector per group");
/* no Q8_0 groups: maddubs saturates on weights up to 255, and with AVX-VNNI a lone row ran 0.84x
 * the file-layout kernel here (a shuffle per 4 values against 32-byte activation loads) */
#define G_Q8_0 0
#define G_PREFETCH_L2_B32 0  /* (Q4_0 with T1 on Intel: 0.86-0.93x, BENCHMARKS.md) */
#define G_NX 4      /* activation rows per tile: 16 ymm registers hold no more */
#define G_NX_MID 2
typedef __m256i gi;
typedef __m256 gf;
static inline gi gi_ld(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline gi gi_and(gi a, gi b) { return _mm256_and_si256(a, b); }
static inline gi gi_or(gi a, gi b) { return _mm256_or_si256(a, b); }
static inline gi gi_xor(gi a, gi b) { return _mm256_xor_si256(a, b); }
#define GI_SRLI16(v, k) _mm256_srli_epi16(v, k)
#define GI_SLLI16(v, k) _mm256_slli_epi16(v, k)
#define GI_SRLI32(v, k) _mm256_srli_epi32(v, k)
#define GI_SLLI32(v, k) _mm256_slli_epi32(v, k)
static inline gi gi_srl16(gi v, int k) { return _mm256_srl_epi16(v, _mm_cvtsi32_si128(k)); }
static inline gi gi_set1_8(char c) { return _mm256_set1_epi8(c); }
static inline gi gi_set1_32(int c) { return _mm256_set1_epi32(c); }
static inline gi gi_u8(const uint8_t *p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)); }
static inline gi gi_s8(const uint8_t *p) { return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)); }
static inline gf gf_h16(const uint8_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
static inline gf gf_zero(void) { return _mm256_setzero_ps(); }
static inline gf gf_set1(float x) { return _mm256_set1_ps(x); }
static inline gf gf_cvt(gi v) { return _mm256_cvtepi32_ps(v); }
static inline gf gf_mul(gf a, gf b) { return _mm256_mul_ps(a, b); }
static inline gf gf_fmadd(gf a, gf b, gf c) { return _mm256_fmadd_ps(a, b, c); }
static inline gf gf_fmsub(gf a, gf b, gf c) { return _mm256_fmsub_ps(a, b, c); }
static inline gf gf_fnmadd(gf a, gf b, gf c) { return _mm256_fnmadd_ps(a, b, c); }
static inline void gf_store(float *p, gf v) { _mm256_storeu_ps(p, v); }
static inline void gi_st(uint8_t *p, gi v) { _mm256_storeu_si256((__m256i *)p, v); }
static inline gi gi_max_u8(gi a, gi b) { return _mm256_max_epu8(a, b); }
static inline int gf_differ(gf a, gf b) { return _mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_NEQ_UQ)) != 0; }

/* out[i] = mul (s[2i] + s[2i + 1]) for i < k <= 16 (8 at a time, then one at a time) */
static inline void g_pair_sums(const float *s, int k, float mul, float *out) {
    int i = 0;
    for (; i + 8 <= k; i += 8) {  /* pair sums of a and b in 128-bit halves, put in order */
        const __m256 p = _mm256_hadd_ps(_mm256_loadu_ps(s + 2 * i), _mm256_loadu_ps(s + 2 * i + 8));
        const __m256 sums = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(p), 0xd8));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_set1_ps(mul), sums));
    }
    for (; i < k; i++) out[i] = mul * (s[2 * i] + s[2 * i + 1]);
}
/* out[i] = mul s[i] for i < 16 */
static inline void g_scale16(const float *s, float mul, float *out) {
    _mm256_storeu_ps(out, _mm256_mul_ps(_mm256_set1_ps(mul), _mm256_loadu_ps(s)));
    _mm256_storeu_ps(out + 8, _mm256_mul_ps(_mm256_set1_ps(mul), _mm256_loadu_ps(s + 8)));
}

#define BCAST16(p) _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(p)))
#define DWORD8(v, c) _mm256_shuffle_epi32(v, (c) * 0x55)

/* lane sums of w[0..3] . (the 4-byte chunks of the 16 values at x): one level. Without VNNI,
 * WIDE says how far maddubs pair sums may be added in 16 bits: 0 (weights up to 15) returns
 * them in 16 bits for the caller to widen, 1 (up to 31) widens these 8 products at once, 2 (up
 * to 63) each 4 */
static inline __attribute__((always_inline)) gi dot16_level(const int WIDE, const gi *w, const int8_t *x) {
    const gi xv = BCAST16(x);
#ifdef L3_AVX2_VNNI
    (void)WIDE;
    gi a = _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), w[0], DWORD8(xv, 0));
    gi b = _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), w[1], DWORD8(xv, 1));
    a = _mm256_dpbusd_avx_epi32(a, w[2], DWORD8(xv, 2)), b = _mm256_dpbusd_avx_epi32(b, w[3], DWORD8(xv, 3));
    return _mm256_add_epi32(a, b);
#else
    const gi ones = _mm256_set1_epi16(1);
    const gi a = _mm256_add_epi16(_mm256_maddubs_epi16(w[0], DWORD8(xv, 0)), _mm256_maddubs_epi16(w[1], DWORD8(xv, 1)));
    const gi b = _mm256_add_epi16(_mm256_maddubs_epi16(w[2], DWORD8(xv, 2)), _mm256_maddubs_epi16(w[3], DWORD8(xv, 3)));
    if (WIDE == 2) return _mm256_add_epi32(_mm256_madd_epi16(a, ones), _mm256_madd_epi16(b, ones));
    if (WIDE == 1) return _mm256_madd_epi16(_mm256_add_epi16(a, b), ones);
    return _mm256_add_epi16(a, b);  /* (16-bit: the caller widens) */
#endif
}

/* one level of 32 values: w[0..7] against the chunks of x and x + 16 */
static inline __attribute__((always_inline)) gi dot32_level(const int WIDE, const gi *w, const int8_t *x) {
#ifdef L3_AVX2_VNNI
    return _mm256_add_epi32(dot16_level(WIDE, w, x), dot16_level(WIDE, w + 4, x + 16));
#else
    if (WIDE) return _mm256_add_epi32(dot16_level(WIDE, w, x), dot16_level(WIDE, w + 4, x + 16));
    return _mm256_madd_epi16(_mm256_add_epi16(dot16_level(0, w, x), dot16_level(0, w + 4, x + 16)), _mm256_set1_epi16(1));
#endif
}

/* (BY_LOAD, a 4-byte broadcast load per chunk for several activation rows as in the AVX-512
 * set, measured 0.91-1.09x here: the shuffles stay) */
static inline __attribute__((always_inline)) void g_dot32(const int GV, const int WIDE, const int BY_LOAD, gi (*w)[8],
                                                          const int8_t *x1, const int8_t *x2, gi *v) {
    (void)GV, (void)BY_LOAD;
    v[0] = _mm256_add_epi32(_mm256_slli_epi32(dot32_level(WIDE, w[0], x1), 8), dot32_level(WIDE, w[0], x2));
}

static inline __attribute__((always_inline)) gi g_dot16(const int BY_LOAD, const gi *w, const int8_t *x1, const int8_t *x2) {
    (void)BY_LOAD;
    return _mm256_add_epi32(_mm256_slli_epi32(dot16_level(2, w, x1), 8), dot16_level(2, w, x2));
}

#undef BCAST16
#undef DWORD8
#include "backend/cpu/kernels/x86/group_tiles.h"
#include "backend/cpu/kernels/x86/group_panel.h"

#endif
