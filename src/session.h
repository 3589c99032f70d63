/* Session internals shared with the batch scheduler. */
#ifndef LLAMA3_SESSION_H
#define LLAMA3_SESSION_H

#include <stdint.h>
#include "llama3.h"

/* llama3_eval_batch with each row's role given: prompt[i] nonzero marks a prompt row (its
 * 8-bit activations take llama3_session_options.prompt_int8_levels), zero a decoded token;
 * prompt NULL: the rows of a slot with more than one row in the call are prompt rows. */
int l3_eval_rows(llama3_session *s, const int32_t *ids, const int *slot_of, const uint8_t *prompt, int n,
                 float *logits, llama3_error *err);

/* The session's thread pool (the batch scheduler samples its sequences on it). */
struct l3_pool *l3_session_pool(llama3_session *s);

#endif
