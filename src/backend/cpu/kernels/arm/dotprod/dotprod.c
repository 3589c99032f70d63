/* The "dotprod" kernel set: neon.c built again with ARMv8.2's sdot for its 8-bit dot products
 * (compiled with +dotprod; used only when the CPU reports DotProd). */
#define L3_ARM_DOTPROD 1
#include "../neon/neon.c"
