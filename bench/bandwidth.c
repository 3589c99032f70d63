/* bandwidth: memory read bandwidth, the ceiling of token generation (each generated token
 * reads every weight once, so tokens/s <= bandwidth / weight bytes).
 *
 * usage: bandwidth [--size MiB] [--passes N] [--threads 1,2] [--rows R [--row-bytes B]
 *                  [--prefetch none|rows|ordered]]
 *   Reads a buffer of --size MiB (default 1024, far larger than any cache) --passes times
 *   (default 7) with each thread count, the threads splitting the buffer; prints the best and the
 *   median GB/s (1 GB = 1e9 bytes) per thread count, and one machine-readable line per count:
 *   "bandwidth threads=N best_gbps=X median_gbps=Y". AVX2 loads where the CPU has AVX2.
 *   --rows R reads as a multi-row decode kernel does instead of front to back: groups of R
 *   contiguous rows of B bytes (default 1152: a 2048-column Q4_0 row), side by side, a 64-byte
 *   line of each row in turn; --prefetch: none, each row's line one group on (rows), or the
 *   next group's lines in address order (ordered, default: what the AVX-512 decode tiles do). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sys/mman.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t sum_plain(const uint64_t *p, size_t n) {
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i + 4 <= n; i += 4) a += p[i], b += p[i + 1], c += p[i + 2], d += p[i + 3];
    return a ^ b ^ c ^ d;
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static uint64_t sum_avx2(const uint64_t *p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    const __m256i *v = (const __m256i *)p;
    size_t nv = n / 4;
    for (size_t i = 0; i + 8 <= nv; i += 8) {
        a0 = _mm256_add_epi64(a0, _mm256_add_epi64(_mm256_load_si256(v + i), _mm256_load_si256(v + i + 1)));
        a1 = _mm256_add_epi64(a1, _mm256_add_epi64(_mm256_load_si256(v + i + 2), _mm256_load_si256(v + i + 3)));
        a2 = _mm256_add_epi64(a2, _mm256_add_epi64(_mm256_load_si256(v + i + 4), _mm256_load_si256(v + i + 5)));
        a3 = _mm256_add_epi64(a3, _mm256_add_epi64(_mm256_load_si256(v + i + 6), _mm256_load_si256(v + i + 7)));
    }
    __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t out[4];
    _mm256_storeu_si256((__m256i *)out, s);
    return out[0] ^ out[1] ^ out[2] ^ out[3];
}
#endif

/* --rows: the decode kernels' access pattern (see the usage above); pf 0 none, 1 rows, 2 ordered */
static int n_rows, pf_mode = 2;
static size_t row_bytes = 1152;

static uint64_t sum_rows_plain(const uint64_t *p, size_t n) {
    const size_t rw = row_bytes / 8, grp = rw * (size_t)n_rows;
    uint64_t a = 0;
    for (size_t g = 0; g + grp <= n; g += grp)
        for (size_t c = 0; c < rw; c += 8)
            for (int i = 0; i < n_rows; i++)
                for (int k = 0; k < 8; k++) a += p[g + i * rw + c + k];
    return a;
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static uint64_t sum_rows_avx2(const uint64_t *p, size_t n) {
    const size_t rw = row_bytes / 8, grp = rw * (size_t)n_rows;
    __m256i a = _mm256_setzero_si256();
    for (size_t g = 0; g + grp <= n; g += grp)
        for (size_t c = 0; c < rw; c += 8) {
            if (pf_mode == 2)  /* this step's share of the next group, in address order */
                for (int i = 0; i < n_rows; i++) _mm_prefetch((const char *)(p + g + grp + c * n_rows + 8 * i), _MM_HINT_T0);
            for (int i = 0; i < n_rows; i++) {
                const uint64_t *l = p + g + i * rw + c;
                if (pf_mode == 1) _mm_prefetch((const char *)(l + grp), _MM_HINT_T0);
                a = _mm256_add_epi64(a, _mm256_add_epi64(_mm256_loadu_si256((const __m256i *)l),
                                                         _mm256_loadu_si256((const __m256i *)(l + 4))));
            }
        }
    uint64_t out[4];
    _mm256_storeu_si256((__m256i *)out, a);
    return out[0] ^ out[1] ^ out[2] ^ out[3];
}
#endif

static int use_avx2;
static uint64_t sum_words(const uint64_t *p, size_t n) {
#if defined(__x86_64__)
    if (use_avx2) return n_rows ? sum_rows_avx2(p, n) : sum_avx2(p, n);
#endif
    return n_rows ? sum_rows_plain(p, n) : sum_plain(p, n);
}

typedef struct job {
    const uint64_t *p;
    size_t n;
    pthread_barrier_t *start;
    volatile uint64_t sink;
} job;

static void *reader(void *arg) {
    job *j = arg;
    pthread_barrier_wait(j->start);
    j->sink = sum_words(j->p, j->n);
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    long size_mib = 1024, passes = 7;
    int threads[16] = { 1, 2 }, n_threads = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: bandwidth [--size MiB] [--passes N] [--threads 1,2] [--rows R [--row-bytes B]\n"
                   "                 [--prefetch none|rows|ordered]]\n");
            return 0;
        } else if (!strcmp(argv[i], "--rows") && i + 1 < argc) {
            n_rows = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--row-bytes") && i + 1 < argc) {
            row_bytes = (size_t)strtol(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--prefetch") && i + 1 < argc) {
            const char *m = argv[++i];
            pf_mode = !strcmp(m, "none") ? 0 : !strcmp(m, "rows") ? 1 : !strcmp(m, "ordered") ? 2 : -1;
        } else if (!strcmp(argv[i], "--size") && i + 1 < argc) {
            size_mib = strtol(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--passes") && i + 1 < argc) {
            passes = strtol(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            n_threads = 0;
            for (char *tok = strtok(argv[++i], ","); tok && n_threads < 16; tok = strtok(NULL, ","))
                threads[n_threads++] = atoi(tok);
        } else {
            fprintf(stderr, "bandwidth: unknown or incomplete option '%s' (see --help)\n", argv[i]);
            return 1;
        }
    }
    if (size_mib < 1 || size_mib > (1L << 20) || passes < 1 || passes > 1000 || n_threads < 1) {
        fprintf(stderr, "bandwidth: invalid --size, --passes or --threads\n");
        return 1;
    }
    if (n_rows < 0 || n_rows > 64 || row_bytes < 64 || row_bytes % 64 || row_bytes > (64u << 20) || pf_mode < 0) {
        fprintf(stderr, "bandwidth: invalid --rows (0-64), --row-bytes (a multiple of 64) or --prefetch\n");
        return 1;
    }
    for (int t = 0; t < n_threads; t++)
        if (threads[t] < 1 || threads[t] > 256) {
            fprintf(stderr, "bandwidth: invalid thread count %d\n", threads[t]);
            return 1;
        }
#if defined(__x86_64__)
    __builtin_cpu_init();
    use_avx2 = __builtin_cpu_supports("avx2");
#endif
    size_t bytes = (size_t)size_mib << 20;
    /* 2 MiB pages where the kernel gives them, as llama3c's weight mapping asks for: with 4 KiB
     * pages the same loop reads 10-30% slower here, and the bound would be set too low */
    uint64_t *buf = aligned_alloc(2u << 20, bytes);
    if (!buf) {
        fprintf(stderr, "bandwidth: cannot allocate %ld MiB\n", size_mib);
        return 1;
    }
#ifdef MADV_HUGEPAGE
    madvise(buf, bytes, MADV_HUGEPAGE);
#endif
    size_t words = bytes / 8;
    for (size_t i = 0; i < words; i++) buf[i] = i * 0x9E3779B97F4A7C15ull;  /* touch every page */
    printf("buffer %ld MiB, %ld passes, %s loads", size_mib, passes, use_avx2 ? "AVX2" : "scalar");
    if (n_rows)
        printf(", %d rows of %zu bytes side by side, prefetch %s", n_rows, row_bytes,
               pf_mode == 0 ? "none" : pf_mode == 1 ? "per row" : "ordered");
    printf("\n");
    double *gbps = malloc((size_t)passes * sizeof *gbps);
    for (int ti = 0; ti < n_threads; ti++) {
        int nt = threads[ti];
        job *jobs = calloc((size_t)nt, sizeof *jobs);
        pthread_t *tids = calloc((size_t)nt, sizeof *tids);
        size_t chunk = words / (size_t)nt / 32 * 32;  /* whole 256-byte groups per thread */
        if (n_rows) {  /* whole row groups, one group short of the end (the prefetch reads on) */
            const size_t grp = row_bytes / 8 * (size_t)n_rows;
            chunk = words > grp ? grp * ((words - grp) / (size_t)nt / grp) : 0;
            if (chunk == 0) {
                fprintf(stderr, "bandwidth: --size too small for %d threads of %d-row groups\n", nt, n_rows);
                return 1;
            }
        }
        for (long p = 0; p < passes; p++) {
            pthread_barrier_t start;
            pthread_barrier_init(&start, NULL, (unsigned)nt + 1);
            for (int t = 0; t < nt; t++) {
                jobs[t].p = buf + (size_t)t * chunk;
                jobs[t].n = chunk;
                jobs[t].start = &start;
                pthread_create(&tids[t], NULL, reader, &jobs[t]);
            }
            pthread_barrier_wait(&start);
            double t0 = now();
            for (int t = 0; t < nt; t++) pthread_join(tids[t], NULL);
            double dt = now() - t0;
            pthread_barrier_destroy(&start);
            gbps[p] = (double)chunk * 8 * nt / dt / 1e9;
        }
        qsort(gbps, (size_t)passes, sizeof *gbps, cmp);
        double best = gbps[passes - 1], median = gbps[passes / 2];
        printf("%d thread%s: best %.2f GB/s, median %.2f GB/s\n", nt, nt > 1 ? "s" : "", best, median);
        printf("bandwidth threads=%d best_gbps=%.3f median_gbps=%.3f\n", nt, best, median);
        free(jobs);
        free(tids);
    }
    free(gbps);
    free(buf);
    return 0;
}
