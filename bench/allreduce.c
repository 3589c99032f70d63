/* All-reduce of float32 sums between the processes of an mpirun, osu_allreduce style: for each
 * size, the median time of many calls after a warm-up, and the bus bandwidth 2 (N-1)/N x bytes /
 * time (what a ring all-reduce moves per process). llama3c's forward pass does two all-reduces of
 * dim floats per layer and token, plus one after the embeddings (BENCHMARKS.md: the 70B model on
 * paper). usage: mpirun -np N bench/allreduce [--max-bytes B] [--iters K] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, n;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    long max_bytes = 64L << 20, iters = 200;
    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--max-bytes")) max_bytes = atol(argv[++i]);
        else if (!strcmp(argv[i], "--iters")) iters = atol(argv[++i]);
    }
    float *buf = malloc((size_t)max_bytes);
    double *t = malloc((size_t)iters * sizeof *t);
    if (!buf || !t || iters < 1) MPI_Abort(MPI_COMM_WORLD, 2);
    memset(buf, 0, (size_t)max_bytes);
    if (rank == 0) printf("# %d processes\n# bytes  median_us  busbw_GB/s\n", n);
    for (long bytes = 4; bytes <= max_bytes; bytes *= 2) {
        const int count = (int)(bytes / 4);
        const long k = bytes >= (8L << 20) ? (iters < 20 ? iters : 20) : iters;
        for (int w = 0; w < 5; w++) MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        for (long i = 0; i < k; i++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            t[i] = MPI_Wtime() - t0;
        }
        qsort(t, (size_t)k, sizeof *t, cmp_double);
        double med = t[k / 2], worst = med;
        MPI_Reduce(&med, &worst, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
        if (rank == 0)
            printf("%9ld %10.2f %11.3f\n", bytes, worst * 1e6, 2.0 * (n - 1) / n * (double)bytes / worst / 1e9);
    }
    free(buf);
    free(t);
    MPI_Finalize();
    return 0;
}
