/* KV-cache element types: names and sizes, whatever device holds the cache. */
#include "kv_types.h"

#include <string.h>
#include "tensor_types.h"
#include "util.h"

const char *llama3_kv_type_name(llama3_kv_type t) {
    switch (t) {
    case LLAMA3_KV_F16: return "f16";
    case LLAMA3_KV_F32: return "f32";
    case LLAMA3_KV_Q8_0: return "q8_0";
    }
    return NULL;
}

int llama3_kv_type_from_name(const char *name) {
    const char *n;
    for (int t = 0; name && (n = llama3_kv_type_name((llama3_kv_type)t)); t++)
        if (!strcmp(name, n)) return t;
    return -1;
}

size_t l3_kv_type_bytes(llama3_kv_type t, int64_t n) {
    switch (t) {
    case LLAMA3_KV_F16: return (size_t)n * 2;
    case LLAMA3_KV_F32: return (size_t)n * 4;
    case LLAMA3_KV_Q8_0: return n % L3_QK8_0 ? 0 : (size_t)(n / L3_QK8_0) * sizeof(l3_block_q8_0);
    }
    return 0;
}

int l3_kv_check_type(llama3_kv_type type, int head_dim, llama3_error *err) {
    const char *name = llama3_kv_type_name(type);
    if (!name) return l3_fail(err, LLAMA3_ERR_ARG, "unknown KV-cache type %d", (int)type);
    if (l3_kv_type_bytes(type, head_dim) == 0)
        return l3_fail(err, LLAMA3_ERR_ARG, "KV-cache type %s needs head_dim a multiple of %d (this model's is %d)",
                       name, L3_QK8_0, head_dim);
    return 0;
}
