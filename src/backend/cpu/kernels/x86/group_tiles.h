/* Decode on weight rows in groups (row_groups.h), shared by the x86 sets: one vector lane per
 * weight row, so a block's rows are multiplied at once with no horizontal sums, and a group is
 * one sequential stream from memory. A group is one vector of LANES rows, or for Q4_0
 * G_VECS_Q4_0 vectors side by side in each unit of the layout (AVX-512: 32 rows, two vectors of
 * 16), so that each activation chunk brought to every lane feeds that many dot instructions:
 * the broadcast or shuffle that brings it costs as much as the dot itself (BENCHMARKS.md). The
 * includer (avx2/group_lanes.h, avx512/group_lanes.h) defines, for its vector width:
 *   LANES, G_NX, G_NX_MID       rows per vector; activation rows per tile (and a middle size)
 *   G_VECS_Q4_0                 vectors per Q4_0 group
 *   G_Q8_0                      1 where the set's 8-bit dot takes weights up to 255 (Q8_0 groups)
 *   G_PREFETCH_L2_B32           1 where Q4_0's prefetch goes into L2 on Intel CPUs like the others'
 *                               (install_group_tiles)
 *   gi, gf                      an integer and a float vector of LANES lanes
 *   gi_ld(p)                    LANES * 4 bytes at p
 *   gi_and, gi_or, gi_xor, GI_SRLI16(v, k), GI_SLLI16(v, k), gi_srl16(v, k), GI_SRLI32, GI_SLLI32,
 *   gi_set1_8(c), gi_set1_32(c)
 *   gi_u8(p), gi_s8(p)          LANES bytes at p widened to int32 lanes (unsigned, signed)
 *   gf_h16(p)                   LANES fp16 values at p as floats
 *   gf_zero(), gf_set1, gf_cvt(gi), gf_mul, gf_fmadd(a, b, c) (a b + c), gf_fmsub (a b - c),
 *   gf_fnmadd (c - a b), gf_store
 *   g_dot32(GV, WIDE, BY_LOAD, w, x1, x2, v)
 *                               per lane of each vector h < GV, v[h] = 256 (w[h] . x1) +
 *                               w[h] . x2 over 32 values: w[h][0..3] the 4-byte chunks of values
 *                               0-15, w[h][4..7] of 16-31 (weights up to 15, or 31 with WIDE),
 *                               x1 and x2 the two activation levels; BY_LOAD (a tile of several
 *                               activation rows) allows another way to the same integers
 *   g_dot16(BY_LOAD, w, x1, x2) one vector's 256 (w . x1) + w . x2 over 16 values, w[0..3]
 *                               (weights up to 63)
 *   g_pair_sums(s, k, mul, out) out[i] = mul (s[2i] + s[2i + 1]), i < k <= 16
 *   g_scale16(s, mul, out)      out[i] = mul s[i], i < 16
 * Unit k of row r of a field sits at GR * (field offset + k) + unit * r in a group of GR rows
 * (row_groups.h): the rows of vector h at + unit * LANES * h.
 *
 * Q4_0, per block of 32 values: the fp16 scales widened, the 4 vectors of nibbles split into
 * low and high, then per activation row the two-level integer dots against its 4-byte chunks
 * brought to every lane, converted once, and d x dots - 8 x (the activation's block sums s)
 * multiplied by the scales into the row lanes. Q8_0 (AVX-512): the same with 8 vectors of
 * bytes, each value's sign bit flipped (u = w + 128), and 128 x s.
 *
 * Q4_K, per super-block of 256: the rows' 6-bit scales and mins taken out of their 12 bytes in
 * the lanes, times d and dmin (exact in float), then per sub-block of 32 Q4_0's integer dots
 * on the low or high nibbles of 8 chunk vectors, and acc += v x (d sc) x d_act - (dmin m) x
 * (the activation's sums s). Q5_K: the same with each value's fifth bit from its qh chunk.
 *
 * Q6_K, per super-block of 256: the 16 sub-blocks' d x scale per row lane (exact in float, on
 * the stack), then per block of 32 the 6-bit values of 8 chunk vectors (4 bits from ql, 2 from
 * qh), the integer dots of each 16 on their own (a scale each), and acc += (d sc) x (v x d_act
 * - 32 x the activation's sums s).
 *
 * Every (row, activation row) pair gets the same integers and then the same IEEE operations in
 * the same order whatever nx is (a tile of several activation rows only fetches its chunks
 * differently, BY_LOAD), so a row decoded in a batch gets the bits it gets alone (test_kernels
 * compares them). */
#ifndef LLAMA3_X86_GROUP_TILES_H
#define LLAMA3_X86_GROUP_TILES_H

#include "backend/cpu/kernels/row_groups.h"  /* (Q80_BLOCK ...: a block's bytes in a group) */

/* prefetched ahead, in address order (less ran slower at 1 thread here: AVX2 2.3 KiB 10%, 4.5
 * KiB 3-7%; AVX-512 2.3 KiB 4-8%, 4.5 KiB 9%) */
#define AHEAD_BYTES 9216

/* the activation rows of a tile (kernels.h layout): missing rows (j >= nx) alias the last
 * valid one and are not stored */
static inline __attribute__((always_inline)) void g_rows(const int NX, int nx, const int8_t *q, const int8_t *q2,
                                                         int64_t ldq, const float *d, const float *s, int64_t n,
                                                         const int8_t **qp, const int8_t **q2p, const float **dp,
                                                         const float **sp) {
    for (int j = 0; j < NX; j++) {
        const int r = j < nx ? j : nx - 1;
        qp[j] = q + r * ldq, q2p[j] = q2 + r * ldq, dp[j] = d + r * n / 32, sp[j] = s + r * n / 16;
    }
}

/* The activation sums a block's offsets and mins multiply, taken in vectors ahead of the
 * blocks, out[j][i] for row j (the same IEEE operations as one block at a time, whose scalar
 * adds and broadcasts cost 5-20% of a batch's time here, and nothing alone):
 * g_sums32, mul (s[2b] + s[2b + 1]) of blocks b = b0 + i of 32 (i < 16, b < nb); g_sums16,
 * mul s[16 sb + i] of super-block sb's 16s (i < 16) */
static inline __attribute__((always_inline)) void g_sums32(const int NX, const float *const *sp, int64_t b0, int64_t nb,
                                                           float mul, float (*out)[16]) {
    const int k = nb - b0 < 16 ? (int)(nb - b0) : 16;
    L3_UNROLL for (int j = 0; j < NX; j++) g_pair_sums(sp[j] + 2 * b0, k, mul, out[j]);
}
static inline __attribute__((always_inline)) void g_sums16(const int NX, const float *const *sp, int64_t sb, float mul,
                                                           float (*out)[16]) {
    L3_UNROLL for (int j = 0; j < NX; j++) g_scale16(sp[j] + 16 * sb, mul, out[j]);
}

/* A block's values of vector h of a Q4_0 group (Q8 = 0: G_VECS_Q4_0 vectors per group) or a
 * Q8_0 group (Q8 = 1, one vector; u = w + 128, the sign bit flipped) as 8 chunk vectors, values
 * 4c..4c+3 of the block in wv[c] (Q4_0: c < 4 the low nibbles, c >= 4 the high ones) */
static inline __attribute__((always_inline)) void b32_group_values(const int Q8, const uint8_t *g, int h, gi *wv) {
    const int GR = Q8 ? LANES : LANES * G_VECS_Q4_0;
    if (Q8) {
        const gi x80 = gi_set1_8((char)0x80);
        L3_UNROLL for (int c = 0; c < 8; c++) wv[c] = gi_xor(gi_ld(g + 2 * GR + 4 * GR * c), x80);
        return;
    }
    const gi m15 = gi_set1_8(15);
    L3_UNROLL for (int c = 0; c < 4; c++) {
        const gi v = gi_ld(g + 2 * GR + 4 * GR * c + 4 * LANES * h);
        wv[c] = gi_and(v, m15), wv[4 + c] = gi_and(GI_SRLI16(v, 4), m15);
    }
}

/* Q8 = 0: Q4_0, G_VECS_Q4_0 vectors per group, each block's nibbles split into low and high,
 * offset 8; 1: Q8_0, one vector, the 8 chunk vectors of bytes taken as u = w + 128 (the sign bit
 * flipped), offset 128 (only where the 8-bit dot is vpdpbusd: G_Q8_0) */
static inline __attribute__((always_inline)) void b32_group_tile(const int L2, const int Q8, const int NX, const uint8_t *g,
                                                                 const int8_t *q, const int8_t *q2, int64_t ldq,
                                                                 const float *d, const float *s, int nx, float *y,
                                                                 int64_t ldy, int64_t n) {
    const int8_t *qp[G_NX], *q2p[G_NX];
    const float *dp[G_NX], *sp[G_NX];
    g_rows(NX, nx, q, q2, ldq, d, s, n, qp, q2p, dp, sp);
    const int GV = Q8 ? 1 : G_VECS_Q4_0, GR = LANES * GV;  /* vectors and rows per group */
    gf acc[G_NX][G_VECS_Q4_0];
    float off16[G_NX][16];
    L3_UNROLL for (int j = 0; j < NX; j++) L3_UNROLL for (int h = 0; h < GV; h++) acc[j][h] = gf_zero();
    for (int64_t b = 0; b < n / 32; b++, g += Q8 ? Q80_BLOCK(GR) : Q40_BLOCK(GR)) {
        if (b % 16 == 0) g_sums32(NX, sp, b, n / 32, Q8 ? 128.0f : 8.0f, off16);
        seq_prefetch_to(L2, g + AHEAD_BYTES, Q8 ? Q80_BLOCK(GR) : Q40_BLOCK(GR));
        gf w[G_VECS_Q4_0];
        gi wv[G_VECS_Q4_0][8];
        L3_UNROLL for (int h = 0; h < GV; h++) w[h] = gf_h16(g + 2 * LANES * h), b32_group_values(Q8, g, h, wv[h]);
        L3_UNROLL for (int j = 0; j < NX; j++) {
            gi v[G_VECS_Q4_0];
            g_dot32(GV, 0, NX > 1, wv, qp[j] + 32 * b, q2p[j] + 32 * b, v);
            L3_UNROLL for (int h = 0; h < GV; h++)
                acc[j][h] = gf_fmadd(w[h], gf_fmsub(gf_cvt(v[h]), gf_set1(dp[j][b]), gf_set1(off16[j][b % 16])), acc[j][h]);
        }
    }
    L3_UNROLL for (int j = 0; j < NX; j++)
        if (j < nx) L3_UNROLL for (int h = 0; h < GV; h++) gf_store(y + j * ldy + LANES * h, acc[j][h]);
}

/* the 8 sub-blocks' d x scale and dmin x min of a Q4_K / Q5_K group's super-block, per row lane */
static inline void k45_group_scales(const uint8_t *g, gf *dsc, gf *dmn) {
    const gf d = gf_h16(g), dmin = gf_h16(g + 2 * LANES);
    gi k[12];  /* byte k of the rows' packed scales and mins, one int32 lane per row */
    L3_UNROLL for (int i = 0; i < 12; i++) k[i] = gi_u8(g + 4 * LANES + LANES * i);
    const gi m63 = gi_set1_32(63), m15 = gi_set1_32(15);
    L3_UNROLL for (int i = 0; i < 8; i++) {  /* l3_k4_scale_min in the lanes */
        gi sc, mn;
        if (i < 4) {
            sc = gi_and(k[i], m63), mn = gi_and(k[i + 4], m63);
        } else {
            sc = gi_or(gi_and(k[i + 4], m15), GI_SLLI32(GI_SRLI32(k[i - 4], 6), 4));
            mn = gi_or(GI_SRLI32(k[i + 4], 4), GI_SLLI32(GI_SRLI32(k[i], 6), 4));
        }
        dsc[i] = gf_mul(d, gf_cvt(sc)), dmn[i] = gf_mul(dmin, gf_cvt(mn));
    }
}

/* sub-block i's 32 values of a Q4_K (Q5 = 0) or Q5_K (1) group's super-block at g as 8 chunk
 * vectors: the low (i even) or high nibbles of chunks 8 (i / 2) .. + 7, Q5_K's fifth bit from
 * bit i of qh chunk c */
static inline __attribute__((always_inline)) void k45_group_values(const int Q5, const uint8_t *g, int i, gi *wv) {
    const gi m15 = gi_set1_8(15), m16 = gi_set1_8(16);
    const uint8_t *chunks = g + (Q5 ? 48 : 16) * LANES + 4 * LANES * 8 * (i / 2);
    L3_UNROLL for (int c = 0; c < 8; c++) {
        const gi v = gi_ld(chunks + 4 * LANES * c);
        wv[c] = gi_and(i & 1 ? GI_SRLI16(v, 4) : v, m15);
        if (Q5)  /* bit i of the qh bytes to bit 4 (shifts in 16-bit lanes: the mask keeps each byte's own) */
            wv[c] = gi_or(wv[c], gi_and(GI_SLLI16(gi_srl16(gi_ld(g + 16 * LANES + 4 * LANES * c), i), 4), m16));
    }
}

/* Q5 = 0: Q4_K; 1: Q5_K, whose fifth bits come from the qh chunks */
static inline __attribute__((always_inline)) void k45_group_tile(const int L2, const int Q5, const int NX, const uint8_t *g,
                                                                 const int8_t *q, const int8_t *q2, int64_t ldq,
                                                                 const float *d, const float *s, int nx, float *y,
                                                                 int64_t ldy, int64_t n) {
    const int8_t *qp[G_NX], *q2p[G_NX];
    const float *dp[G_NX], *sp[G_NX];
    g_rows(NX, nx, q, q2, ldq, d, s, n, qp, q2p, dp, sp);
    const int bytes = Q5 ? Q5K_BLOCK(LANES) : Q4K_BLOCK(LANES);
    gf acc[G_NX];
    L3_UNROLL for (int j = 0; j < NX; j++) acc[j] = gf_zero();
    float s32[G_NX][16];
    for (int64_t sb = 0; sb < n / 256; sb++, g += bytes) {
        if (sb % 2 == 0) g_sums32(NX, sp, 8 * sb, n / 32, 1.0f, s32);
        gf dsc[8], dmn[8];
        k45_group_scales(g, dsc, dmn);
        for (int i = 0; i < 8; i++) {  /* sub-block i: block 8 sb + i of the activations */
            const int64_t b = 8 * sb + i;
            seq_prefetch_to(L2, g + AHEAD_BYTES + bytes / 8 * i, bytes / 8);
            gi wv[1][8];  /* (one vector: g_dot32's w[GV][8]) */
            k45_group_values(Q5, g, i, wv[0]);
            L3_UNROLL for (int j = 0; j < NX; j++) {
                gi v[1];
                g_dot32(1, Q5, NX > 1, wv, qp[j] + 32 * b, q2p[j] + 32 * b, v);
                acc[j] = gf_fmadd(gf_cvt(v[0]), gf_mul(dsc[i], gf_set1(dp[j][b])), acc[j]);
                acc[j] = gf_fnmadd(dmn[i], gf_set1(s32[j][8 * (sb % 2) + i]), acc[j]);
            }
        }
    }
    L3_UNROLL for (int j = 0; j < NX; j++)
        if (j < nx) gf_store(y + j * ldy, acc[j]);
}

/* block 4h + qq's 32 values (0..63) of a Q6_K group's super-block at g as 8 chunk vectors: the
 * low (qq < 2) or high nibbles of ql chunks 16h + 8 (qq & 1) .. + 7, bits 2qq and 2qq + 1 of qh
 * chunks 8h .. + 7 above them */
static inline __attribute__((always_inline)) void q6k_group_values(const uint8_t *g, int h, int qq, gi *wv) {
    const gi m15 = gi_set1_8(15), m48 = gi_set1_8(0x30);
    const uint8_t *ql = g + 4 * LANES * (16 * h + 8 * (qq & 1)), *qh = g + 128 * LANES + 4 * LANES * 8 * h;
    L3_UNROLL for (int c = 0; c < 8; c++) {
        gi lo = gi_ld(ql + 4 * LANES * c), hi = gi_ld(qh + 4 * LANES * c);
        lo = gi_and(qq >> 1 ? GI_SRLI16(lo, 4) : lo, m15);
        hi = qq == 3 ? GI_SRLI16(hi, 2) : qq == 2 ? hi : GI_SLLI16(hi, 4 - 2 * qq);
        wv[c] = gi_or(lo, gi_and(hi, m48));
    }
}

static inline __attribute__((always_inline)) void q6k_group_tile(const int L2, const int NX, const uint8_t *g, const int8_t *q,
                                                                 const int8_t *q2, int64_t ldq, const float *d,
                                                                 const float *s, int nx, float *y, int64_t ldy,
                                                                 int64_t n) {
    const int8_t *qp[G_NX], *q2p[G_NX];
    const float *dp[G_NX], *sp[G_NX];
    g_rows(NX, nx, q, q2, ldq, d, s, n, qp, q2p, dp, sp);
    gf acc[G_NX];
    L3_UNROLL for (int j = 0; j < NX; j++) acc[j] = gf_zero();
    float s16[G_NX][16];
    for (int64_t sb = 0; sb < n / 256; sb++, g += Q6K_BLOCK(LANES)) {
        g_sums16(NX, sp, sb, 32.0f, s16);
        gf dsc[16];
        const gf dw = gf_h16(g + 208 * LANES);
        L3_UNROLL for (int k = 0; k < 16; k++) dsc[k] = gf_mul(dw, gf_cvt(gi_s8(g + 192 * LANES + LANES * k)));
        for (int h = 0; h < 2; h++) {
            L3_UNROLL for (int qq = 0; qq < 4; qq++) {  /* block 4h + qq of the super-block */
                const int64_t b = 8 * sb + 4 * h + qq;
                seq_prefetch_to(L2, g + AHEAD_BYTES + Q6K_BLOCK(LANES) / 8 * (4 * h + qq), Q6K_BLOCK(LANES) / 8);
                gi wv[8];
                q6k_group_values(g, h, qq, wv);
                L3_UNROLL for (int j = 0; j < NX; j++) {
                    const int8_t *x1 = qp[j] + 32 * b, *x2 = q2p[j] + 32 * b;
                    const gi va = g_dot16(NX > 1, wv, x1, x2), vb = g_dot16(NX > 1, wv + 4, x1 + 16, x2 + 16);
                    const gf dv = gf_set1(dp[j][b]);
                    const gf ta = gf_fmsub(gf_cvt(va), dv, gf_set1(s16[j][2 * (4 * h + qq)]));
                    const gf tb = gf_fmsub(gf_cvt(vb), dv, gf_set1(s16[j][2 * (4 * h + qq) + 1]));
                    acc[j] = gf_fmadd(dsc[8 * h + 2 * qq], ta, acc[j]);
                    acc[j] = gf_fmadd(dsc[8 * h + 2 * qq + 1], tb, acc[j]);
                }
            }
        }
    }
    L3_UNROLL for (int j = 0; j < NX; j++)
        if (j < nx) gf_store(y + j * ldy, acc[j]);
}

/* ng groups of GR rows: tiles of 1, 2, G_NX_MID or G_NX activation rows (a group's later
 * tiles read it from cache); _l2: the prefetch into L2 (install_group_tiles) */
#define GROUP_ENTRY(name, TILE, L2, GR, BLOCK_VALUES, BLOCK_BYTES)                                          \
    static void dotn_groups_##name(const void *groups, int ng, const int8_t *q, const int8_t *q2, int64_t ldq, \
                                   const float *d, const float *s, int nx, float *y, int64_t ldy, int64_t n) { \
        const uint8_t *g = groups;                                                                          \
        for (int i = 0; i < ng; i++, g += (size_t)(n / BLOCK_VALUES) * BLOCK_BYTES(GR))                     \
            for (int j = 0; j < nx; j += G_NX) {                                                            \
                const int m = nx - j < G_NX ? nx - j : G_NX;                                                \
                const int8_t *qj = q + j * ldq, *q2j = q2 + j * ldq;                                        \
                const float *dj = d + j * n / 32, *sj = s + j * n / 16;                                     \
                float *yj = y + (int64_t)j * ldy + GR * i;                                                  \
                if (m == 1) TILE(L2, 1, g, qj, q2j, ldq, dj, sj, m, yj, ldy, n);                            \
                else if (m == 2) TILE(L2, 2, g, qj, q2j, ldq, dj, sj, m, yj, ldy, n);                       \
                else if (m <= G_NX_MID) TILE(L2, G_NX_MID, g, qj, q2j, ldq, dj, sj, m, yj, ldy, n);         \
                else TILE(L2, G_NX, g, qj, q2j, ldq, dj, sj, m, yj, ldy, n);                                \
            }                                                                                               \
    }
#define Q4K_TILE(L2, ...) k45_group_tile(L2, 0, __VA_ARGS__)
#define Q5K_TILE(L2, ...) k45_group_tile(L2, 1, __VA_ARGS__)
#define Q80_TILE(L2, ...) b32_group_tile(L2, 1, __VA_ARGS__)
#define Q40_TILE(L2, ...) b32_group_tile(L2, 0, __VA_ARGS__)
#if G_Q8_0
GROUP_ENTRY(q8_0, Q80_TILE, 0, LANES, 32, Q80_BLOCK)
GROUP_ENTRY(q8_0_l2, Q80_TILE, 1, LANES, 32, Q80_BLOCK)
#endif
GROUP_ENTRY(q4_0, Q40_TILE, 0, LANES * G_VECS_Q4_0, 32, Q40_BLOCK)
#if G_PREFETCH_L2_B32
GROUP_ENTRY(q4_0_l2, Q40_TILE, 1, LANES * G_VECS_Q4_0, 32, Q40_BLOCK)
#endif
GROUP_ENTRY(q4_K, Q4K_TILE, 0, LANES, 256, Q4K_BLOCK)
GROUP_ENTRY(q5_K, Q5K_TILE, 0, LANES, 256, Q5K_BLOCK)
GROUP_ENTRY(q6_K, q6k_group_tile, 0, LANES, 256, Q6K_BLOCK)
GROUP_ENTRY(q4_K_l2, Q4K_TILE, 1, LANES, 256, Q4K_BLOCK)
GROUP_ENTRY(q5_K_l2, Q5K_TILE, 1, LANES, 256, Q5K_BLOCK)
GROUP_ENTRY(q6_K_l2, q6k_group_tile, 1, LANES, 256, Q6K_BLOCK)
#undef GROUP_ENTRY
#undef Q80_TILE
#undef Q40_TILE
#undef Q4K_TILE
#undef Q5K_TILE

/* On Intel CPUs the groups' prefetch goes into L2 (a single decode stream 1.07-1.24x faster on
 * a Xeon, BENCHMARKS.md), except the AVX2 sets' Q4_0 (G_PREFETCH_L2_B32 0: 0.86-0.93x there) */
static void install_group_tiles(l3_kernel_set *k) {
    const int l2 = l3_cpu()->intel;
#if G_Q8_0
    k->group_rows[L3_Q8_0] = LANES;
    k->dotn_q8_groups[L3_Q8_0] = l2 ? dotn_groups_q8_0_l2 : dotn_groups_q8_0;
#endif
    k->group_rows[L3_Q4_0] = LANES * G_VECS_Q4_0;
    k->group_rows[L3_Q4_K] = k->group_rows[L3_Q5_K] = k->group_rows[L3_Q6_K] = LANES;
#if G_PREFETCH_L2_B32
    k->dotn_q8_groups[L3_Q4_0] = l2 ? dotn_groups_q4_0_l2 : dotn_groups_q4_0;
#else
    k->dotn_q8_groups[L3_Q4_0] = dotn_groups_q4_0;
#endif
    k->dotn_q8_groups[L3_Q4_K] = l2 ? dotn_groups_q4_K_l2 : dotn_groups_q4_K;
    k->dotn_q8_groups[L3_Q5_K] = l2 ? dotn_groups_q5_K_l2 : dotn_groups_q5_K;
    k->dotn_q8_groups[L3_Q6_K] = l2 ? dotn_groups_q6_K_l2 : dotn_groups_q6_K;
}

#endif
