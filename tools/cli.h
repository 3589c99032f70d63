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

/* Option tables. Each command lists its options once: an id, every name the option goes by
 * (llama.cpp's spellings among them, so scripts written for llama-cli and llama-server run),
 * and whether it takes a value. */
typedef enum cli_arg { CLI_FLAG, CLI_VALUE, CLI_OPTIONAL } cli_arg;
typedef struct cli_opt {
    int id;              /* > 0 */
    const char *names;   /* "-n|--n-predict|--predict" */
    cli_arg arg;
    const char *values;  /* CLI_OPTIONAL: the values it may take ("on|off|auto"); a next argument
                          * that is not one of them is not its value */
} cli_opt;

/* Matches argv[*i] against the table (ended by an entry with id 0). Returns the option's id,
 * its value (if any) in *v and *i moved past it; 0 when argv[*i] is not in the table; -1 after
 * printing that a value is missing. */
int cli_match(const cli_opt *t, int argc, char **argv, int *i, const char **v, const char *cmd);
/* The error for an argument no table took: "unknown option 'X'" (or "unexpected argument 'X'"
 * for a word). Returns 1. */
int cli_unknown(const char *cmd, const char *arg);

/* Options every subcommand that runs the model accepts. */
typedef struct cli_model_opts {
    const char *model;        /* -m: a path, or hf:OWNER/NAME[:QUANT|/FILE] */
    int n_ctx;                /* -c / --ctx / --ctx-size */
    int n_threads;            /* -t / --threads */
    llama3_kv_type kv_type;   /* --kv-type f16|f32|q8_0 */
    int prompt_int8;          /* --prompt-int8 1|2 (0 = the library's default, 1) */
    bool mlock, no_mmap, no_repack;
    unsigned long long max_alloc;  /* --max-alloc (0 = the library's default) */
    const char *device;       /* --device cpu|cuda[:N] (NULL = the library's default) */
    bool quiet;               /* --quiet: no download progress */
} cli_model_opts;

#define CLI_MODEL_OPTS_HELP                                                                     \
    "  -m, --model PATH      GGUF file, Hugging Face folder or Meta folder (required), or\n"      \
    "                        hf:OWNER/NAME[:QUANT] or hf:OWNER/NAME/FILE: downloaded into the\n" \
    "                        Hugging Face cache first (see llama3 pull --help)\n"                \
    "  -c, --ctx N           context length (KV-cache positions, default 4096 or the model's);\n" \
    "                        also --ctx-size\n"                                                  \
    "  -t, --threads N       threads (default: physical cores)\n"                                 \
    "      --kv-type TYPE    KV-cache element type: f16 (default), f32 or q8_0 (8-bit blocks,\n" \
    "                        about half of f16's memory; needs head_dim a multiple of 32)\n"     \
    "      --prompt-int8 N   8-bit activation levels of prompt tokens with quantized weights:\n" \
    "                        1 (default; llama.cpp's precision, ~1e-2 logit error, the fastest\n" \
    "                        prefill) or 2 (as exact as decoding, ~5e-5; slower prefill)\n"      \
    "      --mlock           lock the weights in memory\n"                                     \
    "      --no-mmap         read the weights into memory instead of mapping the file\n"       \
    "  -nr, --no-repack      keep the file's layout: by default the matrices of the types the\n" \
    "                        CPU kernels have row groups for (Q4_0, Q4_K, Q5_K, Q6_K on x86,\n" \
    "                        and Q8_0 with AVX-512)\n"                                      \
    "                        are copied into them at load for faster decode, the file's\n"    \
    "                        pages handed back\n"                                              \
    "                        (--mlock and --no-mmap keep the file's layout too)\n"             \
    "      --max-alloc BYTES cap on what the load and the session allocate (tensor copies, KV\n"   \
    "                        cache, buffers), e.g. 8G (default 64G)\n"                         \
    "      --device DEV      where the model runs: cpu (default; this build has no other)\n"   \
    "  -ngl, --n-gpu-layers N  (also --gpu-layers) accepted for llama.cpp's scripts: this build\n" \
    "                        has only the CPU backend, so any count (or auto, all) means the\n" \
    "                        same: everything on the CPU\n"                                   \
    "  -fa, --flash-attn [on|off|auto]  accepted for llama.cpp's scripts: attention here is\n"  \
    "                        one fused pass over the KV cache whatever the value\n"            \
    "      --quiet           no progress lines (downloads of hf: models; perplexity's windows)\n"

void cli_model_opts_init(cli_model_opts *o);
/* If argv[*i] is one of the model options, consumes it (and its value) and returns 1;
 * returns 0 if not ours, -1 after printing an error. */
int cli_model_opt(cli_model_opts *o, int argc, char **argv, int *i, const char *cmd);
/* A command line of model options and -h/--help only (info, version): returns -1 to go on,
 * else the exit status to return with (after the help or an error). */
int cli_model_args_only(cli_model_opts *o, int argc, char **argv, const char *cmd, const char *help);

/* Sampling options shared by run, chat and serve's defaults. */
#define CLI_SAMPLER_OPTS_HELP                                                                   \
    "      --temp T          temperature (default 0.6; 0 = greedy)\n"                          \
    "      --top-p P         Meta's nucleus sampling threshold (default 0.9; 1 = off)\n"       \
    "      --top-k K         keep the K most likely tokens (default 0 = off)\n"                \
    "      --min-p P         drop tokens below P x the best token's probability (default 0)\n" \
    "      --repeat-penalty R  penalise the last --repeat-last-n tokens (default 1 = off)\n"   \
    "      --repeat-last-n N window for the penalty (default 64)\n"                            \
    "  -s, --seed S          random seed (default: from the clock; printed to stderr)\n"

/* Like cli_model_opt, for the sampling options; sets *seed_given on --seed. */
int cli_sampler_opt(llama3_sampler_params *sp, bool *seed_given, int argc, char **argv, int *i, const char *cmd);

/* Value of an option that takes one: prints an error and returns NULL if missing. */
const char *cli_value(int argc, char **argv, int *i, const char *cmd);
bool cli_parse_int(const char *s, long lo, long hi, long *out);
bool cli_parse_float(const char *s, float *out);
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* -m hf:...: downloads what is missing (progress on stderr unless quiet) and returns the local
 * path in *path (malloc'd); any other -m is copied as it is. Prints errors. */
int cli_resolve_model(const char *model, bool quiet, char **path, const char *cmd);
/* The load options the model options say. */
llama3_load_options cli_load_options(const cli_model_opts *o);

/* ---- progress lines (quantize, convert, synth, perplexity, pull) ---------------------------- *
 * On a terminal one line redrawn in place (percent, item, amount, rate, ETA); otherwise one
 * line per 10%; nothing with quiet. Use cli_progress_cb as a llama3_progress_fn. */
typedef struct cli_progress {
    const char *cmd;
    int mode;            /* 0 quiet, 1 terminal, 2 lines */
    bool bytes;          /* amounts are bytes (MB, MB/s) rather than items */
    double t0, t_draw;   /* started; the last line drawn */
    bool started;
    int decile;          /* the last 10% step printed */
} cli_progress;
void cli_progress_init(cli_progress *p, const char *cmd, bool bytes, bool quiet);
void cli_progress_cb(void *p, const char *item, uint64_t done, uint64_t total);
/* Ends the terminal line (if one is drawn). */
void cli_progress_end(cli_progress *p);

/* ---- stop strings (-r / --reverse-prompt) ------------------------------------------------------ *
 * Text streams through; what could be the start of a stop string is held back until the next
 * piece tells, so a matched stop string is never printed. */
typedef struct cli_stop {
    const char *const *stops;
    int n_stops;
    char *held;
    size_t n_held, cap;
} cli_stop;
/* Appends text; writes what is safe to out (a malloc'd buffer grown as needed, *n_out bytes).
 * Returns 1 when a stop string was completed (the text before it was written), else 0; -1 when
 * out of memory. */
int cli_stop_push(cli_stop *s, const char *text, size_t n, char **out, size_t *n_out, size_t *cap_out);
/* What is held back, at the end of the text (no stop string matched). */
const char *cli_stop_flush(cli_stop *s, size_t *n);
void cli_stop_free(cli_stop *s);

/* Loads the model (after downloading an hf: one) and a session as the options say; prints
 * errors. In a model-parallel run, a process other than rank 0 follows rank 0's session
 * (cli_follow) and exits there. */
int cli_open(const cli_model_opts *o, const char *cmd, llama3_model **m, llama3_session **s, int n_slots);
/* Ranks other than 0: prints this process's memory, runs rank 0's passes until it is done,
 * frees s; returns the exit status. */
int cli_follow(const char *cmd, llama3_model *m, llama3_session *s, const cli_model_opts *o);
/* "memory: weights ... [(read into memory)], KV cache ..., scratch ..." on stderr, for this
 * process */
void cli_print_memory(llama3_model *m, llama3_session *s, const cli_model_opts *o);

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
int cmd_pull(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_rm(int argc, char **argv);

#endif
