/* The weights description: what every format reader produces and the model consumes.
 * Tensors are views (type, shape, pointer) into mapped files, or into buffers the
 * description owns when a format needs merging (e.g. Meta model-parallel shards).
 * Matrices are [rows x cols] with each row contiguous: rows = output features,
 * cols = input features (PyTorch's [out, in]; GGUF ne[1] x ne[0]). */
#ifndef LLAMA3_WEIGHTS_H
#define LLAMA3_WEIGHTS_H

#include "llama3.h"
#include "model/tensors.h"
#include "tensor_types.h"
#include "util.h"

typedef struct l3_tensor {
    uint32_t type;         /* l3_type */
    int64_t rows, cols;    /* a vector has rows = 1 */
    const void *data;
    size_t nbytes;
} l3_tensor;

typedef struct l3_layer_weights {
    l3_tensor attention_norm, wq, wk, wv, wo;
    l3_tensor ffn_norm, w1, w2, w3;
} l3_layer_weights;

/* How q/k pairs are laid out for RoPE. Meta / GGUF: interleaved (2i, 2i+1).
 * Hugging Face: rotate-half (i, i + head_dim/2). Attention is invariant to a permutation
 * applied to both q and k, so HF weights run as stored with the half-split rotation
 * instead of being copied into Meta's order. */
typedef enum l3_rope_layout { L3_ROPE_INTERLEAVED = 0, L3_ROPE_HALF = 1 } l3_rope_layout;

/* Where the tokenizer comes from (the tokenizer room reads it). */
typedef struct l3_vocab_source {
    enum { L3_VOCAB_NONE, L3_VOCAB_GGUF, L3_VOCAB_FILE } kind;
    const struct l3_gguf *gguf;  /* L3_VOCAB_GGUF: metadata lives here */
    char *path;                  /* L3_VOCAB_FILE: tokenizer.model or tokenizer.json (owned) */
    char *config_path;           /* optional tokenizer_config.json (owned) */
} l3_vocab_source;

typedef struct l3_weights {
    llama3_args args;                /* the shapes of the tensors held: the whole model's, or one
                                      * rank's slice of it (model/partition.h) */
    llama3_args full;                /* the whole model's */
    int shard_rank, shard_size;      /* the tensors are slice shard_rank of shard_size (1: whole) */
    int64_t vocab_offset;            /* the first vocabulary row of tok_embeddings and output */
    l3_rope_layout rope_layout;
    const float *rope_freq_factors;  /* GGUF rope_freqs.weight [head_dim/2], or NULL */
    l3_tensor tok_embeddings;        /* [vocab x dim] */
    l3_tensor norm;                  /* final norm [dim] */
    l3_tensor output;                /* [vocab x dim]; equals tok_embeddings when tied */
    int tied_output;
    l3_layer_weights *layers;        /* n_layers */
    l3_vocab_source vocab;
    int32_t bos_id, eos_id;          /* -1 if unknown */
    char format[64];                 /* "gguf", "hf", "meta" (for info) */

    /* Resources kept alive with the description. */
    l3_mapping *maps; int n_maps;
    void **owned; int n_owned;
    struct l3_gguf *gguf_owned;
} l3_weights;

/* The tensor a table row names (layer ignored for global tensors). */
static inline l3_tensor *l3_weights_tensor(l3_weights *w, l3_tensor_id id, int layer) {
    char *base = l3_tensor_is_layer(id) ? (char *)&w->layers[layer] : (char *)w;
    return (l3_tensor *)(base + l3_tensor_table(id)->offset);
}
static inline const l3_tensor *l3_weights_get(const l3_weights *w, l3_tensor_id id, int layer) {
    return l3_weights_tensor((l3_weights *)w, id, layer);
}

/* Register resources the description keeps (freed by l3_weights_free). 0 or error. */
int l3_weights_keep_map(l3_weights *w, l3_mapping *m);  /* takes ownership of *m's contents */
int l3_weights_keep_buffer(l3_weights *w, void *p);
void l3_weights_free(l3_weights *w);
/* Allocates the zeroed layer table for args.n_layers, drawn from the load's budget
 * (struct l3_alloc_budget, alloc_limit.h); `source` names the file or folder in errors. */
struct l3_alloc_budget;
int l3_weights_alloc_layers(l3_weights *w, struct l3_alloc_budget *budget, const char *source, llama3_error *err);

/* Checks every tensor of the table against the args (shapes, types, sizes); the one place
 * that does. */
int l3_weights_validate(const l3_weights *w, llama3_error *err);

#endif
