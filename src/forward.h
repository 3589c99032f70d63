/* The forward pass (forward.c): Meta's Transformer.forward over the rows of one pass. */
#ifndef LLAMA3_FORWARD_H
#define LLAMA3_FORWARD_H

#include "backend/backend.h"

/* Runs p's rows through every layer on session s of its backend, appending their keys and
 * values to the KV cache, and writes the logits of p's out_rows to logits [n_out x vocab]
 * (host memory). 0, or the backend's error. */
int l3_forward(l3_backend_session *s, const l3_pass *p, float *logits, llama3_error *err);

#endif
