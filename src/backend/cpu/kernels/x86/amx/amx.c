/* The "amx" kernel set: the AVX-512 set with its prompt tile product (gemm_q8) on Intel AMX
 * (Sapphire Rapids and later Xeons): one TDPBSUD multiplies 16 activation rows by 16 weight
 * rows over a block's 32 (or 16) values, 8192 products, where the AVX-512 tile takes 128
 * vpdpbusd and their shuffles. The integers are the AVX-512 tile's (a block's exact dot), and
 * the float work after them is its, in the same order: the results are the AVX-512 set's bits.
 * On row groups the panel is made a piece at a time while the first activation rows' products
 * run (gemm_q8_group), so that reading the weights overlaps them.
 *
 * Roles: A (signed bytes) is 16 activation rows of a block, read where quantize_q8 wrote
 * them; B (unsigned bytes) is the weight panel as panel_pack16 lays it out, [values / 4][16
 * rows][4 values], which is AMX's own layout for B; C[j][i] is int32. Each block's C is
 * stored and scaled into 16 float accumulators (one per activation row, a lane per weight
 * row) while the next pair of blocks' products runs in the tiles.
 *
 * Batched decode on Q4_0 row groups (row_groups.h), 8 activation rows at a time: per block,
 * the group's values unpacked to bytes as the AVX-512 group tile unpacks them (already AMX's B
 * layout) times both activation levels of the 8 rows in one product per 16 weight rows, then
 * the AVX-512 group tile's float operations on the same integers, so a row gets the bits it gets
 * alone (fewer rows take the AVX-512 tile itself). Q8_0 the same way measured 0.95-1.04x. */
#include <immintrin.h>
#include <string.h>

#include "backend/cpu/kernels/x86/features.h"
#include "backend/cpu/kernels/kernels.h"
#include "backend/cpu/kernels/x86/sets.h"
#include "backend/cpu/kernels/row_groups.h"

/* the AVX-512 set's tile product, for what AMX does not take here (two-level activations) */
static void (*g_gemm_q8_avx512)(const uint8_t *u, const float *sc, const float *mn, int nw, const int8_t *q,
                                const int8_t *q2, const float *d, const float *s, int nx, float *y, int64_t ldy,
                                int64_t n);

typedef struct {  /* LDTILECFG's 64 bytes, palette 1 */
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/* tiles 0 and 1: C of even and odd blocks; 2 and 3: their A (m activation rows of STEP
 * bytes); 4 and 5: their B (STEP / 4 rows of 16 weight rows x 4 bytes) */
static void configure(int m, int step) {
    tile_config c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 2; t++) {
        c.rows[t] = (uint8_t)m, c.colsb[t] = 64;
        c.rows[2 + t] = (uint8_t)m, c.colsb[2 + t] = (uint16_t)step;
        c.rows[4 + t] = (uint8_t)(step / 4), c.colsb[4 + t] = 64;
    }
    /* (GCC 12's _tile_loadconfig does not count as a read of c, and the stores filling it were dropped) */
    __asm__ volatile("ldtilecfg %0" : : "m"(c));
}

/* acc[j] += the block's C row j times (weight scales x d), minus the mins' terms: gemm_q8_512's
 * float operations for one-level rows, in its order (d16, s16: the 16 rows' scales and sums,
 * gemm_q8_rows16's layout, so that every row's value is one offset from one pointer) */
#define SCALE_BLOCK(C, h)                                                                               \
    {                                                                                                   \
        const __m512 sv = _mm512_loadu_ps(sc16 + 16 * (h));                                             \
        __m512 mv[2];                                                                                   \
        L3_UNROLL for (int k = 0; k < STEP / 16; k++) mv[k] = _mm512_loadu_ps(mn16 + 16 * ((h) + k));  \
        const float *dh = d16 + 16 * ((h) / 2), *sh = s16 + 16 * (h);                                  \
        L3_UNROLL for (int j = 0; j < 16; j++) {                                                        \
            const __m512 v = _mm512_cvtepi32_ps(_mm512_load_si512((C)[j]));                            \
            acc[j] = _mm512_fmadd_ps(v, _mm512_mul_ps(sv, _mm512_set1_ps(dh[j])), acc[j]);             \
            L3_UNROLL for (int k = 0; k < STEP / 16; k++)                                               \
                acc[j] = _mm512_fnmadd_ps(mv[k], _mm512_set1_ps(sh[16 * k + j]), acc[j]);              \
        }                                                                                               \
    }
/* the product of the block at sixteen h into C tile C from A tile A and B tile B (literal tile
 * numbers: GCC's intrinsics paste them into the instruction's text) */
#define PRODUCT(C, A, B, h)                         \
    {                                               \
        _tile_loadd(A, q + 16 * (h), n);            \
        _tile_loadd(B, w + 256 * (h), 64);          \
        _tile_zero(C);                              \
        _tile_dpbsud(C, A, B);                      \
    }

#define FILL_COLS 256  /* columns of the panel made at a time while multiplying (amx_rows16's fill) */

/* m <= 16 one-level activation rows (q + j*n; their d16, s16 with the rows padded to 16) by a
 * packed panel of 16 weight rows; STEP values per scale (32, or 16 where each 16 has its own,
 * Q6_K). Blocks go in pairs, software-pipelined: a pair's products run in the tiles while the
 * previous pair's, stored, are scaled. fill (0, or the type of group g, STEP 32): the panel, in
 * work, is made from rows r0.. of the group FILL_COLS columns ahead of the products
 * (l3_avx512_panel_cols), so that reading the group overlaps them. */
static inline __attribute__((always_inline)) void amx_rows16(const int STEP, int fill, const uint8_t *g, int r0,
                                                             uint8_t *work, const uint8_t *w, const float *sc16,
                                                             const float *mn16, int nw, const int8_t *q,
                                                             const float *d16, const float *s16, int m, float *y,
                                                             int64_t ldy, int64_t n) {
    _Alignas(64) int32_t c[2][2][16][16] = { { { { 0 } } } };  /* [pair parity][block of the pair][row j][weight row] (rows >= m: zero) */
    __m512 acc[16];
    L3_UNROLL for (int j = 0; j < 16; j++) acc[j] = _mm512_setzero_ps();
    const int H = STEP / 16;  /* sixteens per block */
    const int64_t pairs = n / STEP / 2;
    if (fill) l3_avx512_panel_cols(fill, g, r0, n, 0, n < FILL_COLS ? n : FILL_COLS, work);
    for (int64_t p = 0; p < pairs; p++) {
        PRODUCT(0, 2, 4, 2 * H * p)
        PRODUCT(1, 3, 5, 2 * H * p + H)
        const int64_t next = 2 * STEP * p + FILL_COLS;  /* (a pair is 2 STEP columns) */
        if (fill && next % FILL_COLS == 0 && next < n)
            l3_avx512_panel_cols(fill, g, r0, n, next, n - next < FILL_COLS ? n : next + FILL_COLS, work);
        if (p > 0) {
            SCALE_BLOCK(c[(p - 1) & 1][0], 2 * H * (p - 1))
            SCALE_BLOCK(c[(p - 1) & 1][1], 2 * H * (p - 1) + H)
        }
        _tile_stored(0, c[p & 1][0], 64);
        _tile_stored(1, c[p & 1][1], 64);
    }
    if (pairs > 0) {
        SCALE_BLOCK(c[(pairs - 1) & 1][0], 2 * H * (pairs - 1))
        SCALE_BLOCK(c[(pairs - 1) & 1][1], 2 * H * (pairs - 1) + H)
    }
    if (n / STEP % 2) {  /* an odd last block */
        const int64_t h = n / 16 - H;
        PRODUCT(0, 2, 4, h)
        _tile_stored(0, c[0][0], 64);
        SCALE_BLOCK(c[0][0], h)
    }
    const __mmask16 mask = nw >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nw) - 1);
    L3_UNROLL for (int j = 0; j < 16; j++)
        if (j < m) _mm512_mask_storeu_ps(y + j * ldy, mask, acc[j]);
}
#undef SCALE_BLOCK
#undef PRODUCT

/* kernels.h gemm_q8 on panel_pack16's panels */
static void gemm_q8_amx(const uint8_t *u, const float *sc, const float *mn, int nw, const int8_t *q, const int8_t *q2,
                        const float *d, const float *s, int nx, float *y, int64_t ldy, int64_t n) {
    if (q2) {
        g_gemm_q8_avx512(u, sc, mn, nw, q, q2, d, s, nx, y, ldy, n);
        return;
    }
    uint32_t same32;
    memcpy(&same32, mn + n, sizeof same32);  /* panel_pack16's flag */
    const int step = same32 ? 32 : 16;
    int configured = 0;
    for (int j = 0; j < nx; j += 16) {
        const int m = nx - j < 16 ? nx - j : 16;
        if (m != configured) configure(m, step), configured = m;
        const int8_t *qj = q + j * n;
        const float *dj = d + L3_ROWS16(j, 0, n / 32), *sj = s + L3_ROWS16(j, 0, n / 16);
        if (same32) amx_rows16(32, 0, NULL, 0, NULL, u, sc, mn, nw, qj, dj, sj, m, y + (int64_t)j * ldy, ldy, n);
        else amx_rows16(16, 0, NULL, 0, NULL, u, sc, mn, nw, qj, dj, sj, m, y + (int64_t)j * ldy, ldy, n);
    }
    _tile_release();
}

/* kernels.h gemm_q8_group for Q8_0, Q4_0, Q4_K and Q5_K (not Q6_K: whether its panel takes 16 or
 * 32 values per scale is known only once it is made): the panel made a piece at a time during
 * the first 16 activation rows' products (amx_rows16's fill), the later rows on the finished
 * panel. 2 threads, against making the panel first: pp16 Q4_0 1.14-1.23x, Q4_K_M 1.14-1.16x,
 * pp32 1.02-1.12x, pp128 1.01-1.10x, pp512 1.00-1.08x; for Q8_0 as fast as loading B straight
 * from the group with a second product for the panel's offset of 128 (0.98-1.08x). */
static void gemm_group_fill(int t, const uint8_t *group, int r0, uint8_t *work, const int8_t *q, const float *d,
                            const float *s, int nx, float *y, int64_t ldy, int64_t n) {
    const float *sc16 = (const float *)(work + 16 * n), *mn16 = sc16 + n;
    int configured = 0;
    for (int j = 0; j < nx; j += 16) {
        const int m = nx - j < 16 ? nx - j : 16;
        if (m != configured) configure(m, 32), configured = m;
        const int8_t *qj = q + j * n;
        const float *dj = d + L3_ROWS16(j, 0, n / 32), *sj = s + L3_ROWS16(j, 0, n / 16);
        if (j == 0) amx_rows16(32, t, group, r0, work, work, sc16, mn16, 16, qj, dj, sj, m, y, ldy, n);
        else amx_rows16(32, 0, NULL, 0, NULL, work, sc16, mn16, 16, qj, dj, sj, m, y + (int64_t)j * ldy, ldy, n);
    }
    _tile_release();
}
#define GEMM_GROUP_FILL(name, T)                                                                                  \
    static void gemm_q8_group_##name(const uint8_t *group, int r0, uint8_t *work, const int8_t *q, const float *d, \
                                     const float *s, int nx, float *y, int64_t ldy, int64_t n) {                  \
        gemm_group_fill(T, group, r0, work, q, d, s, nx, y, ldy, n);                                              \
    }
GEMM_GROUP_FILL(q4_0, L3_Q4_0)
GEMM_GROUP_FILL(q4_K, L3_Q4_K)
GEMM_GROUP_FILL(q5_K, L3_Q5_K)
GEMM_GROUP_FILL(q8_0, L3_Q8_0)
#undef GEMM_GROUP_FILL

/* ---- batched decode on Q4_0 row groups ---- */

typedef void (*groups_fn)(const void *groups, int ng, const int8_t *q, const int8_t *q2, int64_t ldq, const float *d,
                          const float *s, int nx, float *y, int64_t ldy, int64_t n);
static groups_fn g_groups_q4_0_avx512;  /* the AVX-512 set's: fewer than 8 activation rows, and the bits */

/* tile 0: A, 8 activation rows' two levels as 16 rows (a block's 32 bytes each: row 2j the first
 * level of activation row j, 2j + 1 its second); 2 and 3: B, the block's values of 16 weight rows
 * (vector h of the group) as bytes; 4 + h: C of vector h */
static void configure_groups(void) {
    tile_config c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    c.rows[0] = 16, c.colsb[0] = 32;
    for (int t = 2; t < 4; t++) c.rows[t] = 8, c.colsb[t] = 64;
    for (int t = 4; t < 6; t++) c.rows[t] = 16, c.colsb[t] = 64;
    __asm__ volatile("ldtilecfg %0" : : "m"(c));
}

#define GROUP_AHEAD 9216  /* bytes prefetched ahead into L2 (group_tiles.h's AHEAD_BYTES) */
#define Q40_GROUP_ROWS 32 /* the AVX-512 set's Q4_0 groups: two vectors of 16 rows */

/* the product of a block for vector h of the group (its bytes at bb) into C tile C, stored at ch */
#define GROUP_PRODUCT(B, C, bb, ch) \
    {                               \
        _tile_loadd(B, bb, 64);     \
        _tile_zero(C);              \
        _tile_dpbsud(C, 0, B);      \
        _tile_stored(C, ch, 64);    \
    }

/* a block's values of the group's two vectors as B: out[h][value / 4][row x 4 + value % 4]. A
 * group's 4-byte chunk c of 16 rows is already such a row: its low nibbles are values 4c..,
 * its high ones 16 + 4c.. (group_tiles.h's b32_group_values, which needs the AVX-512 set's
 * lane primitives) */
static inline void group_bytes(const uint8_t *g, uint8_t (*out)[8][64]) {
    const __m512i m15 = _mm512_set1_epi8(15);
    L3_UNROLL for (int h = 0; h < 2; h++)
        for (int c = 0; c < 4; c++) {
            const __m512i v = _mm512_loadu_si512(g + 2 * Q40_GROUP_ROWS + 4 * Q40_GROUP_ROWS * c + 64 * h);
            _mm512_storeu_si512(out[h][c], _mm512_and_si512(v, m15));
            _mm512_storeu_si512(out[h][4 + c], _mm512_and_si512(_mm512_srli_epi16(v, 4), m15));
        }
}

/* acc[j][h] += w[h] x (v d[j] - 8 x the block's activation sum), v = 256 (u . q1) + u . q2 from
 * block b's stored C (ch[h][2j + level]): b32_group_tile's operations */
static inline __attribute__((always_inline)) void group_scale(const uint8_t *g, int32_t (*ch)[16][16], const float *d,
                                                              const float *s, int64_t b, int64_t n, __m512 (*acc)[2]) {
    __m512 w[2];
    L3_UNROLL for (int h = 0; h < 2; h++) w[h] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(g + 32 * h)));
    L3_UNROLL for (int j = 0; j < 8; j++) {
        const float *sj = s + j * n / 16;
        const __m512 dj = _mm512_set1_ps(d[j * n / 32 + b]), off = _mm512_set1_ps(8.0f * (sj[2 * b] + sj[2 * b + 1]));
        L3_UNROLL for (int h = 0; h < 2; h++) {
            const __m512i v = _mm512_add_epi32(_mm512_slli_epi32(_mm512_load_si512(ch[h][2 * j]), 8),
                                               _mm512_load_si512(ch[h][2 * j + 1]));
            acc[j][h] = _mm512_fmadd_ps(w[h], _mm512_fmsub_ps(_mm512_cvtepi32_ps(v), dj, off), acc[j][h]);
        }
    }
}

/* one Q4_0 group of 32 rows by 8 two-level activation rows, each row's levels side by side
 * (q2 = q + ldq / 2, as l3_cpu_matmul lays them out). Software-pipelined: block b's products run
 * in the tiles while block b + 1's bytes are unpacked and block b - 1's C is scaled (each stored
 * buffer is read a block after it was written: a tile reading vector stores, or vector loads
 * reading a tile's, straight after waited for them to retire). */
static void amx_q4_0_group(const uint8_t *g, const int8_t *q, int64_t ldq, const float *d, const float *s, float *y,
                           int64_t ldy, int64_t n) {
    const int blk = Q40_BLOCK(Q40_GROUP_ROWS);
    const int64_t nb = n / 32;
    _Alignas(64) uint8_t bytes[2][2][8][64];  /* [block parity][h][value / 4][row x 4 + value % 4] */
    _Alignas(64) int32_t c[2][2][16][16];     /* [block parity][h][2 x activation row + level][weight row] */
    __m512 acc[8][2];
    L3_UNROLL for (int j = 0; j < 8; j++) acc[j][0] = acc[j][1] = _mm512_setzero_ps();
    group_bytes(g, bytes[0]);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *gb = g + b * blk;
        for (int o = 0; o < blk; o += 64) _mm_prefetch((const char *)gb + GROUP_AHEAD + o, _MM_HINT_T1);
        if (b + 1 < nb) group_bytes(gb + blk, bytes[(b + 1) & 1]);
        _tile_loadd(0, q + 32 * b, ldq / 2);
        GROUP_PRODUCT(2, 4, bytes[b & 1][0], c[b & 1][0])
        GROUP_PRODUCT(3, 5, bytes[b & 1][1], c[b & 1][1])
        if (b > 0) group_scale(gb - blk, c[(b - 1) & 1], d, s, b - 1, n, acc);
    }
    group_scale(g + (nb - 1) * blk, c[(nb - 1) & 1], d, s, nb - 1, n, acc);
    L3_UNROLL for (int j = 0; j < 8; j++) L3_UNROLL for (int h = 0; h < 2; h++)
        _mm512_storeu_ps(y + j * ldy + 16 * h, acc[j][h]);
}
#undef GROUP_PRODUCT

/* kernels.h dotn_q8_groups for Q4_0: groups outermost (a group's later row tiles read it from
 * cache), 8 activation rows a tile on AMX; a tile of fewer rows (AMX's cost per block is fixed:
 * measured slower at 2 and 4 rows, 1.46x faster at 8), or rows whose levels are not side by
 * side, take the AVX-512 set's entry */
static void dotn_groups_q4_0_amx(const void *groups, int ng, const int8_t *q, const int8_t *q2, int64_t ldq,
                                 const float *d, const float *s, int nx, float *y, int64_t ldy, int64_t n) {
    if (nx < 8 || q2 != q + ldq / 2) {  /* (levels apart: only in tests) */
        g_groups_q4_0_avx512(groups, ng, q, q2, ldq, d, s, nx, y, ldy, n);
        return;
    }
    const size_t stride = (size_t)(n / 32) * Q40_BLOCK(Q40_GROUP_ROWS);  /* bytes of a group */
    configure_groups();
    for (int i = 0; i < ng; i++) {
        const uint8_t *g = (const uint8_t *)groups + i * stride;
        for (int j = 0; j < nx; j += 8) {
            const int m = nx - j < 8 ? nx - j : 8;
            float *yj = y + (int64_t)j * ldy + Q40_GROUP_ROWS * i;
            const int8_t *qj = q + j * ldq;
            const float *dj = d + j * n / 32, *sj = s + j * n / 16;
            if (m < 8) g_groups_q4_0_avx512(g, 1, qj, q2 + j * ldq, ldq, dj, sj, m, yj, ldy, n);
            else amx_q4_0_group(g, qj, ldq, dj, sj, yj, ldy, n);
        }
    }
    _tile_release();
}

int l3_kernels_init_amx(l3_kernel_set *k) {
    const l3_cpu_features *cpu = l3_cpu();
    /* on top of the AVX-512 set with VNNI (its panel layout and its other kernels) */
    if (!cpu->amx_int8 || !cpu->avx512vnni || !k->gemm_q8 || !k->panel_pack || strcmp(k->isa, "avx512") != 0) return 0;
    k->isa = "amx";
    g_gemm_q8_avx512 = k->gemm_q8;
    k->gemm_q8 = gemm_q8_amx;
    k->gemm_q8_rows16 = 1;
    if (k->group_rows[L3_Q4_0] == Q40_GROUP_ROWS && k->panel_from_group[L3_Q4_0])
        k->gemm_q8_group[L3_Q4_0] = gemm_q8_group_q4_0;
    if (k->group_rows[L3_Q4_K] == 16 && k->panel_from_group[L3_Q4_K]) k->gemm_q8_group[L3_Q4_K] = gemm_q8_group_q4_K;
    if (k->group_rows[L3_Q5_K] == 16 && k->panel_from_group[L3_Q5_K]) k->gemm_q8_group[L3_Q5_K] = gemm_q8_group_q5_K;
    if (k->group_rows[L3_Q8_0] == 16 && k->panel_from_group[L3_Q8_0]) k->gemm_q8_group[L3_Q8_0] = gemm_q8_group_q8_0;
    if (k->group_rows[L3_Q4_0] == Q40_GROUP_ROWS && k->dotn_q8_groups[L3_Q4_0]) {
        g_groups_q4_0_avx512 = k->dotn_q8_groups[L3_Q4_0];
        k->dotn_q8_groups[L3_Q4_0] = dotn_groups_q4_0_amx;
    }
    return 1;
}
