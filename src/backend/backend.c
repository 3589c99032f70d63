/* Choosing a backend by device name (--device), and what every backend shares. */
#include "backend/backend.h"

#include <stdlib.h>
#include <string.h>
#include "util.h"

int64_t l3_act_width(l3_act a, const llama3_args *args) {
    switch (a) {
    case L3_ACT_X:
    case L3_ACT_XB: return args->dim;
    case L3_ACT_Q:
    case L3_ACT_ATT: return (int64_t)args->n_heads * args->head_dim;
    case L3_ACT_K:
    case L3_ACT_V: return (int64_t)args->n_kv_heads * args->head_dim;
    case L3_ACT_H1:
    case L3_ACT_H3: return args->hidden_dim;
    case L3_ACT_COUNT: break;
    }
    return 0;
}

/* "name" or "name:N" (N a device index, 0..999) */
static int parse(const char *device, char *name, size_t cap, int *index) {
    const char *colon = strchr(device, ':');
    size_t n = colon ? (size_t)(colon - device) : strlen(device);
    if (n == 0 || n >= cap) return -1;
    memcpy(name, device, n);
    name[n] = 0;
    *index = 0;
    if (!colon) return 0;
    char *end;
    long i = strtol(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end || i > 999) return -1;
    *index = (int)i;
    return 0;
}

int l3_backend_find(const char *device, const l3_backend **be, int *index, llama3_error *err) {
    char name[16];
    if (!device || !*device) device = "cpu";
    if (parse(device, name, sizeof name, index) != 0)
        return l3_fail(err, LLAMA3_ERR_ARG, "device '%s': expected cpu or cuda[:N]", device);
    if (!strcmp(name, "cpu")) {
        if (*index != 0) return l3_fail(err, LLAMA3_ERR_ARG, "device '%s': there is one CPU device (cpu)", device);
        *be = &l3_backend_cpu;
        return 0;
    }
    if (!strcmp(name, "cuda"))
        return l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "device '%s': this build has no CUDA backend (only cpu)", device);
    return l3_fail(err, LLAMA3_ERR_ARG, "unknown device '%s' (expected cpu or cuda[:N])", device);
}
