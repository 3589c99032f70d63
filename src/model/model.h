/* llama3_model: the validated weights description, the tokenizer, and the backend holding the
 * weights where it computes. */
#ifndef LLAMA3_MODEL_H
#define LLAMA3_MODEL_H

#include "backend/backend.h"
#include "model/weights.h"

struct llama3_model {
    llama3_args args;          /* the whole model's */
    l3_weights w;              /* as loaded: the whole model, or this process's shard of it */
    l3_weights part;           /* this process's slice of a whole model (model parallelism) */
    const l3_weights *compute; /* what this process computes with: &w or &part */
    llama3_tokenizer *tok;
    const l3_backend *be;
    l3_backend_model *bm;      /* the backend's hold on *compute */
    struct l3_dist *dist;      /* the processes running the model together (one alone) */
    uint64_t n_params, weight_bytes, rank_weight_bytes;
    uint64_t max_alloc;        /* llama3_load_options.max_alloc_bytes in force (sessions too) */
};

#endif
