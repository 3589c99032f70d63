/* llama3 serve internals: the engine (one model thread running the continuous-batching loop
 * over a bounded queue of jobs), the OpenAI-style request/response JSON, the text assembly
 * for a job (streaming detokenizer + stop strings), and the HTTP layer on libmicrohttpd. */
#ifndef LLAMA3_SERVER_H
#define LLAMA3_SERVER_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "llama3.h"

/* ---- engine.c: jobs and the model thread ---------------------------------------------- */

typedef enum srv_job_state { SRV_QUEUED, SRV_RUNNING, SRV_DONE } srv_job_state;

/* A sampled token's log-probability and its most likely alternatives. */
typedef struct srv_lp {
    float logprob;
    int n_top;
    int32_t top_id[LLAMA3_MAX_TOP_LOGPROBS];
    float top_logprob[LLAMA3_MAX_TOP_LOGPROBS];
} srv_lp;

/* One generation. Filled by an HTTP thread, then shared with the model thread under the
 * engine's mutex; freed when both sides have released it. */
typedef struct srv_job {
    int32_t *prompt;
    int n_prompt;
    llama3_sampler_params sp;
    int max_tokens;
    llama3_logit_bias *bias;      /* owned; sp.logit_bias points here */
    llama3_json_constraint *constraint;  /* owned; NULL = free text */
    bool cache_prompt, logprobs;
    int top_logprobs;
    /* shared, under srv_engine.mu */
    int n_cached;                 /* prompt tokens taken from the prompt cache */
    int refs;
    srv_job_state state;
    bool cancel;                  /* the HTTP side left (client gone, stop string matched) */
    int seq;                      /* batch sequence while running */
    int32_t *toks;                /* sampled ids, in order */
    srv_lp *lps;                  /* [cap_toks] with logprobs */
    int n_toks, cap_toks;
    llama3_batch_finish finish;   /* set when done */
    char error[160];              /* set when the engine failed the job */
    struct srv_job *next;         /* queue link */
} srv_job;

typedef struct srv_engine {
    llama3_model *m;
    llama3_session *s;
    llama3_batch *b;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;          /* work arrived, a job was cancelled, or stop */
    pthread_cond_t progress;      /* some job got tokens or ended */
    srv_job *q_head, *q_tail;
    int q_len, q_max;
    srv_job **running;            /* [capacity], by batch sequence id */
    int n_running;
    bool stopping, started;
    llama3_batch_event *ev;
    int *kv_pos;                  /* [capacity] tokens in each slot's KV cache (after each step) */
} srv_engine;

/* One slot as /slots reports it. */
typedef struct srv_slot_info {
    bool busy;
    int n_prompt, n_generated, n_cached;  /* the running request's */
    int kv_tokens;                /* tokens in the slot's KV cache (the prompt cache when idle) */
} srv_slot_info;

int srv_engine_start(srv_engine *e, llama3_model *m, llama3_session *s, int queue_max, llama3_error *err);
/* Fails every pending job and joins the model thread; submissions are refused after it
 * (the HTTP side may still call in until srv_engine_free). */
void srv_engine_stop(srv_engine *e);
void srv_engine_free(srv_engine *e);
srv_job *srv_job_new(void);           /* refs = 1 (the HTTP side) */
/* Queues jobs[0..n) together (each takes a reference): one job as the queue allows; n > 1
 * (the choices of one request) only when n slots are free now and not promised to queued jobs,
 * so that they run side by side. Returns 0, -1 when the queue is full or stopping, -2 when
 * fewer than n slots are free. */
int srv_engine_submit(srv_engine *e, srv_job *const *jobs, int n);
/* Waits (at most timeout_ms) until some jobs[i] has more than have[i] ids or is done. */
void srv_jobs_wait(srv_engine *e, srv_job *const *jobs, const int *have, int n, int timeout_ms);
/* Waits (at most timeout_ms) until j has more than `have` ids or is done; copies ids
 * have.. (at most cap) into out (and their logprobs into lp_out, if not NULL) and returns how
 * many; *done once j is done and all copied. */
int srv_job_poll(srv_engine *e, srv_job *j, int have, int timeout_ms, int32_t *out, srv_lp *lp_out, int cap,
                 bool *done);
/* Drops the HTTP side's reference; a job still queued or running is cancelled (slot freed). */
void srv_job_release(srv_engine *e, srv_job *j);
void srv_engine_cancel(srv_engine *e, srv_job *j);
/* Counts for /health. */
void srv_engine_counts(srv_engine *e, int *n_running, int *n_queued, int *n_slots);
/* Each slot's state (info[capacity]); returns the capacity. */
int srv_engine_slots(srv_engine *e, srv_slot_info *info, int cap);

/* ---- metrics.c: counters for /metrics (Prometheus text) and the request log ---------------- */

typedef struct srv_metrics srv_metrics;
srv_metrics *srv_metrics_new(int n_routes);
void srv_metrics_free(srv_metrics *m);
/* One request answered: route index (n_routes: none matched), status, tokens, and for a
 * generation the time to its first token and the mean time per later token (< 0: none). */
void srv_metrics_request(srv_metrics *m, int route, int status, int n_prompt, int n_generated, double ttft_s,
                         double per_token_s);
char *srv_metrics_text(srv_metrics *m, const char *const *route_names, srv_engine *e, int n_ctx);

/* ---- text.c: a job's tokens to text, with stop strings ------------------------------------ */

typedef struct srv_text {
    llama3_detok dt;
    char *all;                    /* the text so far (valid UTF-8) */
    size_t len, cap, sent;        /* sent: bytes handed out by srv_text_take */
    char **stop;                  /* owned */
    int n_stop;
    bool stopped;                 /* a stop string matched: all ends before it */
    bool final;                   /* srv_text_finish ran */
    int n_used;                   /* tokens consumed (end tokens not counted) */
} srv_text;

/* Feeds ids[0..n); stops early at an end token or a stop string. Returns -1 on error. */
int srv_text_feed(srv_text *t, const llama3_model *m, const int32_t *ids, int n);
/* End of the job: flushes the decoder; everything becomes takeable. */
void srv_text_finish(srv_text *t);
/* Text that can be sent now (held back: a possible prefix of a stop string). */
const char *srv_text_take(srv_text *t, size_t *len);
void srv_text_free(srv_text *t);

/* ---- api.c: OpenAI request parsing and response bodies ----------------------------------- */

typedef enum srv_kind { SRV_CHAT, SRV_COMPLETION } srv_kind;

/* The most choices one request may ask for (and never more than the slots). */
#define SRV_MAX_N 128

/* ---- tools.c: tool calling in Llama 3.1's JSON format ------------------------------------ */

typedef enum srv_tool_choice { SRV_TOOLS_NONE, SRV_TOOLS_AUTO, SRV_TOOLS_REQUIRED, SRV_TOOLS_NAMED } srv_tool_choice;

typedef struct srv_tools {
    int n;                        /* 0: no tools */
    char **names;                 /* [n] */
    char **params;                /* [n] the parameters' JSON Schema texts ("" = any object) */
    json_t *defs;                 /* the definitions as given, for the prompt */
    srv_tool_choice choice;
    int named;                    /* SRV_TOOLS_NAMED: the index */
    bool parallel;                /* parallel_tool_calls (default true): several calls a turn */
} srv_tools;

/* The most calls one reply may make (each separated by ';', Llama 3.1's way). */
#define SRV_MAX_TOOL_CALLS 8

/* Reads tools, tool_choice and parallel_tool_calls; 400 (message in msg) when malformed. */
int srv_tools_parse(json_t *root, srv_tools *t, char *msg, size_t cap);
void srv_tools_free(srv_tools *t);
/* The constraint of "required" / a named tool_choice: a call of one of the functions (with
 * parallel: up to SRV_MAX_TOOL_CALLS of them separated by ';'). */
llama3_json_constraint *srv_tools_constraint(const srv_tools *t, const llama3_json_vocab *v, char *msg, size_t cap);
/* The first user message with the function definitions before it (malloc'd). */
char *srv_tools_user_text(const srv_tools *t, const char *question);
/* An earlier assistant turn's tool calls (OpenAI's tool_calls) as the model writes them. */
char *srv_tools_calls_text(json_t *calls);
/* The reply as an array of OpenAI's tool call objects when it is one or more calls of the
 * tools (JSON calls separated by ';' or white space; one only without parallel), else NULL. */
json_t *srv_tools_reply_calls(const srv_tools *t, const char *text, size_t len);

typedef struct srv_params {
    srv_kind kind;
    bool stream, include_usage;
    llama3_sampler_params sp;
    int max_tokens;               /* requested (0 = not given) */
    char **stop;
    int n_stop;
    int32_t *prompt;
    int n_prompt;
    bool cache_prompt;            /* llama-server's cache_prompt (default true) */
    bool logprobs;                /* chat: logprobs; completions: logprobs given */
    int top_logprobs;
    llama3_logit_bias *bias;      /* logit_bias (sp.logit_bias points here) */
    int n_bias;
    int n;                        /* choices (OpenAI's n, 1..SRV_MAX_N; at most the slots) */
    /* [n] one per choice (a constraint has state): response_format json_object / json_schema,
     * or a required / named tool_choice; NULL entries (or array) = free text */
    llama3_json_constraint **constraints;
    bool json_format;             /* response_format json_object / json_schema */
    char *schema;                 /* json_schema's schema text (NULL: any object) */
    char *echo;                   /* completions' echo: the prompt's text */
    size_t echo_len;
    srv_tools tools;              /* chat: tools offered (tools.n > 0, choice != NONE: a call may come) */
} srv_params;

/* The tokens of a reply that are reported with logprobs. */
typedef struct srv_toklog {
    const int32_t *ids;
    const srv_lp *lps;
    int n;
    size_t offset;                /* completions' text_offset of the first one */
} srv_toklog;

typedef struct srv_ctx {
    llama3_model *m;
    llama3_tokenizer *tok;
    const char *model_name;
    int n_ctx;
    srv_engine *engine;
    llama3_json_vocab *vocab;     /* for response_format (NULL: not a byte-level BPE vocabulary) */
    srv_metrics *metrics;
    struct srv_embedder *embedder;
} srv_ctx;

/* ---- embed.c: POST /v1/embeddings ---------------------------------------------------------- */

typedef struct srv_embedder srv_embedder;
srv_embedder *srv_embedder_new(void);
void srv_embedder_free(srv_embedder *e);
/* The status and body of an embeddings request. */
int srv_embeddings(const srv_ctx *c, const char *body, size_t len, char **out);

/* Parses and tokenizes a request body. On failure returns the HTTP status (400) and
 * writes the message into msg. */
int srv_parse_generation(const srv_ctx *c, srv_kind kind, const char *body, size_t len, srv_params *p,
                         char *msg, size_t msg_cap);
void srv_params_free(srv_params *p);
/* {"error": {"message", "type", "code"}} */
char *srv_error_json(int status, const char *message);
/* One choice of a whole (non-streamed) response: the reply's text, or (calls not NULL:
 * taken) tool calls (srv_tools_reply_calls' array). */
json_t *srv_choice_json(const srv_ctx *c, const srv_params *p, int index, const char *text, size_t len,
                        const char *finish, const srv_toklog *lg, json_t *calls);
/* A whole response with its choices (taken); usage counts the prompt once. */
char *srv_completion_json(const srv_ctx *c, const srv_params *p, const char *id, long created, json_t *choices,
                          int n_completion, int n_cached);
/* A stream's chunk of choice `index` carrying its tool calls (taken). */
char *srv_tool_call_event(const srv_ctx *c, const srv_params *p, const char *id, long created, int index, json_t *calls);
/* One server-sent event "data: {...}\n\n" of a stream for choice `index`; text may be NULL
 * (role chunk) and finish NULL (not last). */
char *srv_chunk_event(const srv_ctx *c, const srv_params *p, const char *id, long created, int index,
                      const char *text, size_t len, const char *finish, const srv_toklog *lg);
char *srv_usage_event(const srv_ctx *c, const srv_params *p, const char *id, long created, int n_completion,
                      int n_cached);
/* GET /v1/models, GET /health, POST /tokenize, POST /detokenize: status and body. */
char *srv_models_json(const srv_ctx *c);
char *srv_health_json(const srv_ctx *c);
/* GET /v1/models/{id}: 404 when id is not the served model. */
int srv_model_json(const srv_ctx *c, const char *id, char **out);
/* llama-server's /props and /slots. */
char *srv_props_json(const srv_ctx *c);
char *srv_slots_json(const srv_ctx *c);
int srv_tokenize(const srv_ctx *c, const char *body, size_t len, char **out);
int srv_detokenize(const srv_ctx *c, const char *body, size_t len, char **out);
/* "stop" / "length" for a finished job. */
const char *srv_finish_reason(const srv_job *j, const srv_text *t);

/* ---- http.c: the libmicrohttpd daemon (routes.c: its routes) ----------------------------- */

typedef struct srv_http_options {
    const char *host;
    int port;                     /* 0 = any free port (the chosen one is reported) */
    int timeout_s;                /* idle connection timeout */
    size_t max_body;
    int max_connections;          /* in all */
    int max_per_address;
    int head_timeout_s;           /* deadlines: the head from accept (or the last reply) */
    int body_timeout_s;           /* the body from the head */
    const char *api_key;          /* NULL: none */
    const char *cors_origin;      /* NULL: none */
} srv_http_options;

typedef struct srv_http srv_http;
/* Listens and serves on its own threads; *bound_port is the port chosen when o->port is 0. */
srv_http *srv_http_start(srv_ctx *c, const srv_http_options *o, int *bound_port, llama3_error *err);
void srv_http_stop(srv_http *h);

#endif
