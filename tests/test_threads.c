/* The thread pool's parallel-for: every item runs exactly once, in chunks of whole grains
 * (a chunk may end short only at n: a decode kernel's runs stay whole), and a thread that
 * does not show up has its share taken over by the others rather than waited for. */
#define _POSIX_C_SOURCE 200809L  /* nanosleep */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "threads.h"

typedef struct {
    int64_t n, grain;
    atomic_int *count;   /* runs of each item */
    atomic_int *by;      /* thread that ran each item */
    atomic_int misaligned;
    int sleeper;         /* this thread sleeps before its first chunk (-1: none) */
    atomic_int slept;
} job;

static void task(void *ctx, int64_t s, int64_t e, int thread) {
    job *j = ctx;
    if (thread == j->sleeper && !atomic_exchange(&j->slept, 1)) {
        struct timespec ts = { 0, 200 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    if (s % j->grain != 0 || (e % j->grain != 0 && e != j->n) || s >= e) atomic_fetch_add(&j->misaligned, 1);
    for (int64_t i = s; i < e; i++) {
        atomic_fetch_add(&j->count[i], 1);
        atomic_store(&j->by[i], thread);
    }
}

static void run(l3_pool *p, int64_t n, int64_t grain, int sleeper) {
    job j = { .n = n, .grain = grain, .sleeper = sleeper };
    j.count = calloc((size_t)n + 1, sizeof *j.count);
    j.by = calloc((size_t)n + 1, sizeof *j.by);
    l3_parallel_for(p, n, grain, task, &j);
    int bad = 0;
    for (int64_t i = 0; i < n; i++) bad += atomic_load(&j.count[i]) != 1;
    CHECK(bad == 0, "%d threads, n %lld, grain %lld: %d items not run exactly once", l3_pool_size(p), (long long)n,
          (long long)grain, bad);
    CHECK(atomic_load(&j.misaligned) == 0, "%d threads, n %lld, grain %lld: chunks not at whole grains",
          l3_pool_size(p), (long long)n, (long long)grain);
    if (sleeper >= 0 && n >= 64 * grain) {
        /* the sleeper's share (its second half at least) went to the threads that were there */
        const int64_t lo = n * sleeper / l3_pool_size(p), hi = n * (sleeper + 1) / l3_pool_size(p);
        int64_t taken = 0;
        for (int64_t i = (lo + hi) / 2; i < hi; i++) taken += atomic_load(&j.by[i]) != sleeper;
        CHECK(taken > 0, "%d threads, n %lld: a sleeping thread's share was waited for, not taken over",
              l3_pool_size(p), (long long)n);
    }
    free(j.count);
    free(j.by);
}

int main(void) {
    static const int threads[] = { 1, 2, 3, 5 };
    static const int64_t ns[] = { 0, 1, 7, 24, 25, 100, 1000, 4097, 20000 };
    static const int64_t grains[] = { 1, 4, 24, 1000 };
    for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
        l3_pool *p = l3_pool_new(threads[t]);
        CHECK(p != NULL, "pool of %d", threads[t]);
        for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
            for (size_t g = 0; g < sizeof grains / sizeof *grains; g++) run(p, ns[a], grains[g], -1);
        if (threads[t] > 1)
            for (int s = 0; s < threads[t]; s++) run(p, 20000, 8, s);
        l3_pool_free(p);
    }
    if (!check_failures) printf("all thread pool tests passed\n");
    return check_failures != 0;
}
