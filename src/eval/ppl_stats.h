/* Scoring for `llama3 perplexity`, as llama.cpp's perplexity tool does it: the tokens are cut
 * into non-overlapping windows of n_ctx; each window is evaluated from an empty cache and only
 * its second half is scored (rows n_ctx/2 .. n_ctx-2 predict tokens n_ctx/2+1 .. n_ctx-1), so
 * every scored token has at least n_ctx/2 tokens of context. */
#ifndef LLAMA3_PPL_STATS_H
#define LLAMA3_PPL_STATS_H

#include <stdint.h>

static inline int l3_ppl_first(int n_ctx) { return n_ctx / 2; }
static inline int l3_ppl_scored_per_window(int n_ctx) { return n_ctx - 1 - n_ctx / 2; }

/* out[i] = logits[i] - logsumexp(logits) (computed in double). Returns the argmax. */
int l3_log_softmax(const float *logits, float *out, int n);

/* Running sums for a mean and its standard error. */
typedef struct l3_mean_acc { double sum, sum2; int64_t n; } l3_mean_acc;
static inline void l3_mean_add(l3_mean_acc *a, double x) { a->sum += x; a->sum2 += x * x; a->n++; }
double l3_mean(const l3_mean_acc *a);
double l3_mean_err(const l3_mean_acc *a);  /* standard error of the mean (0 when n < 2) */

/* KL(p || q) = sum p (log p - log q) over log-probabilities. */
double l3_kl_div(const float *logp, const float *logq, int n);

#endif
