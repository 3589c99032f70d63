/* llama3c: what the `llama3` command-line tool uses beyond the public API (llama3.h).
 *
 * The functions follow llama3.h's conventions: 0 (or a pointer) on success, a negative
 * llama3_status (or NULL) on failure with a one-line message in err, which may be NULL.
 * All of them are in libllama3 except the HTTP server's and the Hugging Face client's, which
 * come from their own libraries: llama3_server (libmicrohttpd) and llama3_hub (libcurl and
 * OpenSSL's libcrypto), each replaced by a stand-in that only says it is missing when the
 * build did not find its dependencies (llama3_server_available, llama3_hub_available). */
#ifndef LLAMA3_TOOLS_H
#define LLAMA3_TOOLS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "llama3.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- helpers ------------------------------------------------------------------------------ */

/* Seconds on a monotonic clock, for measuring durations (the origin is arbitrary). */
double llama3_time_s(void);

/* Reads the whole file at path into *out: a malloc'd buffer the caller frees, with a NUL
 * after the data, whose length (without the NUL) goes to *len unless len is NULL. On failure
 * *out is NULL: LLAMA3_ERR_IO (cannot open or read), LLAMA3_ERR_FORMAT (more than max
 * bytes), LLAMA3_ERR_MEMORY. */
int llama3_read_file(const char *path, size_t max, char **out, size_t *len, llama3_error *err);

/* Physical CPU cores of this machine (online CPUs when /proc/cpuinfo does not tell): the
 * thread count a session takes by default. */
int llama3_physical_cores(void);

/* What this build is, for `llama3 --version`: static strings. */
typedef struct llama3_build_info {
    const char *version;     /* e.g. "0.1.0" */
    const char *commit;      /* git commit it was built from ("-dirty": with changes) */
    const char *options;     /* build type, compiler, target, optional parts and their state */
    const char *backends;    /* the compute backends built in, e.g. "cpu" */
} llama3_build_info;
const llama3_build_info *llama3_build(void);

/* Progress of long work (convert, quantize, synth, downloads): called now and then with the
 * item being worked on (a tensor or file name), the bytes done so far and the total, and once
 * more when done == total. Runs on the caller's thread. */
typedef void (*llama3_progress_fn)(void *user, const char *item, uint64_t done, uint64_t total);

/* ---- profiling: time per op kind of the forward pass (bench --profile, LLAMA3_PROFILE=1) -- */

/* on: start timing the session's ops (again: back to zero); 0: stop. With LLAMA3_PROFILE=1 in
 * the environment every session times itself from the start and prints the report to stderr
 * when it is freed. LLAMA3_ERR_MEMORY. */
int llama3_session_profile(llama3_session *s, int on, llama3_error *err);
/* The report so far as text (per op kind: calls, ms, share, the ms that ran on one thread,
 * the threads' use of the parallel parts; then the serial fraction and its Amdahl projection
 * to 16 and 64 threads), snprintf's convention; 0 when the session is not being timed. */
int llama3_session_profile_report(const llama3_session *s, char *buf, size_t cap);
/* The same per op kind (in pass order, kinds not run left out): fills up to cap entries and
 * returns how many there are. ms: wall time in the op; one_thread_ms: the part outside the
 * thread pool's parallel regions (work run on the calling thread alone); busy_ms: the threads'
 * time working inside those regions, summed over threads. */
typedef struct llama3_profile_op {
    const char *name;
    int64_t calls;
    double ms, one_thread_ms, busy_ms;
} llama3_profile_op;
int llama3_session_profile_ops(const llama3_session *s, llama3_profile_op *out, int cap);

/* ---- chat, one message at a time (a REPL that keeps its KV cache) ------------------------ *
 * The pieces llama3_chat_encode joins, without BOS. Return convention of llama3_tokenize: the
 * number of ids, which may exceed cap (call again with a bigger buffer), or a negative status:
 * LLAMA3_ERR_UNSUPPORTED when t cannot format Llama 3 chats, LLAMA3_ERR_ARG for an unknown
 * role or a bad buffer. */

/* 1 when t can format Llama 3 chats: it has the header and <|eot_id|> tokens, and its chat
 * template, if any, is recognisably Llama 3's; else 0. */
int llama3_tokenizer_has_chat(const llama3_tokenizer *t);
/* <|start_header_id|>role<|end_header_id|>\n\n, content stripped of surrounding whitespace,
 * <|eot_id|>. role: system, user, assistant or ipython. */
int llama3_chat_encode_message(const llama3_tokenizer *t, const char *role, const char *content, int32_t *ids,
                               int cap, llama3_error *err);
/* <|start_header_id|>assistant<|end_header_id|>\n\n: the open header an answer follows. */
int llama3_chat_encode_assistant_header(const llama3_tokenizer *t, int32_t *ids, int cap, llama3_error *err);

/* ---- writing GGUF files: convert, quantize ------------------------------------------------ */

typedef struct llama3_convert_options {
    const char *type;        /* output type: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k,
                              * q6_k (every matrix), or a mix: q4_k_s, q4_k_m, q5_k_s, q5_k_m
                              * (llama-quantize's per-tensor rules); convert: NULL = bf16 */
    const char *name;        /* convert: general.name; NULL = the source GGUF's, else IN's base name */
    const char *vocab_path;  /* convert: tokenizer to embed when IN has none (tokenizer.model,
                              * tokenizer.json or a GGUF file); NULL = none */
    int verbose;             /* one line per tensor on stderr */
    llama3_progress_fn progress;  /* may be NULL; bytes of source tensors encoded */
    void *progress_data;
} llama3_convert_options;

/* Writes in (a GGUF file, Hugging Face folder or Meta folder) to out as GGUF v3, laid out as
 * llama.cpp's convert_hf_to_gguf.py writes a Llama 3 model. The output is built in memory and
 * written at once; nothing is left at out on failure. Errors: the loader's for in,
 * LLAMA3_ERR_ARG (unknown type), LLAMA3_ERR_FORMAT (no tokenizer in in and no vocab_path),
 * LLAMA3_ERR_UNSUPPORTED (a vocabulary that is not byte-level BPE or larger than the
 * model's), LLAMA3_ERR_IO (out cannot be written), LLAMA3_ERR_MEMORY. */
int llama3_convert(const char *in, const char *out, const llama3_convert_options *o, llama3_error *err);
/* Re-encodes every 2-D weight of the GGUF file in as o->type (required) with ggml's reference
 * quantizers, copies every key (general.file_type updated) and writes out as llama3_convert
 * does. Errors as llama3_convert's; in must be a GGUF file (LLAMA3_ERR_FORMAT otherwise). */
int llama3_quantize(const char *in, const char *out, const llama3_convert_options *o, llama3_error *err);

/* ---- random-weight models: synth ------------------------------------------------------------ */

typedef struct llama3_synth_options {
    const char *shape;       /* llama3.2-1b, llama3.2-3b, llama3-8b or tiny */
    const char *type;        /* as llama3_convert_options.type (required); norms and rope_freqs stay f32 */
    const char *out;         /* GGUF file to write */
    uint64_t seed;           /* the weights follow from it alone, whatever the thread count */
    const char *vocab_path;  /* GGUF file whose tokenizer.* keys are copied (its vocabulary must
                              * have the shape's 128256 tokens); NULL = a placeholder byte-level
                              * vocabulary without merges */
    int n_threads;           /* threads for generating and quantizing; 0 = physical cores */
    llama3_progress_fn progress;  /* may be NULL; bytes of weights generated */
    void *progress_data;
} llama3_synth_options;

typedef struct llama3_synth_report {
    const char *title;       /* the shape's name, e.g. "Llama 3.2 1B" (static) */
    int n_tensors;
    char types[256];         /* tensors per type, e.g. "6 f32, 12 q4_K, 3 q6_K" */
    uint64_t weight_bytes;
    double generate_s, write_s;
    int n_threads;           /* threads used */
} llama3_synth_report;

/* Writes a model of a real Llama 3 shape with random weights ~ N(0, 0.02) and RMSNorm weights
 * 1 to o->out, as a GGUF file llama3c and llama.cpp both load (for benchmarks), and fills rep
 * (may be NULL). The whole model is built in memory first. Errors: LLAMA3_ERR_ARG (unknown
 * shape or type), LLAMA3_ERR_UNSUPPORTED (a type the type table cannot encode),
 * LLAMA3_ERR_MEMORY (out of memory, or weights larger than 80% of this machine's memory),
 * LLAMA3_ERR_FORMAT (vocab_path's vocabulary does not have the shape's size), the GGUF
 * reader's errors for vocab_path, LLAMA3_ERR_IO (out cannot be written). */
int llama3_synth(const llama3_synth_options *o, llama3_synth_report *rep, llama3_error *err);

/* ---- perplexity: scoring windows, statistics, the --kl-base file --------------------------- *
 * As llama.cpp's perplexity tool: the tokens are cut into non-overlapping windows of n_ctx;
 * each window is evaluated from an empty cache and only its second half is scored (rows
 * n_ctx/2 .. n_ctx-2 predict tokens n_ctx/2+1 .. n_ctx-1), so every scored token has at least
 * n_ctx/2 tokens of context. */

/* The first scored row of a window. */
static inline int llama3_ppl_first(int n_ctx) { return n_ctx / 2; }
/* Scored rows per window. */
static inline int llama3_ppl_scored_per_window(int n_ctx) { return n_ctx - 1 - n_ctx / 2; }

/* out[i] = logits[i] - logsumexp(logits[0..n)), computed in double; returns the argmax. */
int llama3_log_softmax(const float *logits, float *out, int n);
/* KL(p || q) = sum p (log p - log q), from log-probabilities over n entries. */
double llama3_kl_div(const float *logp, const float *logq, int n);

/* Running sums for a mean and its standard error; zero-initialise, then add. */
typedef struct llama3_mean_acc { double sum, sum2; int64_t n; } llama3_mean_acc;
static inline void llama3_mean_add(llama3_mean_acc *a, double x) { a->sum += x; a->sum2 += x * x; a->n++; }
/* The mean of what was added (0 when nothing was). */
double llama3_mean(const llama3_mean_acc *a);
/* The standard error of the mean (0 when fewer than 2 values were added). */
double llama3_mean_err(const llama3_mean_acc *a);

/* The base-model file of `llama3 perplexity --kl-base` / `--kl`: the token sequence and the
 * log-probabilities the base model gave at every scored position, so that a second model can
 * be compared with it position by position (KL divergence, top-1 agreement, perplexity
 * ratio). Layout (little-endian):
 *   char     magic[8] = "L3KLBASE"
 *   uint32   version = 1
 *   uint32   n_vocab
 *   uint32   n_ctx          window length the positions were scored with
 *   uint32   n_tokens       length of the token sequence
 *   uint32   n_pos          scored positions
 *   uint32   reserved = 0
 *   int32    tokens[n_tokens]
 *   float32  logprob[n_pos][n_vocab]   natural-log softmax of the logits, in scoring order
 * Which positions are scored follows from n_tokens and n_ctx (llama3_ppl_first). The
 * functions below read and write an open FILE the caller owns; path names it in messages. */
typedef struct llama3_kl_header {
    uint32_t n_vocab, n_ctx, n_tokens, n_pos;
} llama3_kl_header;

/* Writes the header and the h->n_tokens tokens; the rows follow. LLAMA3_ERR_IO on failure. */
int llama3_kl_write_begin(FILE *f, const llama3_kl_header *h, const int32_t *tokens, const char *path,
                          llama3_error *err);
/* Writes one scored position's n_vocab log-probabilities. LLAMA3_ERR_IO on failure. */
int llama3_kl_write_row(FILE *f, const float *logprob, uint32_t n_vocab, const char *path, llama3_error *err);
/* Reads and checks the header (against the file's size too) and the tokens into *tokens, a
 * malloc'd array the caller frees (NULL on failure), leaving f at the first row. Errors:
 * LLAMA3_ERR_FORMAT (not such a file, or a header that does not match its size),
 * LLAMA3_ERR_UNSUPPORTED (another version), LLAMA3_ERR_IO, LLAMA3_ERR_MEMORY. */
int llama3_kl_read_begin(FILE *f, llama3_kl_header *h, int32_t **tokens, const char *path, llama3_error *err);
/* Reads the next row of n_vocab log-probabilities. LLAMA3_ERR_IO when the file ends first. */
int llama3_kl_read_row(FILE *f, float *logprob, uint32_t n_vocab, const char *path, llama3_error *err);

/* ---- the HTTP server (llama3 serve) ------------------------------------------------------ */

/* Returns 1 when this build has the HTTP server; 0 when it was built without libmicrohttpd,
 * with err saying so (LLAMA3_ERR_UNSUPPORTED). */
int llama3_server_available(llama3_error *err);

typedef struct llama3_server_options {
    const char *host;        /* numeric IPv4 or IPv6 address to listen on, or "localhost" */
    int port;                /* TCP port; 0 = any free port (see llama3_server_port) */
    int timeout_s;           /* idle or stalled connections are closed after this many seconds */
    size_t max_body;         /* largest request body in bytes; a larger one gets 413 */
    int queue;               /* requests that may wait for a free slot; more get 503 */
    const char *model_name;  /* the model id the API reports (copied) */
    /* NULL or "": no key; else every route but /health needs "Authorization: Bearer KEY"
     * (401 with an OpenAI-style error otherwise) */
    const char *api_key;
    const char *cors_origin; /* NULL: no CORS; else Access-Control-Allow-Origin on every reply, preflights answered */
    int max_connections;     /* open connections in all (0 = 256); more are refused at accept */
    int max_per_address;     /* open connections from one client address (0 = 32) */
    int head_timeout_s;      /* a request head must arrive within this (0 = 10) */
    int body_timeout_s;      /* and its body within this after the head (0 = 60) */
} llama3_server_options;

typedef struct llama3_server llama3_server;

/* Starts the model thread (continuous batching over every slot of s) and the HTTP listener,
 * then returns; requests are served on the server's own threads until llama3_server_stop.
 * m and s stay the caller's: they must outlive the server, s must be a session of m, and
 * nothing else may use s meanwhile. Errors: LLAMA3_ERR_ARG (host not a numeric address),
 * LLAMA3_ERR_IO (cannot listen on the address and port), LLAMA3_ERR_MEMORY,
 * LLAMA3_ERR_UNSUPPORTED (a build without the server). */
llama3_server *llama3_server_start(llama3_model *m, llama3_session *s, const llama3_server_options *o,
                                   llama3_error *err);
/* The TCP port the server listens on (the one chosen when the options asked for port 0). */
int llama3_server_port(const llama3_server *srv);
/* Fails the requests still queued or running, stops listening, joins the server's threads
 * and frees srv (NULL is ignored). */
void llama3_server_stop(llama3_server *srv);
/* Route i (0, 1, ...) of the server, for help texts: sets *method ("GET", "POST"), *path and
 * *help (one or more lines separated by '\n', without a final newline) to static strings and
 * returns 0; returns -1 past the last route (at once in a build without the server). */
int llama3_server_route(int i, const char **method, const char **path, const char **help);

/* ---- Hugging Face: downloads and the cache (llama3 pull, -m hf:...) ----------------------- *
 * The cache is huggingface_hub's (HF_HUB_CACHE, else HF_HOME/hub, else
 * ~/.cache/huggingface/hub; models--OWNER--NAME/{blobs,snapshots,refs}), so models fetched by
 * huggingface-cli are found and the other way round. The host is HF_ENDPOINT (default
 * https://huggingface.co); HF_TOKEN, else the token file huggingface-cli writes (HF_TOKEN_PATH,
 * else HF_HOME/token), is sent as a bearer token; HF_HUB_OFFLINE=1 uses the cache alone. */

/* 1 when this build has the Hugging Face client; 0 when it was built without libcurl or
 * libcrypto, with err saying so (LLAMA3_ERR_UNSUPPORTED). */
int llama3_hub_available(llama3_error *err);

typedef struct llama3_hub_options {
    const char *revision;    /* branch, tag or commit; NULL = "main" */
    int meta;                /* Meta's checkpoint (the original/ folder) instead of the
                              * transformers files */
    llama3_progress_fn progress;  /* may be NULL: bytes downloaded of the bytes missing */
    void *progress_data;
} llama3_hub_options;

typedef struct llama3_hub_result {
    char *path;              /* what to load: a GGUF file (the first part of a split one) or a
                              * folder in the snapshot; malloc'd, see llama3_hub_result_free */
    char commit[41];         /* the snapshot's commit */
    int n_files;             /* files of the model */
    uint64_t bytes;          /* their size */
    uint64_t downloaded;     /* bytes this call fetched */
    int from_cache_only;     /* 1: offline or the Hub unreachable: the cached snapshot was used */
    char note[640];          /* with from_cache_only: why, in one line */
} llama3_hub_result;

/* Makes the model named by spec available in the cache and returns its path. spec (an "hf:"
 * prefix is allowed): OWNER/NAME[:QUANT] or OWNER/NAME/FILE. A GGUF repository gives the file
 * whose name ends in QUANT (default Q4_K_M; case-insensitive) with every part of a split file;
 * a transformers repository config.json, generation_config.json, tokenizer.json,
 * tokenizer_config.json and the safetensors files with their index; o->meta the original/
 * folder (params.json, consolidated.*.pth, tokenizer.model). Files already cached are not
 * fetched again; an interrupted download resumes; an LFS file's sha256 (another file's git blob
 * id) is checked before it enters the cache. Errors (one line, LLAMA3_ERR_IO unless said):
 * 401/403 (gated or private: how to get access), 404 (no such repository, revision or file; no
 * file for QUANT lists those there), the network down with nothing cached, not enough disk
 * space, a full disk, a hash mismatch (LLAMA3_ERR_FORMAT), a bad spec (LLAMA3_ERR_ARG). */
int llama3_hub_pull(const char *spec, const llama3_hub_options *o, llama3_hub_result *res, llama3_error *err);
void llama3_hub_result_free(llama3_hub_result *res);

/* One cached snapshot. */
typedef struct llama3_hub_cached {
    char repo[256];          /* OWNER/NAME */
    char revision[128];      /* the refs naming this commit, comma-separated ("" = none) */
    char commit[41];
    int n_files;
    uint64_t bytes;          /* the files' sizes (blobs shared by snapshots count in each) */
    char files[512];         /* the file names, comma-separated, cut with "..." */
} llama3_hub_cached;

/* The cache folder (malloc'd). */
int llama3_hub_cache_dir(char **dir, llama3_error *err);
/* Every cached snapshot, sorted by repository, into a malloc'd array (free it). */
int llama3_hub_list(llama3_hub_cached **out, int *n, llama3_error *err);
/* Deletes a repository's folder from the cache (blobs, snapshots, refs) and sets *freed (may
 * be NULL) to the bytes of blobs removed. LLAMA3_ERR_ARG when it is not cached. */
int llama3_hub_remove(const char *repo, uint64_t *freed, llama3_error *err);

#ifdef __cplusplus
}
#endif
#endif
