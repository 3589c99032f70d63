/* The tensor table (tensors.h): one row per weight. */
#include "model/tensors.h"

#include <stdio.h>
#include "model/weights.h"

#define GLOBAL(field) offsetof(l3_weights, field)
#define LAYER(field) offsetof(l3_layer_weights, field)

static const l3_tensor_desc g_table[L3_TENSOR_COUNT] = {
    [L3_TOK_EMBEDDINGS] = { "tok_embeddings", "tok_embeddings", "token_embd", "model.embed_tokens", L3_SIZE_VOCAB,
                            L3_SIZE_DIM, L3_SIZE_ONE, L3_SPLIT_ROWS, 0, GLOBAL(tok_embeddings) },
    [L3_NORM] = { "norm", "norm", "output_norm", "model.norm", L3_SIZE_ONE, L3_SIZE_DIM, L3_SIZE_ONE, L3_SPLIT_NONE, 0,
                  GLOBAL(norm) },
    [L3_OUTPUT] = { "output", "output", "output", "lm_head", L3_SIZE_VOCAB, L3_SIZE_DIM, L3_SIZE_ONE, L3_SPLIT_ROWS, 1,
                    GLOBAL(output) },
    [L3_ATTENTION_NORM] = { "attention_norm", "attention_norm", "attn_norm", "input_layernorm", L3_SIZE_ONE, L3_SIZE_DIM,
                            L3_SIZE_ONE, L3_SPLIT_NONE, 0, LAYER(attention_norm) },
    [L3_WQ] = { "wq", "attention.wq", "attn_q", "self_attn.q_proj", L3_SIZE_Q, L3_SIZE_DIM, L3_SIZE_Q, L3_SPLIT_ROWS, 0,
                LAYER(wq) },
    [L3_WK] = { "wk", "attention.wk", "attn_k", "self_attn.k_proj", L3_SIZE_KV, L3_SIZE_DIM, L3_SIZE_KV, L3_SPLIT_ROWS, 0,
                LAYER(wk) },
    [L3_WV] = { "wv", "attention.wv", "attn_v", "self_attn.v_proj", L3_SIZE_KV, L3_SIZE_DIM, L3_SIZE_ONE, L3_SPLIT_ROWS,
                0, LAYER(wv) },
    [L3_WO] = { "wo", "attention.wo", "attn_output", "self_attn.o_proj", L3_SIZE_DIM, L3_SIZE_Q, L3_SIZE_ONE,
                L3_SPLIT_COLS, 0, LAYER(wo) },
    [L3_FFN_NORM] = { "ffn_norm", "ffn_norm", "ffn_norm", "post_attention_layernorm", L3_SIZE_ONE, L3_SIZE_DIM,
                      L3_SIZE_ONE, L3_SPLIT_NONE, 0, LAYER(ffn_norm) },
    [L3_W1] = { "w1", "feed_forward.w1", "ffn_gate", "mlp.gate_proj", L3_SIZE_FFN, L3_SIZE_DIM, L3_SIZE_ONE,
                L3_SPLIT_ROWS, 0, LAYER(w1) },
    [L3_W2] = { "w2", "feed_forward.w2", "ffn_down", "mlp.down_proj", L3_SIZE_DIM, L3_SIZE_FFN, L3_SIZE_ONE,
                L3_SPLIT_COLS, 0, LAYER(w2) },
    [L3_W3] = { "w3", "feed_forward.w3", "ffn_up", "mlp.up_proj", L3_SIZE_FFN, L3_SIZE_DIM, L3_SIZE_ONE, L3_SPLIT_ROWS,
                0, LAYER(w3) },
};

const l3_tensor_desc *l3_tensor_table(l3_tensor_id id) { return &g_table[id]; }

int64_t l3_size_of(l3_size s, const llama3_args *a) {
    switch (s) {
    case L3_SIZE_ONE: return 1;
    case L3_SIZE_DIM: return a->dim;
    case L3_SIZE_Q: return (int64_t)a->n_heads * a->head_dim;
    case L3_SIZE_KV: return (int64_t)a->n_kv_heads * a->head_dim;
    case L3_SIZE_FFN: return a->hidden_dim;
    case L3_SIZE_VOCAB: return a->vocab_size;
    }
    return 0;
}

void l3_tensor_name(l3_tensor_id id, l3_format f, int layer, char *buf, size_t cap) {
    const l3_tensor_desc *d = &g_table[id];
    static const char *const prefix[] = { [L3_FMT_META] = "layers.%d.", [L3_FMT_GGUF] = "blk.%d.",
                                          [L3_FMT_HF] = "model.layers.%d." };
    const char *base = f == L3_FMT_META ? d->meta : f == L3_FMT_GGUF ? d->gguf : d->hf;
    int n = l3_tensor_is_layer(id) ? snprintf(buf, cap, prefix[f], layer) : 0;
    if (n < 0 || (size_t)n >= cap) n = 0;
    snprintf(buf + n, cap - (size_t)n, "%s.weight", base);
}
