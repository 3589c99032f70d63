/* The tensor table: every weight of a Llama 3 model declared once, with its name in each
 * format, its shape in ModelArgs terms, Hugging Face's q/k row permutation, and its split
 * across model-parallel ranks as Meta's fairscale layers cut it. Validation, the format
 * readers, convert, the Meta shard merge and tensor parallelism all read this table. */
#ifndef LLAMA3_TENSORS_H
#define LLAMA3_TENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "llama3.h"

typedef enum l3_tensor_id {
    /* global */
    L3_TOK_EMBEDDINGS,
    L3_NORM,
    L3_OUTPUT,
    /* per layer, in the order of Meta's state dict */
    L3_ATTENTION_NORM,
    L3_WQ,
    L3_WK,
    L3_WV,
    L3_WO,
    L3_FFN_NORM,
    L3_W1,
    L3_W2,
    L3_W3,
    L3_TENSOR_COUNT
} l3_tensor_id;

#define L3_FIRST_LAYER_TENSOR L3_ATTENTION_NORM

/* A size in ModelArgs terms. */
typedef enum l3_size {
    L3_SIZE_ONE,     /* 1: the rows of a vector */
    L3_SIZE_DIM,     /* dim */
    L3_SIZE_Q,       /* n_heads * head_dim (= dim) */
    L3_SIZE_KV,      /* n_kv_heads * head_dim */
    L3_SIZE_FFN,     /* the FFN width (hidden_dim) */
    L3_SIZE_VOCAB,   /* vocab_size */
} l3_size;

/* How a tensor is cut across N model-parallel ranks (Meta's fairscale layers). */
typedef enum l3_split {
    L3_SPLIT_NONE,   /* replicated on every rank (the norms) */
    L3_SPLIT_ROWS,   /* ColumnParallelLinear (wq, wk, wv, w1, w3, output) and Llama 3's
                      * VocabParallelEmbedding: each rank holds a block of rows (output
                      * features, or vocabulary entries); no communication inside the product */
    L3_SPLIT_COLS,   /* RowParallelLinear (wo, w2): each rank holds a block of columns (input
                      * features); the partial products are summed by an all-reduce */
} l3_split;

typedef enum l3_format { L3_FMT_META, L3_FMT_GGUF, L3_FMT_HF } l3_format;

typedef struct l3_tensor_desc {
    const char *name;              /* model.py's attribute: "wq", "attention_norm" */
    const char *meta, *gguf, *hf;  /* names without the layer prefix and ".weight" */
    l3_size rows, cols;            /* a vector has rows L3_SIZE_ONE */
    l3_size hf_permuted;           /* heads whose rows HF permutes for rotate-half RoPE:
                                    * L3_SIZE_Q (n_heads), L3_SIZE_KV (n_kv_heads), or
                                    * L3_SIZE_ONE for none */
    l3_split split;
    int tied;                      /* may be absent: then the embeddings are used (Llama 3.2) */
    size_t offset;                 /* of its l3_tensor in l3_weights or l3_layer_weights */
} l3_tensor_desc;

const l3_tensor_desc *l3_tensor_table(l3_tensor_id id);
static inline int l3_tensor_is_layer(l3_tensor_id id) { return id >= L3_FIRST_LAYER_TENSOR; }
static inline int l3_tensor_is_vector(l3_tensor_id id) { return l3_tensor_table(id)->rows == L3_SIZE_ONE; }
/* The value of a size for these args. */
int64_t l3_size_of(l3_size s, const llama3_args *a);
/* The tensor's full name in a format ("layers.3.attention.wq.weight", "blk.3.attn_q.weight",
 * "model.layers.3.self_attn.q_proj.weight"); layer is ignored for global tensors. */
void l3_tensor_name(l3_tensor_id id, l3_format f, int layer, char *buf, size_t cap);

#endif
