/* The server's request handling without sockets: byte 0 of the input picks the endpoint, the
 * rest is the request body, handed to the same functions http.c calls:
 *   0: POST /v1/chat/completions   1: POST /v1/completions   (srv_parse_generation)
 *   2: POST /tokenize              3: POST /detokenize
 * A generation request that parses is then run through the text pipeline with its own prompt
 * ids standing in for sampled ones (streaming detokenizer, stop strings, hold-back) and every
 * response body is built. Model: tok32 (the real Llama 3 vocabulary and chat template),
 * loaded once. Invariants: the prompt fits the context, max_tokens is in 1..room, ids are in
 * the vocabulary, text handed out never exceeds what was assembled. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "server/server.h"

static llama3_model *g_model;
static srv_ctx g_ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    char path[1024];
    snprintf(path, sizeof path, "%s/models/tok32/gguf/model-q8_0.gguf", fz_fixtures());
    llama3_error err = { 0 };
    if (!(g_model = llama3_model_load(path, NULL, &err))) {
        fprintf(stderr, "fuzz_http: %s (set LLAMA3_FIXTURES)\n", err.msg);
        exit(2);
    }
    g_ctx.m = g_model;
    g_ctx.tok = llama3_model_tokenizer(g_model);
    g_ctx.model_name = "tok32";
    g_ctx.n_ctx = 256;
    g_ctx.engine = NULL;  /* no generation thread: only parsing and response building */
    return 0;
}

static void text_pipeline(srv_params *p) {
    srv_text t = { 0 };
    t.stop = p->stop;  /* the text owns the stop strings, as in http.c */
    t.n_stop = p->n_stop;
    p->stop = NULL;
    p->n_stop = 0;
    size_t handed = 0;
    for (int i = 0; i < p->n_prompt && !t.stopped; i += 3) {
        int k = p->n_prompt - i < 3 ? p->n_prompt - i : 3;
        if (srv_text_feed(&t, g_model, p->prompt + i, k) != 0) break;
        size_t len;
        const char *s = srv_text_take(&t, &len);
        if (!s || t.sent > t.len) abort();
        handed += len;
    }
    srv_text_finish(&t);
    size_t len;
    (void)srv_text_take(&t, &len);
    handed += len;
    if (handed != t.sent || t.sent > t.len) abort();
    json_t *choices = json_array();
    for (int i = 0; i < p->n; i++)
        json_array_append_new(choices, srv_choice_json(&g_ctx, p, i, t.all ? t.all : "", t.len, "stop", NULL, NULL));
    char *body = srv_completion_json(&g_ctx, p, "cmpl-fuzz", 0, choices, t.n_used, 0);
    char *ev = srv_chunk_event(&g_ctx, p, "cmpl-fuzz", 0, p->n - 1, t.all ? t.all : "", t.len, NULL, NULL);
    char *ev2 = srv_chunk_event(&g_ctx, p, "cmpl-fuzz", 0, 0, NULL, 0, "length", NULL);
    char *us = srv_usage_event(&g_ctx, p, "cmpl-fuzz", 0, t.n_used, 0);
    if (!body || !ev || !ev2 || !us) abort();  /* valid UTF-8 text must always serialise */
    free(body);
    free(ev);
    free(ev2);
    free(us);
    srv_text_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_model) LLVMFuzzerInitialize(NULL, NULL);
    if (size == 0) return 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    int mode = data[0] & 3;
    if (mode <= 1) {
        srv_params p;
        char msg[256] = "";
        int st = srv_parse_generation(&g_ctx, mode == 0 ? SRV_CHAT : SRV_COMPLETION, body, len, &p, msg, sizeof msg);
        if (st != 0) {
            if (st != 400 || !msg[0]) abort();  /* a client error, with a message */
            char *e = srv_error_json(st, msg);
            free(e);
            return 0;
        }
        int room = g_ctx.n_ctx - p.n_prompt;
        if (p.n_prompt <= 0 || p.n_prompt >= g_ctx.n_ctx || p.max_tokens < 1 || p.max_tokens > room) abort();
        int nv = llama3_model_args(g_model)->vocab_size;
        for (int i = 0; i < p.n_prompt; i++)
            if (p.prompt[i] < 0 || p.prompt[i] >= nv) abort();
        text_pipeline(&p);
        srv_params_free(&p);
    } else {
        char *out = NULL;
        int st = mode == 2 ? srv_tokenize(&g_ctx, body, len, &out) : srv_detokenize(&g_ctx, body, len, &out);
        if ((st != 200 && st != 400) || !out) abort();
        free(out);
    }
    return 0;
}
