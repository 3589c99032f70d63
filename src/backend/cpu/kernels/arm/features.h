/* ARM CPU features: from the kernel's hardware capabilities on Linux (getauxval), from
 * sysctl on macOS. */
#ifndef LLAMA3_ARM_FEATURES_H
#define LLAMA3_ARM_FEATURES_H
#include <stdbool.h>

typedef struct l3_arm_features {
    bool neon;     /* Advanced SIMD (every ARMv8-A CPU) */
    bool fp16;     /* half-precision arithmetic (ARMv8.2 FEAT_FP16) */
    bool dotprod;  /* sdot / udot (ARMv8.2 FEAT_DotProd) */
    bool i8mm;     /* smmla / ummla (ARMv8.6 FEAT_I8MM) */
    bool sve;
} l3_arm_features;

const l3_arm_features *l3_arm_cpu(void);

#endif
