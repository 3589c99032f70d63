#include "backend/cpu/kernels/arm/features.h"

#include <pthread.h>
#include <stdio.h>
#include "backend/cpu/kernels/kernels.h"
#if defined(__linux__)
#include <sys/auxv.h>
#elif defined(__APPLE__)
#include <sys/sysctl.h>
#include <sys/types.h>
#endif

static l3_arm_features g_cpu;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

#if defined(__linux__)
/* Linux's arm64 hwcap bits (asm/hwcap.h), spelled out so older headers build too. */
#define HWCAP_ASIMD_ (1UL << 1)
#define HWCAP_FPHP_ (1UL << 9)
#define HWCAP_ASIMDHP_ (1UL << 10)
#define HWCAP_ASIMDDP_ (1UL << 20)
#define HWCAP_SVE_ (1UL << 22)
#define HWCAP2_I8MM_ (1UL << 13)

static void detect(void) {
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    g_cpu.neon = hw & HWCAP_ASIMD_;
    g_cpu.fp16 = (hw & HWCAP_FPHP_) && (hw & HWCAP_ASIMDHP_);
    g_cpu.dotprod = hw & HWCAP_ASIMDDP_;
    g_cpu.sve = hw & HWCAP_SVE_;
    g_cpu.i8mm = hw2 & HWCAP2_I8MM_;
}
#elif defined(__APPLE__)
static bool has(const char *name) {
    int v = 0;
    size_t n = sizeof v;
    return sysctlbyname(name, &v, &n, NULL, 0) == 0 && v;
}

static void detect(void) {
    g_cpu.neon = true;  /* every Apple arm64 CPU */
    g_cpu.fp16 = has("hw.optional.arm.FEAT_FP16");
    g_cpu.dotprod = has("hw.optional.arm.FEAT_DotProd");
    g_cpu.i8mm = has("hw.optional.arm.FEAT_I8MM");
}
#else
static void detect(void) {}
#endif

const l3_arm_features *l3_arm_cpu(void) {
    pthread_once(&g_once, detect);
    return &g_cpu;
}

void l3_arch_cpu_features(char *buf, size_t cap) {
    const l3_arm_features *c = l3_arm_cpu();
    snprintf(buf, cap, "%s%s%s%s%s", c->neon ? " neon" : "", c->fp16 ? " fp16" : "", c->dotprod ? " dotprod" : "",
             c->i8mm ? " i8mm" : "", c->sve ? " sve" : "");
}
