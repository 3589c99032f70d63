/* The ARM kernel sets (each in its own folder, built with its own target flags). */
#ifndef LLAMA3_ARM_SETS_H
#define LLAMA3_ARM_SETS_H
#include "backend/cpu/kernels/kernels.h"

int l3_kernels_init_neon(l3_kernel_set *k);     /* arm/neon: Advanced SIMD (ARMv8.0) */
int l3_kernels_init_dotprod(l3_kernel_set *k);  /* arm/dotprod: the same with sdot for the 8-bit dots (ARMv8.2 DotProd) */
int l3_kernels_init_i8mm(l3_kernel_set *k);     /* arm/i8mm: dotprod, and usmmla for the prompt tile product (FEAT_I8MM) */

#endif
