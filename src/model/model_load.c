/* llama3_model: a validated weights description, handed to the chosen backend, plus the
 * tokenizer. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "alloc_limit.h"
#include "formats/gguf.h"
#include "loader.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

static void count(llama3_model *m, const l3_tensor *t) {
    m->n_params += (uint64_t)t->rows * (uint64_t)t->cols;
    m->weight_bytes += t->nbytes;
}

llama3_model *llama3_model_load(const char *path, const llama3_load_options *opt, llama3_error *err) {
    const l3_backend *be;
    int device;
    if (l3_backend_find(opt ? opt->device : NULL, &be, &device, err)) return NULL;
    llama3_model *m = calloc(1, sizeof *m);
    if (!m) { l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory"); return NULL; }
    m->max_alloc = l3_alloc_limit(opt);
    if (l3_load_weights(path, opt, &m->w, err)) { free(m); return NULL; }
    if (opt && opt->no_mmap) {  /* the same addresses, now backed by memory rather than the file */
        int rc = 0;
        for (int i = 0; !rc && i < m->w.n_maps; i++) rc = l3_mapping_read_in(&m->w.maps[i], err);
        if (!rc && m->w.gguf_owned) rc = l3_mapping_read_in(&m->w.gguf_owned->map, err);
        if (rc) {
            l3_weights_free(&m->w);
            free(m);
            return NULL;
        }
    }
    const llama3_args *a = &m->w.args;
    for (int id = 0; id < L3_FIRST_LAYER_TENSOR; id++)
        if (id != L3_OUTPUT || !m->w.tied_output) count(m, l3_weights_get(&m->w, id, 0));
    for (int l = 0; l < a->n_layers; l++)
        for (int id = L3_FIRST_LAYER_TENSOR; id < L3_TENSOR_COUNT; id++) count(m, l3_weights_get(&m->w, id, l));
    l3_alloc_budget budget;
    l3_alloc_budget_init(&budget, opt);
    if (be->model_new(&m->w, device, &budget, &m->bm, err)) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        l3_fail(err, err ? err->code : LLAMA3_ERR_MEMORY, "%s: %s", path, msg);
        llama3_model_free(m);
        return NULL;
    }
    m->be = be;
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
    if (m->bm) m->bm->be->model_free(m->bm);
    llama3_tokenizer_free(m->tok);
    l3_weights_free(&m->w);
    free(m);
}

const llama3_args *llama3_model_args(const llama3_model *m) { return &m->w.args; }
const char *llama3_model_format(const llama3_model *m) { return m->w.format; }
const char *llama3_model_device(const llama3_model *m) { return m->be->name; }
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
