/* ModelArgs: model.py's derived sizes and validation. */
#ifndef LLAMA3_ARGS_H
#define LLAMA3_ARGS_H
#include "llama3.h"

/* model.py: hidden = int(2*4*dim/3); if ffn_dim_multiplier: hidden = int(mult*hidden);
 * hidden = multiple_of * ceil(hidden / multiple_of). */
int l3_args_ffn_width(int dim, int multiple_of, float ffn_dim_multiplier);
/* Fills head_dim and checks every field (positive sizes, n_heads | dim, n_kv_heads | n_heads,
 * even head_dim, sane eps/theta). Message names `source` (the file). */
int l3_args_finalize(llama3_args *a, const char *source, llama3_error *err);
void l3_args_defaults(llama3_args *a);
/* RoPE frequencies [head_dim/2] exactly as model.py computes them in float32, with the
 * Llama 3.1 scaling when enabled; or base / factor[i] when the file supplies factors. */
void l3_rope_freqs(const llama3_args *a, const float *file_factors, float *out);

#endif
