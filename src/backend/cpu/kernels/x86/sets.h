/* The x86 kernel sets (each in its own folder, built with its own target flags). */
#ifndef LLAMA3_X86_SETS_H
#define LLAMA3_X86_SETS_H
#include "backend/cpu/kernels/kernels.h"

int l3_kernels_init_avx2(l3_kernel_set *k);      /* x86/avx2: AVX2 + FMA + F16C */
int l3_kernels_init_avx2vnni(l3_kernel_set *k);  /* x86/avx2vnni: the same with AVX-VNNI's 8-bit dots */
int l3_kernels_init_avx512(l3_kernel_set *k);    /* x86/avx512: AVX-512 F/BW/VL/DQ (VNNI, BF16, VBMI, GFNI used where present) */
int l3_kernels_init_amx(l3_kernel_set *k);       /* x86/amx: the avx512 set with its prompt tiles on AMX-INT8 */
/* the avx512 set's panel_from_group for columns c0..c1 of 16 rows of a group of type t (avx512.c) */
void l3_avx512_panel_cols(int t, const uint8_t *group, int r0, int64_t n, int64_t c0, int64_t c1, uint8_t *out);

#endif
