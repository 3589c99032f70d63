/* Quantized-weight kernels shared by the AVX2 and AVX-512 sets, written once over 16-value
 * chunks: every block type is unpacked into int8 chunks of 16 (__m128i, SSE4.1 integer ops,
 * available under both flag sets), and the includer supplies the float side at its own
 * vector width:
 *   vf                                    accumulator vector type
 *   vf vf_zero(void)
 *   vf vf_dot16(__m128i q, const float *x)  lane-wise partial products of 16 int8 with x[0..15]
 *   vf vf_sum16(const float *x)            lane-wise partial sums of x[0..15]
 *   vf vf_fma_s(float s, vf v, vf acc)     acc + s * v
 *   vf vf_add(vf a, vf b)
 *   float vf_hsum(vf v)
 *   void st16(float *dst, __m128i q, float s)               dst = s * q
 *   void st16_bias(float *dst, __m128i q, float s, float b)  dst = q * s + b (mul, then add)
 * to_float must round exactly like the scalar reference (a product, then a sum: never a
 * fused multiply-add), since it is tested for equality. Weights are multiplied by f32
 * activations (no activation quantization), so dot products are as accurate as the scalar
 * reference. Include once per kernel file, after defining the above. */
#ifndef LLAMA3_QUANT_SIMD_H
#define LLAMA3_QUANT_SIMD_H

#include <immintrin.h>
#include <string.h>
#include "quants/quants.h"
#include "tensor_types.h"

/* ---- unpacking ------------------------------------------------------------------------ */

/* f16 scale to f32 with F16C (exact, like l3_f16_to_f32(), without the call and branches). */
static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

static inline __m128i ld16(const void *p) { return _mm_loadu_si128((const __m128i *)p); }
static inline __m128i nib_lo(__m128i q) { return _mm_and_si128(q, _mm_set1_epi8(0x0f)); }
static inline __m128i nib_hi(__m128i q) { return _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0x0f)); }
static inline __m128i sub8(__m128i q, int v) { return _mm_sub_epi8(q, _mm_set1_epi8((char)v)); }

/* Byte i = 0x10 where bit i of the low 16 bits of `bits` is set (Q5's fifth bits). */
static inline __m128i bits_to_0x10(uint32_t bits) {
    const __m128i spread = _mm_set_epi8(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m128i sel = _mm_set1_epi64x((long long)0x8040201008040201ull);
    __m128i v = _mm_shuffle_epi8(_mm_cvtsi32_si128((int)bits), spread);
    return _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(v, sel), sel), _mm_set1_epi8(0x10));
}

/* Byte i = 0x10 where (qh[i] >> bit) & 1 (Q5_K's fifth bits). */
static inline __m128i qh_bit_0x10(__m128i qh, int bit) {
    const __m128i sel = _mm_set1_epi8((char)(1 << bit));
    return _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(qh, sel), sel), _mm_set1_epi8(0x10));
}

static inline uint32_t qh32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* ---- 32-blocks ------------------------------------------------------------------------ */

/* Each defines the two int8 chunks (c0: values 0..15, c1: 16..31) of block b. */
#define UNPACK_Q8_0(b) __m128i c0 = ld16((b)->qs), c1 = ld16((b)->qs + 16)
#define UNPACK_Q4_0(b) __m128i q_ = ld16((b)->qs), c0 = sub8(nib_lo(q_), 8), c1 = sub8(nib_hi(q_), 8)
#define UNPACK_Q4_1(b) __m128i q_ = ld16((b)->qs), c0 = nib_lo(q_), c1 = nib_hi(q_)
#define UNPACK_Q5_0(b)                                                          \
    __m128i q_ = ld16((b)->qs);                                                 \
    uint32_t h_ = qh32((b)->qh);                                                \
    __m128i c0 = sub8(_mm_or_si128(nib_lo(q_), bits_to_0x10(h_)), 16);          \
    __m128i c1 = sub8(_mm_or_si128(nib_hi(q_), bits_to_0x10(h_ >> 16)), 16)
#define UNPACK_Q5_1(b)                                                          \
    __m128i q_ = ld16((b)->qs);                                                 \
    uint32_t h_ = qh32((b)->qh);                                                \
    __m128i c0 = _mm_or_si128(nib_lo(q_), bits_to_0x10(h_));                    \
    __m128i c1 = _mm_or_si128(nib_hi(q_), bits_to_0x10(h_ >> 16))

/* Symmetric types (x = d * q): dot and to_float. */
#define SIMD_SYM32(name, btype, UNPACK)                                                     \
    static float dot_##name(const void *row, const float *x, int64_t n) {                   \
        const btype *b = row;                                                                \
        vf acc = vf_zero();                                                                  \
        for (int64_t i = 0; i < n / 32; i++, x += 32) {                                      \
            UNPACK(&b[i]);                                                                   \
            acc = vf_fma_s(h2f(b[i].d), vf_add(vf_dot16(c0, x), vf_dot16(c1, x + 16)), acc); \
        }                                                                                    \
        return vf_hsum(acc);                                                                 \
    }                                                                                        \
    static void to_float_##name(const void *row, float *dst, int64_t n) {                    \
        const btype *b = row;                                                                \
        for (int64_t i = 0; i < n / 32; i++, dst += 32) {                                    \
            UNPACK(&b[i]);                                                                   \
            float d = h2f(b[i].d);                                                 \
            st16(dst, c0, d);                                                                \
            st16(dst + 16, c1, d);                                                           \
        }                                                                                    \
    }

/* Types with a min (x = d * q + m): the min multiplies the sum of the activations. */
#define SIMD_MIN32(name, btype, UNPACK)                                                     \
    static float dot_##name(const void *row, const float *x, int64_t n) {                   \
        const btype *b = row;                                                                \
        vf acc = vf_zero(), accm = vf_zero();                                                \
        for (int64_t i = 0; i < n / 32; i++, x += 32) {                                      \
            UNPACK(&b[i]);                                                                   \
            acc = vf_fma_s(h2f(b[i].d), vf_add(vf_dot16(c0, x), vf_dot16(c1, x + 16)), acc); \
            accm = vf_fma_s(h2f(b[i].m), vf_add(vf_sum16(x), vf_sum16(x + 16)), accm); \
        }                                                                                    \
        return vf_hsum(vf_add(acc, accm));                                                   \
    }                                                                                        \
    static void to_float_##name(const void *row, float *dst, int64_t n) {                    \
        const btype *b = row;                                                                \
        for (int64_t i = 0; i < n / 32; i++, dst += 32) {                                    \
            UNPACK(&b[i]);                                                                   \
            float d = h2f(b[i].d), m = h2f(b[i].m);                      \
            st16_bias(dst, c0, d, m);                                                        \
            st16_bias(dst + 16, c1, d, m);                                                   \
        }                                                                                    \
    }

SIMD_SYM32(q8_0, l3_block_q8_0, UNPACK_Q8_0)
SIMD_SYM32(q4_0, l3_block_q4_0, UNPACK_Q4_0)
SIMD_SYM32(q5_0, l3_block_q5_0, UNPACK_Q5_0)
SIMD_MIN32(q4_1, l3_block_q4_1, UNPACK_Q4_1)
SIMD_MIN32(q5_1, l3_block_q5_1, UNPACK_Q5_1)

/* ---- Q4_K / Q5_K: 8 sub-blocks of 32 per super-block ---------------------------------- */

/* Chunks of sub-block j: nibbles (j & 1) of bytes 32*(j/2) .. +31, plus Q5_K's bit j of qh. */
static inline void unpack_k4(const uint8_t *qs, int j, __m128i *c0, __m128i *c1) {
    __m128i a = ld16(qs + 32 * (j / 2)), b = ld16(qs + 32 * (j / 2) + 16);
    *c0 = j & 1 ? nib_hi(a) : nib_lo(a);
    *c1 = j & 1 ? nib_hi(b) : nib_lo(b);
}
static inline void unpack_k5(const l3_block_q5_K *b, int j, __m128i *c0, __m128i *c1) {
    unpack_k4(b->qs, j, c0, c1);
    *c0 = _mm_or_si128(*c0, qh_bit_0x10(ld16(b->qh), j));
    *c1 = _mm_or_si128(*c1, qh_bit_0x10(ld16(b->qh + 16), j));
}

#define SIMD_K4(name, btype, UNPACK_J)                                                      \
    static float dot_##name(const void *row, const float *x, int64_t n) {                   \
        const btype *b = row;                                                                \
        vf acc = vf_zero(), accm = vf_zero();                                                \
        for (int64_t i = 0; i < n / L3_QK_K; i++) {                                          \
            const float d = h2f(b[i].d), dmin = h2f(b[i].dmin);          \
            for (int j = 0; j < 8; j++, x += 32) {                                           \
                uint8_t sc, m;                                                               \
                __m128i c0, c1;                                                              \
                l3_k4_scale_min(j, b[i].scales, &sc, &m);                                    \
                UNPACK_J;                                                                    \
                acc = vf_fma_s(d * sc, vf_add(vf_dot16(c0, x), vf_dot16(c1, x + 16)), acc);  \
                accm = vf_fma_s(dmin * m, vf_add(vf_sum16(x), vf_sum16(x + 16)), accm);      \
            }                                                                                \
        }                                                                                    \
        return vf_hsum(acc) - vf_hsum(accm);                                                 \
    }                                                                                        \
    static void to_float_##name(const void *row, float *dst, int64_t n) {                    \
        const btype *b = row;                                                                \
        for (int64_t i = 0; i < n / L3_QK_K; i++) {                                          \
            const float d = h2f(b[i].d), dmin = h2f(b[i].dmin);          \
            for (int j = 0; j < 8; j++, dst += 32) {                                         \
                uint8_t sc, m;                                                               \
                __m128i c0, c1;                                                              \
                l3_k4_scale_min(j, b[i].scales, &sc, &m);                                    \
                UNPACK_J;                                                                    \
                const float ds = d * sc, dm = dmin * m;                                      \
                st16_bias(dst, c0, ds, -dm);                                                 \
                st16_bias(dst + 16, c1, ds, -dm);                                            \
            }                                                                                \
        }                                                                                    \
    }

SIMD_K4(q4_K, l3_block_q4_K, unpack_k4(b[i].qs, j, &c0, &c1))
SIMD_K4(q5_K, l3_block_q5_K, unpack_k5(&b[i], j, &c0, &c1))

/* ---- Q6_K: per 128-value half, 4 quarters of 32 values, 16-value sub-blocks ----------- */

/* Chunk c (0, 1) of quarter qt (0..3) of half h: signed values q - 32. */
static inline __m128i unpack_q6(const l3_block_q6_K *b, int h, int qt, int c) {
    const uint8_t *ql = b->ql + 64 * h + 32 * (qt & 1) + 16 * c;
    __m128i lo = qt < 2 ? nib_lo(ld16(ql)) : nib_hi(ld16(ql));
    __m128i qh = ld16(b->qh + 32 * h + 16 * c), hi;
    switch (qt) {  /* bits 2qt, 2qt+1 of qh moved to bits 4, 5 */
    case 0: hi = _mm_slli_epi16(qh, 4); break;
    case 1: hi = _mm_slli_epi16(qh, 2); break;
    case 2: hi = qh; break;
    default: hi = _mm_srli_epi16(qh, 2); break;
    }
    return sub8(_mm_or_si128(lo, _mm_and_si128(hi, _mm_set1_epi8(0x30))), 32);
}

static float dot_q6_K(const void *row, const float *x, int64_t n) {
    const l3_block_q6_K *b = row;
    vf acc = vf_zero();
    for (int64_t i = 0; i < n / L3_QK_K; i++) {
        const float d = h2f(b[i].d);
        for (int h = 0; h < 2; h++)
            for (int qt = 0; qt < 4; qt++)
                for (int c = 0; c < 2; c++, x += 16)
                    acc = vf_fma_s(d * b[i].scales[8 * h + 2 * qt + c], vf_dot16(unpack_q6(&b[i], h, qt, c), x), acc);
    }
    return vf_hsum(acc);
}

static void to_float_q6_K(const void *row, float *dst, int64_t n) {
    const l3_block_q6_K *b = row;
    for (int64_t i = 0; i < n / L3_QK_K; i++) {
        const float d = h2f(b[i].d);
        for (int h = 0; h < 2; h++)
            for (int qt = 0; qt < 4; qt++)
                for (int c = 0; c < 2; c++, dst += 16)
                    st16(dst, unpack_q6(&b[i], h, qt, c), d * b[i].scales[8 * h + 2 * qt + c]);
    }
}

/* ---- Q8_K ----------------------------------------------------------------------------- */

static float dot_q8_K(const void *row, const float *x, int64_t n) {
    const l3_block_q8_K *b = row;
    float s = 0;
    for (int64_t i = 0; i < n / L3_QK_K; i++) {
        vf acc = vf_zero();
        for (int c = 0; c < 16; c++, x += 16) acc = vf_add(acc, vf_dot16(ld16(b[i].qs + 16 * c), x));
        s += b[i].d * vf_hsum(acc);
    }
    return s;
}

static void to_float_q8_K(const void *row, float *dst, int64_t n) {
    const l3_block_q8_K *b = row;
    for (int64_t i = 0; i < n / L3_QK_K; i++)
        for (int c = 0; c < 16; c++, dst += 16) st16(dst, ld16(b[i].qs + 16 * c), b[i].d);
}

/* Installs every quantized kernel above into k. */
static void install_quant_kernels(l3_kernel_set *k) {
#define SET(T, name) k->dot[T] = dot_##name, k->to_float[T] = to_float_##name
    SET(L3_Q8_0, q8_0); SET(L3_Q4_0, q4_0); SET(L3_Q4_1, q4_1); SET(L3_Q5_0, q5_0); SET(L3_Q5_1, q5_1);
    SET(L3_Q4_K, q4_K); SET(L3_Q5_K, q5_K); SET(L3_Q6_K, q6_K); SET(L3_Q8_K, q8_K);
#undef SET
}

#endif
