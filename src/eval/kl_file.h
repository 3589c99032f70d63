/* The base-model file of `llama3 perplexity --kl-base` / `--kl`: the token sequence and the
 * log-probabilities the base model gave at every scored position, so a second model can be
 * compared with it position by position (KL divergence, top-1 agreement, perplexity ratio).
 *
 * Layout (little-endian):
 *   char     magic[8] = "L3KLBASE"
 *   uint32   version = 1
 *   uint32   n_vocab
 *   uint32   n_ctx          window length the positions were scored with
 *   uint32   n_tokens       length of the token sequence
 *   uint32   n_pos          scored positions
 *   uint32   reserved = 0
 *   int32    tokens[n_tokens]
 *   float32  logprob[n_pos][n_vocab]   natural-log softmax of the logits, in scoring order
 * Which positions are scored follows from n_tokens and n_ctx (see ppl_stats.h). */
#ifndef LLAMA3_KL_FILE_H
#define LLAMA3_KL_FILE_H

#include <stdint.h>
#include <stdio.h>
#include "util.h"

typedef struct l3_kl_header {
    uint32_t n_vocab, n_ctx, n_tokens, n_pos;
} l3_kl_header;

/* Writing: header + tokens now, then one row per scored position. */
int l3_kl_write_begin(FILE *f, const l3_kl_header *h, const int32_t *tokens, const char *path, llama3_error *err);
int l3_kl_write_row(FILE *f, const float *logprob, uint32_t n_vocab, const char *path, llama3_error *err);

/* Reading: validates the header against the file size; *tokens is malloc'd. The file is left
 * positioned at the first row. */
int l3_kl_read_begin(FILE *f, l3_kl_header *h, int32_t **tokens, const char *path, llama3_error *err);
int l3_kl_read_row(FILE *f, float *logprob, uint32_t n_vocab, const char *path, llama3_error *err);

#endif
