/* The AVX-512 set's lanes for the row-group tiles (x86/group_tiles.h; avx512.c includes this
 * after its multi-row tiles, with AVX512-VNNI): groups of 16 rows, one zmm lane each. The
 * activation's 4-byte chunks reach every lane as a 16-byte broadcast load and a shuffle each
 * (lanes16, DWORD: a broadcast memory operand of vpdpbusd runs at a third of the speed here),
 * and each 8-bit dot is one vpdpbusd, in independent chains. */
#ifndef LLAMA3_AVX512_GROUP_LANES_H
#define LLAMA3_AVX512_GROUP_LANES_H

#define GROUP 16
#define G_NX 8      /* activation rows per tile */
#define G_NX_MID 4
typedef __m512i gi;
typedef __m512 gf;
static inline gi gi_ld(const uint8_t *p) { return _mm512_loadu_si512(p); }
static inline gi gi_and(gi a, gi b) { return _mm512_and_si512(a, b); }
static inline gi gi_or(gi a, gi b) { return _mm512_or_si512(a, b); }
#define GI_SRLI16(v, k) _mm512_srli_epi16(v, k)
#define GI_SLLI16(v, k) _mm512_slli_epi16(v, k)
#define GI_SRLI32(v, k) _mm512_srli_epi32(v, k)
#define GI_SLLI32(v, k) _mm512_slli_epi32(v, k)
static inline gi gi_srl16(gi v, int k) { return _mm512_srl_epi16(v, _mm_cvtsi32_si128(k)); }
static inline gi gi_set1_8(char c) { return _mm512_set1_epi8(c); }
static inline gi gi_set1_32(int c) { return _mm512_set1_epi32(c); }
static inline gi gi_u8(const uint8_t *p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)); }
static inline gi gi_s8(const uint8_t *p) { return _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)); }
static inline gf gf_h16(const uint8_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
static inline gf gf_zero(void) { return _mm512_setzero_ps(); }
static inline gf gf_set1(float x) { return _mm512_set1_ps(x); }
static inline gf gf_cvt(gi v) { return _mm512_cvtepi32_ps(v); }
static inline gf gf_mul(gf a, gf b) { return _mm512_mul_ps(a, b); }
static inline gf gf_fmadd(gf a, gf b, gf c) { return _mm512_fmadd_ps(a, b, c); }
static inline gf gf_fmsub(gf a, gf b, gf c) { return _mm512_fmsub_ps(a, b, c); }
static inline gf gf_fnmadd(gf a, gf b, gf c) { return _mm512_fnmadd_ps(a, b, c); }
static inline void gf_store(float *p, gf v) { _mm512_storeu_ps(p, v); }

/* 256 (w . x1) + w . x2 per lane over 16 values (w[0..3]): two chains per level (the
 * shuffle's immediate must be a literal for clang) */
static inline __attribute__((always_inline)) gi g_dot16(const gi *w, const int8_t *x1, const int8_t *x2) {
    const gi x = lanes16(x1), xx = lanes16(x2), z = _mm512_setzero_si512();
    gi h0 = _mm512_dpbusd_epi32(z, w[0], DWORD(x, 0)), h1 = _mm512_dpbusd_epi32(z, w[1], DWORD(x, 1));
    gi l0 = _mm512_dpbusd_epi32(z, w[0], DWORD(xx, 0)), l1 = _mm512_dpbusd_epi32(z, w[1], DWORD(xx, 1));
    h0 = _mm512_dpbusd_epi32(h0, w[2], DWORD(x, 2)), h1 = _mm512_dpbusd_epi32(h1, w[3], DWORD(x, 3));
    l0 = _mm512_dpbusd_epi32(l0, w[2], DWORD(xx, 2)), l1 = _mm512_dpbusd_epi32(l1, w[3], DWORD(xx, 3));
    return _mm512_add_epi32(_mm512_slli_epi32(_mm512_add_epi32(h0, h1), 8), _mm512_add_epi32(l0, l1));
}

/* the same over 32 values (w[0..3]: values 0-15, w[4..7]: 16-31), four chains */
static inline __attribute__((always_inline)) gi g_dot32(const int WIDE, const gi *w, const int8_t *x1, const int8_t *x2) {
    (void)WIDE;  /* (vpdpbusd sums in 32 bits: any weight up to 255) */
    const gi xa = lanes16(x1), xb = lanes16(x1 + 16), ya = lanes16(x2), yb = lanes16(x2 + 16);
    const gi z = _mm512_setzero_si512();
    gi h0 = _mm512_dpbusd_epi32(z, w[0], DWORD(xa, 0)), h1 = _mm512_dpbusd_epi32(z, w[4], DWORD(xb, 0));
    gi l0 = _mm512_dpbusd_epi32(z, w[0], DWORD(ya, 0)), l1 = _mm512_dpbusd_epi32(z, w[4], DWORD(yb, 0));
    h0 = _mm512_dpbusd_epi32(h0, w[1], DWORD(xa, 1)), h1 = _mm512_dpbusd_epi32(h1, w[5], DWORD(xb, 1));
    l0 = _mm512_dpbusd_epi32(l0, w[1], DWORD(ya, 1)), l1 = _mm512_dpbusd_epi32(l1, w[5], DWORD(yb, 1));
    h0 = _mm512_dpbusd_epi32(h0, w[2], DWORD(xa, 2)), h1 = _mm512_dpbusd_epi32(h1, w[6], DWORD(xb, 2));
    l0 = _mm512_dpbusd_epi32(l0, w[2], DWORD(ya, 2)), l1 = _mm512_dpbusd_epi32(l1, w[6], DWORD(yb, 2));
    h0 = _mm512_dpbusd_epi32(h0, w[3], DWORD(xa, 3)), h1 = _mm512_dpbusd_epi32(h1, w[7], DWORD(xb, 3));
    l0 = _mm512_dpbusd_epi32(l0, w[3], DWORD(ya, 3)), l1 = _mm512_dpbusd_epi32(l1, w[7], DWORD(yb, 3));
    return _mm512_add_epi32(_mm512_slli_epi32(_mm512_add_epi32(h0, h1), 8), _mm512_add_epi32(l0, l1));
}

#include "backend/cpu/kernels/x86/group_tiles.h"

#endif
