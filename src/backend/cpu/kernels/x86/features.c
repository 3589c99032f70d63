/* x86 CPU features (features.h). */
#include "backend/cpu/kernels/x86/features.h"
#include "backend/cpu/kernels/kernels.h"

#include <cpuid.h>
#include <pthread.h>
#include <stdio.h>
#ifdef __linux__
#include <sys/syscall.h>
#include <unistd.h>
#endif

static l3_cpu_features g_cpu;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static unsigned long long xgetbv0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static void detect(void) {
    unsigned int a, b, c, d;
    if (__get_cpuid(0, &a, &b, &c, &d)) g_cpu.intel = b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e;  /* "Genu" "ineI" "ntel" */
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    bool osxsave = c & (1u << 27), avx = c & (1u << 28);
    bool fma = c & (1u << 12), f16c = c & (1u << 29);
    unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
    bool ymm_os = (xcr0 & 0x6) == 0x6;            /* SSE + AVX state */
    bool zmm_os = ymm_os && (xcr0 & 0xe0) == 0xe0; /* opmask + upper ZMM state */
    if (!avx || !ymm_os) return;
    g_cpu.fma = fma;
    g_cpu.f16c = f16c;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    g_cpu.avx2 = b & (1u << 5);
    if (zmm_os) {
        g_cpu.avx512f = b & (1u << 16);
        g_cpu.avx512dq = b & (1u << 17);
        g_cpu.avx512bw = b & (1u << 30);
        g_cpu.avx512vl = b & (1u << 31);
        g_cpu.avx512vnni = c & (1u << 11);
        g_cpu.avx512vbmi = c & (1u << 1);
        g_cpu.gfni = c & (1u << 8);
        /* AMX-TILE and AMX-INT8, with the tile configuration and data in XCR0; Linux hands
         * the tile state to a process only on request (arch_prctl ARCH_REQ_XCOMP_PERM, for
         * XFEATURE_XTILEDATA = 18) */
        if ((d & (3u << 24)) == (3u << 24) && (xcr0 & (3ull << 17)) == (3ull << 17)) {
#ifdef __linux__
            g_cpu.amx_int8 = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#endif
        }
    }
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) {
        g_cpu.avxvnni = a & (1u << 4);  /* VEX-encoded VNNI on 256-bit vectors */
        if (zmm_os) g_cpu.avx512bf16 = a & (1u << 5);
    }
}

const l3_cpu_features *l3_cpu(void) {
    pthread_once(&g_once, detect);
    return &g_cpu;
}

void l3_arch_cpu_features(char *buf, size_t cap) {
    const l3_cpu_features *c = l3_cpu();
    const struct { bool on; const char *name; } f[] = {
        { c->avx2, "avx2" },       { c->fma, "fma" },           { c->f16c, "f16c" },         { c->avxvnni, "avx-vnni" },
        { c->avx512f, "avx512f" }, { c->avx512bw, "avx512bw" }, { c->avx512vl, "avx512vl" }, { c->avx512dq, "avx512dq" },
        { c->avx512vnni, "avx512vnni" }, { c->avx512bf16, "avx512bf16" }, { c->avx512vbmi, "avx512vbmi" },
        { c->gfni, "gfni" },       { c->amx_int8, "amx-int8" },
    };
    size_t n = 0;
    if (cap) buf[0] = 0;
    for (size_t i = 0; i < sizeof f / sizeof f[0] && n < cap; i++)
        if (f[i].on) n += (size_t)snprintf(buf + n, cap - n, " %s", f[i].name);
}
