/* A persistent thread pool: workers are created once and wait (spin briefly, then sleep)
 * for the next parallel-for. The calling thread takes part in every job. */
#ifndef LLAMA3_THREADS_H
#define LLAMA3_THREADS_H
#include <stdint.h>

typedef struct l3_pool l3_pool;
/* fn processes items [start, end); thread is 0..n_threads-1 (for per-thread scratch). */
typedef void (*l3_task_fn)(void *ctx, int64_t start, int64_t end, int thread);

l3_pool *l3_pool_new(int n_threads);
void l3_pool_free(l3_pool *p);
int l3_pool_size(const l3_pool *p);
/* Runs fn over [0, n) in chunks of at least `grain` items; returns when all are done. */
void l3_parallel_for(l3_pool *p, int64_t n, int64_t grain, l3_task_fn fn, void *ctx);
/* Time accounting for the profiler (off by default; on, it costs two clock reads per chunk):
 * region_ns: wall time inside parallel-fors that ran on more than one thread; busy_ns: time
 * the threads spent inside fn in them, summed over threads; inline_ns: parallel-fors too small
 * to split (n <= grain), run on the calling thread alone. at_ns[k]: what the split ones would
 * take on L3_POOL_AT[k] threads, each one's work spread evenly over at most as many threads
 * as it has grains (a job of 32 grains keeps 32 of 64 threads busy), no overhead counted. */
#define L3_POOL_AT_N 2
extern const int L3_POOL_AT[L3_POOL_AT_N];  /* 16, 64 */
typedef struct l3_pool_times {
    int64_t region_ns, busy_ns, inline_ns, regions;
    double at_ns[L3_POOL_AT_N];
} l3_pool_times;
void l3_pool_set_timing(l3_pool *p, int on);
void l3_pool_get_times(const l3_pool *p, l3_pool_times *out);
/* Number of physical cores (falls back to online CPUs). */
int l3_physical_cores(void);

#endif
