/* Relative L2 distance ||a - b|| / ||b|| of two files of float32 (the same count), e.g. the
 * logits of a model-parallel run against the same run in one process.
 * usage: f32_compare A B TOLERANCE   (exit 0 when within, 1 when not, 2 on a bad file) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static float *read_all(const char *path, long *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    rewind(f);
    float *x = bytes > 0 && bytes % 4 == 0 ? malloc((size_t)bytes) : NULL;
    if (x && fread(x, 1, (size_t)bytes, f) != (size_t)bytes) free(x), x = NULL;
    fclose(f);
    *n = bytes / 4;
    return x;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: f32_compare A B TOLERANCE\n"); return 2; }
    long na = 0, nb = 0;
    float *a = read_all(argv[1], &na), *b = read_all(argv[2], &nb);
    if (!a || !b || na != nb) { fprintf(stderr, "f32_compare: unreadable files or different sizes\n"); return 2; }
    double num = 0, den = 0;
    for (long i = 0; i < na; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    const double rel = sqrt(num / den), tol = atof(argv[3]);
    printf("%s: relative L2 %.3g (tolerance %.3g) over %ld values\n", rel <= tol ? "ok" : "FAIL", rel, tol, na);
    free(a), free(b);
    return rel <= tol ? 0 : 1;
}
