/* ARM's kernel sets, slowest first (neon, dotprod, i8mm are to come, each in its own folder
 * with its flags, probed by arm/features.c): until then the scalar set runs. */
#include "backend/cpu/kernels/kernels.h"

const l3_kernel_tier *l3_arch_kernel_tiers(int *n) {
    *n = 0;
    return NULL;
}
