/* Shared pieces of the llama3 command-line tool: option parsing for the model-running
 * subcommands, error reporting, tiny file helpers. Each subcommand lives in its own file and
 * uses the library through include/ only (llama3.h, llama3_tools.h). */
#ifndef LLAMA3_CLI_H
#define LLAMA3_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "llama3.h"
#include "llama3_tools.h"

/* Options every subcommand that runs the model accepts. */
typedef struct cli_model_opts {
    const char *model;
    int n_ctx;                /* -c / --ctx */
    int n_threads;            /* -t / --threads */
    llama3_kv_type kv_type;   /* --kv-type f16|f32|q8_0 */
    int prompt_int8;          /* --prompt-int8 1|2 (0 = the library's default, 1) */
    bool mlock;
    unsigned long long max_alloc;  /* --max-alloc (0 = the library's default) */
    const char *device;       /* --device cpu|cuda[:N] (NULL = the library's default) */
} cli_model_opts;

#define CLI_MODEL_OPTS_HELP                                                                     \
    "  -m, --model PATH      GGUF file, Hugging Face folder or Meta folder (required)\n"          \
    "  -c, --ctx N           context length (KV-cache positions, default 4096 or the model's)\n"  \
    "  -t, --threads N       threads (default: physical cores)\n"                                 \
    "      --kv-type TYPE    KV-cache element type: f16 (default), f32 or q8_0 (8-bit blocks,\n" \
    "                        about half of f16's memory; needs head_dim a multiple of 32)\n"     \
    "      --prompt-int8 N   8-bit activation levels of prompt tokens with quantized weights:\n" \
    "                        1 (default; llama.cpp's precision, ~1e-2 logit error, the fastest\n" \
    "                        prefill) or 2 (as exact as decoding, ~5e-5; slower prefill)\n"      \
    "      --mlock           lock the weights in memory\n"                                     \
    "      --max-alloc BYTES cap on what the load and the session allocate (tensor copies, KV\n"   \
    "                        cache, buffers), e.g. 8G (default 64G)\n"                         \
    "      --device DEV      where the model runs: cpu (default; this build has no other)\n"

void cli_model_opts_init(cli_model_opts *o);
/* If argv[*i] is one of the model options, consumes it (and its value) and returns 1;
 * returns 0 if not ours, -1 after printing an error. */
int cli_model_opt(cli_model_opts *o, int argc, char **argv, int *i, const char *cmd);

/* Sampling options shared by run, chat and serve's defaults. */
#define CLI_SAMPLER_OPTS_HELP                                                                   \
    "      --temp T          temperature (default 0.6; 0 = greedy)\n"                          \
    "      --top-p P         Meta's nucleus sampling threshold (default 0.9; 1 = off)\n"       \
    "      --top-k K         keep the K most likely tokens (default 0 = off)\n"                \
    "      --min-p P         drop tokens below P x the best token's probability (default 0)\n" \
    "      --repeat-penalty R  penalise the last --repeat-last-n tokens (default 1 = off)\n"   \
    "      --repeat-last-n N window for the penalty (default 64)\n"                            \
    "      --seed S          random seed (default: from the clock; printed to stderr)\n"

/* Like cli_model_opt, for the sampling options; sets *seed_given on --seed. */
int cli_sampler_opt(llama3_sampler_params *sp, bool *seed_given, int argc, char **argv, int *i, const char *cmd);

/* Value of an option that takes one: prints an error and returns NULL if missing. */
const char *cli_value(int argc, char **argv, int *i, const char *cmd);
bool cli_parse_int(const char *s, long lo, long hi, long *out);
bool cli_parse_float(const char *s, float *out);
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Loads the model and a session as the options say; prints errors. In a model-parallel run,
 * a process other than rank 0 follows rank 0's session (cli_follow) and exits there. */
int cli_open(const cli_model_opts *o, const char *cmd, llama3_model **m, llama3_session **s, int n_slots);
/* Ranks other than 0: prints this process's memory, runs rank 0's passes until it is done,
 * frees s; returns the exit status. */
int cli_follow(const char *cmd, llama3_model *m, llama3_session *s, llama3_kv_type kv);
/* "memory: weights ..., KV cache ..., scratch ..." on stderr, for this process */
void cli_print_memory(llama3_model *m, llama3_session *s, llama3_kv_type kv);

/* Read a file of little-endian int32 token ids (non-empty, at most max_ids) into a malloc'd
 * array; prints the error. */
int cli_read_ids_file(const char *path, long max_ids, int32_t **ids, int *n, const char *cmd);

/* Parse "1,2,3" (or space-separated) into a malloc'd array. */
int cli_parse_ids(const char *s, int32_t **ids, int *n, const char *cmd);

/* Subcommands. argv[0] is the subcommand name. */
int cmd_run(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_synth(int argc, char **argv);

#endif
