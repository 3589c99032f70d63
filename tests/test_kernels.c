/* Kernel tests: every kernel of every kernel set this CPU supports against the scalar
 * reference set, for every weight type, on seeded random data with sizes that are not
 * multiples of the vector width; to_float must be bit-identical; quantize -> dequantize
 * stays within per-type error bounds (and is exact on data already on the grid); l3_cpu_matmul
 * matches the scalar path for decode (T = 1) and prefill tiles (T = 3, 17, 64). The 8-bit
 * activation kernels (quantize, decode dot, prefill panels and tile product) are checked
 * against the scalar set's 8-bit reference, and against f32 dot products within the error
 * that quantizing the activations allows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/kernels/kernels.h"
#include "backend/cpu/kernels/row_groups.h"
#include "backend/cpu/matmul.h"
#include "quants/quants.h"
#include "tensor_types.h"
#include "threads.h"

static int failures;
#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            failures++;                                                      \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);             \
            fprintf(stderr, __VA_ARGS__);                                    \
            fprintf(stderr, "\n");                                           \
        }                                                                    \
    } while (0)

/* xorshift64 + Box-Muller: reproducible data on every machine */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double urand(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (double)(rng >> 11) * (1.0 / 9007199254740992.0);
}
static float nrand(void) { return (float)(sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand())); }
static void fill(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = nrand() * scale;
}

static const uint32_t TYPES[] = { L3_F32, L3_F16, L3_BF16, L3_Q8_0, L3_Q4_0, L3_Q4_1, L3_Q5_0, L3_Q5_1,
                                  L3_Q4_K, L3_Q5_K, L3_Q6_K, L3_Q8_K };
#define N_TYPES (int)(sizeof TYPES / sizeof TYPES[0])

/* Sizes per block size: not multiples of 8 / 16 / 64 lanes where the block allows it. */
static int sizes_for(int block, int64_t *out) {
    static const int64_t f[] = { 1, 7, 17, 63, 100, 1000 }, b32[] = { 32, 64, 96, 160, 288, 544 }, b256[] = { 256, 512, 768 };
    const int64_t *s = block == 1 ? f : block == 32 ? b32 : b256;
    int n = block == 1 ? 6 : block == 32 ? 6 : 3;
    memcpy(out, s, (size_t)n * sizeof *s);
    return n;
}

/* Round-trip bound: ||dequant(quant(x)) - x|| / ||x|| on Gaussian data (measured values
 * with about 1.5x margin). */
static double roundtrip_bound(uint32_t t) {
    switch (t) {
    case L3_F32: return 0;
    case L3_F16: return 4e-4;
    case L3_BF16: return 3e-3;
    case L3_Q8_0: return 8e-3;
    case L3_Q8_K: return 1e-2;
    case L3_Q4_0: return 0.12;
    case L3_Q4_1: return 0.12;
    case L3_Q5_0: return 0.065;
    case L3_Q5_1: return 0.055;
    case L3_Q4_K: return 0.1;
    case L3_Q5_K: return 0.05;
    case L3_Q6_K: return 0.025;
    default: return 0;
    }
}

enum { MAX_SETS = 8 };
static const l3_kernel_set *sets[MAX_SETS];
static const char *names[MAX_SETS];
static int n_sets;

/* |a - b| relative to the sum of |w_i x_i| (the scale of rounding in any summation order) */
static int close_to(double a, double b, double mag, double tol) { return fabs(a - b) <= tol * mag + 1e-30; }

/* a set's tile product called as l3_cpu_matmul calls it: on the set's own panel layout
 * (panel_pack) and, for one-level rows, with d and s in its own layout (gemm_q8_rows16; the
 * padding rows NaN, which must not reach a result) */
static void set_gemm_q8(const l3_kernel_set *k, const uint8_t *u, const float *sc, const float *mn, int nw,
                        const int8_t *q, const int8_t *q2, const float *d, const float *s, int nx, float *y,
                        int64_t ldy, int64_t n) {
    uint8_t *pk = NULL;
    float *d16 = NULL, *s16 = NULL;
    if (k->panel_pack) {
        pk = malloc(L3_PACK16_BYTES(n));
        k->panel_pack(u, sc, mn, nw, n, pk);
        u = pk, sc = (const float *)(pk + 16 * n), mn = sc + n;
    }
    if (!q2 && k->gemm_q8_rows16) {
        const size_t r16 = (size_t)(nx + 15) / 16 * 16;
        d16 = malloc(r16 * (size_t)n / 32 * 4), s16 = malloc(r16 * (size_t)n / 16 * 4);
        for (size_t e = 0; e < r16 * (size_t)n / 32; e++) d16[e] = NAN;
        for (size_t e = 0; e < r16 * (size_t)n / 16; e++) s16[e] = NAN;
        for (int j = 0; j < nx; j++) {
            for (int64_t b = 0; b < n / 32; b++) d16[L3_ROWS16(j, b, n / 32)] = d[j * n / 32 + b];
            for (int64_t h = 0; h < n / 16; h++) s16[L3_ROWS16(j, h, n / 16)] = s[j * n / 16 + h];
        }
        d = d16, s = s16;
    }
    k->gemm_q8(u, sc, mn, nw, q, q2, d, s, nx, y, ldy, n);
    free(pk); free(d16); free(s16);
}

static void test_type(uint32_t t) {
    const l3_type_info *ti = l3_type_get(t);
    int64_t sz[8];
    int ns = sizes_for(ti->block, sz);
    for (int si = 0; si < ns; si++) {
        const int64_t n = sz[si];
        float *w = malloc((size_t)n * 4), *x = malloc((size_t)n * 4), *ref = malloc((size_t)n * 4),
              *got = malloc((size_t)n * 4);
        uint8_t *q = malloc(l3_row_bytes(t, n));
        fill(w, n, 0.5f);
        fill(x, n, 1.0f);
        ti->from_float(w, q, n);
        /* round trip */
        ti->to_float(q, ref, n);
        double e2 = 0, r2 = 0, mag = 0;
        for (int64_t i = 0; i < n; i++) {
            e2 += (ref[i] - w[i]) * (double)(ref[i] - w[i]);
            r2 += (double)w[i] * w[i];
            mag += fabs((double)ref[i] * x[i]);
        }
        if (getenv("KT_VERBOSE")) printf("%s n=%lld round trip %.4g\n", ti->name, (long long)n, sqrt(e2 / r2));
        if (n >= 32) CHECK(sqrt(e2 / r2) <= roundtrip_bound(t), "%s n=%lld round trip %.3g > %.3g", ti->name, (long long)n,
                           sqrt(e2 / r2), roundtrip_bound(t));
        /* the scalar dot agrees with dequantize-then-dot */
        double exact = 0;
        for (int64_t i = 0; i < n; i++) exact += (double)ref[i] * x[i];
        float sref = sets[0]->dot[t](q, x, n);
        CHECK(close_to(sref, exact, mag, 1e-5), "%s n=%lld scalar dot %g vs %g", ti->name, (long long)n, sref, exact);
        for (int s = 1; s < n_sets; s++) {
            float d = sets[s]->dot[t](q, x, n);
            CHECK(close_to(d, exact, mag, 1e-5), "%s %s n=%lld dot %g vs %g", names[s], ti->name, (long long)n, d, exact);
            memset(got, 0xff, (size_t)n * 4);
            sets[s]->to_float[t](q, got, n);
            CHECK(memcmp(got, ref, (size_t)n * 4) == 0, "%s %s n=%lld to_float differs from the reference", names[s],
                  ti->name, (long long)n);
        }
        free(w); free(x); free(ref); free(got); free(q);
    }
}

/* Data on a type's grid comes back exactly (the legacy types' scale is then exact in f16). */
static void test_grid(void) {
    float x[32], y[32];
    uint8_t q[64];
    struct { uint32_t t; float lo, step; int levels; } g[] = {
        { L3_Q8_0, -127, 1, 255 }, { L3_Q4_0, -8, 1, 16 }, { L3_Q4_1, -3, 0.5f, 16 }, { L3_Q5_0, -16, 1, 32 },
        { L3_Q5_1, -1, 0.25f, 32 },
    };
    for (size_t k = 0; k < sizeof g / sizeof g[0]; k++) {
        for (int i = 0; i < 32; i++) x[i] = g[k].lo + g[k].step * (float)((i * 7) % g[k].levels);
        x[0] = g[k].lo;                                   /* hit both ends of the grid */
        x[1] = g[k].lo + g[k].step * (g[k].levels - 1);
        if (g[k].t == L3_Q4_0 || g[k].t == L3_Q5_0) x[1] = -x[0] - g[k].step;  /* symmetric types: max is -lo */
        const l3_type_info *ti = l3_type_get(g[k].t);
        ti->from_float(x, q, 32);
        ti->to_float(q, y, 32);
        CHECK(memcmp(x, y, sizeof x) == 0, "%s: grid values do not round-trip exactly", ti->name);
    }
}

static void test_float_kernels(void) {
    static const int64_t ns[] = { 1, 7, 17, 63, 100, 1000 };
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        const int64_t n = ns[k];
        float *a = malloc((size_t)n * 4), *b = malloc((size_t)n * 4), *y0 = malloc((size_t)n * 4), *y1 = malloc((size_t)n * 4);
        uint16_t *h = malloc((size_t)n * 2);
        fill(a, n, 1);
        fill(b, n, 1);
        for (int64_t i = 0; i < n; i++) h[i] = l3_f32_to_f16(a[i]);
        double mag = 0, magh = 0;
        for (int64_t i = 0; i < n; i++) {
            mag += fabs((double)a[i] * b[i]);
            magh += fabs((double)l3_f16_to_f32(h[i]) * b[i]);
        }
        float r = sets[0]->dot_f32(a, b, n), rh = sets[0]->dot_f16_f32(h, b, n);
        fill(y0, n, 1);
        for (int s = 1; s < n_sets; s++) {
            CHECK(close_to(sets[s]->dot_f32(a, b, n), r, mag, 1e-5), "%s dot_f32 n=%lld", names[s], (long long)n);
            CHECK(close_to(sets[s]->dot_f16_f32(h, b, n), rh, magh, 1e-5), "%s dot_f16_f32 n=%lld", names[s], (long long)n);
            /* axpy: one rounding (or one fused) per element, so nearly equal */
            for (int v = 0; v < 2; v++) {
                memcpy(y1, y0, (size_t)n * 4);
                float *yr = malloc((size_t)n * 4);
                memcpy(yr, y0, (size_t)n * 4);
                if (v == 0) { sets[0]->axpy_f32(0.37f, a, yr, n); sets[s]->axpy_f32(0.37f, a, y1, n); }
                else { sets[0]->axpy_f16(0.37f, h, yr, n); sets[s]->axpy_f16(0.37f, h, y1, n); }
                for (int64_t i = 0; i < n; i++)
                    CHECK(fabsf(y1[i] - yr[i]) <= 1e-6f * (fabsf(yr[i]) + fabsf(a[i])), "%s axpy_%s n=%lld [%lld]",
                          names[s], v ? "f16" : "f32", (long long)n, (long long)i);
                free(yr);
            }
        }
        free(a); free(b); free(y0); free(y1); free(h);
    }
}

/* axpy_q8_0 (values of a Q8_0 KV cache): y + a * dequant(x) in every set, to within one
 * rounding of each term against a double reference; sets against the scalar one likewise. */
static void test_axpy_q8_0(void) {
    static const int64_t ns[] = { 32, 64, 128, 160, 1024 };
    const l3_type_info *ti = l3_type_get(L3_Q8_0);
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        const int64_t n = ns[k];
        float *x = malloc((size_t)n * 4), *y0 = malloc((size_t)n * 4), *xd = malloc((size_t)n * 4);
        float *yr = malloc((size_t)n * 4), *y1 = malloc((size_t)n * 4);
        l3_block_q8_0 *q = malloc((size_t)(n / 32) * sizeof *q);
        fill(x, n, 3);
        fill(y0, n, 1);
        ti->from_float(x, q, n);
        ti->to_float(q, xd, n);
        const float a = 0.37f;
        memcpy(yr, y0, (size_t)n * 4);
        sets[0]->axpy_q8_0(a, q, yr, n);
        for (int s = 0; s < n_sets; s++) {
            memcpy(y1, y0, (size_t)n * 4);
            sets[s]->axpy_q8_0(a, q, y1, n);
            for (int64_t i = 0; i < n; i++) {
                const double ref = (double)y0[i] + (double)a * xd[i], tol = 1e-6 * (fabs(ref) + fabs(a * xd[i]) + 1e-30);
                CHECK(fabs(y1[i] - ref) <= tol, "%s axpy_q8_0 n=%lld [%lld]: %g vs %g", names[s], (long long)n,
                      (long long)i, y1[i], ref);
                CHECK(fabsf(y1[i] - yr[i]) <= 1e-6f * (fabsf(yr[i]) + fabsf(a * xd[i])), "%s axpy_q8_0 vs scalar n=%lld [%lld]",
                      names[s], (long long)n, (long long)i);
            }
        }
        free(x); free(y0); free(xd); free(yr); free(y1); free(q);
    }
}

/* BF16 decode through a split activation (kernels.h): hi + lo within 2^-17 of x, and the dot
 * product within 1e-5 of the f32 one (relative to the terms' magnitude), every tail length. */
static void test_bf16_split(void) {
    static const int64_t ns[] = { 1, 7, 31, 32, 33, 100, 1000, 2100 };
    const l3_type_info *info = l3_type_get(L3_BF16);
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        const int64_t n = ns[k];
        float *wf = malloc((size_t)n * 4), *x = malloc((size_t)n * 4), *wd = malloc((size_t)n * 4);
        uint16_t *w = malloc((size_t)n * 2), *hi = malloc((size_t)n * 2), *lo = malloc((size_t)n * 2);
        fill(wf, n, 1);
        fill(x, n, 1);
        for (int64_t e = 0; e < n; e += 7) x[e] *= 40;  /* outliers, like real activations */
        info->from_float(wf, w, n);
        info->to_float(w, wd, n);
        double mag = 0;
        for (int64_t e = 0; e < n; e++) mag += fabs((double)wd[e] * x[e]);
        const float want = sets[0]->dot[L3_BF16](w, x, n);
        for (int s = 1; s < n_sets; s++) {
            if (!sets[s]->split_bf16) continue;
            memset(lo, 0xff, (size_t)n * 2);
            sets[s]->split_bf16(x, hi, lo, n);
            for (int64_t e = 0; e < n; e++) {
                const float h = l3_bf16_to_f32(hi[e]), l = l3_bf16_to_f32(lo[e]);
                CHECK(fabs((double)h + l - x[e]) <= ldexp(fabs(x[e]), -17), "%s split_bf16 n=%lld [%lld]: %g + %g vs %g",
                      names[s], (long long)n, (long long)e, h, l, x[e]);
            }
            const float got = sets[s]->dot_bf16_split(w, hi, lo, n);
            CHECK(close_to(got, want, mag, 1e-5), "%s dot_bf16_split n=%lld: %.9g vs %.9g", names[s], (long long)n, got,
                  want);
        }
        free(wf); free(x); free(wd); free(w); free(hi); free(lo);
    }
}

/* Batched decode with float weights: every set's dotn against the scalar set's dot on the
 * same rows, every (nw, nx) edge (nw past the kernels' runs of rows), odd lengths, nothing
 * written outside the nw x nx results. */
static void test_dotn_float(void) {
    static const uint32_t ftypes[] = { L3_F32, L3_F16, L3_BF16 };
    static const int64_t ns[] = { 1, 7, 100, 513, 2100 };  /* 2100: the AVX-512 kernels' 1024-column slices and a tail */
    enum { NW = 29, NX = 9 };
    for (size_t ti = 0; ti < sizeof ftypes / sizeof ftypes[0]; ti++)
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
            const uint32_t t = ftypes[ti];
            const l3_type_info *info = l3_type_get(t);
            const int64_t n = ns[k];
            const size_t rb = l3_row_bytes(t, n);
            float *wf = malloc((size_t)(NW * n) * 4), *x = malloc((size_t)(NX * n) * 4), *wd = malloc((size_t)n * 4);
            uint8_t *w = malloc(rb * NW);
            float y[NW * NX], want[NW * NX];
            fill(wf, NW * n, 1);
            fill(x, NX * n, 1);
            for (int i = 0; i < NW; i++) info->from_float(wf + i * n, w + i * rb, n);
            for (int j = 0; j < NX; j++)
                for (int i = 0; i < NW; i++) want[j * NW + i] = sets[0]->dot[t](w + i * rb, x + j * n, n);
            for (int s = 1; s < n_sets; s++) {
                if (!sets[s]->dotn[t]) continue;
                for (int nw = 1; nw <= NW; nw += 4)
                    for (int nx = 1; nx <= NX; nx++) {
                        for (int e = 0; e < NW * NX; e++) y[e] = -1234.5f;
                        sets[s]->dotn[t](w, rb, nw, x, nx, y, NW, n);
                        for (int j = 0; j < NX; j++)
                            for (int i = 0; i < NW; i++) {
                                if (i >= nw || j >= nx) {
                                    CHECK(y[j * NW + i] == -1234.5f, "%s dotn %s wrote outside", names[s], info->name);
                                    continue;
                                }
                                double mag = 0;
                                info->to_float(w + i * rb, wd, n);
                                for (int64_t e = 0; e < n; e++) mag += fabs((double)wd[e] * x[j * n + e]);
                                CHECK(close_to(y[j * NW + i], want[j * NW + i], mag, 1e-5),
                                      "%s dotn %s n=%lld nw=%d nx=%d (%d,%d): %g vs %g", names[s], info->name,
                                      (long long)n, nw, nx, i, j, y[j * NW + i], want[j * NW + i]);
                            }
                    }
            }
            free(wf); free(x); free(wd); free(w);
        }
}

/* sum over i < n of a[i] * f16 b[i*bst] in double, and (in *mag) the sum of the terms' magnitudes */
static double ref_dot_f16(const float *a, const uint16_t *b, int64_t bst, int n, double *mag) {
    double sum = 0;
    *mag = 0;
    for (int i = 0; i < n; i++) {
        const double t = (double)a[i] * l3_f16_to_f32(b[i * bst]);
        sum += t, *mag += fabs(t);
    }
    return sum;
}

/* Grouped attention over f16 keys and values: every set's kernels against f64 sums of the
 * same f16 values, for head sizes 16..128, 1 to 5 query heads per KV head and position counts
 * that are not multiples of 16. */
static void test_attention(void) {
    static const int hds[] = { 16, 64, 128 }, nps[] = { 1, 15, 16, 17, 70 };
    for (size_t a = 0; a < sizeof hds / sizeof hds[0]; a++)
        for (size_t b = 0; b < sizeof nps / sizeof nps[0]; b++)
            for (int G = 1; G <= 5; G += 2) {
                const int hd = hds[a], np = nps[b];
                const int64_t kst = 3 * hd + 16, ld = np + 5;  /* other heads between rows */
                uint16_t *kv = malloc((size_t)(np * kst) * 2);
                float *q = malloc((size_t)(G * hd) * 4), *w = malloc((size_t)(G * ld) * 4), *s = malloc((size_t)(G * ld) * 4),
                      *out = malloc((size_t)(G * hd) * 4);
                for (int64_t i = 0; i < np * kst; i++) kv[i] = l3_f32_to_f16((float)nrand());
                fill(q, G * hd, 1);
                fill(w, G * ld, 1);
                for (int si = 0; si < n_sets; si++) {
                    const l3_kernel_set *k = sets[si];
                    if (!k->attn_scores_f16) continue;
                    for (int64_t i = 0; i < G * ld; i++) s[i] = -1234.5f;
                    k->attn_scores_f16(kv, kst, np, q, G, hd, s, ld);
                    k->attn_values_f16(kv, kst, np, w, ld, G, hd, out);
                    for (int g = 0; g < G; g++) {
                        for (int p = 0; p < ld; p++) {
                            if (p >= np) {
                                CHECK(s[g * ld + p] == -1234.5f, "%s attn_scores_f16 wrote past np", names[si]);
                                continue;
                            }
                            double mag;
                            const double want = ref_dot_f16(q + g * hd, kv + p * kst, 1, hd, &mag);
                            CHECK(close_to(s[g * ld + p], want, mag, 1e-6), "%s attn_scores_f16 hd=%d np=%d G=%d (%d,%d): %g vs %g",
                                  names[si], hd, np, G, g, p, s[g * ld + p], want);
                        }
                        for (int e = 0; e < hd; e++) {
                            double mag;
                            const double want = ref_dot_f16(w + g * ld, kv + e, kst, np, &mag);
                            CHECK(close_to(out[g * hd + e], want, mag, 1e-6), "%s attn_values_f16 hd=%d np=%d G=%d (%d,%d): %g vs %g",
                                  names[si], hd, np, G, g, e, out[g * hd + e], want);
                        }
                    }
                }
                free(kv); free(q); free(w); free(s); free(out);
            }
}

/* softmax(s * scale) of every set against a double-precision reference from the same
 * scaled scores: within a few ulp per weight, sums to 1; tails of every length mod 16 */
static void test_softmax(void) {
    static const int ns[] = { 1, 2, 15, 16, 17, 31, 100, 333 };
    for (int si = 0; si < n_sets; si++)
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
            const int n = ns[k];
            const float scale = 0.125f;
            float s[333];
            double ref[333], max = -INFINITY, sum = 0;
            fill(s, n, 30);
            if (n > 2) s[n / 2] = -1e30f;  /* exp underflows to 0 */
            for (int p = 0; p < n; p++) max = fmax(max, (double)(s[p] * scale));
            for (int p = 0; p < n; p++) sum += ref[p] = exp((double)(s[p] * scale) - max);
            sets[si]->softmax(s, n, scale);
            double total = 0;
            for (int p = 0; p < n; p++) {
                total += s[p];
                CHECK(fabs(s[p] - ref[p] / sum) <= 2e-6 * ref[p] / sum + 1e-30, "%s softmax n=%d [%d]: %.9g vs %.9g",
                      names[si], n, p, s[p], ref[p] / sum);
            }
            CHECK(fabs(total - 1) < 1e-5, "%s softmax n=%d sums to %.9g", names[si], n, total);
        }
}

/* softmax of attention scores in the hundreds (large activations make q.k that big): e^s
 * overflows float above ~88.7 and underflows to 0 below ~-104, so without subtracting the
 * maximum first the weights become inf / inf or 0 / 0 (NaN). Every set against the same
 * double-precision reference, at centers of +-300..900 with a spread of a few units (many
 * weights matter) and over the whole range -900..900 (one weight takes nearly everything). */
static void test_softmax_large(void) {
    static const int ns[] = { 1, 7, 16, 33, 100 };
    static const float centers[] = { 300, -300, 600, -600, 900, -900, 0 };  /* 0: uniform over +-900 */
    static const float scales[] = { 1.0f, 0.125f };
    for (int si = 0; si < n_sets; si++)
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
            for (size_t c = 0; c < sizeof centers / sizeof centers[0]; c++)
                for (size_t sc = 0; sc < sizeof scales / sizeof scales[0]; sc++) {
                    const int n = ns[k];
                    const float scale = scales[sc];
                    float s[100];
                    double ref[100], max = -INFINITY, sum = 0;
                    for (int p = 0; p < n; p++)
                        s[p] = (centers[c] != 0 ? centers[c] + 5 * nrand() : (float)(1800 * urand() - 900)) / scale;
                    for (int p = 0; p < n; p++) max = fmax(max, (double)(s[p] * scale));
                    for (int p = 0; p < n; p++) sum += ref[p] = exp((double)(s[p] * scale) - max);
                    sets[si]->softmax(s, n, scale);
                    double total = 0;
                    int bad = 0;
                    for (int p = 0; p < n; p++) {
                        total += s[p];
                        bad += !(fabs(s[p] - ref[p] / sum) <= 2e-6 * ref[p] / sum + 1e-30);
                    }
                    CHECK(bad == 0 && fabs(total - 1) < 1e-5,
                          "%s softmax of scores around %g (scale %g) n=%d: %d weights off, sum %.9g, s[0] %.9g vs %.9g",
                          names[si], centers[c], scale, n, bad, total, s[0], ref[0] / sum);
                }
}

static void test_gemm(void) {
    static const int64_t ns[] = { 1, 7, 100, 513 };
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
        for (int nw = 1; nw <= 37; nw += 3)
            for (int nx = 1; nx <= 30; nx += nx < 14 ? 4 : 3) {
                const int64_t n = ns[k], ldw = n + 3, ldx = n + 5, ldy = nw + 2;
                float *w = malloc((size_t)(nw * ldw) * 4), *x = malloc((size_t)(nx * ldx) * 4);
                float *y0 = malloc((size_t)(nx * ldy) * 4), *y1 = malloc((size_t)(nx * ldy) * 4);
                fill(w, nw * ldw, 1);
                fill(x, nx * ldx, 1);
                fill(y0, nx * ldy, 1);
                memcpy(y1, y0, (size_t)(nx * ldy) * 4);
                sets[0]->gemm_f32(w, ldw, nw, x, ldx, nx, y0, ldy, n);
                for (int s = 1; s < n_sets; s++)
                    for (int packed = 0; packed <= (sets[s]->pack_f32 != NULL); packed++) {
                        float *y = malloc((size_t)(nx * ldy) * 4);
                        memcpy(y, y1, (size_t)(nx * ldy) * 4);
                        if (packed) {  /* as l3_cpu_matmul: through the set's own panel, L3_PACK_F32_ROWS rows at a time */
                            float *panel = malloc((size_t)(L3_PACK_F32_ROWS * n) * 4);
                            for (int i0 = 0; i0 < nw; i0 += L3_PACK_F32_ROWS) {
                                const int mw = nw - i0 < L3_PACK_F32_ROWS ? nw - i0 : L3_PACK_F32_ROWS;
                                sets[s]->pack_f32(L3_F32, w + i0 * ldw, (size_t)ldw * 4, mw, n, panel);
                                sets[s]->gemm_f32_packed(panel, mw, x, ldx, nx, y + i0, ldy, n);
                            }
                            free(panel);
                        } else {
                            sets[s]->gemm_f32(w, ldw, nw, x, ldx, nx, y, ldy, n);
                        }
                        for (int j = 0; j < nx; j++)
                            for (int i = 0; i < ldy; i++) {
                                double mag = 1;
                                if (i < nw)
                                    for (int64_t e = 0; e < n; e++) mag += fabs((double)w[i * ldw + e] * x[j * ldx + e]);
                                /* entries outside the nw x nx tile must be untouched */
                                CHECK(close_to(y[j * ldy + i], y0[j * ldy + i], mag, 1e-5), "%s gemm%s n=%lld nw=%d nx=%d (%d,%d)",
                                      names[s], packed ? " (packed)" : "", (long long)n, nw, nx, i, j);
                            }
                        free(y);
                    }
                free(w); free(x); free(y0); free(y1);
            }
}

/* l3_cpu_matmul on every set against the scalar set: decode and prefill, threads over rows. */
static void test_matmul(l3_pool *pool) {
    static const int Ts[] = { 1, 3, 17, 64 };
    for (int ti = 0; ti < N_TYPES; ti++) {
        const uint32_t t = TYPES[ti];
        const l3_type_info *info = l3_type_get(t);
        /* 40 rows: not a multiple of the 16- and 32-row tiles; cols: two column slices of
         * l3_cpu_matmul (MM_KC 2048), even-but-not-16 for floats */
        const int64_t rows = 40, cols = info->block == 1 ? 2100 : info->block == 32 ? 2112 : 2304;
        float *wf = malloc((size_t)(rows * cols) * 4);
        fill(wf, rows * cols, 0.5f);
        size_t rb = l3_row_bytes(t, cols);
        uint8_t *wq = malloc(rb * (size_t)rows);
        for (int64_t r = 0; r < rows; r++) info->from_float(wf + r * cols, wq + r * rb, cols);
        l3_tensor W = { t, rows, cols, wq, rb * (size_t)rows };
        llama3_args a = { 0 };
        a.dim = (int)cols;
        a.hidden_dim = (int)cols;
        a.n_heads = a.n_kv_heads = 1;
        a.head_dim = (int)cols;
        l3_scratch s;
        CHECK(l3_scratch_init(&s, &a, 64, 16, l3_pool_size(pool)) == 0, "scratch");
        float *X = malloc((size_t)(64 * cols) * 4), *Y0 = malloc((size_t)(64 * rows) * 4), *Y1 = malloc((size_t)(64 * rows) * 4);
        float *Y2 = malloc((size_t)(64 * rows) * 4), *Y3 = malloc((size_t)(64 * rows) * 4);
        fill(X, 64 * cols, 1);
        uint8_t all_one[64], mixed[64];
        for (int r = 0; r < 64; r++) all_one[r] = 1, mixed[r] = r % 3 != 1;
        for (size_t k = 0; k < sizeof Ts / sizeof Ts[0]; k++) {
            const int T = Ts[k];
            l3_kernels_select("scalar");
            l3_cpu_matmul(l3_kernels(), &W, NULL, X, T, NULL, Y0, &s, pool);
            for (int si = 1; si < n_sets; si++) {
                l3_kernels_select(names[si]);
                memset(Y1, 0, (size_t)(T * rows) * 4);
                l3_cpu_matmul(l3_kernels(), &W, NULL, X, T, NULL, Y1, &s, pool);
                double e2 = 0, r2 = 0;
                for (int64_t i = 0; i < T * rows; i++) {
                    e2 += (Y1[i] - Y0[i]) * (double)(Y1[i] - Y0[i]);
                    r2 += (double)Y0[i] * Y0[i];
                }
                /* 8-bit paths: two int8 activation levels, about 1e-4; exact otherwise */
                const l3_kernel_set *ks = sets[si];
                /* (two-level rows take the batched decode kernels where the set has them, also
                 * for a type without the tile product: ARM's neon and dotprod Q8_0) */
                const int q8 = ks->use_q8 && (T == 1 ? ks->dot_q8[t] != NULL : ks->to_panel[t] != NULL || ks->dotn_q8[t]);
                const double bound = !q8 ? 1e-5 : 5e-4;
                if (getenv("KT_VERBOSE")) printf("%s matmul %s T=%d rel L2 %.3g\n", names[si], info->name, T, sqrt(e2 / r2));
                CHECK(sqrt(e2 / r2) <= bound, "%s matmul %s T=%d rel L2 %.3g > %.3g", names[si], info->name, T,
                      sqrt(e2 / r2), bound);
                /* one-level rows (prompts): one int8 level, about llama.cpp's 1e-2 (8 bits); a
                 * row's numbers do not depend on the other rows' levels (the two-level body
                 * with a zero second level, or the one-level body: the same products) */
                memset(Y2, 0, (size_t)(T * rows) * 4);
                l3_cpu_matmul(l3_kernels(), &W, NULL, X, T, all_one, Y2, &s, pool);
                e2 = 0;
                for (int64_t i = 0; i < T * rows; i++) e2 += (Y2[i] - Y0[i]) * (double)(Y2[i] - Y0[i]);
                if (getenv("KT_VERBOSE")) printf("%s matmul %s T=%d one level rel L2 %.3g\n", names[si], info->name, T, sqrt(e2 / r2));
                /* (one level only where the set has the 8-bit tile product for the type; AVX2's
                 * Q8_0 prompts take f32 past one row and two levels alone) */
                const int q8_one = ks->use_q8 && ks->to_panel[t] != NULL;
                CHECK(sqrt(e2 / r2) <= (q8_one ? 1e-2 : q8 ? 5e-4 : 1e-5) && (!q8_one || sqrt(e2 / r2) > 1e-4), "%s matmul %s T=%d one level rel L2 %.3g",
                      names[si], info->name, T, sqrt(e2 / r2));
                /* Y1 holds the two-level rows (the decode kernels, however many rows), Y2 the
                 * one-level ones. Levels interleaved past 8 rows take the tile product: a one-level
                 * row gets its level's numbers (a zero second level multiplies out to the
                 * one-level body's), a two-level row the tile's two levels (as close to the
                 * reference as Y1); up to 8 such rows all take the decode kernels, so there only
                 * batch.c's order below is held to it. */
                l3_cpu_matmul(l3_kernels(), &W, NULL, X, T, mixed, Y3, &s, pool);
                double m2 = 0, mr2 = 0;
                for (int t2 = 0; T > 8 && t2 < T; t2++) {
                    const int64_t o = (int64_t)t2 * rows;
                    if (mixed[t2])
                        CHECK(memcmp(Y3 + o, Y2 + o, (size_t)rows * 4) == 0,
                              "%s matmul %s T=%d: row %d with mixed levels differs from its level alone", names[si], info->name, T, t2);
                    else
                        for (int64_t i = 0; i < rows; i++)
                            m2 += (Y3[o + i] - Y0[o + i]) * (double)(Y3[o + i] - Y0[o + i]), mr2 += (double)Y0[o + i] * Y0[o + i];
                }
                CHECK(T <= 8 || sqrt(m2 / mr2) <= bound, "%s matmul %s T=%d: two-level rows among one-level rows: rel L2 %.3g > %.3g",
                      names[si], info->name, T, sqrt(m2 / mr2), bound);
                /* A step of batch.c (decoded tokens first, then prompt rows) gives each part the
                 * numbers it gets without the other, and decoded tokens in a step of any size
                 * (the decode kernels) the bits they get alone, as do prompt rows up to 8. */
                const int n_dec = (T + 2) / 3;
                const int levels = ks->use_q8 && ks->dot_q8[t];  /* 8-bit kernels for the type */
                uint8_t ordered[64];
                for (int t2 = 0; t2 < T; t2++) ordered[t2] = t2 >= n_dec;
                l3_cpu_matmul(l3_kernels(), &W, NULL, X, T, ordered, Y3, &s, pool);
                l3_cpu_matmul(l3_kernels(), &W, NULL, X, n_dec, NULL, Y1, &s, pool);  /* the decoded tokens without the prompt rows */
                if (T > n_dec) l3_cpu_matmul(l3_kernels(), &W, NULL, X + (int64_t)n_dec * cols, T - n_dec, all_one, Y1 + (int64_t)n_dec * rows, &s, pool);
                float *ya = malloc((size_t)rows * 4);
                const uint8_t one = 1;
                for (int t2 = 0; levels && t2 < T; t2++) {
                    CHECK(memcmp(Y3 + (int64_t)t2 * rows, Y1 + (int64_t)t2 * rows, (size_t)rows * 4) == 0,
                          "%s matmul %s T=%d: %s row %d differs from its part of the step alone", names[si], info->name,
                          T, t2 < n_dec ? "decoded" : "prompt", t2);
                    const int alone = t2 < n_dec ? n_dec == 1 || ks->dotn_q8[t] : T <= 8 && ks->dotn_q8[t];
                    if (!alone) continue;
                    l3_cpu_matmul(l3_kernels(), &W, NULL, X + (int64_t)t2 * cols, 1, t2 < n_dec ? NULL : &one, ya, &s, pool);
                    const float *got = t2 < n_dec ? Y3 + (int64_t)t2 * rows : Y2 + (int64_t)t2 * rows;
                    CHECK(memcmp(got, ya, (size_t)rows * 4) == 0, "%s matmul %s T=%d: %s row %d differs from alone",
                          names[si], info->name, T, t2 < n_dec ? "decoded" : "prompt", t2);
                }
                free(ya);
            }
        }
        l3_kernels_select(names[n_sets - 1]);
        l3_scratch_free(&s);
        free(wf); free(wq); free(X); free(Y0); free(Y1); free(Y2); free(Y3);
    }
}

/* 8-bit activations: quantization, decode dots, panels and the tile product of every set
 * against the scalar set's reference (same inputs), and against f32 arithmetic. */
static void test_q8(void) {
    static const uint32_t qtypes[] = { L3_Q8_0, L3_Q4_0, L3_Q4_1, L3_Q5_0, L3_Q5_1, L3_Q4_K, L3_Q5_K, L3_Q6_K };
    const l3_kernel_set *ref = sets[0];
    CHECK(ref->quantize_q8 && ref->gemm_q8, "scalar 8-bit reference missing");
    for (size_t ti = 0; ti < sizeof qtypes / sizeof qtypes[0]; ti++) {
        const uint32_t t = qtypes[ti];
        const l3_type_info *info = l3_type_get(t);
        int64_t sz[8];
        const int ns = sizes_for(info->block, sz);
        for (int si = 0; si < ns; si++) {
            const int64_t n = sz[si];
            enum { NW = 9, NX = 6 };
            const size_t rb = l3_row_bytes(t, n);
            float *wf = malloc((size_t)(NW * n) * 4), *x = malloc((size_t)(NX * n) * 4), *wd = malloc((size_t)n * 4);
            uint8_t *wq = malloc(rb * NW);
            int8_t *q = malloc((size_t)(NX * n)), *q2 = malloc((size_t)(NX * n)), *qs = malloc((size_t)(NX * n)), *q2s = malloc((size_t)n);
            float *d = malloc((size_t)(NX * n / 32) * 4), *sm = malloc((size_t)(NX * n / 16) * 4);
            float *ds = malloc((size_t)(NX * n / 32) * 4), *sms = malloc((size_t)(NX * n / 16) * 4);
            uint8_t *u = malloc((size_t)(NW * n)), *us = malloc((size_t)(NW * n));
            float *sc = malloc((size_t)(NW * n / 4) * 4), *mn = malloc((size_t)(NW * n / 16) * 4);
            float *scs = malloc((size_t)(NW * n / 4) * 4), *mns = malloc((size_t)(NW * n / 16) * 4);
            float *y0 = malloc(NW * NX * 4), *y1 = malloc(NW * NX * 4);
            fill(wf, NW * n, 0.5f);
            fill(x, NX * n, 1.0f);
            for (int64_t e = 0; e < n; e += 7) x[e] *= 8;  /* some outliers, like real activations */
            for (int i = 0; i < NW; i++) info->from_float(wf + i * n, wq + i * rb, n);
            /* two-level rows (what l3_cpu_matmul uses) for the tile product */
            for (int j = 0; j < NX; j++) ref->quantize_q8(x + j * n, q + j * n, q2 + j * n, d + j * n / 32, sm + j * n / 16, n);
            for (int i = 0; i < NW; i++) ref->to_panel[t](wq + i * rb, u + i * n, sc + i * n / 4, mn + i * n / 16, n);
            ref->gemm_q8(u, sc, mn, NW, q, q2, d, sm, NX, y0, NW, n);
            /* the reference tile product against f32: the rel L2 of a few dozen dots */
            double e2 = 0, r2 = 0, e2d = 0;
            for (int i = 0; i < NW; i++) {
                info->to_float(wq + i * rb, wd, n);
                for (int j = 0; j < NX; j++) {
                    double exact = 0;
                    for (int64_t e = 0; e < n; e++) exact += (double)wd[e] * x[j * n + e];
                    e2 += (y0[j * NW + i] - exact) * (y0[j * NW + i] - exact);
                    r2 += exact * exact;
                }
            }
            CHECK(sqrt(e2 / r2) <= 2e-4, "q8 %s n=%lld gemm rel L2 %.3g", info->name, (long long)n, sqrt(e2 / r2));
            /* one-level rows (prompts): the reference's own q2 NULL case */
            int8_t *q1 = malloc((size_t)(NX * n));
            float *d1 = malloc((size_t)(NX * n / 32) * 4), *s1 = malloc((size_t)(NX * n / 16) * 4), *y0one = malloc(NW * NX * 4);
            for (int j = 0; j < NX; j++) ref->quantize_q8(x + j * n, q1 + j * n, NULL, d1 + j * n / 32, s1 + j * n / 16, n);
            ref->gemm_q8(u, sc, mn, NW, q1, NULL, d1, s1, NX, y0one, NW, n);
            /* two-level decode reference: every row against f32 */
            int8_t *q2r = malloc((size_t)n), *qr = malloc((size_t)n);
            float *dr = malloc((size_t)(n / 32) * 4), *smr = malloc((size_t)(n / 16) * 4), *dd = malloc((size_t)(n / 32) * 4),
                  *smd = malloc((size_t)(n / 16) * 4);
            ref->quantize_q8(x, qr, q2r, dr, smr, n);
            double r2d = 0;
            float ydec[NW];
            for (int i = 0; i < NW; i++) {
                info->to_float(wq + i * rb, wd, n);
                double exact = 0;
                for (int64_t e = 0; e < n; e++) exact += (double)wd[e] * x[e];
                ydec[i] = ref->dot_q8[t](wq + i * rb, qr, q2r, dr, smr, n);
                e2d += (ydec[i] - exact) * (ydec[i] - exact);
                r2d += exact * exact;
            }
            CHECK(sqrt(e2d / r2d) <= 2e-4, "q8 %s n=%lld two-level rel L2 %.3g", info->name, (long long)n, sqrt(e2d / r2d));
            if (getenv("KT_VERBOSE"))
                printf("q8 %s n=%lld rel L2 gemm %.3g dot %.3g\n", info->name, (long long)n, sqrt(e2 / r2),
                       sqrt(e2d / r2d));
            for (int s = 1; s < n_sets; s++) {
                const l3_kernel_set *k = sets[s];
                /* quantization: q and d identical, q2 within one step, sums close */
                k->quantize_q8(x, qs, q2s, ds, sms, n);
                CHECK(memcmp(qs, qr, (size_t)n) == 0 && memcmp(ds, dr, (size_t)(n / 32) * 4) == 0,
                      "%s quantize_q8 n=%lld differs", names[s], (long long)n);
                for (int64_t e = 0; e < n; e++)
                    CHECK(abs(q2s[e] - q2r[e]) <= 1, "%s quantize_q8 n=%lld q2[%lld]", names[s], (long long)n, (long long)e);
                for (int64_t e = 0; e < n / 16; e++)
                    CHECK(fabsf(sms[e] - smr[e]) <= 1e-3f * (fabsf(smr[e]) + 1), "%s quantize_q8 n=%lld s[%lld] %g vs %g",
                          names[s], (long long)n, (long long)e, sms[e], smr[e]);
                /* one level (q2 NULL): everything identical */
                ref->quantize_q8(x + n, qr, NULL, dr, smr, n);
                k->quantize_q8(x + n, qs, NULL, dd, smd, n);
                CHECK(memcmp(qs, qr, (size_t)n) == 0 && memcmp(dd, dr, (size_t)(n / 32) * 4) == 0 &&
                          memcmp(smd, smr, (size_t)(n / 16) * 4) == 0,
                      "%s quantize_q8 (one level) n=%lld differs", names[s], (long long)n);
                ref->quantize_q8(x, qr, q2r, dr, smr, n);
                if (k->dot_q8[t])
                    for (int i = 0; i < NW; i++) {
                        double mag = 0;
                        info->to_float(wq + i * rb, wd, n);
                        for (int64_t e = 0; e < n; e++) mag += fabs((double)wd[e] * x[e]);
                        const float got = k->dot_q8[t](wq + i * rb, qr, q2r, dr, smr, n);
                        CHECK(close_to(got, ydec[i], mag, 1e-5), "%s dot_q8 %s n=%lld row %d: %g vs %g", names[s],
                              info->name, (long long)n, i, got, ydec[i]);
                    }
                /* batched decode: every (weight row, activation row) pair bit-identical to the
                 * set's own dot_q8 on the same rows, every (nw, nx) edge, nothing written outside */
                if (k->dotn_q8[t] && k->dot_q8[t])
                    for (int nw = 1; nw <= NW; nw++)
                        for (int nx = 1; nx <= NX; nx++) {
                            for (int e = 0; e < NW * NX; e++) y1[e] = -1234.5f;
                            k->dotn_q8[t](wq, rb, nw, q, q2, d, sm, nx, y1, NW, n);
                            for (int j = 0; j < NX; j++)
                                for (int i = 0; i < NW; i++) {
                                    if (i >= nw || j >= nx) {
                                        CHECK(y1[j * NW + i] == -1234.5f, "%s dotn_q8 wrote outside", names[s]);
                                        continue;
                                    }
                                    const float want = k->dot_q8[t](wq + i * rb, q + j * n, q2 + j * n, d + j * n / 32,
                                                                    sm + j * n / 16, n);
                                    CHECK(memcmp(&y1[j * NW + i], &want, 4) == 0,
                                          "%s dotn_q8 %s n=%lld nw=%d nx=%d (%d,%d): %.9g vs dot_q8 %.9g", names[s],
                                          info->name, (long long)n, nw, nx, i, j, y1[j * NW + i], want);
                                }
                        }
                if (k->to_panel[t]) {
                    for (int i = 0; i < NW; i++)
                        k->to_panel[t](wq + i * rb, us + i * n, scs + i * n / 4, mns + i * n / 16, n);
                    CHECK(memcmp(us, u, (size_t)(NW * n)) == 0 && memcmp(scs, sc, (size_t)(NW * n / 4) * 4) == 0 &&
                              memcmp(mns, mn, (size_t)(NW * n / 16) * 4) == 0,
                          "%s to_panel %s n=%lld differs from the reference", names[s], info->name, (long long)n);
                }
                /* the tile product on the reference panel, every (nw, nx) edge case (only for
                 * the types whose panels this set makes: AVX2's maddubs needs u <= 128) */
                for (int nw = 1; k->to_panel[t] && nw <= NW; nw += 2)
                    for (int nx = 1; nx <= NX; nx++) {
                    for (int lv = 2; lv >= 1; lv--) {
                        const int8_t *qa = lv == 2 ? q : q1, *qa2 = lv == 2 ? q2 : NULL;
                        const float *da = lv == 2 ? d : d1, *sa = lv == 2 ? sm : s1, *want = lv == 2 ? y0 : y0one;
                        for (int e = 0; e < NW * NX; e++) y1[e] = -1234.5f;
                        set_gemm_q8(k, u, sc, mn, nw, qa, qa2, da, sa, nx, y1, NW, n);
                        for (int j = 0; j < NX; j++)
                            for (int i = 0; i < NW; i++) {
                                if (i >= nw || j >= nx) {
                                    CHECK(y1[j * NW + i] == -1234.5f, "%s gemm_q8 wrote outside the tile", names[s]);
                                    continue;
                                }
                                double mag = 1e-3;
                                info->to_float(wq + i * rb, wd, n);
                                for (int64_t e = 0; e < n; e++) mag += fabs((double)wd[e] * x[j * n + e]);
                                CHECK(close_to(y1[j * NW + i], want[j * NW + i], mag, 1e-5),
                                      "%s gemm_q8 %s n=%lld nw=%d nx=%d (%d,%d), %d level(s): %g vs %g", names[s],
                                      info->name, (long long)n, nw, nx, i, j, lv, y1[j * NW + i], want[j * NW + i]);
                            }
                    }
                    }
            }
            free(q2r); free(qr); free(dr); free(smr); free(dd); free(smd); free(q1); free(d1); free(s1); free(y0one);
            free(wf); free(x); free(wd); free(wq); free(q); free(q2); free(qs); free(q2s); free(d); free(sm); free(ds);
            free(sms); free(u); free(us); free(sc); free(mn); free(scs); free(mns); free(y0); free(y1);
        }
    }
}


/* kernels.h panel_rows: the bytes to_panel and panel_pack make of the same rows (the flags
 * after the mins' terms included), for every row count of a tile, a NaN scale too */
static void test_panel_rows(void) {
    static const uint32_t qtypes[] = { L3_Q8_0, L3_Q4_0, L3_Q4_K, L3_Q5_K, L3_Q6_K };
    for (int si = 1; si < n_sets; si++)
        for (size_t ti = 0; ti < sizeof qtypes / sizeof qtypes[0]; ti++) {
            const l3_kernel_set *k = sets[si];
            const uint32_t t = qtypes[ti];
            if (!k->panel_rows[t]) continue;
            CHECK(k->to_panel[t] && k->panel_pack, "%s: panel_rows for %s without to_panel and panel_pack", names[si],
                  l3_type_get(t)->name);
            if (!k->to_panel[t] || !k->panel_pack) continue;
            for (int ni = 0; ni < 3; ni++) {
                const int64_t n = l3_type_get(t)->block == 256 ? (ni ? 1280 : 768) : (ni ? 2080 : 96);
                const size_t rb = l3_row_bytes(t, n), bytes = (size_t)n * (16 + 2 * sizeof(float)) + 3 * sizeof(uint32_t);
                float *wf = malloc((size_t)(16 * n) * 4), *sc = malloc((size_t)(16 * n / 4) * 4), *mn = malloc((size_t)(16 * n / 16) * 4);
                uint8_t *wq = malloc(rb * 16), *u = malloc((size_t)(16 * n));
                uint8_t *pa = malloc(L3_PACK16_BYTES(n)), *pb = malloc(L3_PACK16_BYTES(n));
                fill(wf, 16 * n, 0.5f);
                for (int r = 0; r < 16; r++) l3_type_get(t)->from_float(wf + r * n, wq + r * rb, n);
                if (ni == 2) memset(wq + 5 * rb, 0xff, 2);  /* row 5's first fp16 scale a NaN (what Q8_0 and Q4_0 store first) */
                for (int nw = 1; nw <= 16; nw++) {
                    memset(pa, 0xa5, L3_PACK16_BYTES(n)), memset(pb, 0x5a, L3_PACK16_BYTES(n));
                    k->panel_rows[t](wq, rb, nw, n, pa);
                    for (int r = 0; r < nw; r++) k->to_panel[t](wq + r * rb, u + r * n, sc + r * n / 4, mn + r * n / 16, n);
                    k->panel_pack(u, sc, mn, nw, n, pb);
                    CHECK(memcmp(pa, pb, bytes) == 0, "%s panel_rows %s n=%lld nw=%d%s differs from to_panel + panel_pack",
                          names[si], l3_type_get(t)->name, (long long)n, nw, ni == 2 ? " (a NaN scale)" : "");
                }
                free(wf); free(sc); free(mn); free(wq); free(u); free(pa); free(pb);
            }
        }
}

/* Weight rows in the sets' groups (kernels.h group_rows, row_groups.h): the layout gives every
 * row back; dotn_q8_groups against the scalar dot_q8 on the same rows, each (row, activation
 * row) pair the same bits whatever nx and the group range, nothing written past the groups;
 * and l3_cpu_matmul on groups: decode close to the scalar set, a decoded row the bits it gets
 * alone, prefill (its panels made from the groups, or from rows unpacked from them) the bits it
 * gets on the file's rows. */
static void test_row_groups(l3_pool *pool) {
    static const uint32_t qtypes[] = { L3_Q8_0, L3_Q4_0, L3_Q4_K, L3_Q5_K, L3_Q6_K };
    static const int64_t ns[] = { 96, 2080 };  /* odd block counts (k-quants: 768, 1280) */
    const l3_kernel_set *ref = sets[0];
    for (int si = 1; si < n_sets; si++)
        for (size_t ti = 0; ti < sizeof qtypes / sizeof qtypes[0]; ti++) {
            const l3_kernel_set *k = sets[si];
            const uint32_t t = qtypes[ti];
            const int G = k->group_rows[t];
            if (!G) continue;
            CHECK(k->dotn_q8_groups[t] && l3_row_groups_supported((int)t), "%s: group_rows for %s without its kernel or layout",
                  names[si], l3_type_get(t)->name);
            if (!k->dotn_q8_groups[t] || !l3_row_groups_supported((int)t)) continue;
            for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                const int64_t n = l3_type_get(t)->block == 256 ? (ni ? 1280 : 768) : ns[ni], rows = 3 * G;  /* three groups */
                enum { NX = 10, PAD = 5 };              /* past two 8-row passes; columns past the groups */
                const int64_t ldy = rows + PAD;
                const size_t rb = l3_row_bytes(t, n);
                float *wf = malloc((size_t)(rows * n) * 4), *x = malloc((size_t)(NX * n) * 4), *wd = malloc((size_t)n * 4);
                uint8_t *wq = malloc(rb * rows), *gq = malloc(rb * rows), *back = malloc(rb);
                int8_t *q = malloc((size_t)(NX * n)), *q2 = malloc((size_t)(NX * n));
                float *d = malloc((size_t)(NX * n / 32) * 4), *sm = malloc((size_t)(NX * n / 16) * 4);
                float *y = malloc((size_t)(NX * ldy) * 4), *y1 = malloc((size_t)(NX * ldy) * 4);
                fill(wf, rows * n, 0.5f);
                fill(x, NX * n, 1.0f);
                for (int64_t e = 0; e < NX * n; e += 7) x[e] *= 8;
                for (int64_t r = 0; r < rows; r++) l3_type_get(t)->from_float(wf + r * n, wq + r * rb, n);
                if (t == L3_Q6_K && ni == 1)  /* both sixteens of every block with one scale (the tile's 32-value steps) */
                    for (int64_t r = 0; r < rows; r++)
                        for (int64_t sb = 0; sb < n / 256; sb++) {
                            l3_block_q6_K *blk = (l3_block_q6_K *)(wq + r * rb) + sb;
                            for (int k = 1; k < 16; k += 2) blk->scales[k] = blk->scales[k - 1];
                        }
                for (int64_t r = 0; r < rows; r += G) l3_row_groups_pack((int)t, G, wq + r * rb, rb, n, gq + r * rb);
                for (int64_t r = 0; r < rows; r++) {
                    l3_row_groups_unpack((int)t, G, gq + r / G * G * rb, (int)(r % G), n, back);
                    CHECK(memcmp(back, wq + r * rb, rb) == 0, "%s row groups %s n=%lld: row %lld does not come back", names[si],
                          l3_type_get(t)->name, (long long)n, (long long)r);
                }
                for (int j = 0; j < NX; j++) ref->quantize_q8(x + j * n, q + j * n, q2 + j * n, d + j * n / 32, sm + j * n / 16, n);
                /* the same rows at a padded stride, as l3_cpu_matmul hands several of them */
                const int64_t ldq = n + 64;
                int8_t *qpad = malloc((size_t)(NX * ldq)), *q2pad = malloc((size_t)(NX * ldq));
                for (int j = 0; j < NX; j++) memcpy(qpad + j * ldq, q + j * n, (size_t)n), memcpy(q2pad + j * ldq, q2 + j * n, (size_t)n);
                for (int nx = 1; nx <= NX; nx++) {
                    for (int64_t e = 0; e < NX * ldy; e++) y[e] = -1234.5f;
                    k->dotn_q8_groups[t](gq, 3, qpad, q2pad, ldq, d, sm, nx, y, ldy, n);
                    for (int j = 0; j < NX; j++)
                        for (int64_t i = 0; i < ldy; i++) {
                            const float got = y[j * ldy + i];
                            if (i >= rows || j >= nx) {
                                CHECK(got == -1234.5f, "%s dotn_q8_groups %s nx=%d wrote outside (%lld,%d)", names[si],
                                      l3_type_get(t)->name, nx, (long long)i, j);
                                continue;
                            }
                            double mag = 1e-3;
                            l3_type_get(t)->to_float(wq + i * rb, wd, n);
                            for (int64_t e = 0; e < n; e++) mag += fabs((double)wd[e] * x[j * n + e]);
                            const float want = ref->dot_q8[t](wq + i * rb, q + j * n, q2 + j * n, d + j * n / 32, sm + j * n / 16, n);
                            CHECK(close_to(got, want, mag, 1e-5), "%s dotn_q8_groups %s n=%lld nx=%d (%lld,%d): %g vs %g",
                                  names[si], l3_type_get(t)->name, (long long)n, nx, (long long)i, j, got, want);
                        }
                    /* each activation row alone, and each group alone: the same bits */
                    for (int j = 0; j < nx; j++)
                        for (int g = 0; g < 3; g++) {
                            k->dotn_q8_groups[t](gq + g * G * rb, 1, q + j * n, q2 + j * n, n, d + j * n / 32, sm + j * n / 16,
                                                 1, y1, ldy, n);
                            CHECK(memcmp(y1, y + j * ldy + g * G, (size_t)G * 4) == 0,
                                  "%s dotn_q8_groups %s n=%lld nx=%d: row %d of group %d differs from alone", names[si],
                                  l3_type_get(t)->name, (long long)n, nx, j, g);
                        }
                }
                free(qpad); free(q2pad);
                /* through l3_cpu_matmul: decode and batched decode on groups, prefill unpacked */
                l3_tensor W = { t, rows, n, wq, rb * (size_t)rows };
                llama3_args a = { 0 };
                a.dim = a.hidden_dim = a.head_dim = (int)n;
                a.n_heads = a.n_kv_heads = 1;
                l3_scratch s;
                enum { TMAX = 72 };  /* several 16-row passes (the amx set's later rows take the panel its first rows made) */
                CHECK(l3_scratch_init(&s, &a, TMAX, 16, l3_pool_size(pool)) == 0, "scratch");
                float *X = malloc((size_t)(TMAX * n) * 4), *Y0 = malloc((size_t)(TMAX * rows) * 4), *Y1 = malloc((size_t)(TMAX * rows) * 4);
                float *Ya = malloc((size_t)rows * 4);
                fill(X, TMAX * n, 1);
                static const int Ts[] = { 1, 5, 8, 20, TMAX };
                for (size_t k2 = 0; k2 < sizeof Ts / sizeof Ts[0]; k2++) {
                    const int T = Ts[k2];
                    l3_kernels_select("scalar");
                    l3_cpu_matmul(l3_kernels(), &W, NULL, X, T, NULL, Y0, &s, pool);
                    l3_kernels_select(names[si]);
                    l3_cpu_matmul(l3_kernels(), &W, gq, X, T, NULL, Y1, &s, pool);
                    double e2 = 0, r2 = 0;
                    for (int64_t i = 0; i < T * rows; i++) e2 += (Y1[i] - Y0[i]) * (double)(Y1[i] - Y0[i]), r2 += (double)Y0[i] * Y0[i];
                    CHECK(sqrt(e2 / r2) <= 5e-4, "%s matmul on groups %s n=%lld T=%d rel L2 %.3g", names[si], l3_type_get(t)->name,
                          (long long)n, T, sqrt(e2 / r2));
                    /* decoded tokens, however many: each row the bits it gets alone */
                    for (int r = 0; r < T; r++) {
                        l3_cpu_matmul(l3_kernels(), &W, gq, X + (int64_t)r * n, 1, NULL, Ya, &s, pool);
                        CHECK(memcmp(Ya, Y1 + (int64_t)r * rows, (size_t)rows * 4) == 0,
                              "%s matmul on groups %s n=%lld T=%d: row %d differs from alone", names[si],
                              l3_type_get(t)->name, (long long)n, T, r);
                    }
                    if (T > MM_DECODE_ROWS) {  /* prompt rows: the tile product, its panel from the groups
                                                * (panel_from_group, or rows unpacked from them) */
                        uint8_t prompt[TMAX];
                        memset(prompt, 1, sizeof prompt);
                        l3_cpu_matmul(l3_kernels(), &W, gq, X, T, prompt, Y1, &s, pool);
                        l3_cpu_matmul(l3_kernels(), &W, NULL, X, T, prompt, Y0, &s, pool);
                        CHECK(memcmp(Y0, Y1, (size_t)(T * rows) * 4) == 0, "%s prefill on groups %s n=%lld T=%d differs from the file's rows",
                              names[si], l3_type_get(t)->name, (long long)n, T);
                    }
                }
                l3_kernels_select(names[n_sets - 1]);
                l3_scratch_free(&s);
                free(X); free(Y0); free(Y1); free(Ya);
                /* extremes: every weight at its type's largest value (bytes 0xff, small scales) and
                 * both activation levels at 127, where 16-bit partial sums would overflow first */
                {
                    const size_t dpos = t == L3_Q6_K ? 208 : 0, bb = l3_type_get(t)->block_bytes;
                    const int two = t == L3_Q4_K || t == L3_Q5_K;  /* d and dmin */
                    memset(wq, 0xff, rb * (size_t)rows);
                    for (int64_t r = 0; r < rows; r++)
                        for (int64_t b = 0; b < n / l3_type_get(t)->block; b++) {
                            uint8_t *blk = wq + r * rb + b * bb;
                            const uint16_t h = (uint16_t)(0x2000 + 97 * r + b);  /* small positive fp16 */
                            memcpy(blk + dpos, &h, 2);
                            if (two) memcpy(blk + 2, &h, 2);
                        }
                    for (int64_t r = 0; r < rows; r += G) l3_row_groups_pack((int)t, G, wq + r * rb, rb, n, gq + r * rb);
                    memset(q, 127, (size_t)n), memset(q2, 127, (size_t)n);
                    for (int64_t b = 0; b < n / 32; b++) d[b] = 1e-3f;
                    for (int64_t e = 0; e < n / 16; e++) sm[e] = 1e-3f * 16 * (256 * 127 + 127);
                    k->dotn_q8_groups[t](gq, 3, q, q2, n, d, sm, 1, y, ldy, n);
                    for (int64_t i = 0; i < rows; i++) {
                        double mag = 1e-3;
                        l3_type_get(t)->to_float(wq + i * rb, wd, n);
                        for (int64_t e = 0; e < n; e++) mag += fabs((double)wd[e]) * 1e-3 * (256 * 127 + 127);
                        const float want = ref->dot_q8[t](wq + i * rb, q, q2, d, sm, n);
                        CHECK(close_to(y[i], want, mag, 1e-5), "%s dotn_q8_groups %s n=%lld extremes, row %lld: %g vs %g",
                              names[si], l3_type_get(t)->name, (long long)n, (long long)i, y[i], want);
                    }
                }

                free(wf); free(x); free(wd); free(wq); free(gq); free(back); free(q); free(q2); free(d); free(sm); free(y); free(y1);
            }
        }
}

/* The tile product at the extremes of 16-bit intermediate sums: every panel value at the
 * largest its type's panels hold (Q4 15, Q5 31, Q6 63, Q8_0 255) times activations of +-127
 * in both levels (s their sums, as quantize_q8 gives them), against the reference. Random data
 * almost never comes near the bounds that kernels summing maddubs pairs in 16 bits must
 * respect. */
static void test_q8_extremes(void) {
    static const struct { uint32_t t; uint8_t umax; } ext[] = { { L3_Q4_0, 15 }, { L3_Q4_K, 15 }, { L3_Q5_K, 31 },
                                                                 { L3_Q6_K, 63 }, { L3_Q8_0, 255 } };
    const l3_kernel_set *ref = sets[0];
    enum { NW = 16, NX = 5 };
    const int64_t n = 512;
    uint8_t *u = malloc(NW * n);
    float *sc = malloc(NW * n / 4 * 4), *mn = malloc(NW * n / 16 * 4), *d = malloc(NX * n / 32 * 4), *sm = malloc(NX * n / 16 * 4);
    int8_t *q = malloc(NX * n), *q2 = malloc(NX * n);
    float *y0 = malloc(NW * NX * 4), *y1 = malloc(NW * NX * 4);
    for (int64_t e = 0; e < NW * n / 4; e++) sc[e] = 1.0f;
    for (int64_t e = 0; e < NW * n / 16; e++) mn[e] = 0.0f;
    for (int64_t e = 0; e < NX * n / 32; e++) d[e] = 1.0f / 256;
    for (int64_t e = 0; e < NX * n; e++) {  /* rows of +127, of -127, and mixed */
        const int j = (int)(e / n);
        q[e] = q2[e] = (int8_t)(j == 0 ? 127 : j == 1 ? -127 : (e / 4) % 3 == 0 ? -127 : 127);
    }
    for (size_t ti = 0; ti < sizeof ext / sizeof ext[0]; ti++) {
        memset(u, ext[ti].umax, NW * n);
        for (int lv = 2; lv >= 1; lv--) {
            for (int64_t h = 0; h < NX * n / 16; h++) {  /* x = d (256 q + q2), or d q */
                int64_t sum = 0;
                for (int e = 0; e < 16; e++) sum += lv == 2 ? 256 * q[16 * h + e] + q2[16 * h + e] : q[16 * h + e];
                sm[h] = (float)sum * d[h / 2];
            }
            ref->gemm_q8(u, sc, mn, NW, q, lv == 2 ? q2 : NULL, d, sm, NX, y0, NW, n);
            for (int s = 1; s < n_sets; s++) {
                const l3_kernel_set *k = sets[s];
                if (!k->to_panel[ext[ti].t] || !k->gemm_q8) continue;
                set_gemm_q8(k, u, sc, mn, NW, q, lv == 2 ? q2 : NULL, d, sm, NX, y1, NW, n);
                for (int e = 0; e < NW * NX; e++)
                    CHECK(close_to(y1[e], y0[e], fabs(y0[e]) + 1, 1e-5), "%s gemm_q8 at the extremes, u = %d, %d level(s): %g vs %g",
                          names[s], ext[ti].umax, lv, y1[e], y0[e]);
            }
        }
    }
    free(u); free(sc); free(mn); free(d); free(sm); free(q); free(q2); free(y0); free(y1);
}

/* The tile product over more activation rows than one register tile takes (37: AMX's 16-row
 * passes and a tail), even and odd block counts, 32- and 16-value scales, one and two levels:
 * every set against the reference, and the amx set the avx512 set's bits (kernels/x86/amx). */
static void test_q8_many_rows(void) {
    static const struct { uint32_t t; int umax; int64_t n; } cases[] = {
        { L3_Q4_0, 15, 160 }, { L3_Q8_0, 255, 96 }, { L3_Q4_K, 15, 768 }, { L3_Q6_K, 63, 512 }, { L3_Q5_K, 31, 256 } };
    const l3_kernel_set *ref = sets[0];
    int avx512 = -1;
    for (int i = 0; i < n_sets; i++) if (strcmp(names[i], "avx512") == 0) avx512 = i;
    enum { NW = 16, NX = 37 };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int64_t n = cases[ci].n;
        const uint32_t t = cases[ci].t;
        uint8_t *u = malloc(NW * n);
        float *sc = malloc(NW * n / 4 * 4), *mn = malloc(NW * n / 16 * 4), *x = malloc(NX * n * 4);
        float *d = malloc(NX * n / 32 * 4), *sm = malloc(NX * n / 16 * 4);
        int8_t *q = malloc(NX * n), *q2 = malloc(NX * n);
        float *y0 = malloc(NW * NX * 4), *y1 = malloc(NW * NX * 4), *ya = malloc(NW * NX * 4);
        for (int64_t e = 0; e < NW * n; e++) u[e] = (uint8_t)(urand() * (cases[ci].umax + 1));
        for (int64_t e = 0; e < NW * n / 4; e++) sc[e] = 0.01f + 0.001f * (float)((e / (t == L3_Q6_K ? 4 : 8)) % 7);
        for (int64_t e = 0; e < NW * n / 16; e++) mn[e] = t == L3_Q6_K ? 0.02f : 0.001f * (float)(e % 11);
        fill(x, NX * n, 1.0f);
        for (int nw = NW; nw >= 11; nw -= 5)
            for (int lv = 2; lv >= 1; lv--) {
                for (int j = 0; j < NX; j++)
                    ref->quantize_q8(x + j * n, q + j * n, lv == 2 ? q2 + j * n : NULL, d + j * n / 32, sm + j * n / 16, n);
                const int8_t *qq2 = lv == 2 ? q2 : NULL;
                ref->gemm_q8(u, sc, mn, nw, q, qq2, d, sm, NX, y0, NW, n);
                if (avx512 >= 0) set_gemm_q8(sets[avx512], u, sc, mn, nw, q, qq2, d, sm, NX, ya, NW, n);
                for (int si = 1; si < n_sets; si++) {
                    const l3_kernel_set *k = sets[si];
                    if (!k->to_panel[t] || !k->gemm_q8) continue;
                    for (int e = 0; e < NW * NX; e++) y1[e] = -1234.5f;
                    set_gemm_q8(k, u, sc, mn, nw, q, qq2, d, sm, NX, y1, NW, n);
                    for (int j = 0; j < NX; j++)
                        for (int i = 0; i < NW; i++) {
                            const float got = y1[j * NW + i];
                            if (i >= nw) {
                                CHECK(got == -1234.5f, "%s gemm_q8 wrote outside the tile", names[si]);
                                continue;
                            }
                            double mag = 1e-3;
                            for (int64_t e = 0; e < n; e++)
                                mag += fabs((double)u[i * n + e] * sc[i * n / 4 + e / 4] * x[j * n + e]) +
                                       fabs((double)mn[i * n / 16 + e / 16] * x[j * n + e]);
                            CHECK(close_to(got, y0[j * NW + i], mag, 1e-5), "%s gemm_q8 type %u n=%lld nw=%d, %d level(s), (%d,%d) of %d rows: %g vs %g",
                                  names[si], t, (long long)n, nw, lv, i, j, NX, got, y0[j * NW + i]);
                            if (strcmp(names[si], "amx") == 0 && avx512 >= 0)
                                CHECK(memcmp(&got, &ya[j * NW + i], 4) == 0, "amx gemm_q8 type %u n=%lld nw=%d, %d level(s), (%d,%d): %.9g, avx512 %.9g",
                                      t, (long long)n, nw, lv, i, j, got, ya[j * NW + i]);
                        }
                }
            }
        free(u); free(sc); free(mn); free(x); free(d); free(sm); free(q); free(q2); free(y0); free(y1); free(ya);
    }
}

int main(void) {
    const char *avail[MAX_SETS];
    n_sets = l3_kernels_available(avail, MAX_SETS);
    CHECK(n_sets <= MAX_SETS, "%d kernel sets, room for %d", n_sets, MAX_SETS);
    if (n_sets > MAX_SETS) n_sets = MAX_SETS;
    for (int i = 0; i < n_sets; i++) {
        names[i] = avail[i];
        l3_kernels_select(avail[i]);
        sets[i] = l3_kernels();
        printf("kernel set %s\n", sets[i]->isa);
    }
    CHECK(n_sets >= 1 && strcmp(names[0], "scalar") == 0, "the scalar set comes first");
    /* sets that must be here (a cross build's emulator CPU may lack features: not silently fewer) */
    const char *want = getenv("LLAMA3_EXPECT_SETS");
    for (const char *w = want; w && *w;) {
        const size_t len = strcspn(w, " ");
        int found = 0;
        for (int i = 0; i < n_sets; i++) found |= strlen(names[i]) == len && strncmp(names[i], w, len) == 0;
        CHECK(len == 0 || found, "kernel set %.*s expected (LLAMA3_EXPECT_SETS) but not available", (int)len, w);
        w += len + (w[len] == ' ');
    }
    for (int i = 0; i < N_TYPES; i++) {
        CHECK(l3_type_get(TYPES[i]) != NULL, "type %u missing", TYPES[i]);
        if (l3_type_get(TYPES[i])) test_type(TYPES[i]);
    }
    test_grid();
    test_float_kernels();
    test_axpy_q8_0();
    test_softmax();
    test_softmax_large();
    test_bf16_split();
    test_gemm();
    test_dotn_float();
    test_attention();
    test_q8();
    test_q8_extremes();
    test_q8_many_rows();
    l3_pool *pool = l3_pool_new(3);
    test_matmul(pool);
    test_row_groups(pool);
    test_panel_rows();
    l3_pool_free(pool);
    if (failures) printf("%d failures\n", failures);
    else printf("all kernel tests passed\n");
    return failures != 0;
}
