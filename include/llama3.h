/* llama3c: Llama 3 inference in C. The public library API.
 *
 * Handles are opaque. Every function that can fail takes a `llama3_error *` (may be NULL) and
 * returns a status (0 = ok, negative = error) or NULL; the message names the file, tensor or key
 * and what was expected. The library never calls exit() or abort().
 *
 * Typical use:
 *   llama3_model *m = llama3_model_load("model.gguf", NULL, &err);
 *   llama3_session *s = llama3_session_new(m, &(llama3_session_options){ .n_ctx = 4096 }, &err);
 *   llama3_eval(s, 0, ids, n_ids, logits, 0, &err);  // logits of the last token, [vocab]
 */
#ifndef LLAMA3_H
#define LLAMA3_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct llama3_error {
    int code;        /* one of llama3_status */
    char msg[512];   /* one line, no trailing newline */
} llama3_error;

typedef enum llama3_status {
    LLAMA3_OK = 0,
    LLAMA3_ERR_IO = -1,        /* missing / unreadable file */
    LLAMA3_ERR_FORMAT = -2,    /* malformed or truncated file, bad metadata */
    LLAMA3_ERR_UNSUPPORTED = -3,
    LLAMA3_ERR_ARG = -4,       /* bad argument from the caller (id out of range, ...) */
    LLAMA3_ERR_MEMORY = -5,
    LLAMA3_ERR_CONTEXT = -6,   /* the sequence does not fit the context */
} llama3_status;

/* Meta's ModelArgs, every field, plus the sizes derived from it. */
typedef struct llama3_args {
    int dim;
    int n_layers;
    int n_heads;
    int n_kv_heads;
    int vocab_size;
    int multiple_of;           /* 0 when the format gives the FFN width directly */
    float ffn_dim_multiplier;  /* 0 = None */
    int hidden_dim;            /* FFN width (derived by model.py's formula, or from the file) */
    float norm_eps;
    float rope_theta;
    int use_scaled_rope;       /* Llama 3.1 frequency scaling */
    float rope_scale_factor;   /* 8 */
    float rope_low_freq_factor;  /* 1 */
    float rope_high_freq_factor; /* 4 */
    int rope_original_ctx;     /* 8192 */
    int rope_freqs_in_file;    /* GGUF: the scaled frequencies come from rope_freqs.weight */
    int max_batch_size;
    int max_seq_len;           /* the trained context (from the file) */
    int head_dim;              /* dim / n_heads */
} llama3_args;

/* KV-cache element type. Q8_0: per 32 values an f16 scale and 32 int8 (34 bytes, ggml's
 * block_q8_0), about half of f16's memory; needs head_dim a multiple of 32. */
typedef enum llama3_kv_type {
    LLAMA3_KV_F16 = 0,
    LLAMA3_KV_F32 = 1,
    LLAMA3_KV_Q8_0 = 2,
} llama3_kv_type;
/* "f16", "f32", "q8_0"; NULL for an unknown value. */
const char *llama3_kv_type_name(llama3_kv_type t);
/* The type named (as llama3_kv_type_name spells it), or -1. */
int llama3_kv_type_from_name(const char *name);

typedef struct llama3_model llama3_model;
typedef struct llama3_session llama3_session;
typedef struct llama3_tokenizer llama3_tokenizer;
typedef struct llama3_sampler llama3_sampler;

/* ---- models ---------------------------------------------------------------------------- */

typedef struct llama3_load_options {
    size_t max_alloc_bytes;    /* cap on memory one load may allocate (copies of tensors, merged
                                * shards), and on each session's KV cache and buffers (0 =
                                * default 64 GiB) */
    int mlock;                 /* lock the mapped weights in memory */
    int no_mmap;               /* read the weights into memory instead of mapping the files */
    int no_repack;             /* keep every matrix in the file's layout: no copy into the CPU
                                * kernels' row groups (made by default for the weight types
                                * the kernel set has them for, the file's pages handed back) */
    const char *device;        /* where the model runs: "cpu" (NULL or "": the default, the
                                * CPU); "cuda" / "cuda:N" where the build has that backend */
} llama3_load_options;

/* path: a GGUF file, a Hugging Face folder or a Meta folder (detected). opt may be NULL. */
llama3_model *llama3_model_load(const char *path, const llama3_load_options *opt, llama3_error *err);
void llama3_model_free(llama3_model *m);
const llama3_args *llama3_model_args(const llama3_model *m);
/* Human-readable description of the weights: format, dominant type, bytes, parameter count. */
const char *llama3_model_format(const llama3_model *m);
/* The backend the model runs on: "cpu", "cuda". */
const char *llama3_model_device(const llama3_model *m);
uint64_t llama3_model_param_count(const llama3_model *m);
uint64_t llama3_model_weight_bytes(const llama3_model *m);
/* Bytes of the weights this process computes with: all of them alone, about 1/N of them as one
 * of N processes. */
uint64_t llama3_model_rank_weight_bytes(const llama3_model *m);
/* The model's tokenizer (NULL when the file has none usable); owned by the model. */
llama3_tokenizer *llama3_model_tokenizer(const llama3_model *m);
/* Returns 1 when id ends a turn or the text (eos, <|eot_id|>, <|eom_id|>, <|end_of_text|>). */
int llama3_model_is_end_token(const llama3_model *m, int32_t id);
int32_t llama3_model_bos(const llama3_model *m);  /* -1 if none */

/* The CPU backend's kernel sets this machine runs, slowest first, the set in use (LLAMA3_ISA
 * or the best) and the CPU features probed, as one line ("scalar avx2 avx512 (in use:
 * avx512; cpu: avx2 fma ...)"). The text is static; not thread-safe with LLAMA3_ISA changes. */
const char *llama3_cpu_info(void);

/* ---- sessions: KV cache slots + scratch + threads ------------------------------------- */

typedef struct llama3_session_options {
    int n_ctx;                 /* KV-cache length per slot (0 = min(4096, max_seq_len)) */
    int n_slots;               /* independent sequences (0 = 1) */
    int n_threads;             /* 0 = number of physical cores */
    llama3_kv_type kv_type;    /* default F16 */
    /* 8-bit activation levels of prompt rows with quantized weights (on CPUs with an integer
     * prefill kernel): 0 or 1 = one level, llama.cpp's precision (about 1.3e-2 relative
     * error in the logits) at half the integer work of 2 = two levels, decode's precision
     * (about 5e-5). Decoded tokens always take two levels. */
    int prompt_int8_levels;
} llama3_session_options;

llama3_session *llama3_session_new(llama3_model *m, const llama3_session_options *opt,
                                   llama3_error *err);
void llama3_session_free(llama3_session *s);
int llama3_session_n_ctx(const llama3_session *s);
/* Tokens already in a slot's KV cache. */
int llama3_session_pos(const llama3_session *s, int slot);
/* Forget a slot's history (or keep its first n_keep tokens). */
void llama3_session_reset(llama3_session *s, int slot, int n_keep);
size_t llama3_session_kv_bytes(const llama3_session *s);
/* KV-cache bytes per token (keys and values of every layer) for model m with type t, or a
 * negative status: LLAMA3_ERR_ARG when the model's head_dim does not suit t (the error
 * llama3_session_new would give). */
int64_t llama3_kv_bytes_per_token(const llama3_model *m, llama3_kv_type t, llama3_error *err);
size_t llama3_session_scratch_bytes(const llama3_session *s);

/* Feed n ids to one slot, appending to its history, in one batched pass.
 * logits: if all_logits, [n x vocab] (row i predicts the token after ids[i]); otherwise
 * [vocab] for the last id only. May be NULL. n > 1 ids are a prompt (prompt_int8_levels). */
int llama3_eval(llama3_session *s, int slot, const int32_t *ids, int n, float *logits,
                int all_logits, llama3_error *err);

/* As llama3_eval with all_logits, but hidden gets each row's final hidden state after the
 * final norm, norm(h) [n x dim], instead of its logits (embeddings; no output matrix). */
int llama3_eval_hidden(llama3_session *s, int slot, const int32_t *ids, int n, float *hidden,
                       llama3_error *err);

/* Advance several slots together in one pass: slot_of[i] is the slot of ids[i]; each slot's
 * rows must be contiguous and in order. logits receives one row per *slot group* end
 * (the last row of each run of equal slots), in order of appearance. The rows of a slot with
 * more than one row are a prompt (prompt_int8_levels), a slot's single row a decoded token. */
int llama3_eval_batch(llama3_session *s, const int32_t *ids, const int *slot_of, int n,
                      float *logits, llama3_error *err);

/* ---- tokenizer ------------------------------------------------------------------------ */

/* Load a tokenizer on its own: tokenizer.model (tiktoken), tokenizer.json, or a GGUF file. */
llama3_tokenizer *llama3_tokenizer_load(const char *path, llama3_error *err);
void llama3_tokenizer_free(llama3_tokenizer *t);
int llama3_tokenizer_n_vocab(const llama3_tokenizer *t);
/* Encode UTF-8 text. flags: LLAMA3_TOK_BOS adds <|begin_of_text|>, LLAMA3_TOK_SPECIAL parses
 * special-token text as special tokens. Returns the number of ids (may exceed cap: call again
 * with a bigger buffer) or a negative status. */
enum { LLAMA3_TOK_BOS = 1, LLAMA3_TOK_SPECIAL = 2 };
int llama3_tokenize(const llama3_tokenizer *t, const char *text, size_t len, int flags,
                    int32_t *ids, int cap, llama3_error *err);
/* Bytes of one token (not NUL-terminated); NULL for an invalid id. */
const char *llama3_token_bytes(const llama3_tokenizer *t, int32_t id, size_t *len);
int32_t llama3_token_id(const llama3_tokenizer *t, const char *special_name);  /* -1 if none */

/* Streaming decoder: holds back incomplete UTF-8 sequences so output never splits a char. */
typedef struct llama3_detok { unsigned char pending[8]; int n_pending; } llama3_detok;
/* Appends the printable bytes for id to out (cap bytes); returns bytes written or < 0. */
int llama3_detok_push(llama3_detok *d, const llama3_tokenizer *t, int32_t id, char *out,
                      size_t cap, llama3_error *err);
/* Flush what is left (invalid trailing bytes become U+FFFD). */
int llama3_detok_flush(llama3_detok *d, char *out, size_t cap);

/* Meta's ChatFormat. */
typedef struct llama3_message { const char *role; const char *content; } llama3_message;
/* Encodes a dialog ending with an open assistant header. Same return convention as tokenize. */
int llama3_chat_encode(const llama3_tokenizer *t, const llama3_message *msgs, int n_msgs,
                       int32_t *ids, int cap, llama3_error *err);

/* ---- sampling ------------------------------------------------------------------------- */

/* A bias added to one token's logit (OpenAI's logit_bias). */
typedef struct llama3_logit_bias { int32_t id; float bias; } llama3_logit_bias;

typedef struct llama3_sampler_params {
    float temperature;         /* 0 = greedy */
    float top_p;               /* 1 = off (Meta's sample_top_p) */
    int top_k;                 /* 0 = off */
    float min_p;               /* 0 = off */
    float repeat_penalty;      /* 1 = off */
    int repeat_last_n;         /* window for the penalty */
    uint64_t seed;
    /* OpenAI's penalties over the tokens sampled so far (not the prompt): a token sampled c
     * times has its logit lowered by c * frequency_penalty + (c > 0) * presence_penalty.
     * 0 = off. */
    float frequency_penalty;
    float presence_penalty;
    /* Biases added to the logits first (copied by llama3_sampler_new; ids out of range are
     * ignored). */
    const llama3_logit_bias *logit_bias;
    int n_logit_bias;
} llama3_sampler_params;

llama3_sampler_params llama3_sampler_defaults(void);
llama3_sampler *llama3_sampler_new(const llama3_sampler_params *p, int vocab_size);
void llama3_sampler_free(llama3_sampler *s);
/* logits are modified in place: on return they hold the logits after logit_bias and the
 * frequency / presence penalties (what logprobs are computed from). Records the chosen id for
 * the penalties. Order: logit_bias, frequency / presence, repetition penalty, temperature,
 * top-k, softmax, min-p, top-p. */
int32_t llama3_sample(llama3_sampler *s, float *logits);
void llama3_sampler_accept(llama3_sampler *s, int32_t id);  /* e.g. prompt ids */

/* Log-probabilities of the softmax of logits[n] (tokens at -inf have none): returns
 * log p(id), and writes the n_top most likely tokens (most likely first, ties by lower id)
 * into top_id / top_logprob (n_top <= LLAMA3_MAX_TOP_LOGPROBS; fewer when fewer tokens are
 * possible: the number written goes to *n_written). */
#define LLAMA3_MAX_TOP_LOGPROBS 20
float llama3_logprobs(const float *logits, int n, int32_t id, int n_top, int32_t *top_id, float *top_logprob,
                      int *n_written);

/* ---- structured output: JSON constrained token by token -------------------------------- *
 * A constraint masks the logits before each token is sampled so that the reply is a JSON
 * document valid against a schema: objects (properties, required), arrays (items), strings,
 * numbers, integers, booleans, null, type lists, enum, const, nested to 23 levels. Keys come
 * only from `properties` (when given), whitespace runs are at most 8 bytes, numbers at most 15
 * digits a part. Other keywords (pattern, minimum, anyOf, $ref, ...) are refused by name. */
typedef struct llama3_json_vocab llama3_json_vocab;
typedef struct llama3_json_constraint llama3_json_constraint;

/* The tokenizer's text tokens as a trie of their bytes: built once (tens of ms for 128k
 * tokens), read-only, shared by any number of constraints on any threads. t must outlive it.
 * LLAMA3_ERR_UNSUPPORTED for a vocabulary that is not byte-level BPE. */
llama3_json_vocab *llama3_json_vocab_new(const llama3_tokenizer *t, llama3_error *err);
void llama3_json_vocab_free(llama3_json_vocab *v);
/* schema: a JSON Schema text of len bytes; NULL = any JSON object (OpenAI's json_object).
 * LLAMA3_ERR_UNSUPPORTED names a keyword it cannot enforce, LLAMA3_ERR_ARG a malformed
 * schema. */
llama3_json_constraint *llama3_json_constraint_new(const llama3_json_vocab *v, const char *schema, size_t len,
                                                   llama3_error *err);
/* A call of one of n functions in Llama 3.1's JSON tool format: {"name": names[i],
 * "parameters": a value of parameters[i]} (a JSON Schema text; NULL or "" = any object). */
llama3_json_constraint *llama3_json_constraint_tool_call(const llama3_json_vocab *v, const char *const *names,
                                                         const char *const *parameters, int n, llama3_error *err);
/* Up to max_calls (1..255) such calls in a row, separated by ';' (Llama 3.1's way of making
 * several calls in one turn); a call begins after a ';' only while a whole one still fits
 * the tokens left. */
llama3_json_constraint *llama3_json_constraint_tool_calls(const llama3_json_vocab *v, const char *const *names,
                                                          const char *const *parameters, int n, int max_calls,
                                                          llama3_error *err);
void llama3_json_constraint_free(llama3_json_constraint *c);
/* Sets the logit of every token that cannot come next to -inf; end tokens stay open only once
 * the document is complete. tokens_left: tokens the reply may still take, this one included
 * (<= 0: unbounded); when it comes within a few tokens of what the shortest completion of the
 * document needs, the reply follows that completion (longest tokens first), so it ends whole
 * whenever the budget allowed the shortest document at the start. */
int llama3_json_constraint_apply(llama3_json_constraint *c, float *logits, int tokens_left);
/* Advances over the sampled token; LLAMA3_ERR_ARG when it was not allowed. */
int llama3_json_constraint_accept(llama3_json_constraint *c, int32_t id);
/* 1 when the text so far is a whole, valid document. */
int llama3_json_constraint_complete(const llama3_json_constraint *c);

/* ---- model parallelism over processes (mpirun -np N) ------------------------------------- *
 * Started by mpirun, every process loads the model (each its slice of every layer, as Meta's
 * fairscale layers cut it: N must divide n_heads, n_kv_heads, the FFN width and the
 * vocabulary) and opens a session with the same options: both calls are collective, and an
 * error on one process is an error on all (the others' messages may be empty: the failing
 * process reports it). Rank 0 then drives the session as usual (eval, batch, sampling), and
 * every pass it runs is run by all; the other ranks call llama3_session_follow, which returns
 * when rank 0 frees its session. Alone (or in a build without MPI), rank 0 of 1. */
int llama3_world_rank(void);
int llama3_world_size(void);
/* What the processes communicate with: "MPI (Open MPI v4.1.4 ...)" or "none". */
const char *llama3_world_transport(void);
int llama3_session_follow(llama3_session *s, llama3_error *err);

/* ---- continuous batching ---------------------------------------------------------------- *
 * A scheduler over a session's slots: every llama3_batch_step advances all running sequences
 * by one token and prefills waiting prompts in chunks, together, in one llama3_eval_batch
 * call. Sequences join (llama3_batch_add) and leave (finish or llama3_batch_remove) between
 * steps. Each has its own sampler; a greedy sequence yields the ids it would yield alone. */
typedef struct llama3_batch llama3_batch;

typedef struct llama3_batch_options {
    int max_rows;        /* rows per forward pass (0 = 256; llama3_eval_batch takes up to 512) */
    int prefill_chunk;   /* prompt rows one sequence may add per step (0 = 64); bounds how long
                          * a new prompt stalls the running sequences */
} llama3_batch_options;

typedef enum llama3_batch_finish {
    LLAMA3_FINISH_NONE = 0,    /* still running */
    LLAMA3_FINISH_END = 1,     /* sampled an end token (eos, <|eot_id|>, <|eom_id|>, ...) */
    LLAMA3_FINISH_LENGTH = 2,  /* max_tokens reached */
    LLAMA3_FINISH_CONTEXT = 3, /* the slot's context is full */
} llama3_batch_finish;

/* One sampled token of one sequence; finish != NONE on its last token (the sequence has
 * then left the batch and its slot is free). */
typedef struct llama3_batch_event {
    int seq;                   /* the id llama3_batch_add returned (= its slot) */
    int32_t token;
    int n_generated;           /* tokens sampled so far, this one included */
    llama3_batch_finish finish;
    /* With llama3_batch_seq.logprobs: the token's log-probability under the logits it was
     * sampled from (after logit_bias, penalties and a constraint's mask; before temperature),
     * and the n_top most likely tokens (llama3_logprobs). */
    float logprob;
    int n_top;
    int32_t top_id[LLAMA3_MAX_TOP_LOGPROBS];
    float top_logprob[LLAMA3_MAX_TOP_LOGPROBS];
} llama3_batch_event;

/* The scheduler uses every slot of s (and resets a slot when a sequence takes it). m must be
 * the session's model. opt may be NULL. */
llama3_batch *llama3_batch_new(llama3_model *m, llama3_session *s, const llama3_batch_options *opt,
                               llama3_error *err);
void llama3_batch_free(llama3_batch *b);
/* Starts a sequence from prompt ids (copied; 1..n_ctx-1 of them) that will sample at most
 * max_tokens tokens (<= 0: until the context is full). Returns its id (>= 0), or
 * LLAMA3_ERR_CONTEXT when no slot is free or the prompt does not fit, LLAMA3_ERR_ARG for
 * bad ids. The prompt ids are fed to the sampler's repetition window. */
int llama3_batch_add(llama3_batch *b, const int32_t *prompt, int n_prompt,
                     const llama3_sampler_params *sp, int max_tokens, llama3_error *err);
/* A sequence's options beyond llama3_batch_add's (zero = off). */
typedef struct llama3_batch_seq {
    const llama3_sampler_params *sp;  /* NULL = llama3_sampler_defaults() */
    int max_tokens;                   /* <= 0: until the context is full */
    /* Prompt cache: start on the free slot whose cached tokens (the prompt and reply of its
     * last sequence) share the longest prefix with this prompt, keep that prefix in the KV
     * cache and prefill only the rest (at least the last prompt token is always fed). Without
     * it the sequence starts on an empty (or the least recently used) slot from scratch. */
    int cache_prompt;
    /* Applied to the logits before each token is sampled and advanced after it; borrowed
     * until the sequence ends (finish or llama3_batch_remove). NULL = none. */
    llama3_json_constraint *constraint;
    int logprobs;                     /* 1: events carry logprob */
    int top_logprobs;                 /* 0..LLAMA3_MAX_TOP_LOGPROBS alternatives (with logprobs) */
} llama3_batch_seq;
/* llama3_batch_add with options; same returns. */
int llama3_batch_add_seq(llama3_batch *b, const int32_t *prompt, int n_prompt, const llama3_batch_seq *o,
                         llama3_error *err);
/* Prompt tokens a running sequence took from the cache instead of prefilling them. */
int llama3_batch_n_cached(const llama3_batch *b, int seq);
/* Drops a sequence at once (client gone, stop string matched); frees its slot (whose cache
 * keeps the tokens fed so far). */
void llama3_batch_remove(llama3_batch *b, int seq);
/* One forward pass. Writes at most cap events (cap >= llama3_batch_capacity is always
 * enough) and returns their number (0 when nothing ran), or < 0 on error. */
int llama3_batch_step(llama3_batch *b, llama3_batch_event *ev, int cap, llama3_error *err);
int llama3_batch_capacity(const llama3_batch *b);  /* slots */
int llama3_batch_n_active(const llama3_batch *b);  /* sequences in the batch */

#ifdef __cplusplus
}
#endif
#endif
