/* Writing GGUF files as llama.cpp's tools do: the pieces behind llama3_convert (any model the
 * loader accepts -> GGUF v3, the keys, tensor names and layout of convert_hf_to_gguf.py for a
 * Llama 3 model) and llama3_quantize (GGUF -> GGUF with every 2-D weight re-encoded, as
 * llama-quantize), both declared in llama3_tools.h. */
#ifndef LLAMA3_CONVERT_H
#define LLAMA3_CONVERT_H

#include <stdbool.h>
#include <stdint.h>
#include "formats/gguf.h"
#include "llama3_tools.h"
#include "model/weights.h"

/* ---- pieces (one file each) ------------------------------------------------------------ */

/* convert.c: the llama.* hyperparameter keys (context length .. rope dimension count) and
 * general.file_type, in convert_hf_to_gguf.py's order. */
void l3_gguf_w_llama_hparams(l3_gguf_writer *w, const llama3_args *a, uint32_t file_type);

/* rope_factors.c: Llama 3.1 `rope_freqs.weight` [head_dim/2], as llama.cpp's converter. */
void l3_rope_factors(const llama3_args *a, float *out);

/* vocab_export.c: the tokenizer.* keys. Copies them from a source GGUF, or builds the "gpt2"
 * vocabulary (GPT-2 byte-mapped tokens, token types, merges, bos/eos, chat template) from
 * tokenizer.model / tokenizer.json, padded or cut to vocab_size tokens. */
int l3_vocab_export(l3_gguf_writer *w, const l3_weights *wt, const char *vocab_path,
                    int vocab_size, llama3_error *err);

#endif
