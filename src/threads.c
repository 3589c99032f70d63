#include "threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* How long an idle worker spins before sleeping: short enough not to steal a core from
 * other programs for long, long enough to cover the gap between two matmuls of a token. */
#define SPIN_ITERS 20000

/* A thread's share of the current job: items [lo, hi) packed in one word (lo in the low 32
 * bits), on a cache line of its own. */
typedef struct {
    _Alignas(64) atomic_ullong lohi;
    int64_t busy_ns;  /* (timing on) this thread's time inside fn, written by it alone */
} share;

struct l3_pool {
    int n;
    pthread_t *threads;
    share *shares;            /* one per thread */
    pthread_mutex_t mu;
    pthread_cond_t wake;
    atomic_uint generation;   /* bumped for each job */
    atomic_int stop;
    /* the current job */
    l3_task_fn fn;
    void *ctx;
    int64_t grain;
    atomic_int busy;          /* workers still inside the job */
    /* the profiler's accounting (l3_pool_set_timing); written by the calling thread only */
    int timing;
    l3_pool_times times;
};

const int L3_POOL_AT[L3_POOL_AT_N] = { 16, 64 };

static uint64_t lohi(int64_t lo, int64_t hi) { return (uint64_t)lo | (uint64_t)hi << 32; }

/* Takes a chunk of whole grains from share t, from its front (its owner) or its back (another
 * thread): the owner takes an eighth of what is left, a thief half. Returns 0 once empty. */
static int take(l3_pool *p, int t, int front, int64_t *s, int64_t *e) {
    atomic_ullong *r = &p->shares[t].lohi;
    unsigned long long v = atomic_load_explicit(r, memory_order_relaxed);  /* atomic_ullong's type: uint64_t may be unsigned long */
    for (;;) {
        const int64_t lo = (int64_t)(v & 0xffffffffu), hi = (int64_t)(v >> 32), left = hi - lo;
        if (left <= 0) return 0;
        int64_t c = left / (front ? 8 : 2);
        c = c < p->grain ? p->grain : c - c % p->grain;
        if (c > left) c = left;
        /* the split point on a whole grain (lo is on one; hi may be the end of the items) */
        const int64_t m = front ? lo + c : (hi - c) - (hi - c) % p->grain;
        if (atomic_compare_exchange_weak(r, &v, front ? lohi(m, hi) : lohi(lo, m))) {
            *s = front ? lo : m, *e = front ? m : hi;
            return 1;
        }
    }
}

/* Each thread runs its own contiguous share front to back, then takes the back halves of
 * the others' that are left (a descheduled thread's work is not waited for). Contiguous
 * shares keep one weight stream per thread in decode, which reads memory faster than chunks
 * claimed in turn from one counter (BENCHMARKS.md). */
/* (the calling thread, between jobs: every worker's busy_ns is settled) */
static int64_t busy_sum(const l3_pool *p) {
    int64_t b = 0;
    for (int t = 0; t < p->n; t++) b += p->shares[t].busy_ns;
    return b;
}

static void run_chunk(l3_pool *p, int64_t s, int64_t e, int thread, int timing) {
    if (!timing) {
        p->fn(p->ctx, s, e, thread);
        return;
    }
    const int64_t t0 = l3_time_ns();
    p->fn(p->ctx, s, e, thread);
    p->shares[thread].busy_ns += l3_time_ns() - t0;
}
static void run_chunks(l3_pool *p, int thread) {
    const int timing = p->timing;
    int64_t s, e;
    while (take(p, thread, 1, &s, &e)) run_chunk(p, s, e, thread, timing);
    for (int k = 1; k < p->n; k++)
        while (take(p, (thread + k) % p->n, 0, &s, &e)) run_chunk(p, s, e, thread, timing);
}

typedef struct { l3_pool *p; int id; } worker_arg;

static void *worker(void *arg) {
    worker_arg wa = *(worker_arg *)arg;
    free(arg);
    l3_pool *p = wa.p;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen && !atomic_load(&p->stop)) {
            if (++spins < SPIN_ITERS) {
                if (spins % 1024 == 0) sched_yield();
                else CPU_RELAX();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->generation) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->wake, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = g;
        run_chunks(p, wa.id);
        atomic_fetch_sub_explicit(&p->busy, 1, memory_order_release);
    }
}

l3_pool *l3_pool_new(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    l3_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    p->shares = aligned_alloc(_Alignof(share), (size_t)n_threads * sizeof *p->shares);
    if (!p->threads || !p->shares) { free(p->threads); free(p->shares); free(p); return NULL; }
    memset(p->shares, 0, (size_t)n_threads * sizeof *p->shares);
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) { p->n = i; break; }
        wa->p = p;
        wa->id = i;
        if (pthread_create(&p->threads[i], NULL, worker, wa) != 0) { free(wa); p->n = i; break; }
    }
    return p;
}

void l3_pool_free(l3_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    free(p->threads);
    free(p->shares);
    free(p);
}

int l3_pool_size(const l3_pool *p) { return p ? p->n : 1; }

void l3_parallel_for(l3_pool *p, int64_t n, int64_t grain, l3_task_fn fn, void *ctx) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (!p || p->n == 1 || n <= grain || n > INT32_MAX) {  /* (shares hold 32-bit bounds) */
        if (!p || !p->timing) {
            fn(ctx, 0, n, 0);
            return;
        }
        const int64_t t0 = l3_time_ns();
        fn(ctx, 0, n, 0);
        p->times.inline_ns += l3_time_ns() - t0;
        return;
    }
    const int64_t t0 = p->timing ? l3_time_ns() : 0, busy0 = p->timing ? busy_sum(p) : 0;
    p->fn = fn;
    p->ctx = ctx;
    p->grain = grain;
    for (int t = 0; t < p->n; t++) {  /* even shares, split at whole grains */
        const int64_t lo = n * t / p->n, hi = n * (t + 1) / p->n;
        atomic_store_explicit(&p->shares[t].lohi, lohi(t ? lo - lo % grain : 0, t + 1 < p->n ? hi - hi % grain : n),
                              memory_order_relaxed);
    }
    atomic_store(&p->busy, p->n - 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    run_chunks(p, 0);
    /* Spin for the stragglers, yielding the core now and then: on a busy machine a worker may
     * be descheduled, and pure spinning would then burn our whole time slice. */
    for (int spins = 0; atomic_load_explicit(&p->busy, memory_order_acquire) > 0; spins++) {
        if (spins < 2000) CPU_RELAX();
        else sched_yield();
    }
    if (p->timing) {
        p->times.region_ns += l3_time_ns() - t0, p->times.regions++;
        const int64_t busy = busy_sum(p) - busy0, grains = (n + grain - 1) / grain;
        for (int k = 0; k < L3_POOL_AT_N; k++) p->times.at_ns[k] += (double)busy / (grains < L3_POOL_AT[k] ? grains : L3_POOL_AT[k]);
    }
}

/* (between jobs: the workers are waiting, their busy_ns settled by the acquire on busy) */
void l3_pool_set_timing(l3_pool *p, int on) {
    if (!p) return;
    p->timing = on;
    memset(&p->times, 0, sizeof p->times);
    for (int t = 0; t < p->n; t++) p->shares[t].busy_ns = 0;
}

void l3_pool_get_times(const l3_pool *p, l3_pool_times *out) {
    memset(out, 0, sizeof *out);
    if (!p) return;
    *out = p->times;
    out->busy_ns = busy_sum(p);
}

int l3_physical_cores(void) {
    /* Count distinct (physical id, core id) pairs in /proc/cpuinfo. */
    FILE *f = fopen("/proc/cpuinfo", "r");
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online < 1) online = 1;
    if (!f) return (int)online;
    char line[256];
    int phys = -1, n = 0;
    int pairs[1024][2];
    while (fgets(line, sizeof line, f)) {
        int v;
        if (sscanf(line, "physical id : %d", &v) == 1) phys = v;
        else if (sscanf(line, "core id : %d", &v) == 1) {
            int seen = 0;
            for (int i = 0; i < n; i++)
                if (pairs[i][0] == phys && pairs[i][1] == v) seen = 1;
            if (!seen && n < 1024) { pairs[n][0] = phys; pairs[n][1] = v; n++; }
        }
    }
    fclose(f);
    return n > 0 && n <= online ? n : (int)online;
}
