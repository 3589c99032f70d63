/* Decode on weight rows in groups of 8 (row_groups.h; avx2.c includes this after its decode
 * tiles): one ymm lane per weight row, so a block's 8 rows are multiplied at once with no
 * horizontal sums, and a group is one sequential stream from memory.
 *
 * Q4_0, per block of 32 values: the 8 fp16 scales widened from one 16-byte load, the 4 32-byte
 * vectors of nibbles split into low and high, then per activation row 8 integer dots per level
 * against its 4-byte chunks broadcast to every lane (a 16-byte broadcast load and a shuffle);
 * with AVX-VNNI one vpdpbusd each, else maddubs pairs summed in 16 bits (8 pair sums of a
 * nibble and an int8 stay below 2^15) and widened once; the two levels joined as 256 x + x2,
 * converted once, and d x dots - 8 x (the activation's block sums s) multiplied by the scales
 * into the row lanes.
 *
 * Q4_K, per super-block of 256: the 8 rows' 6-bit scales and mins taken out of their 12 bytes
 * in the lanes, times d and dmin (exact in float), then per sub-block of 32 Q4_0's integer dots
 * on the low or high nibbles of 8 chunk vectors, and acc += v x (d sc) x d_act - (dmin m) x
 * (the activation's sums s). Q5_K: the same with each value's fifth bit from its qh chunk.
 *
 * Q6_K, per super-block of 256: the 16 sub-blocks' d x scale per row lane (exact in float,
 * on the stack), then per block of 32 the 6-bit values of 8 chunk vectors (4 bits from ql, 2
 * from qh), the integer dots of each 16 on their own (a scale each; without VNNI pairs of
 * maddubs widened at once: values up to 63 overflow 16 bits past two), and acc += (d sc) x
 * (v x d_act - 32 x the activation's sums s).
 *
 * Every (row, activation row) pair takes the same instructions whatever nx is, so a row
 * decoded in a batch gets the bits it gets alone. */
#ifndef LLAMA3_AVX2_GROUP_TILES_H
#define LLAMA3_AVX2_GROUP_TILES_H

#define GROUP 8
#define Q40_BLOCK (18 * GROUP)    /* bytes of a block of 32 of a Q4_0 group */
#define Q4K_BLOCK (144 * GROUP)   /* bytes of a super-block of 256 of a Q4_K group */
#define Q5K_BLOCK (176 * GROUP)   /* bytes of a super-block of 256 of a Q5_K group */
#define Q6K_BLOCK (210 * GROUP)   /* bytes of a super-block of 256 of a Q6_K group */
#define AHEAD_BYTES 9216          /* prefetched ahead (2.3 KiB: 10% slower, 4.5 KiB 3-7%, 1 thread here) */

#define BCAST16(p) _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(p)))
#define DWORD8(v, c) _mm256_shuffle_epi32(v, (c) * 0x55)

/* lane sums of lo . (4-byte chunks of xa) + hi . (those of xb): one block of one level. Without
 * VNNI, 16 products of weights up to 15 and |x| <= 127 are summed in 16 bits (below 2^15);
 * WIDE (weights up to 31, Q5_K) widens each 8 */
static inline __attribute__((always_inline)) __m256i block_dot8(const int WIDE, const __m256i *lo, const __m256i *hi,
                                                                __m256i xa, __m256i xb) {
    (void)WIDE;
#ifdef L3_AVX2_VNNI
    const __m256i z = _mm256_setzero_si256();
    __m256i a = _mm256_dpbusd_avx_epi32(z, lo[0], DWORD8(xa, 0)), b = _mm256_dpbusd_avx_epi32(z, hi[0], DWORD8(xb, 0));
    a = _mm256_dpbusd_avx_epi32(a, lo[1], DWORD8(xa, 1)), b = _mm256_dpbusd_avx_epi32(b, hi[1], DWORD8(xb, 1));
    a = _mm256_dpbusd_avx_epi32(a, lo[2], DWORD8(xa, 2)), b = _mm256_dpbusd_avx_epi32(b, hi[2], DWORD8(xb, 2));
    a = _mm256_dpbusd_avx_epi32(a, lo[3], DWORD8(xa, 3)), b = _mm256_dpbusd_avx_epi32(b, hi[3], DWORD8(xb, 3));
    return _mm256_add_epi32(a, b);
#else
    __m256i a = _mm256_add_epi16(_mm256_maddubs_epi16(lo[0], DWORD8(xa, 0)), _mm256_maddubs_epi16(hi[0], DWORD8(xb, 0)));
    __m256i b = _mm256_add_epi16(_mm256_maddubs_epi16(lo[1], DWORD8(xa, 1)), _mm256_maddubs_epi16(hi[1], DWORD8(xb, 1)));
    a = _mm256_add_epi16(a, _mm256_add_epi16(_mm256_maddubs_epi16(lo[2], DWORD8(xa, 2)), _mm256_maddubs_epi16(hi[2], DWORD8(xb, 2))));
    b = _mm256_add_epi16(b, _mm256_add_epi16(_mm256_maddubs_epi16(lo[3], DWORD8(xa, 3)), _mm256_maddubs_epi16(hi[3], DWORD8(xb, 3))));
    if (WIDE) return _mm256_add_epi32(_mm256_madd_epi16(a, _mm256_set1_epi16(1)), _mm256_madd_epi16(b, _mm256_set1_epi16(1)));
    return _mm256_madd_epi16(_mm256_add_epi16(a, b), _mm256_set1_epi16(1));
#endif
}

/* the activation rows of a tile (kernels.h layout): missing rows (j >= nx) alias the last
 * valid one and are not stored */
static inline __attribute__((always_inline)) void group_act_rows(const int NX, int nx, const int8_t *q, const int8_t *q2,
                                                                 const float *d, const float *s, int64_t n,
                                                                 const int8_t **qp, const int8_t **q2p, const float **dp,
                                                                 const float **sp) {
    for (int j = 0; j < NX; j++) {
        const int r = j < nx ? j : nx - 1;
        qp[j] = q + r * n, q2p[j] = q2 + r * n, dp[j] = d + r * n / 32, sp[j] = s + r * n / 16;
    }
}

/* the two-level integer dot of 32 weight nibbles per lane (w[0..3]: values 0-15 in 4-byte
 * chunks, w[4..7]: 16-31) with activation block b of row j: 256 (w . q) + w . q2 */
#define GROUP_DOT16(WIDE, w, j, b)                                                                   \
    _mm256_add_epi32(_mm256_slli_epi32(block_dot8(WIDE, w, (w) + 4, BCAST16(qp[j] + 32 * (b)), BCAST16(qp[j] + 32 * (b) + 16)), 8), \
                     block_dot8(WIDE, w, (w) + 4, BCAST16(q2p[j] + 32 * (b)), BCAST16(q2p[j] + 32 * (b) + 16)))

static inline __attribute__((always_inline)) void q40_group_tile(const int NX, const uint8_t *g, const int8_t *q,
                                                                 const int8_t *q2, const float *d, const float *s,
                                                                 int nx, float *y, int64_t ldy, int64_t n) {
    const int8_t *qp[4], *q2p[4];
    const float *dp[4], *sp[4];
    group_act_rows(NX, nx, q, q2, d, s, n, qp, q2p, dp, sp);
    const __m256i m15 = _mm256_set1_epi8(15);
    __m256 acc[4];
    L3_UNROLL for (int j = 0; j < NX; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++, g += Q40_BLOCK) {
        seq_prefetch(g + AHEAD_BYTES, Q40_BLOCK);  /* in address order */
        const __m256 w = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
        __m256i wv[8];  /* low nibbles: values 0-15, high: 16-31 */
        L3_UNROLL for (int c = 0; c < 4; c++) {
            const __m256i v = ld32(g + 2 * GROUP + 32 * c);
            wv[c] = _mm256_and_si256(v, m15), wv[4 + c] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m15);
        }
        L3_UNROLL for (int j = 0; j < NX; j++) {
            const __m256i v = GROUP_DOT16(0, wv, j, b);
            const float off = 8 * (sp[j][2 * b] + sp[j][2 * b + 1]);
            const __m256 t = _mm256_fmsub_ps(_mm256_cvtepi32_ps(v), _mm256_set1_ps(dp[j][b]), _mm256_set1_ps(off));
            acc[j] = _mm256_fmadd_ps(w, t, acc[j]);
        }
    }
    L3_UNROLL for (int j = 0; j < NX; j++)
        if (j < nx) _mm256_storeu_ps(y + j * ldy, acc[j]);
}

/* the 8 sub-blocks' d x scale and dmin x min of a Q4_K group's super-block, per row lane */
static inline void q4k_group_scales(const uint8_t *g, __m256 *dsc, __m256 *dmn) {
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
    const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(g + 2 * GROUP)));
    __m256i k[12];  /* byte k of the 8 rows' packed scales and mins, one int32 lane per row */
    L3_UNROLL for (int i = 0; i < 12; i++) k[i] = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(g + 4 * GROUP + GROUP * i)));
    const __m256i m63 = _mm256_set1_epi32(63), m15 = _mm256_set1_epi32(15);
    L3_UNROLL for (int i = 0; i < 8; i++) {  /* l3_k4_scale_min in the lanes */
        __m256i sc, mn;
        if (i < 4) {
            sc = _mm256_and_si256(k[i], m63), mn = _mm256_and_si256(k[i + 4], m63);
        } else {
            sc = _mm256_or_si256(_mm256_and_si256(k[i + 4], m15), _mm256_slli_epi32(_mm256_srli_epi32(k[i - 4], 6), 4));
            mn = _mm256_or_si256(_mm256_srli_epi32(k[i + 4], 4), _mm256_slli_epi32(_mm256_srli_epi32(k[i], 6), 4));
        }
        dsc[i] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(sc)), dmn[i] = _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(mn));
    }
}

/* Q5 = 0: Q4_K; 1: Q5_K, whose fifth bits come from the qh chunks */
static inline __attribute__((always_inline)) void k45_group_tile(const int Q5, const int NX, const uint8_t *g, const int8_t *q,
                                                                 const int8_t *q2, const float *d, const float *s,
                                                                 int nx, float *y, int64_t ldy, int64_t n) {
    const int8_t *qp[4], *q2p[4];
    const float *dp[4], *sp[4];
    group_act_rows(NX, nx, q, q2, d, s, n, qp, q2p, dp, sp);
    const __m256i m15 = _mm256_set1_epi8(15), m16 = _mm256_set1_epi8(16);
    __m256 acc[4];
    L3_UNROLL for (int j = 0; j < NX; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t sb = 0; sb < n / 256; sb++, g += Q5 ? Q5K_BLOCK : Q4K_BLOCK) {
        __m256 dsc[8], dmn[8];
        q4k_group_scales(g, dsc, dmn);
        for (int i = 0; i < 8; i++) {  /* sub-block i: block 8 sb + i of the activations */
            const int64_t b = 8 * sb + i;
            seq_prefetch(g + AHEAD_BYTES + (Q5 ? Q5K_BLOCK : Q4K_BLOCK) / 8 * i, (Q5 ? Q5K_BLOCK : Q4K_BLOCK) / 8);
            const uint8_t *chunks = g + (Q5 ? 48 : 16) * GROUP + 4 * GROUP * 8 * (i / 2);
            __m256i wv[8];
            L3_UNROLL for (int c = 0; c < 8; c++) {
                const __m256i v = ld32(chunks + 32 * c);
                wv[c] = _mm256_and_si256(i & 1 ? _mm256_srli_epi16(v, 4) : v, m15);
                if (Q5) {  /* bit i of the qh bytes to bit 4 (shifts in 16-bit lanes: the mask keeps each byte's own) */
                    const __m256i h = ld32(g + 16 * GROUP + 32 * c);
                    wv[c] = _mm256_or_si256(wv[c], _mm256_and_si256(_mm256_slli_epi16(_mm256_srl_epi16(h, _mm_cvtsi32_si128(i)), 4), m16));
                }
            }
            L3_UNROLL for (int j = 0; j < NX; j++) {
                const __m256i v = GROUP_DOT16(Q5, wv, j, b);
                acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(v), _mm256_mul_ps(dsc[i], _mm256_set1_ps(dp[j][b])), acc[j]);
                acc[j] = _mm256_fnmadd_ps(dmn[i], _mm256_set1_ps(sp[j][2 * b] + sp[j][2 * b + 1]), acc[j]);
            }
        }
    }
    L3_UNROLL for (int j = 0; j < NX; j++)
        if (j < nx) _mm256_storeu_ps(y + j * ldy, acc[j]);
}

/* one level's integer dot of 16 weights per lane (w[0..3], 4-byte chunks, values up to 63)
 * with the 4 dwords of x broadcast in the lanes */
static inline __attribute__((always_inline)) __m256i half_dot8(const __m256i *w, __m256i x) {
#ifdef L3_AVX2_VNNI
    __m256i a = _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), w[0], DWORD8(x, 0));
    __m256i b = _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), w[1], DWORD8(x, 1));
    a = _mm256_dpbusd_avx_epi32(a, w[2], DWORD8(x, 2)), b = _mm256_dpbusd_avx_epi32(b, w[3], DWORD8(x, 3));
    return _mm256_add_epi32(a, b);
#else
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i a = _mm256_add_epi16(_mm256_maddubs_epi16(w[0], DWORD8(x, 0)), _mm256_maddubs_epi16(w[1], DWORD8(x, 1)));
    const __m256i b = _mm256_add_epi16(_mm256_maddubs_epi16(w[2], DWORD8(x, 2)), _mm256_maddubs_epi16(w[3], DWORD8(x, 3)));
    return _mm256_add_epi32(_mm256_madd_epi16(a, ones), _mm256_madd_epi16(b, ones));
#endif
}

static inline __attribute__((always_inline)) void q6k_group_tile(const int NX, const uint8_t *g, const int8_t *q,
                                                                 const int8_t *q2, const float *d, const float *s,
                                                                 int nx, float *y, int64_t ldy, int64_t n) {
    const int8_t *qp[4], *q2p[4];
    const float *dp[4], *sp[4];
    group_act_rows(NX, nx, q, q2, d, s, n, qp, q2p, dp, sp);
    const __m256i m15 = _mm256_set1_epi8(15), m48 = _mm256_set1_epi8(0x30);
    __m256 acc[4];
    L3_UNROLL for (int j = 0; j < NX; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t sb = 0; sb < n / 256; sb++, g += Q6K_BLOCK) {
        __m256 dsc[16];
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
        L3_UNROLL for (int k = 0; k < 16; k++)
            dsc[k] = _mm256_mul_ps(dw, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(g + 2 * GROUP + GROUP * k)))));
        for (int h = 0; h < 2; h++) {
            L3_UNROLL for (int qq = 0; qq < 4; qq++) {  /* block 4h + qq of the super-block */
                const int64_t b = 8 * sb + 4 * h + qq;
                seq_prefetch(g + AHEAD_BYTES + Q6K_BLOCK / 8 * (4 * h + qq), Q6K_BLOCK / 8);  /* in address order */
                const uint8_t *ql = g + 18 * GROUP + 4 * GROUP * (16 * h + 8 * (qq & 1)), *qh = g + 146 * GROUP + 4 * GROUP * 8 * h;
                __m256i wv[8];
                L3_UNROLL for (int c = 0; c < 8; c++) {
                    __m256i lo = ld32(ql + 32 * c), hi = ld32(qh + 32 * c);
                    lo = _mm256_and_si256(qq >> 1 ? _mm256_srli_epi16(lo, 4) : lo, m15);
                    hi = qq == 3 ? _mm256_srli_epi16(hi, 2) : qq == 2 ? hi : _mm256_slli_epi16(hi, 4 - 2 * qq);
                    wv[c] = _mm256_or_si256(lo, _mm256_and_si256(hi, m48));
                }
                L3_UNROLL for (int j = 0; j < NX; j++) {
                    const int8_t *x1 = qp[j] + 32 * b, *x2 = q2p[j] + 32 * b;
                    const __m256i va = _mm256_add_epi32(_mm256_slli_epi32(half_dot8(wv, BCAST16(x1)), 8), half_dot8(wv, BCAST16(x2)));
                    const __m256i vb = _mm256_add_epi32(_mm256_slli_epi32(half_dot8(wv + 4, BCAST16(x1 + 16)), 8),
                                                        half_dot8(wv + 4, BCAST16(x2 + 16)));
                    const __m256 dv = _mm256_set1_ps(dp[j][b]);
                    const __m256 ta = _mm256_fmsub_ps(_mm256_cvtepi32_ps(va), dv, _mm256_set1_ps(32 * sp[j][2 * b]));
                    const __m256 tb = _mm256_fmsub_ps(_mm256_cvtepi32_ps(vb), dv, _mm256_set1_ps(32 * sp[j][2 * b + 1]));
                    acc[j] = _mm256_fmadd_ps(dsc[8 * h + 2 * qq], ta, acc[j]);
                    acc[j] = _mm256_fmadd_ps(dsc[8 * h + 2 * qq + 1], tb, acc[j]);
                }
            }
        }
    }
    L3_UNROLL for (int j = 0; j < NX; j++)
        if (j < nx) _mm256_storeu_ps(y + j * ldy, acc[j]);
}

/* ng groups of GROUP rows: tiles of up to 4 activation rows (the later tiles read the group
 * from cache) */
#define GROUP_ENTRY(name, TILE, BLOCK_VALUES, BLOCK_BYTES)                                         \
    static void dotn_groups_##name(const void *groups, int ng, const int8_t *q, const int8_t *q2, const float *d, \
                                   const float *s, int nx, float *y, int64_t ldy, int64_t n) {    \
        const uint8_t *g = groups;                                                                  \
        for (int i = 0; i < ng; i++, g += (size_t)(n / BLOCK_VALUES) * BLOCK_BYTES)                 \
            for (int j = 0; j < nx; j += 4) {                                                       \
                const int m = nx - j < 4 ? nx - j : 4;                                              \
                const int8_t *qj = q + j * n, *q2j = q2 + j * n;                                    \
                const float *dj = d + j * n / 32, *sj = s + j * n / 16;                             \
                float *yj = y + (int64_t)j * ldy + GROUP * i;                                       \
                if (m == 1) TILE(1, g, qj, q2j, dj, sj, m, yj, ldy, n);                             \
                else if (m == 2) TILE(2, g, qj, q2j, dj, sj, m, yj, ldy, n);                        \
                else TILE(4, g, qj, q2j, dj, sj, m, yj, ldy, n);                                    \
            }                                                                                       \
    }
GROUP_ENTRY(q4_0, q40_group_tile, 32, Q40_BLOCK)
#define Q4K_TILE(...) k45_group_tile(0, __VA_ARGS__)
#define Q5K_TILE(...) k45_group_tile(1, __VA_ARGS__)
GROUP_ENTRY(q4_K, Q4K_TILE, 256, Q4K_BLOCK)
GROUP_ENTRY(q5_K, Q5K_TILE, 256, Q5K_BLOCK)
GROUP_ENTRY(q6_K, q6k_group_tile, 256, Q6K_BLOCK)

static void install_group_tiles(l3_kernel_set *k) {
    k->group_rows[L3_Q4_0] = k->group_rows[L3_Q4_K] = k->group_rows[L3_Q5_K] = k->group_rows[L3_Q6_K] = GROUP;
    k->dotn_q8_groups[L3_Q4_0] = dotn_groups_q4_0;
    k->dotn_q8_groups[L3_Q4_K] = dotn_groups_q4_K;
    k->dotn_q8_groups[L3_Q5_K] = dotn_groups_q5_K;
    k->dotn_q8_groups[L3_Q6_K] = dotn_groups_q6_K;
}

#undef GROUP_ENTRY
#undef Q4K_TILE
#undef Q5K_TILE
#undef GROUP_DOT16
#undef BCAST16
#undef DWORD8
#endif
