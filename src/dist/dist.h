/* Communication between the processes of a model-parallel run (mpirun -np N): what the
 * forward pass and the session need, and nothing more. One implementation per build: MPI
 * (dist_mpi.c, when LLAMA3_MPI is on) or one process (dist_local.c). With one process every
 * call returns at once, so the forward pass is the same text either way. The library never
 * calls a communication library anywhere else, so NCCL (for GPUs) can stand beside MPI. */
#ifndef LLAMA3_DIST_H
#define LLAMA3_DIST_H

#include <stddef.h>
#include <stdint.h>
#include "llama3.h"

typedef struct l3_dist l3_dist;

/* This process's group: every process of the launch (MPI's world), or this process alone when
 * the build has no MPI or the program was not started by mpirun. Initialised on first use. */
l3_dist *l3_dist_world(void);
int l3_dist_rank(const l3_dist *d);
int l3_dist_size(const l3_dist *d);

/* All of these are collective: every process calls them, in the same order. */
/* buf[0..bytes) of rank 0 to every rank */
void l3_dist_bcast(l3_dist *d, void *buf, size_t bytes);
/* buf[0..n) = the sum over ranks of each rank's buf */
void l3_dist_allreduce_sum(l3_dist *d, float *buf, size_t n);
/* The largest of the ranks' values (ranks agree on a status). */
int l3_dist_allreduce_max(l3_dist *d, int v);
/* Rank 0 receives every rank's send[0..bytes) into recv[rank * bytes ...]; recv is ignored on
 * the other ranks. */
void l3_dist_gather(l3_dist *d, const void *send, size_t bytes, void *recv);
/* A step every process took: its status rc here becomes 0 everywhere when it went well
 * everywhere. Rank 0 reports a failure (its own, or "another process of the N could not
 * <what>"); another process reports its own unless rank 0 failed too, and is otherwise silent
 * (an error with an empty message). With one process: rc. */
int l3_dist_agree(l3_dist *d, int rc, const char *what, llama3_error *err);
/* "MPI (Open MPI 4.1.4)" or "none": for --version and info */
const char *l3_dist_name(void);

#endif
