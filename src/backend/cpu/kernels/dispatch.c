/* Picks the best kernel set for this CPU once, walking the table of the architecture this
 * build targets; LLAMA3_ISA overrides (for tests). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/kernels/kernels.h"

#define MAX_SETS 8  /* the scalar set and up to 7 faster ones */
static l3_kernel_set g_sets[MAX_SETS];
static const char *g_names[MAX_SETS];
static int g_n;
static const l3_kernel_set *g_current;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init(void) {
    l3_kernels_init_scalar(&g_sets[0]);
    g_names[g_n++] = "scalar";
    /* each faster set starts as a copy of the one before it, and is kept if this CPU runs it */
    int n_tiers;
    const l3_kernel_tier *tiers = l3_arch_kernel_tiers(&n_tiers);
    for (int i = 0; i < n_tiers && g_n < MAX_SETS; i++) {
        g_sets[g_n] = g_sets[g_n - 1];
        if (tiers[i].init(&g_sets[g_n])) g_names[g_n++] = tiers[i].name;
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

const char *llama3_cpu_info(void) {
    static char info[512];
    pthread_once(&g_once, init);
    size_t n = 0;
    for (int i = 0; i < g_n && n < sizeof info; i++)
        n += (size_t)snprintf(info + n, sizeof info - n, "%s%s", i ? " " : "", g_names[i]);
    if (n < sizeof info) n += (size_t)snprintf(info + n, sizeof info - n, " (in use: %s; cpu:", g_current->isa);
    if (n < sizeof info) l3_arch_cpu_features(info + n, sizeof info - n);
    n = strlen(info);
    if (n + 1 < sizeof info) info[n] = ')', info[n + 1] = 0;
    return info;
}
