/* The model (weights + derived float32 constants) and the forward pass. */
#ifndef LLAMA3_MODEL_H
#define LLAMA3_MODEL_H

#include "kv_cache.h"
#include "threads.h"
#include "weights.h"

struct llama3_model {
    l3_weights w;
    llama3_tokenizer *tok;
    /* Norm weights widened to float32 once (formats store them as f32, bf16 or f16). */
    float *attention_norm;   /* [n_layers x dim] */
    float *ffn_norm;         /* [n_layers x dim] */
    float *norm;             /* [dim] */
    float *rope_freqs;       /* [head_dim / 2] */
    uint64_t n_params, weight_bytes;
};

/* Scratch for one forward pass of up to max_rows rows (activations are [rows x width]). */
typedef struct l3_scratch {
    int max_rows;
    float *x, *xb, *q, *k, *v, *att, *h1, *h3;
    float *rope_cs;    /* per row: cos, sin of each RoPE pair at the row's position */
    int n_threads;
    float **row_buf;   /* per thread: a widened weight row or the prefill weight panel (l3_matmul) */
    float **scores;    /* per thread: attention scores (n_ctx floats) */
    /* 8-bit activations of a matmul's input rows (kernels.h's layout: values, scales, sums) */
    int8_t *xq, *xq2;  /* the two levels */
    float *xd, *xs;
    uint8_t **panel8;  /* per thread: a prefill tile of weight rows unpacked to 8 bits */
    uint8_t *out_one_level;  /* the one_level flags of the logits rows */
    uint16_t *x_bf16;        /* a decoded row split into bf16 halves (hi, then lo) */
} l3_scratch;

int l3_scratch_init(l3_scratch *s, const llama3_args *a, int max_rows, int n_ctx, int n_threads);
void l3_scratch_free(l3_scratch *s);
size_t l3_scratch_bytes(const l3_scratch *s, const llama3_args *a, int n_ctx);

/* One forward pass over n rows: row i is token ids[i] at position pos[i] of KV slot slot[i].
 * The rows of one slot must be consecutive positions and contiguous. Logits are computed for
 * the rows listed in out_rows (n_out of them) into logits[n_out x vocab]. */
typedef struct l3_forward_args {
    const int32_t *ids;
    const int *pos;
    const int *slot;
    int n;
    const int *out_rows;
    int n_out;
    float *logits;
    const uint8_t *one_level;  /* per row, or NULL: nonzero = a prompt row whose 8-bit
                                * activations take one level (l3_matmul) */
} l3_forward_args;

void l3_forward(const llama3_model *m, l3_kv_cache *kv, l3_scratch *s, l3_pool *pool,
                const l3_forward_args *fa);

/* Y[t x W.rows] = X[t x W.cols] . W^T, any weight type (threads over rows of W). one_level
 * (per row, or NULL): rows whose 8-bit activations keep only the first level (kernels.h).
 * A row's numbers do not depend on the other rows' values; its path depends on the row count
 * (model.c), except that with 8-bit kernels decoded tokens listed before prompt rows run as
 * their own product, so they get what they get without the prompt rows. */
void l3_matmul(const l3_tensor *W, const float *X, int T, const uint8_t *one_level, float *Y, l3_scratch *s,
               l3_pool *pool);

#endif
