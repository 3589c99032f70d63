/* Decode on weight rows in groups of 16 (row_groups.h; avx512.c includes this after its
 * multi-row tiles): one zmm lane per weight row, so a block's 16 rows are multiplied at once
 * with no horizontal sums, and a group is one sequential stream from memory.
 *
 * Q4_0, per block of 32 values: the 16 fp16 scales widened from one 32-byte load, the 4
 * 64-byte vectors of nibbles split into low and high, then per activation row 8 integer dots
 * per level against its 4-byte chunks broadcast to every lane (lanes16 + DWORD: a 16-byte
 * load and a shuffle, see there), the two levels joined as 256 x + x2, converted once, and
 * d x dots - 8 x (the activation's block sums s) multiplied by the scales into the row lanes.
 *
 * Q4_K, per super-block of 256: the 16 rows' 6-bit scales and mins taken out of their 12 bytes
 * in the lanes, times d and dmin (exact in float), then per sub-block of 32 Q4_0's integer dots
 * on the low or high nibbles of 8 chunk vectors, and acc += v x (d sc) x d_act - (dmin m) x
 * (the activation's sums s). Q5_K: the same with each value's fifth bit from its qh chunk.
 *
 * Q6_K, per super-block of 256: the 16 sub-blocks' d x scale per row lane (exact in float,
 * on the stack), then per block of 32 the 6-bit values of 8 chunk vectors (4 bits from ql, 2
 * from qh), the integer dots of each 16 on their own (a scale each), and acc += (d sc) x
 * (v x d_act - 32 x the activation's sums s).
 *
 * Every (row, activation row) pair takes the same instructions whatever nx is, so a row
 * decoded in a batch gets the bits it gets alone. */
#ifndef LLAMA3_AVX512_GROUP_TILES_H
#define LLAMA3_AVX512_GROUP_TILES_H

#define GROUP 16
#define Q40_BLOCK (18 * GROUP)    /* bytes of a block of 32 of a Q4_0 group */
#define Q4K_BLOCK (144 * GROUP)   /* bytes of a super-block of 256 of a Q4_K group */
#define Q5K_BLOCK (176 * GROUP)   /* bytes of a super-block of 256 of a Q5_K group */
#define Q6K_BLOCK (210 * GROUP)   /* bytes of a super-block of 256 of a Q6_K group */
#define AHEAD_BYTES 9216          /* prefetched ahead (2.3 KiB: 4-8% slower, 4.5 KiB 9%, 1 thread here) */

/* the two-level integer dot of 32 weight nibbles per lane (w[0..3]: values 0-15 in 4-byte
 * chunks, w[4..7]: 16-31) with activation block b of row j: 256 (w . q) + w . q2, in four
 * chains (the shuffle's immediate must be a literal for clang) */
static inline __attribute__((always_inline)) __m512i group_dot16(const __m512i *w, const int8_t *x1, const int8_t *x2) {
    const __m512i xa = lanes16(x1), xb = lanes16(x1 + 16), ya = lanes16(x2), yb = lanes16(x2 + 16);
    const __m512i z = _mm512_setzero_si512();
    __m512i h0 = _mm512_dpbusd_epi32(z, w[0], DWORD(xa, 0)), h1 = _mm512_dpbusd_epi32(z, w[4], DWORD(xb, 0));
    __m512i l0 = _mm512_dpbusd_epi32(z, w[0], DWORD(ya, 0)), l1 = _mm512_dpbusd_epi32(z, w[4], DWORD(yb, 0));
    h0 = _mm512_dpbusd_epi32(h0, w[1], DWORD(xa, 1)), h1 = _mm512_dpbusd_epi32(h1, w[5], DWORD(xb, 1));
    l0 = _mm512_dpbusd_epi32(l0, w[1], DWORD(ya, 1)), l1 = _mm512_dpbusd_epi32(l1, w[5], DWORD(yb, 1));
    h0 = _mm512_dpbusd_epi32(h0, w[2], DWORD(xa, 2)), h1 = _mm512_dpbusd_epi32(h1, w[6], DWORD(xb, 2));
    l0 = _mm512_dpbusd_epi32(l0, w[2], DWORD(ya, 2)), l1 = _mm512_dpbusd_epi32(l1, w[6], DWORD(yb, 2));
    h0 = _mm512_dpbusd_epi32(h0, w[3], DWORD(xa, 3)), h1 = _mm512_dpbusd_epi32(h1, w[7], DWORD(xb, 3));
    l0 = _mm512_dpbusd_epi32(l0, w[3], DWORD(ya, 3)), l1 = _mm512_dpbusd_epi32(l1, w[7], DWORD(yb, 3));
    return _mm512_add_epi32(_mm512_slli_epi32(_mm512_add_epi32(h0, h1), 8), _mm512_add_epi32(l0, l1));
}

static inline __attribute__((always_inline)) void q40_group_tile(const int NX, const uint8_t *g, const int8_t *q,
                                                                 const int8_t *q2, const float *d, const float *s,
                                                                 int nx, float *y, int64_t ldy, int64_t n) {
    const int8_t *qp[8], *q2p[8];
    const float *dp[8], *sp[8];
    act_rows(NX, nx, q, q2, d, s, n, qp, q2p, dp, sp);
    const __m512i m15 = _mm512_set1_epi8(15);
    __m512 acc[8];
    L3_UNROLL for (int j = 0; j < NX; j++) acc[j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++, g += Q40_BLOCK) {
        seq_prefetch(g + AHEAD_BYTES, Q40_BLOCK);  /* in address order */
        const __m512 w = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)g));
        __m512i wv[8];  /* low nibbles: values 0-15, high: 16-31 */
        L3_UNROLL for (int c = 0; c < 4; c++) {
            const __m512i v = _mm512_loadu_si512(g + 2 * GROUP + 64 * c);
            wv[c] = _mm512_and_si512(v, m15), wv[4 + c] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m15);
        }
        L3_UNROLL for (int j = 0; j < NX; j++) {
            const __m512i v = group_dot16(wv, qp[j] + 32 * b, q2p[j] + 32 * b);
            const float off = 8 * (sp[j][2 * b] + sp[j][2 * b + 1]);
            const __m512 t = _mm512_fmsub_ps(_mm512_cvtepi32_ps(v), _mm512_set1_ps(dp[j][b]), _mm512_set1_ps(off));
            acc[j] = _mm512_fmadd_ps(w, t, acc[j]);
        }
    }
    L3_UNROLL for (int j = 0; j < NX; j++)
        if (j < nx) _mm512_storeu_ps(y + j * ldy, acc[j]);
}

/* the 8 sub-blocks' d x scale and dmin x min of a Q4_K group's super-block, per row lane */
static inline void q4k_group_scales(const uint8_t *g, __m512 *dsc, __m512 *dmn) {
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)g));
    const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(g + 2 * GROUP)));
    __m512i k[12];  /* byte k of the 16 rows' packed scales and mins, one int32 lane per row */
    L3_UNROLL for (int i = 0; i < 12; i++) k[i] = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(g + 4 * GROUP + GROUP * i)));
    const __m512i m63 = _mm512_set1_epi32(63), m15 = _mm512_set1_epi32(15);
    L3_UNROLL for (int i = 0; i < 8; i++) {  /* l3_k4_scale_min in the lanes */
        __m512i sc, mn;
        if (i < 4) {
            sc = _mm512_and_si512(k[i], m63), mn = _mm512_and_si512(k[i + 4], m63);
        } else {
            sc = _mm512_or_si512(_mm512_and_si512(k[i + 4], m15), _mm512_slli_epi32(_mm512_srli_epi32(k[i - 4], 6), 4));
            mn = _mm512_or_si512(_mm512_srli_epi32(k[i + 4], 4), _mm512_slli_epi32(_mm512_srli_epi32(k[i], 6), 4));
        }
        dsc[i] = _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc)), dmn[i] = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(mn));
    }
}

/* Q5 = 0: Q4_K; 1: Q5_K, whose fifth bits come from the qh chunks */
static inline __attribute__((always_inline)) void k45_group_tile(const int Q5, const int NX, const uint8_t *g, const int8_t *q,
                                                                 const int8_t *q2, const float *d, const float *s,
                                                                 int nx, float *y, int64_t ldy, int64_t n) {
    const int8_t *qp[8], *q2p[8];
    const float *dp[8], *sp[8];
    act_rows(NX, nx, q, q2, d, s, n, qp, q2p, dp, sp);
    const __m512i m15 = _mm512_set1_epi8(15), m16 = _mm512_set1_epi8(16);
    __m512 acc[8];
    L3_UNROLL for (int j = 0; j < NX; j++) acc[j] = _mm512_setzero_ps();
    for (int64_t sb = 0; sb < n / 256; sb++, g += Q5 ? Q5K_BLOCK : Q4K_BLOCK) {
        __m512 dsc[8], dmn[8];
        q4k_group_scales(g, dsc, dmn);
        for (int i = 0; i < 8; i++) {  /* sub-block i: block 8 sb + i of the activations */
            const int64_t b = 8 * sb + i;
            seq_prefetch(g + AHEAD_BYTES + (Q5 ? Q5K_BLOCK : Q4K_BLOCK) / 8 * i, (Q5 ? Q5K_BLOCK : Q4K_BLOCK) / 8);
            const uint8_t *chunks = g + (Q5 ? 48 : 16) * GROUP + 4 * GROUP * 8 * (i / 2);
            __m512i wv[8];
            L3_UNROLL for (int c = 0; c < 8; c++) {
                const __m512i v = _mm512_loadu_si512(chunks + 64 * c);
                wv[c] = _mm512_and_si512(i & 1 ? _mm512_srli_epi16(v, 4) : v, m15);
                if (Q5) {  /* bit i of the qh bytes to bit 4 (shifts in 16-bit lanes: the mask keeps each byte's own) */
                    const __m512i h = _mm512_loadu_si512(g + 16 * GROUP + 64 * c);
                    wv[c] = _mm512_or_si512(wv[c], _mm512_and_si512(_mm512_slli_epi16(_mm512_srl_epi16(h, _mm_cvtsi32_si128(i)), 4), m16));
                }
            }
            L3_UNROLL for (int j = 0; j < NX; j++) {
                const __m512i v = group_dot16(wv, qp[j] + 32 * b, q2p[j] + 32 * b);
                acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), _mm512_mul_ps(dsc[i], _mm512_set1_ps(dp[j][b])), acc[j]);
                acc[j] = _mm512_fnmadd_ps(dmn[i], _mm512_set1_ps(sp[j][2 * b] + sp[j][2 * b + 1]), acc[j]);
            }
        }
    }
    L3_UNROLL for (int j = 0; j < NX; j++)
        if (j < nx) _mm512_storeu_ps(y + j * ldy, acc[j]);
}

/* the two-level integer dot of 16 weights per lane (w[0..3], 4-byte chunks) with the 16
 * activation values at x1 (first level) and x2 (second): 256 (w . q) + w . q2 */
static inline __attribute__((always_inline)) __m512i half_dot16(const __m512i *w, const int8_t *x1, const int8_t *x2) {
    const __m512i x = lanes16(x1), xx = lanes16(x2), z = _mm512_setzero_si512();
    __m512i h0 = _mm512_dpbusd_epi32(z, w[0], DWORD(x, 0)), h1 = _mm512_dpbusd_epi32(z, w[1], DWORD(x, 1));
    __m512i l0 = _mm512_dpbusd_epi32(z, w[0], DWORD(xx, 0)), l1 = _mm512_dpbusd_epi32(z, w[1], DWORD(xx, 1));
    h0 = _mm512_dpbusd_epi32(h0, w[2], DWORD(x, 2)), h1 = _mm512_dpbusd_epi32(h1, w[3], DWORD(x, 3));
    l0 = _mm512_dpbusd_epi32(l0, w[2], DWORD(xx, 2)), l1 = _mm512_dpbusd_epi32(l1, w[3], DWORD(xx, 3));
    return _mm512_add_epi32(_mm512_slli_epi32(_mm512_add_epi32(h0, h1), 8), _mm512_add_epi32(l0, l1));
}

static inline __attribute__((always_inline)) void q6k_group_tile(const int NX, const uint8_t *g, const int8_t *q,
                                                                 const int8_t *q2, const float *d, const float *s,
                                                                 int nx, float *y, int64_t ldy, int64_t n) {
    const int8_t *qp[8], *q2p[8];
    const float *dp[8], *sp[8];
    act_rows(NX, nx, q, q2, d, s, n, qp, q2p, dp, sp);
    const __m512i m15 = _mm512_set1_epi8(15), m48 = _mm512_set1_epi8(0x30);
    __m512 acc[8];
    L3_UNROLL for (int j = 0; j < NX; j++) acc[j] = _mm512_setzero_ps();
    for (int64_t sb = 0; sb < n / 256; sb++, g += Q6K_BLOCK) {
        __m512 dsc[16];
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)g));
        L3_UNROLL for (int k = 0; k < 16; k++)
            dsc[k] = _mm512_mul_ps(dw, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(g + 2 * GROUP + GROUP * k)))));
        for (int h = 0; h < 2; h++) {
            L3_UNROLL for (int qq = 0; qq < 4; qq++) {  /* block 4h + qq of the super-block */
                const int64_t b = 8 * sb + 4 * h + qq;
                seq_prefetch(g + AHEAD_BYTES + Q6K_BLOCK / 8 * (4 * h + qq), Q6K_BLOCK / 8);  /* in address order */
                const uint8_t *ql = g + 18 * GROUP + 4 * GROUP * (16 * h + 8 * (qq & 1)), *qh = g + 146 * GROUP + 4 * GROUP * 8 * h;
                __m512i wv[8];
                L3_UNROLL for (int c = 0; c < 8; c++) {
                    __m512i lo = _mm512_loadu_si512(ql + 64 * c), hi = _mm512_loadu_si512(qh + 64 * c);
                    lo = _mm512_and_si512(qq >> 1 ? _mm512_srli_epi16(lo, 4) : lo, m15);
                    hi = qq == 3 ? _mm512_srli_epi16(hi, 2) : qq == 2 ? hi : _mm512_slli_epi16(hi, 4 - 2 * qq);
                    wv[c] = _mm512_or_si512(lo, _mm512_and_si512(hi, m48));
                }
                L3_UNROLL for (int j = 0; j < NX; j++) {
                    const int8_t *x1 = qp[j] + 32 * b, *x2 = q2p[j] + 32 * b;
                    const __m512i va = half_dot16(wv, x1, x2), vb = half_dot16(wv + 4, x1 + 16, x2 + 16);
                    const __m512 dv = _mm512_set1_ps(dp[j][b]);
                    const __m512 ta = _mm512_fmsub_ps(_mm512_cvtepi32_ps(va), dv, _mm512_set1_ps(32 * sp[j][2 * b]));
                    const __m512 tb = _mm512_fmsub_ps(_mm512_cvtepi32_ps(vb), dv, _mm512_set1_ps(32 * sp[j][2 * b + 1]));
                    acc[j] = _mm512_fmadd_ps(dsc[8 * h + 2 * qq], ta, acc[j]);
                    acc[j] = _mm512_fmadd_ps(dsc[8 * h + 2 * qq + 1], tb, acc[j]);
                }
            }
        }
    }
    L3_UNROLL for (int j = 0; j < NX; j++)
        if (j < nx) _mm512_storeu_ps(y + j * ldy, acc[j]);
}

/* ng groups of GROUP rows: tiles of 1, 4 or 8 activation rows */
#define GROUP_ENTRY(name, TILE, BLOCK_VALUES, BLOCK_BYTES)                                         \
    static void dotn_groups_##name(const void *groups, int ng, const int8_t *q, const int8_t *q2, const float *d, \
                                   const float *s, int nx, float *y, int64_t ldy, int64_t n) {    \
        const uint8_t *g = groups;                                                                  \
        for (int i = 0; i < ng; i++, g += (size_t)(n / BLOCK_VALUES) * BLOCK_BYTES)                 \
            for (int j = 0; j < nx; j += 8) {                                                       \
                const int m = nx - j < 8 ? nx - j : 8;                                              \
                const int8_t *qj = q + j * n, *q2j = q2 + j * n;                                    \
                const float *dj = d + j * n / 32, *sj = s + j * n / 16;                             \
                float *yj = y + (int64_t)j * ldy + GROUP * i;                                       \
                if (m == 1) TILE(1, g, qj, q2j, dj, sj, m, yj, ldy, n);                             \
                else if (m <= 4) TILE(4, g, qj, q2j, dj, sj, m, yj, ldy, n);                        \
                else TILE(8, g, qj, q2j, dj, sj, m, yj, ldy, n);                                    \
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
#endif
