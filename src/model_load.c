/* llama3_model: a validated weights description plus the float32 constants the forward pass
 * needs (norm weights, RoPE frequencies) and the tokenizer. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "args.h"
#include "formats/gguf.h"
#include "kernels/kernels.h"
#include "loader.h"
#include "model.h"
#include "tokenizer/tokenizer.h"

static int widen(const l3_tensor *t, float *out) {
    const l3_type_info *ti = l3_type_get(t->type);
    if (!ti) return -1;
    ti->to_float(t->data, out, t->cols);
    return 0;
}

static uint64_t tensor_params(const l3_tensor *t) { return (uint64_t)t->rows * (uint64_t)t->cols; }

llama3_model *llama3_model_load(const char *path, const llama3_load_options *opt, llama3_error *err) {
    llama3_model *m = calloc(1, sizeof *m);
    if (!m) { l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory"); return NULL; }
    if (l3_load_weights(path, opt, &m->w, err)) { free(m); return NULL; }
    const llama3_args *a = &m->w.args;
    m->attention_norm = malloc((size_t)a->n_layers * a->dim * sizeof(float));
    m->ffn_norm = malloc((size_t)a->n_layers * a->dim * sizeof(float));
    m->norm = malloc((size_t)a->dim * sizeof(float));
    m->rope_freqs = malloc((size_t)(a->head_dim / 2) * sizeof(float));
    if (!m->attention_norm || !m->ffn_norm || !m->norm || !m->rope_freqs) {
        l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
        llama3_model_free(m);
        return NULL;
    }
    widen(&m->w.norm, m->norm);
    const l3_tensor *all[] = { &m->w.tok_embeddings, &m->w.norm };
    for (int i = 0; i < 2; i++) m->n_params += tensor_params(all[i]), m->weight_bytes += all[i]->nbytes;
    if (!m->w.tied_output) m->n_params += tensor_params(&m->w.output), m->weight_bytes += m->w.output.nbytes;
    for (int l = 0; l < a->n_layers; l++) {
        const l3_layer_weights *L = &m->w.layers[l];
        widen(&L->attention_norm, m->attention_norm + (size_t)l * a->dim);
        widen(&L->ffn_norm, m->ffn_norm + (size_t)l * a->dim);
        const l3_tensor *ts[] = { &L->attention_norm, &L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_norm, &L->w1, &L->w2, &L->w3 };
        for (int i = 0; i < 9; i++) m->n_params += tensor_params(ts[i]), m->weight_bytes += ts[i]->nbytes;
    }
    l3_rope_freqs(a, m->w.rope_freq_factors, m->rope_freqs);
    if (l3_tokenizer_from_source(&m->w.vocab, &m->tok, err)) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        l3_fail(err, err ? err->code : LLAMA3_ERR_FORMAT, "%s: tokenizer: %s", path, msg);
        llama3_model_free(m);
        return NULL;
    }
    if (m->tok && llama3_tokenizer_n_vocab(m->tok) > a->vocab_size) {
        l3_fail(err, LLAMA3_ERR_FORMAT, "%s: tokenizer has %d tokens but the model only %d", path,
                llama3_tokenizer_n_vocab(m->tok), a->vocab_size);
        llama3_model_free(m);
        return NULL;
    }
    if (opt && opt->mlock)
        for (int i = 0; i < m->w.n_maps; i++) mlock(m->w.maps[i].data, m->w.maps[i].size);
    if (opt && opt->mlock && m->w.gguf_owned) mlock(m->w.gguf_owned->map.data, m->w.gguf_owned->map.size);
    return m;
}

void llama3_model_free(llama3_model *m) {
    if (!m) return;
    llama3_tokenizer_free(m->tok);
    l3_weights_free(&m->w);
    free(m->attention_norm);
    free(m->ffn_norm);
    free(m->norm);
    free(m->rope_freqs);
    free(m);
}

const llama3_args *llama3_model_args(const llama3_model *m) { return &m->w.args; }
const char *llama3_model_format(const llama3_model *m) { return m->w.format; }
uint64_t llama3_model_param_count(const llama3_model *m) { return m->n_params; }
uint64_t llama3_model_weight_bytes(const llama3_model *m) { return m->weight_bytes; }
llama3_tokenizer *llama3_model_tokenizer(const llama3_model *m) { return m->tok; }

int llama3_model_is_end_token(const llama3_model *m, int32_t id) {
    if (m->tok) return l3_tokenizer_is_end(m->tok, id);
    return m->w.eos_id >= 0 && id == m->w.eos_id;
}

int32_t llama3_model_bos(const llama3_model *m) {
    if (m->tok) {
        int32_t b = l3_tokenizer_bos(m->tok);
        if (b >= 0) return b;
    }
    return m->w.bos_id;
}
