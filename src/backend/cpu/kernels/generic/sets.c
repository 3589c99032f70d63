/* Architectures without kernel sets of their own: the scalar set runs. */
#include "backend/cpu/kernels/kernels.h"

const l3_kernel_tier *l3_arch_kernel_tiers(int *n) {
    *n = 0;
    return NULL;
}

void l3_arch_cpu_features(char *buf, size_t cap) {
    if (cap) buf[0] = 0;
}
