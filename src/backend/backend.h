/* The backend door: what the forward pass (forward.c) asks of a device, at the grain of one
 * step of Meta's model.py. A backend owns where the weights, the KV cache and the activations
 * live (host memory for the CPU, device memory for a GPU), takes the weights once per model,
 * and is chosen per model (llama3_load_options.device). Every backend is held to the same op
 * harness (tests/test_backend_ops.c) and the same goldens. */
#ifndef LLAMA3_BACKEND_H
#define LLAMA3_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include "llama3.h"
#include "model/weights.h"

struct l3_alloc_budget;
struct l3_dist;
struct l3_pool;

/* The activations of one pass, [rows x width] each, held by the backend. */
typedef enum l3_act {
    L3_ACT_X,    /* h: the residual stream [dim] */
    L3_ACT_XB,   /* a norm's output, or a projection back to dim [dim] */
    L3_ACT_Q,    /* queries [n_heads * head_dim] */
    L3_ACT_K,    /* keys of this pass's rows [n_kv_heads * head_dim] */
    L3_ACT_V,    /* values of this pass's rows [n_kv_heads * head_dim] */
    L3_ACT_ATT,  /* attention's output, before wo [n_heads * head_dim] */
    L3_ACT_H1,   /* w1(x), then silu(w1(x)) * w3(x) [hidden_dim] */
    L3_ACT_H3,   /* w3(x) [hidden_dim] */
    L3_ACT_COUNT
} l3_act;

/* Width of an activation's rows. */
int64_t l3_act_width(l3_act a, const llama3_args *args);

/* The rows of one forward pass: row i is token ids[i] at position pos[i] of KV slot slot[i];
 * the rows of one slot are consecutive positions and contiguous. */
typedef struct l3_pass {
    const int32_t *ids;
    const int *pos;
    const int *slot;
    int n;
    const uint8_t *prompt;  /* per row, or NULL: nonzero marks a prompt row, whose activations
                             * may take the prompt precision (prompt_int8_levels) */
    const int *out_rows;    /* the rows whose logits are wanted, n_out of them (may be 0) */
    int n_out;
    int hidden;             /* 1: output writes those rows' final hidden states, norm(h) [dim],
                             * instead of their logits (embeddings) */
} l3_pass;

/* What a session asks of its backend. */
typedef struct l3_session_params {
    int n_ctx, n_slots;     /* KV-cache positions per slot, and slots */
    int max_rows;           /* rows per pass */
    llama3_kv_type kv_type;
    int prompt_levels;      /* 8-bit activation levels of prompt rows: 1 or 2 */
    struct l3_pool *pool;   /* the session's host threads */
    struct l3_alloc_budget *budget;  /* what the KV cache and buffers may take */
    struct l3_dist *dist;   /* the processes running the model together (all_reduce) */
} l3_session_params;

/* A backend's hold on one model's weights, and on one session's cache and activations. Each
 * backend extends these (its own struct starting with one of them). */
typedef struct l3_backend_model {
    const struct l3_backend *be;
    const l3_weights *w;    /* the slice this process computes with (its args: its shapes) */
} l3_backend_model;

typedef struct l3_backend_session {
    const struct l3_backend *be;
    l3_backend_model *model;
    struct l3_dist *dist;
    /* host buffers of a model-parallel run (session.c): this rank's logits rows of a pass, and
     * on rank 0 every rank's, gathered */
    float *part_logits, *gathered;
} l3_backend_session;

/* How a backend takes a model's weights. */
typedef struct l3_model_params {
    int device;                      /* the device index */
    struct l3_alloc_budget *budget;  /* what the backend's own copies may take */
    int repack;                      /* the CPU backend may copy matrices into its kernels' row
                                      * groups (kernels.h group_rows): off with --no-repack,
                                      * --mlock and --no-mmap, which keep the file's layout */
    const l3_mapping *file_maps;     /* the read-only file mappings the tensors lie in: only
                                      * matrices in them are copied (none given: every one),
                                      * and the pages of the rows copied are handed back */
    int n_file_maps;
} l3_model_params;

typedef struct l3_backend {
    const char *name;  /* "cpu", "cuda" */
    /* Takes the weights (maps, widens, rearranges or uploads them) as p says. */
    int (*model_new)(const l3_weights *w, const l3_model_params *p, l3_backend_model **out, llama3_error *err);
    void (*model_free)(l3_backend_model *m);
    /* A KV cache of p->n_slots x p->n_ctx positions and activations for p->max_rows rows. */
    int (*session_new)(l3_backend_model *m, const l3_session_params *p, l3_backend_session **out,
                       llama3_error *err);
    void (*session_free)(l3_backend_session *s);
    size_t (*kv_bytes)(const l3_backend_session *s);
    size_t (*scratch_bytes)(const l3_backend_session *s);

    /* ---- the ops, in the order of a pass (forward.c) ---- */
    /* A pass over these rows begins: their positions (model.py's freqs_cis rows) and slots.
     * p stays valid until output returns. */
    void (*begin)(l3_backend_session *s, const l3_pass *p);
    /* dst = tok_embeddings(ids): the rows of the vocabulary this slice holds (rows
     * [vocab_offset, vocab_offset + vocab_size) of the whole table), zeros for other ids */
    void (*embed)(l3_backend_session *s, l3_act dst);
    /* dst = RMSNorm(src) * weight (attention_norm or ffn_norm of layer) */
    void (*rmsnorm)(l3_backend_session *s, l3_act dst, l3_act src, l3_tensor_id weight, int layer);
    /* dst = src . W^T for W the tensor's weight of layer (any weight type) */
    void (*matmul)(l3_backend_session *s, l3_tensor_id weight, int layer, l3_act src, l3_act dst);
    /* Q and K rotated by each row's position (apply_rotary_emb), then K and V stored at each
     * row's (slot, position) of layer's cache */
    void (*rope_and_store)(l3_backend_session *s, int layer);
    /* ATT = softmax(Q . K^T / sqrt(head_dim)) . V over positions 0..pos of each row's slot
     * (the causal mask), query heads sharing KV heads as n_heads / n_kv_heads says */
    void (*attention)(l3_backend_session *s, int layer);
    /* h1 = silu(h1) * h3 */
    void (*swiglu)(l3_backend_session *s, l3_act h1, l3_act h3);
    /* x += y */
    void (*add)(l3_backend_session *s, l3_act x, l3_act y);
    /* a = the sum of every process's a (model parallelism; nothing with one process) */
    void (*all_reduce)(l3_backend_session *s, l3_act a);
    /* logits[i] = output(norm(x[out_rows[i]])) for the pass's n_out rows, over the vocabulary
     * rows the slice holds, into host memory [n_out x vocab_size]; the pass ends (a device
     * backend reports its errors here). */
    int (*output)(l3_backend_session *s, l3_act x, float *logits, llama3_error *err);

    /* ---- host access to activations (the op harness) ---- */
    void (*write_act)(l3_backend_session *s, l3_act a, const float *src, int rows);
    void (*read_act)(l3_backend_session *s, l3_act a, float *dst, int rows);
} l3_backend;

/* The backend and device index a device string names: NULL or "" (the default: the CPU),
 * "cpu", "cuda" or "cuda:N". A backend this build lacks, or an unknown name: LLAMA3_ERR_ARG
 * with a one-line reason. */
int l3_backend_find(const char *device, const l3_backend **be, int *index, llama3_error *err);

extern const l3_backend l3_backend_cpu;

#endif
