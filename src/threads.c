#include "threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* How long an idle worker spins before sleeping: short enough not to steal a core from
 * other programs for long, long enough to cover the gap between two matmuls of a token. */
#define SPIN_ITERS 20000

struct l3_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    atomic_uint generation;   /* bumped for each job */
    atomic_int stop;
    /* the current job */
    l3_task_fn fn;
    void *ctx;
    int64_t total, grain;
    atomic_llong next;        /* next unclaimed item */
    atomic_int busy;          /* workers still inside the job */
};

/* Guided self-scheduling: each claim takes half of an even share of what is left (at least
 * grain items), so the first chunks are long and contiguous and the last ones short, and the
 * threads finish within a short chunk of each other. */
static void run_chunks(l3_pool *p, int thread) {
    int64_t s = atomic_load_explicit(&p->next, memory_order_relaxed);
    for (;;) {
        if (s >= p->total) break;
        int64_t c = (p->total - s) / (2 * p->n);
        if (c < p->grain) c = p->grain;
        if (!atomic_compare_exchange_weak(&p->next, &s, s + c)) continue;  /* s reloaded */
        const int64_t e = s + c < p->total ? s + c : p->total;
        p->fn(p->ctx, s, e, thread);
        s = atomic_load_explicit(&p->next, memory_order_relaxed);
    }
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
    if (!p->threads) { free(p); return NULL; }
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
    free(p);
}

int l3_pool_size(const l3_pool *p) { return p ? p->n : 1; }

void l3_parallel_for(l3_pool *p, int64_t n, int64_t grain, l3_task_fn fn, void *ctx) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (!p || p->n == 1 || n <= grain) {
        fn(ctx, 0, n, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->total = n;
    p->grain = grain;
    atomic_store(&p->next, 0);
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
