/* Picks the best kernel set for this CPU once; LLAMA3_ISA overrides (for tests). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

/* The faster sets, in order: each starts as a copy of the one before it (the scalar set
 * first), overrides what it implements, and is kept if this CPU can run it. */
static const struct {
    const char *name;
    int (*init)(l3_kernel_set *k);
} g_tiers[] = { { "avx2", l3_kernels_init_avx2 },
                { "avx2vnni", l3_kernels_init_avx2vnni },
                { "avx512", l3_kernels_init_avx512 } };
enum { N_SETS = 1 + sizeof g_tiers / sizeof g_tiers[0] };
static l3_kernel_set g_sets[N_SETS];
static const char *g_names[N_SETS];
static int g_n;
static const l3_kernel_set *g_current;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init(void) {
    l3_kernels_init_scalar(&g_sets[0]);
    g_names[g_n++] = "scalar";
    for (size_t i = 0; i < sizeof g_tiers / sizeof g_tiers[0]; i++) {
        g_sets[g_n] = g_sets[g_n - 1];
        if (g_tiers[i].init(&g_sets[g_n])) g_names[g_n++] = g_tiers[i].name;
    }
    g_current = &g_sets[g_n - 1];
    const char *i8 = getenv("LLAMA3_INT8");  /* 0: keep f32 activations everywhere (for comparisons) */
    if (i8 && strcmp(i8, "0") == 0)
        for (int i = 0; i < g_n; i++) g_sets[i].use_q8 = 0;
    const char *env = getenv("LLAMA3_ISA");
    if (env && *env) {
        for (int i = 0; i < g_n; i++)
            if (strcmp(g_names[i], env) == 0) g_current = &g_sets[i];
    }
}

const l3_kernel_set *l3_kernels(void) {
    pthread_once(&g_once, init);
    return g_current;
}

int l3_kernels_select(const char *isa) {
    pthread_once(&g_once, init);
    for (int i = 0; i < g_n; i++)
        if (strcmp(g_names[i], isa) == 0) { g_current = &g_sets[i]; return 0; }
    return -1;
}

int l3_kernels_available(const char **names, int cap) {
    pthread_once(&g_once, init);
    for (int i = 0; i < g_n && i < cap; i++) names[i] = g_names[i];
    return g_n;
}
