/* dist.h over MPI: the processes mpirun started form the group (MPI_COMM_WORLD, duplicated so
 * the library's traffic never mixes with a caller's). MPI is initialised on first use, and
 * only when this process was started by mpirun (its launcher's environment); a program run
 * alone is a group of one and never touches MPI. Collectives run on the thread that calls the
 * forward pass (the server's model thread, say), one at a time: MPI_THREAD_SERIALIZED. */
#include "dist/dist.h"

#include <limits.h>
#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct l3_dist {
    MPI_Comm comm;
    int rank, size;
};

static l3_dist g_world = { MPI_COMM_NULL, 0, 1 };
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static int started_by_mpirun(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK") || getenv("PMI_SIZE");
}

static void finalize(void) {
    int done = 0;
    MPI_Finalized(&done);
    if (!done) MPI_Finalize();
}

static void init(void) {
    if (!started_by_mpirun()) return;
    int provided;
    MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided);
    atexit(finalize);
    MPI_Comm_dup(MPI_COMM_WORLD, &g_world.comm);
    MPI_Comm_rank(g_world.comm, &g_world.rank);
    MPI_Comm_size(g_world.comm, &g_world.size);
}

l3_dist *l3_dist_world(void) {
    pthread_once(&g_once, init);
    return &g_world;
}

int l3_dist_rank(const l3_dist *d) { return d->rank; }
int l3_dist_size(const l3_dist *d) { return d->size; }

/* MPI counts are ints: big buffers go in pieces */
#define PIECE ((size_t)1 << 30)

void l3_dist_bcast(l3_dist *d, void *buf, size_t bytes) {
    if (d->size == 1) return;
    for (size_t at = 0; at < bytes; at += PIECE)
        MPI_Bcast((char *)buf + at, (int)(bytes - at < PIECE ? bytes - at : PIECE), MPI_BYTE, 0, d->comm);
}

void l3_dist_allreduce_sum(l3_dist *d, float *buf, size_t n) {
    if (d->size == 1) return;
    for (size_t at = 0; at < n; at += PIECE)
        MPI_Allreduce(MPI_IN_PLACE, buf + at, (int)(n - at < PIECE ? n - at : PIECE), MPI_FLOAT, MPI_SUM, d->comm);
}

int l3_dist_allreduce_max(l3_dist *d, int v) {
    if (d->size == 1) return v;
    int out = v;
    MPI_Allreduce(&v, &out, 1, MPI_INT, MPI_MAX, d->comm);
    return out;
}

void l3_dist_gather(l3_dist *d, const void *send, size_t bytes, void *recv) {
    if (d->size == 1) {
        if (recv != send) memcpy(recv, send, bytes);
        return;
    }
    /* (one gathered block stays under 2 GiB: logits rows of one pass) */
    MPI_Gather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, 0, d->comm);
}

const char *l3_dist_name(void) {
    static char name[MPI_MAX_LIBRARY_VERSION_STRING + 8];
    if (!name[0]) {
        char v[MPI_MAX_LIBRARY_VERSION_STRING];
        int len = 0;
        MPI_Get_library_version(v, &len);
        v[strcspn(v, ",\n")] = 0;
        snprintf(name, sizeof name, "MPI (%s)", v);
    }
    return name;
}
