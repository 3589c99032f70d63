/* The "i8mm" kernel set: the dotprod set with FEAT_I8MM's usmmla (2x8 by 8x2 unsigned x signed
 * 8-bit matrix products) for the prompt tile product, which then also takes Q8_0's panels
 * (values up to 255); compiled with +dotprod+i8mm, used only when the CPU reports both. */
#define L3_ARM_DOTPROD 1
#define L3_ARM_I8MM 1
#include "../neon/neon.c"
