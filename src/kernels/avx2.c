/* AVX2 + FMA + F16C kernel set (compiled with those flags; used only when the CPU has them). */
#include "kernels/kernels.h"

int l3_kernels_init_avx2(l3_kernel_set *k) {
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 0;
    k->isa = "avx2";
    return 1;
}
