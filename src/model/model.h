/* llama3_model: the validated weights description, the tokenizer, and the backend holding the
 * weights where it computes. */
#ifndef LLAMA3_MODEL_H
#define LLAMA3_MODEL_H

#include "backend/backend.h"
#include "model/weights.h"

struct llama3_model {
    l3_weights w;
    llama3_tokenizer *tok;
    const l3_backend *be;
    l3_backend_model *bm;      /* the backend's hold on w */
    uint64_t n_params, weight_bytes;
    uint64_t max_alloc;        /* llama3_load_options.max_alloc_bytes in force (sessions too) */
};

#endif
