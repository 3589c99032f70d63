/* x86's kernel sets, slowest first: dispatch.c walks them. */
#include "backend/cpu/kernels/x86/sets.h"

static const l3_kernel_tier g_tiers[] = {
    { "avx2", l3_kernels_init_avx2 },
    { "avx2vnni", l3_kernels_init_avx2vnni },
    { "avx512", l3_kernels_init_avx512 },
    { "amx", l3_kernels_init_amx },
};

const l3_kernel_tier *l3_arch_kernel_tiers(int *n) {
    *n = (int)(sizeof g_tiers / sizeof g_tiers[0]);
    return g_tiers;
}
