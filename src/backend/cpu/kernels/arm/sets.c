/* ARM's kernel sets, slowest first: dispatch.c walks them (arm/features.c probes the CPU). */
#include "backend/cpu/kernels/arm/sets.h"

static const l3_kernel_tier g_tiers[] = {
    { "neon", l3_kernels_init_neon },
    { "dotprod", l3_kernels_init_dotprod },
    { "i8mm", l3_kernels_init_i8mm },
};

const l3_kernel_tier *l3_arch_kernel_tiers(int *n) {
    *n = (int)(sizeof g_tiers / sizeof g_tiers[0]);
    return g_tiers;
}
