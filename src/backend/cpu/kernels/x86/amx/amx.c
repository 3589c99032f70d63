/* The "amx" kernel set: the AVX-512 set with its prompt tile product (gemm_q8) on Intel AMX
 * (Sapphire Rapids and later Xeons): one TDPBSUD multiplies 16 activation rows by 16 weight
 * rows over a block's 32 (or 16) values, 8192 products, where the AVX-512 tile takes 128
 * vpdpbusd and their shuffles. The integers are the AVX-512 tile's (a block's exact dot), and
 * the float work after them is its, in the same order: the results are the AVX-512 set's bits.
 *
 * Roles: A (signed bytes) is 16 activation rows of a block, read where quantize_q8 wrote
 * them; B (unsigned bytes) is the weight panel as panel_pack16 lays it out, [values / 4][16
 * rows][4 values], which is AMX's own layout for B; C[j][i] is int32. Each block's C is
 * stored and scaled into 16 float accumulators (one per activation row, a lane per weight
 * row) while the next pair of blocks' products runs in the tiles. */
#include <immintrin.h>
#include <string.h>

#include "backend/cpu/kernels/x86/features.h"
#include "backend/cpu/kernels/kernels.h"
#include "backend/cpu/kernels/x86/sets.h"

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

/* m <= 16 one-level activation rows (q + j*n; their d16, s16 with the rows padded to 16) by a
 * packed panel of 16 weight rows; STEP values per scale (32, or 16 where each 16 has its own,
 * Q6_K). Blocks go in pairs, software-pipelined: a pair's products run in the tiles while the
 * previous pair's, stored, are scaled. */
static inline __attribute__((always_inline)) void amx_rows16(const int STEP, const uint8_t *w, const float *sc16,
                                                             const float *mn16, int nw, const int8_t *q,
                                                             const float *d16, const float *s16, int m, float *y,
                                                             int64_t ldy, int64_t n) {
    _Alignas(64) int32_t c[2][2][16][16] = { { { { 0 } } } };  /* [pair parity][block of the pair][row j][weight row] (rows >= m: zero) */
    __m512 acc[16];
    L3_UNROLL for (int j = 0; j < 16; j++) acc[j] = _mm512_setzero_ps();
    const int H = STEP / 16;  /* sixteens per block */
    const int64_t pairs = n / STEP / 2;
    for (int64_t p = 0; p < pairs; p++) {
        PRODUCT(0, 2, 4, 2 * H * p)
        PRODUCT(1, 3, 5, 2 * H * p + H)
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
        if (same32) amx_rows16(32, u, sc, mn, nw, qj, dj, sj, m, y + (int64_t)j * ldy, ldy, n);
        else amx_rows16(16, u, sc, mn, nw, qj, dj, sj, m, y + (int64_t)j * ldy, ldy, n);
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
    return 1;
}
