/* Multi-row decode tiles of the AVX2 sets (avx2.c includes this after q8_simd.h): dot_q8 and
 * dotn_q8 for Q8_0, Q4_0, Q4_K, Q5_K and Q6_K (kernels.h layouts, two activation levels).
 *
 * The two levels are joined into one exact int16 per value, x = 256 q + q2 (|x| <= 32639),
 * once per call for every activation row; the weights are widened to int16 and multiplied
 * with vpmaddwd: 16 products per instruction, both levels at once (maddubs would need one
 * per level and a madd each). A lane sums at most 4 products of a weight (|w| <= 128) and an
 * x: below 2^24, so its conversion to float is exact.
 *
 * A tile multiplies MR weight rows with NR activation rows (decode 4 x 1, a step of batched
 * decode 2 x 4 or 2 x 2), one accumulator per pair; every pair takes the same instructions
 * in the same order whatever MR and NR are, so a row decoded in a batch gets the bits it gets
 * alone, and dot_q8 is the 1 x 1 case. Per 8 blocks of 32 the scales are vectors: the 8 fp16
 * weight scales of a row converted at once, times the 8 activation scales, kept on the
 * stack and broadcast per block; Q4_0's offset 8 and the K-quants' mins times the activation
 * sums are one FMA per 8 blocks. Each tile prefetches the next pass's rows in address order
 * as it goes. Missing rows (i >= nw, j >= nx) alias the last valid one and are not stored. */
#ifndef LLAMA3_AVX2_DECODE_TILES_H
#define LLAMA3_AVX2_DECODE_TILES_H

/* x[e] = 256 q[e] + q2[e] for n values (a multiple of 32) */
static void act16(const int8_t *q, const int8_t *q2, int16_t *x, int64_t n) {
    for (int64_t e = 0; e < n; e += 16) {
        const __m256i a = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q + e)));
        const __m256i b = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q2 + e)));
        _mm256_storeu_si256((__m256i *)(x + e), _mm256_add_epi16(_mm256_slli_epi16(a, 8), b));
    }
}

/* lane sums of a . xa + b . xb (int16 pairs, exact int32) */
static inline __m256i wdot(__m256i a, const int16_t *xa, __m256i b, const int16_t *xb) {
#ifdef L3_AVX2_VNNI
    return _mm256_dpwssd_avx_epi32(_mm256_madd_epi16(a, ld32(xa)), b, ld32(xb));
#else
    return _mm256_add_epi32(_mm256_madd_epi16(a, ld32(xa)), _mm256_madd_epi16(b, ld32(xb)));
#endif
}

/* 16 bytes at p widened to int16 */
static inline __m256i u16x(const uint8_t *p) { return _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)p)); }
static inline __m256i s16x(const uint8_t *p) { return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p)); }

/* the fp16 scales of m <= 8 consecutive blocks (at p + k * stride) as floats, zero past m:
 * gathered in general registers (a vpgatherdd or a vpinsrw per block ran slower here, AMD
 * Zen 4) */
static inline __m256 scales8(const uint8_t *p, size_t stride, int m) {
    uint64_t lo = 0, hi = 0;
    L3_UNROLL for (int k = 0; k < 8; k++)
        if (k < m) {
            uint16_t h16;
            memcpy(&h16, p + k * stride, 2);
            uint64_t h = h16;
            __asm__("" : "+r"(h));  /* (GCC's vectorized version of these ors is slower) */
            if (k < 4) lo |= h << 16 * k;
            else hi |= h << 16 * (k - 4);
        }
    return _mm256_cvtph_ps(_mm_set_epi64x((long long)hi, (long long)lo));
}

/* sums of the 16s of 8 blocks in pairs, in block order (s as in kernels.h; m <= 8 blocks) */
static inline __m256 block_sums(const float *s, int m) {
    __m256 a, b;
    if (m == 8) a = _mm256_loadu_ps(s), b = _mm256_loadu_ps(s + 8);
    else a = _mm256_maskload_ps(s, tail_mask(2 * m)), b = _mm256_maskload_ps(s + 8, tail_mask(2 * m - 8));
    /* hadd gives pairs 0 1 4 5 | 2 3 6 7 */
    return _mm256_permutevar8x32_ps(_mm256_hadd_ps(a, b), _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7));
}
static inline __m256 ld8(const float *p, int m) {
    return m == 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, tail_mask(m));
}

/* the tile's weight rows (rows + i*row_bytes) and activation rows (x16 + j*n, d + j*n/32,
 * s + j*n/16), accumulators and SB scale products per pair */
#define TILE_ROWS(SB)                                                                             \
    const uint8_t *wr[MR];                                                                          \
    const int16_t *xp[NR];                                                                          \
    const float *dp[NR], *sp[NR];                                                                   \
    for (int i = 0; i < MR; i++) wr[i] = rows + (i < nw ? i : nw - 1) * row_bytes;                  \
    for (int j = 0; j < NR; j++) {                                                                  \
        const int r = j < nx ? j : nx - 1;                                                          \
        xp[j] = x16 + r * n, dp[j] = d + r * n / 32, sp[j] = s + r * n / 16;                        \
    }                                                                                               \
    (void)sp;                                                                                       \
    __m256 acc[MR][NR];                                                                             \
    float sb[MR][NR][SB]; /* the scale products of a step's blocks, per pair */                   \
    L3_UNROLL for (int i = 0; i < MR; i++)                                                          \
        L3_UNROLL for (int j = 0; j < NR; j++) acc[i][j] = _mm256_setzero_ps();
/* a scale product broadcast from the stack, addressed from one base register (GCC otherwise
 * keeps every element's address in a register of its own, spilled) */
#define SB_BASE                                                                                     \
    const float *sbp = &sb[0][0][0];                                                                \
    __asm__("" : "+r"(sbp));
#define SB_AT(i, j, k) _mm256_broadcast_ss(sbp + ((i) * NR + (j)) * (int)(sizeof sb[0][0] / sizeof(float)) + (k))
#define TILE_STORE                                                                                  \
    L3_UNROLL for (int j = 0; j < NR; j++)                                                          \
        L3_UNROLL for (int i = 0; i < MR; i++)                                                      \
            if (i < nw && j < nx) y[j * ldy + i] = hsum256(acc[i][j]);

/* Q8_0 and Q4_0 (Q4): blocks of 32 with an fp16 scale first; one step of q4q8_tile covers
 * blocks b0 .. b0 + M - 1 (M = 8, or 1 in the last steps; a constant) */
#define Q4Q8_GROUP(M)                                                                               \
    L3_UNROLL for (int i = 0; i < MR; i++) {                                                        \
        const __m256 W = scales8(wr[i] + b0 * bb, bb, M);                                           \
        L3_UNROLL for (int j = 0; j < NR; j++) {                                                    \
            _mm256_storeu_ps(sb[i][j], _mm256_mul_ps(W, ld8(dp[j] + b0, M)));                       \
            if (Q4) /* the offset 8 times the activation sums */                                   \
                acc[i][j] = _mm256_fnmadd_ps(_mm256_mul_ps(W, _mm256_set1_ps(8.0f)), block_sums(sp[j] + 2 * b0, M), acc[i][j]); \
        }                                                                                           \
    }                                                                                               \
    SB_BASE                                                                                         \
    L3_UNROLL for (int k = 0; k < (M); k++) {                                                       \
        const int64_t b = b0 + k;                                                                   \
        L3_UNROLL for (int i = 0; i < MR; i++) {                                                    \
            const uint8_t *qs = wr[i] + b * bb + 2;                                                 \
            __m256i wa, wb;                                                                         \
            if (Q4) { /* low nibbles: values 0-15, high: 16-31 */                                  \
                const __m256i w = u16x(qs);                                                         \
                wa = _mm256_and_si256(w, m15), wb = _mm256_srli_epi16(w, 4);                        \
            } else {                                                                                \
                wa = s16x(qs), wb = s16x(qs + 16);                                                  \
            }                                                                                       \
            L3_UNROLL for (int j = 0; j < NR; j++)                                                  \
                acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(wdot(wa, xp[j] + 32 * b, wb, xp[j] + 32 * b + 16)), \
                                            SB_AT(i, j, k), acc[i][j]);          \
        }                                                                                           \
    }

static inline __attribute__((always_inline)) void q4q8_tile(const int Q4L2, const int MR, const int NR,
                                                            const uint8_t *rows, size_t row_bytes, int nw,
                                                            const int16_t *x16, const float *d, const float *s, int nx,
                                                            float *y, int64_t ldy, int64_t n) {
    TILE_ROWS(8)
    const int Q4 = Q4L2 & 1, L2 = Q4L2 >> 1;  /* Q4_0 (else Q8_0); prefetch into L2 */
    const size_t bb = Q4 ? sizeof(l3_block_q4_0) : sizeof(l3_block_q8_0);
    const uint8_t *next = rows + MR * row_bytes;  /* the next pass's rows, in address order */
    const __m256i m15 = _mm256_set1_epi16(15);
    const int64_t nb = n / 32;
    int64_t b0 = 0;
    for (; b0 + 8 <= nb; b0 += 8) {
        seq_prefetch_to(L2, next + b0 * bb * MR, 8 * (int)bb * MR);
        Q4Q8_GROUP(8)
    }
    for (; b0 < nb; b0++) { Q4Q8_GROUP(1) }  /* the last blocks one at a time */
    TILE_STORE
}

/* Q4_K and Q5_K (FIVE): a super-block of 256 per step; byte group p of qs holds sub-block 2p
 * in its low nibbles and 2p + 1 in its high ones (Q5_K: fifth bits 2p and 2p + 1 of qh) */
static inline __attribute__((always_inline)) void k45_tile(const int FIVE, const int MR, const int NR,
                                                           const uint8_t *rows, size_t row_bytes, int nw,
                                                           const int16_t *x16, const float *d, const float *s, int nx,
                                                           float *y, int64_t ldy, int64_t n) {
    TILE_ROWS(8)
    const size_t bb = FIVE ? sizeof(l3_block_q5_K) : sizeof(l3_block_q4_K);
    const uint8_t *next = rows + MR * row_bytes;
    const __m256i m15 = _mm256_set1_epi16(15), b4 = _mm256_set1_epi16(16);
    for (int64_t ib = 0; ib < n / L3_QK_K; ib++) {
        L3_UNROLL for (int i = 0; i < MR; i++) {
            const uint8_t *blk = wr[i] + ib * bb;
            uint16_t hd, hm;
            memcpy(&hd, blk, 2), memcpy(&hm, blk + 2, 2);
            uint64_t sc, mn;
            k4_scales_mins(blk + 4, &sc, &mn);
            const __m256 S = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc))),
                                           _mm256_set1_ps(h2f(hd)));
            const __m256 M = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)mn))),
                                           _mm256_set1_ps(h2f(hm)));
            L3_UNROLL for (int j = 0; j < NR; j++) {
                _mm256_storeu_ps(sb[i][j], _mm256_mul_ps(S, _mm256_loadu_ps(dp[j] + 8 * ib)));
                acc[i][j] = _mm256_fnmadd_ps(M, block_sums(sp[j] + 16 * ib, 8), acc[i][j]);
            }
        }
        SB_BASE
        L3_UNROLL for (int p = 0; p < 4; p++) {  /* values 64p .. 64p + 63 of the super-block */
            const int pf = ((int)bb * MR + 3) / 4;  /* a quarter of the next pass's super-blocks */
            seq_prefetch(next + ib * bb * MR + p * pf, pf);
            L3_UNROLL for (int i = 0; i < MR; i++) {
                const uint8_t *blk = wr[i] + ib * bb;
                const uint8_t *qs = blk + 16 + (FIVE ? 32 : 0) + 32 * p;
                const __m256i lo = u16x(qs), hi = u16x(qs + 16);  /* values 0-15, 16-31 */
                __m256i a0 = _mm256_and_si256(lo, m15), a1 = _mm256_and_si256(hi, m15);
                __m256i c0 = _mm256_srli_epi16(lo, 4), c1 = _mm256_srli_epi16(hi, 4);
                if (FIVE) {  /* bit 2p (even sub-block) and 2p + 1 (odd) of each qh byte, to bit 4 */
                    const __m256i h0 = _mm256_slli_epi16(u16x(blk + 16), 4), h1 = _mm256_slli_epi16(u16x(blk + 32), 4);
                    a0 = _mm256_or_si256(a0, _mm256_and_si256(_mm256_srli_epi16(h0, 2 * p), b4));
                    a1 = _mm256_or_si256(a1, _mm256_and_si256(_mm256_srli_epi16(h1, 2 * p), b4));
                    c0 = _mm256_or_si256(c0, _mm256_and_si256(_mm256_srli_epi16(h0, 2 * p + 1), b4));
                    c1 = _mm256_or_si256(c1, _mm256_and_si256(_mm256_srli_epi16(h1, 2 * p + 1), b4));
                }
                L3_UNROLL for (int j = 0; j < NR; j++) {
                    const int16_t *x = xp[j] + 256 * ib + 64 * p;
                    acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(wdot(a0, x, a1, x + 16)),
                                                SB_AT(i, j, 2 * p), acc[i][j]);
                    acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(wdot(c0, x + 32, c1, x + 48)),
                                                SB_AT(i, j, 2 * p + 1), acc[i][j]);
                }
            }
        }
    }
    TILE_STORE
}

/* Q6_K: per half h of a super-block and 16-byte column c, the 16 values of each of its 4
 * quarters (low 4 bits from ql's low or high nibbles, 2 more from qh) with the scale of
 * their sub-block of 16; the offset 32 times the activation sums once per super-block */
static inline __attribute__((always_inline)) void q6k_tile(const int UNUSED, const int MR, const int NR,
                                                           const uint8_t *rows, size_t row_bytes, int nw,
                                                           const int16_t *x16, const float *d, const float *s, int nx,
                                                           float *y, int64_t ldy, int64_t n) {
    (void)UNUSED;
    TILE_ROWS(16)
    const size_t bb = sizeof(l3_block_q6_K);
    const uint8_t *next = rows + MR * row_bytes;
    const __m256i m15 = _mm256_set1_epi16(15), m30 = _mm256_set1_epi16(0x30);
    for (int64_t ib = 0; ib < n / L3_QK_K; ib++) {
        L3_UNROLL for (int i = 0; i < MR; i++) {
            const l3_block_q6_K *b6 = (const l3_block_q6_K *)(wr[i] + ib * bb);
            const __m256 dd = _mm256_set1_ps(h2f(b6->d));
            const __m128i sc8 = _mm_loadu_si128((const __m128i *)b6->scales);
            const __m256 W0 = _mm256_mul_ps(dd, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc8)));
            const __m256 W1 = _mm256_mul_ps(dd, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(sc8, 8))));
            L3_UNROLL for (int j = 0; j < NR; j++) {  /* sub-block k of 16 takes activation scale k / 2 */
                const __m256 D = _mm256_loadu_ps(dp[j] + 8 * ib);
                _mm256_storeu_ps(sb[i][j], _mm256_mul_ps(W0, _mm256_permutevar8x32_ps(D, _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3))));
                _mm256_storeu_ps(sb[i][j] + 8, _mm256_mul_ps(W1, _mm256_permutevar8x32_ps(D, _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7))));
                acc[i][j] = _mm256_fnmadd_ps(_mm256_mul_ps(W0, _mm256_set1_ps(32.0f)), _mm256_loadu_ps(sp[j] + 16 * ib), acc[i][j]);
                acc[i][j] = _mm256_fnmadd_ps(_mm256_mul_ps(W1, _mm256_set1_ps(32.0f)), _mm256_loadu_ps(sp[j] + 16 * ib + 8), acc[i][j]);
            }
        }
        SB_BASE
        L3_UNROLL for (int h = 0; h < 2; h++)
            L3_UNROLL for (int c = 0; c < 2; c++) {
                const int pf = ((int)bb * MR + 3) / 4;
                seq_prefetch(next + ib * bb * MR + (2 * h + c) * pf, pf);
                L3_UNROLL for (int i = 0; i < MR; i++) {
                    const l3_block_q6_K *b6 = (const l3_block_q6_K *)(wr[i] + ib * bb);
                    const __m256i L0 = u16x(b6->ql + 64 * h + 16 * c), L1 = u16x(b6->ql + 64 * h + 32 + 16 * c);
                    const __m256i H = u16x(b6->qh + 32 * h + 16 * c);
                    const __m256i w[4] = {
                        _mm256_or_si256(_mm256_and_si256(L0, m15), _mm256_and_si256(_mm256_slli_epi16(H, 4), m30)),
                        _mm256_or_si256(_mm256_and_si256(L1, m15), _mm256_and_si256(_mm256_slli_epi16(H, 2), m30)),
                        _mm256_or_si256(_mm256_srli_epi16(L0, 4), _mm256_and_si256(H, m30)),
                        _mm256_or_si256(_mm256_srli_epi16(L1, 4), _mm256_and_si256(_mm256_srli_epi16(H, 2), m30)) };
                    L3_UNROLL for (int j = 0; j < NR; j++)
                        L3_UNROLL for (int qt = 0; qt < 4; qt++)
                            acc[i][j] = _mm256_fmadd_ps(
                                _mm256_cvtepi32_ps(_mm256_madd_epi16(w[qt], ld32(xp[j] + 256 * ib + 128 * h + 32 * qt + 16 * c))),
                                SB_AT(i, j, 8 * h + 2 * qt + c), acc[i][j]);
                }
            }
    }
    TILE_STORE
}

/* Entry points: the activation rows joined to int16 once per call (at most 4 at a time, on the
 * stack), then decode in passes of 4 weight rows, a step of batched decode 2 x 4 or 2 x 2. */
#define DECODE_ENTRY(name, TILE, ARG)                                                               \
    /* the tile shapes as functions of their own (a fixed frame: their scale products stay at \
     * constant stack offsets) */                                                              \
    static __attribute__((noinline)) void name##_4x1(const uint8_t *r, size_t rb, int nw, const int16_t *x16, \
                                                     const float *d, const float *s, float *y, int64_t n) { \
        TILE(ARG, 4, 1, r, rb, nw, x16, d, s, 1, y, 1, n);                                          \
    }                                                                                               \
    static __attribute__((noinline)) void name##_1x1(const uint8_t *r, const int16_t *x16, const float *d,     \
                                                     const float *s, float *y, int64_t n) {         \
        TILE(ARG, 1, 1, r, 0, 1, x16, d, s, 1, y, 1, n);                                            \
    }                                                                                               \
    static __attribute__((noinline)) void name##_2xN(const int NR, const uint8_t *r, size_t rb, int nw,   \
                                                     const int16_t *x16, const float *d, const float *s, int nx, \
                                                     float *y, int64_t ldy, int64_t n) {            \
        if (NR == 4) TILE(ARG, 2, 4, r, rb, nw, x16, d, s, nx, y, ldy, n);                          \
        else TILE(ARG, 2, 2, r, rb, nw, x16, d, s, nx, y, ldy, n);                                  \
    }                                                                                               \
    static void dotn16_##name(const void *rows, size_t row_bytes, int nw, const int8_t *q, const int8_t *q2, \
                              const float *d, const float *s, int nx, float *y, int64_t ldy, int64_t n) { \
        const uint8_t *r = rows;                                                                    \
        const int g = nx < 4 ? nx : 4;                                                              \
        int16_t x16[g * n];                                                                         \
        for (int j0 = 0; j0 < nx; j0 += 4) {                                                        \
            const int mx = nx - j0 < 4 ? nx - j0 : 4;                                               \
            const int64_t o = (int64_t)j0 * n;                                                      \
            for (int j = 0; j < mx; j++) act16(q + o + j * n, q2 + o + j * n, x16 + j * n, n);     \
            const float *dj = d + o / 32, *sj = s + o / 16;                                         \
            float *yj = y + j0 * ldy;                                                               \
            if (mx == 1)                                                                            \
                for (int i = 0; i < nw; i += 4)                                                     \
                    name##_4x1(r + i * row_bytes, row_bytes, nw - i < 4 ? nw - i : 4, x16, dj, sj, yj + i, n); \
            else                                                                                    \
                for (int i = 0; i < nw; i += 2)                                                     \
                    name##_2xN(mx > 2 ? 4 : 2, r + i * row_bytes, row_bytes, nw - i < 2 ? nw - i : 2, x16, dj, sj, \
                               mx, yj + i, ldy, n);                                                 \
        }                                                                                           \
    }                                                                                               \
    static float dot16_##name(const void *row, const int8_t *q, const int8_t *q2, const float *d, const float *s, \
                              int64_t n) {                                                          \
        int16_t x16[n];                                                                             \
        act16(q, q2, x16, n);                                                                       \
        float y;                                                                                    \
        name##_1x1(row, x16, d, s, &y, n);                                                          \
        return y;                                                                                   \
    }
DECODE_ENTRY(q8_0, q4q8_tile, 0)
DECODE_ENTRY(q8_0_l2, q4q8_tile, 2)  /* (Intel CPUs: 1.25-1.35x at one stream, BENCHMARKS.md) */
DECODE_ENTRY(q4_0, q4q8_tile, 1)
DECODE_ENTRY(q4_K, k45_tile, 0)
DECODE_ENTRY(q5_K, k45_tile, 1)
DECODE_ENTRY(q6_K, q6k_tile, 0)

static void install_decode_tiles(l3_kernel_set *k) {
#define SET(T, name) k->dot_q8[T] = dot16_##name, k->dotn_q8[T] = dotn16_##name
    SET(L3_Q8_0, q8_0); SET(L3_Q4_0, q4_0); SET(L3_Q4_K, q4_K); SET(L3_Q5_K, q5_K); SET(L3_Q6_K, q6_K);
    if (l3_cpu()->intel) SET(L3_Q8_0, q8_0_l2);
#undef SET
}

#endif
