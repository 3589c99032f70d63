/* The AVX-512 set's lanes for the row-group tiles (x86/group_tiles.h; avx512.c includes this
 * after its multi-row tiles, with AVX512-VNNI): 16 lanes per zmm, Q4_0 groups of two zmm so that
 * every activation chunk brought to the lanes feeds two vpdpbusd (a vpdpbusd fed by its own
 * broadcast runs at 4.7 G/s on a core here, against 11 from registers: BENCHMARKS.md). The
 * chunks reach every lane as a 16-byte broadcast load and a shuffle each for one activation row
 * (lanes16, DWORD: for one row a broadcast memory operand of vpdpbusd ran at a third of that),
 * or, BY_LOAD, from memory for several (where the shuffles were what bounded a batch:
 * 1.12-1.19x at 2-8 rows, 0.94x alone): as the broadcast memory operand of each vpdpbusd of a
 * one-vector group (dot_bcast: against a broadcast load per dot, Q6_K 1.2-1.3x and Q4_K 1.05x
 * at 8 rows), as one broadcast load shared by Q4_0's two vectors (0.7x as two memory operands);
 * each 8-bit dot is one vpdpbusd, in independent chains. */
#ifndef LLAMA3_AVX512_GROUP_LANES_H
#define LLAMA3_AVX512_GROUP_LANES_H

#include <string.h>

#define LANES 16
/* Q4_0 groups of 32 rows, two zmm per chunk and each activation chunk feeding both (kernel
 * alone: 1.13-1.23x at 8 activation rows, 1.19-1.27x at one); the K-quants keep 16 (two vectors:
 * Q4_K 1.06-1.10x at 8 rows in the kernel but in the model b8 1.02-1.11x, b1 0.97x; Q5_K 0.92x
 * alone; Q6_K 0.63-0.85x: BENCHMARKS.md) */
#define G_VECS_Q4_0 2
#define G_Q8_0 1    /* (vpdpbusd sums in 32 bits) */
#define G_PREFETCH_L2_B32 1
#define G_NX 8      /* activation rows per tile */
#define G_NX_MID 4
typedef __m512i gi;
typedef __m512 gf;
static inline gi gi_ld(const uint8_t *p) { return _mm512_loadu_si512(p); }
static inline gi gi_and(gi a, gi b) { return _mm512_and_si512(a, b); }
static inline gi gi_or(gi a, gi b) { return _mm512_or_si512(a, b); }
static inline gi gi_xor(gi a, gi b) { return _mm512_xor_si512(a, b); }
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
static inline void gi_st(uint8_t *p, gi v) { _mm512_storeu_si512(p, v); }
static inline gi gi_max_u8(gi a, gi b) { return _mm512_max_epu8(a, b); }
static inline int gf_differ(gf a, gf b) { return _mm512_cmp_ps_mask(a, b, _CMP_NEQ_UQ) != 0; }

/* out[i] = mul (s[2i] + s[2i + 1]) for i < k <= 16 */
static inline void g_pair_sums(const float *s, int k, float mul, float *out) {
    const __mmask16 lo = k >= 8 ? 0xffff : (__mmask16)((1u << 2 * k) - 1);
    const __mmask16 hi = k >= 16 ? 0xffff : k > 8 ? (__mmask16)((1u << 2 * (k - 8)) - 1) : 0;
    const __m512 a = _mm512_maskz_loadu_ps(lo, s), b = _mm512_maskz_loadu_ps(hi, s + 16);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512 e = _mm512_permutex2var_ps(a, even, b);
    const __m512 o = _mm512_permutex2var_ps(a, _mm512_add_epi32(even, _mm512_set1_epi32(1)), b);
    _mm512_storeu_ps(out, _mm512_mul_ps(_mm512_set1_ps(mul), _mm512_add_ps(e, o)));
}

/* out[i] = mul s[i] for i < 16 */
static inline void g_scale16(const float *s, float mul, float *out) {
    _mm512_storeu_ps(out, _mm512_mul_ps(_mm512_set1_ps(mul), _mm512_loadu_ps(s)));
}

/* a 4-byte chunk in every lane: a shuffle of the 16 bytes in v, or a broadcast load of p */
#define CHUNK(BY_LOAD, v, p, c) ((BY_LOAD) ? bcast32((p) + 4 * (c)) : DWORD(v, c))
/* acc + w . (the 4 bytes at p in every lane), the broadcast as the dot's memory operand ({1to16};
 * GCC 12 keeps a separate vpbroadcastd for the intrinsics, clang folds it) */
typedef int32_t __attribute__((may_alias, aligned(1))) i32_bytes;  /* 4 int8 read as one operand */
static inline __attribute__((always_inline)) gi dot_bcast(gi acc, gi w, const int8_t *p) {
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*(const i32_bytes *)p));
    return acc;
}
static inline gi bcast32(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* 256 (w . x1) + w . x2 per lane over 16 values (w[0..3]): for several activation rows (BY_LOAD)
 * one chain per level on broadcast operands (against two: Q6_K at 8 rows 1.04-1.12x from memory),
 * for one two chains per level on the shuffles of a 16-byte load (the shuffle's immediate must be
 * a literal for clang) */
static inline __attribute__((always_inline)) gi g_dot16(const int BY_LOAD, const gi *w, const int8_t *x1,
                                                        const int8_t *x2) {
    const gi z = _mm512_setzero_si512();
    if (BY_LOAD) {
        gi h = dot_bcast(z, w[0], x1), l = dot_bcast(z, w[0], x2);
        L3_UNROLL for (int c = 1; c < 4; c++) h = dot_bcast(h, w[c], x1 + 4 * c), l = dot_bcast(l, w[c], x2 + 4 * c);
        return _mm512_add_epi32(_mm512_slli_epi32(h, 8), l);
    }
    const gi x = lanes16(x1), xx = lanes16(x2);
    gi h0 = _mm512_dpbusd_epi32(z, w[0], DWORD(x, 0)), h1 = _mm512_dpbusd_epi32(z, w[1], DWORD(x, 1));
    gi l0 = _mm512_dpbusd_epi32(z, w[0], DWORD(xx, 0)), l1 = _mm512_dpbusd_epi32(z, w[1], DWORD(xx, 1));
    h0 = _mm512_dpbusd_epi32(h0, w[2], DWORD(x, 2)), h1 = _mm512_dpbusd_epi32(h1, w[3], DWORD(x, 3));
    l0 = _mm512_dpbusd_epi32(l0, w[2], DWORD(xx, 2)), l1 = _mm512_dpbusd_epi32(l1, w[3], DWORD(xx, 3));
    return _mm512_add_epi32(_mm512_slli_epi32(_mm512_add_epi32(h0, h1), 8), _mm512_add_epi32(l0, l1));
}

/* per lane of each vector h < GV, v[h] = 256 (w[h] . x1) + w[h] . x2 over 32 values (w[h][0..3]:
 * values 0-15, w[h][4..7]: 16-31), four chains per vector */
static inline __attribute__((always_inline)) void g_dot32(const int GV, const int WIDE, const int BY_LOAD, gi (*w)[8],
                                                          const int8_t *x1, const int8_t *x2, gi *v) {
    (void)WIDE;  /* (vpdpbusd sums in 32 bits: any weight up to 255) */
    const gi z = _mm512_setzero_si512();
    const gi xa = BY_LOAD ? z : lanes16(x1), xb = BY_LOAD ? z : lanes16(x1 + 16);
    const gi ya = BY_LOAD ? z : lanes16(x2), yb = BY_LOAD ? z : lanes16(x2 + 16);
    gi h0[G_VECS_Q4_0], h1[G_VECS_Q4_0], l0[G_VECS_Q4_0], l1[G_VECS_Q4_0];  /* (the most vectors a group has) */
    L3_UNROLL for (int h = 0; h < GV; h++) h0[h] = h1[h] = l0[h] = l1[h] = z;
#define STEP(c)                                                                                           \
    {                                                                                                     \
        if (BY_LOAD && GV == 1) { /* the chunks as the dots' broadcast operands */                       \
            h0[0] = dot_bcast(h0[0], w[0][c], x1 + 4 * c), h1[0] = dot_bcast(h1[0], w[0][4 + c], x1 + 16 + 4 * c); \
            l0[0] = dot_bcast(l0[0], w[0][c], x2 + 4 * c), l1[0] = dot_bcast(l1[0], w[0][4 + c], x2 + 16 + 4 * c); \
        } else { /* each chunk brought to the lanes once for every vector */                              \
            const gi a = CHUNK(BY_LOAD, xa, x1, c), b = CHUNK(BY_LOAD, xb, x1 + 16, c);                   \
            const gi a2 = CHUNK(BY_LOAD, ya, x2, c), b2 = CHUNK(BY_LOAD, yb, x2 + 16, c);                 \
            L3_UNROLL for (int h = 0; h < GV; h++) {                                                      \
                h0[h] = _mm512_dpbusd_epi32(h0[h], w[h][c], a), h1[h] = _mm512_dpbusd_epi32(h1[h], w[h][4 + c], b);   \
                l0[h] = _mm512_dpbusd_epi32(l0[h], w[h][c], a2), l1[h] = _mm512_dpbusd_epi32(l1[h], w[h][4 + c], b2); \
            }                                                                                             \
        }                                                                                                 \
    }
    STEP(0) STEP(1) STEP(2) STEP(3)
#undef STEP
    L3_UNROLL for (int h = 0; h < GV; h++)
        v[h] = _mm512_add_epi32(_mm512_slli_epi32(_mm512_add_epi32(h0[h], h1[h]), 8), _mm512_add_epi32(l0[h], l1[h]));
}
#undef CHUNK

#include "backend/cpu/kernels/x86/group_tiles.h"
#include "backend/cpu/kernels/x86/group_panel.h"

#endif
