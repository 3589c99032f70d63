/* CPU feature detection with cpuid + xgetbv (the OS must save the wider registers too).
 * Used instead of __builtin_cpu_supports, whose feature names differ between compilers. */
#ifndef LLAMA3_CPU_FEATURES_H
#define LLAMA3_CPU_FEATURES_H
#include <stdbool.h>

typedef struct l3_cpu_features {
    bool avx2, fma, f16c, avxvnni;                 /* with OS support for 256-bit state */
    bool avx512f, avx512bw, avx512vl, avx512dq;    /* with OS support for 512-bit state */
    bool avx512vnni, avx512bf16, avx512vbmi;
    bool gfni;                                     /* (on 512-bit vectors: with avx512f) */
    bool intel;                                    /* vendor GenuineIntel (a prefetch policy, q8_simd.h) */
    bool amx_int8;                                 /* AMX tiles with 8-bit products, the OS saving them and (Linux) granting this process their state */
} l3_cpu_features;

const l3_cpu_features *l3_cpu(void);

#endif
