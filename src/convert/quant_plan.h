/* Which type each tensor gets when a model is written as TYPE: llama.cpp's rules.
 *
 * A single type (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k, ... whatever
 * the type table can encode) is applied "pure", as `llama-quantize --pure` and
 * convert_hf_to_gguf.py do: every 2-D weight gets it, token_embd and output included. The
 * mixes q4_k_s, q4_k_m, q5_k_s, q5_k_m follow llama_tensor_get_type() for a Llama model:
 * output (or token_embd when tied) -> q6_k; attn_v and ffn_down of the layers use_more_bits()
 * picks -> q6_k (_m) or the first layers -> q5_k (q4_k_s); the rest the base k-type.
 * A row length the chosen type cannot hold falls back as llama.cpp does (q4_k -> q5_0,
 * q5_k -> q5_1, q6_k -> q8_0, then f16). 1-D tensors and *_norm weights are never quantized. */
#ifndef LLAMA3_QUANT_PLAN_H
#define LLAMA3_QUANT_PLAN_H

#include <stddef.h>
#include <stdint.h>

typedef enum l3_mix { L3_MIX_PURE, L3_MIX_Q4_K_S, L3_MIX_Q4_K_M, L3_MIX_Q5_K_S, L3_MIX_Q5_K_M } l3_mix;

typedef struct l3_qplan {
    uint32_t base;     /* l3_type of the bulk of the weights */
    uint32_t ftype;    /* general.file_type (llama_ftype) */
    l3_mix mix;
    int n_layers;      /* for the layer rules */
    int has_output;    /* a separate output.weight exists (else token_embd plays its part) */
} l3_qplan;

/* 0 and *p filled, or -1 when name is no type / mix the table can write. */
int l3_qplan_parse(const char *name, l3_qplan *p);
/* The accepted names, comma-separated, for messages. */
void l3_qplan_names(char *buf, size_t cap);
/* True when a tensor of this name and rank is a weight to re-encode. */
int l3_qplan_quantizable(const char *name, int n_dims);
/* The type for a quantizable tensor (ne0 = its row length). */
uint32_t l3_qplan_type(const l3_qplan *p, const char *name, int64_t ne0);

#endif
