/* The CPU backend's own state (one room: src/backend/cpu/): the weights stay where the file
 * maps them, norms are widened to float32 once, and a session holds its KV cache, scratch
 * and the pass being run. Only this folder includes the kernel headers. */
#ifndef LLAMA3_CPU_BACKEND_H
#define LLAMA3_CPU_BACKEND_H

#include "backend/backend.h"
#include "backend/cpu/kernels/kernels.h"
#include "backend/cpu/kv_cache.h"
#include "backend/cpu/scratch.h"
#include "threads.h"

typedef struct cpu_model {
    l3_backend_model base;
    const l3_kernel_set *k;  /* the kernel set this model runs on (LLAMA3_ISA or the CPU's best) */
    /* norm weights widened to float32 (formats store them as f32, bf16 or f16) */
    float *attention_norm;   /* [n_layers x dim] */
    float *ffn_norm;         /* [n_layers x dim] */
    float *norm;             /* [dim] */
    float *rope_freqs;       /* [head_dim / 2] */
    /* matrices copied into the kernel set's row groups (kernels.h group_rows), per tensor
     * [(layer, or n_layers for the global ones) * L3_TENSOR_COUNT + id]; NULL entries (or
     * all: groups NULL) keep the file's layout; they lie in one anonymous mapping */
    const void **groups;
    void *groups_map;
    size_t groups_map_bytes;
} cpu_model;

/* the row groups of a matrix, or NULL */
const void *l3_cpu_groups(const cpu_model *m, l3_tensor_id id, int layer);

typedef struct cpu_session {
    l3_backend_session base;
    const cpu_model *m;
    l3_kv_cache kv;
    l3_scratch scratch;
    l3_pool *pool;
    int prompt_levels;
    uint8_t *one_level;      /* per row of the pass: a prompt row with one 8-bit level */
    int any_one_level;       /* whether one_level has a nonzero entry: else matmuls get NULL */
    const l3_pass *pass;     /* the pass being run (begin .. output) */
} cpu_session;

/* ATT = attention over each row's slot of layer's cache (attention.c). */
void l3_cpu_attention(cpu_session *s, int layer);

#endif
