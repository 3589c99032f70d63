/* Sampling internals, exposed for unit tests. */
#ifndef LLAMA3_SAMPLER_H
#define LLAMA3_SAMPLER_H
#include "llama3.h"

/* The distribution the sampler draws from, after the repetition penalty (over `recent`),
 * temperature, top-k, softmax, min-p and Meta's top-p, renormalised: probs[n] (zeros for
 * excluded tokens). logits are not modified. Requires temperature > 0. Returns the number of
 * tokens with non-zero probability, or < 0 on allocation failure. */
int l3_sampler_distribution(const llama3_sampler_params *p, const float *logits, int n,
                            const int32_t *recent, int n_recent, float *probs);
/* First index of the maximum (torch.argmax's tie rule). */
int32_t l3_argmax(const float *x, int n);

#endif
