/* AVX-512 (F, BW, VL, VNNI, BF16) kernel set. */
#include "kernels/kernels.h"

int l3_kernels_init_avx512(l3_kernel_set *k) {
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw")) return 0;
    k->isa = "avx512";
    return 1;
}
