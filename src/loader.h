/* Detects the format of a model path and fills one weights description.
 * The only room that knows formats exist. */
#ifndef LLAMA3_LOADER_H
#define LLAMA3_LOADER_H
#include "model/weights.h"

/* Loads the whole model. */
int l3_load_weights(const char *path, const llama3_load_options *opt, l3_weights *out, llama3_error *err);
/* The same for process `rank` of n running the model together: a Meta folder cut into exactly
 * n shards gives only shard `rank`, as slice rank of n (weights.h's shard fields); anything
 * else the whole model. */
int l3_load_weights_rank(const char *path, const llama3_load_options *opt, int rank, int n, l3_weights *out,
                         llama3_error *err);

/* One per format (formats/gguf_model.c, formats/hf.c, formats/meta.c). Each fills args,
 * tensors and the vocab source, then the loader validates. */
int l3_load_gguf(const char *path, const llama3_load_options *opt, l3_weights *w, llama3_error *err);
int l3_load_hf(const char *dir, const llama3_load_options *opt, l3_weights *w, llama3_error *err);
int l3_load_meta(const char *dir, const llama3_load_options *opt, l3_weights *w, llama3_error *err);
int l3_load_meta_rank(const char *dir, const llama3_load_options *opt, int rank, int n, l3_weights *w,
                      llama3_error *err);

#endif
