/* The "avx2vnni" kernel set: avx2.c built again with AVX-VNNI's vpdpbusd for its 8-bit dot
 * products (compiled with -mavxvnni; used only when the CPU reports AVX-VNNI). */
#define L3_AVX2_VNNI 1
#include "../avx2/avx2.c"
