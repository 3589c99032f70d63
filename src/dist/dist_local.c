/* dist.h for a build without MPI: one process, every collective returns at once. */
#include "dist/dist.h"

#include <string.h>

struct l3_dist { int unused; };
static l3_dist g_world;

l3_dist *l3_dist_world(void) { return &g_world; }
int l3_dist_rank(const l3_dist *d) { (void)d; return 0; }
int l3_dist_size(const l3_dist *d) { (void)d; return 1; }
void l3_dist_bcast(l3_dist *d, void *buf, size_t bytes) { (void)d, (void)buf, (void)bytes; }
void l3_dist_allreduce_sum(l3_dist *d, float *buf, size_t n) { (void)d, (void)buf, (void)n; }
int l3_dist_allreduce_max(l3_dist *d, int v) { (void)d; return v; }
void l3_dist_gather(l3_dist *d, const void *send, size_t bytes, void *recv) {
    (void)d;
    if (recv != send) memcpy(recv, send, bytes);
}
const char *l3_dist_name(void) { return "none"; }
