/* The server's routes, declared once: http.c dispatches on this table (404 for an unknown
 * path, 405 for a known one with another method) and `llama3 serve --help` prints it. */
#include <stdlib.h>
#include <string.h>

#include "llama3_tools.h"
#include "server/http.h"

static enum MHD_Result chat(srv_req *r) { return srv_generate(r, SRV_CHAT); }
static enum MHD_Result completions(srv_req *r) { return srv_generate(r, SRV_COMPLETION); }
static enum MHD_Result models(srv_req *r) { return srv_respond(r->conn, 200, srv_models_json(r->h->c), NULL); }
static enum MHD_Result health(srv_req *r) { return srv_respond(r->conn, 200, srv_health_json(r->h->c), NULL); }
static enum MHD_Result props(srv_req *r) { return srv_respond(r->conn, 200, srv_props_json(r->h->c), NULL); }
static enum MHD_Result slots(srv_req *r) { return srv_respond(r->conn, 200, srv_slots_json(r->h->c), NULL); }

static enum MHD_Result model(srv_req *r) {
    char *out = NULL;
    int st = srv_model_json(r->h->c, r->arg, &out);
    return srv_respond(r->conn, st, out, NULL);
}

/* The chat page (src/server/webui.html, built into the binary). */
extern const unsigned char SRV_WEBUI_PAGE[];
extern const size_t SRV_WEBUI_PAGE_LEN;

static enum MHD_Result page(srv_req *r) {
    char *html = malloc(SRV_WEBUI_PAGE_LEN + 1);
    if (html) {
        memcpy(html, SRV_WEBUI_PAGE, SRV_WEBUI_PAGE_LEN);
        html[SRV_WEBUI_PAGE_LEN] = 0;
    }
    return srv_respond_text(r->conn, 200, html, "text/html; charset=utf-8");
}

static enum MHD_Result embeddings(srv_req *r) {
    char *out = NULL;
    int st = srv_embeddings(r->h->c, r->body ? r->body : "", r->len, &out);
    return srv_respond(r->conn, st, out, NULL);
}

static enum MHD_Result metrics(srv_req *r) {
    const char *names[64];
    for (size_t i = 0; i < SRV_N_ROUTES && i < 64; i++) names[i] = SRV_ROUTES[i].path;
    const srv_ctx *c = r->h->c;
    return srv_respond_text(r->conn, 200, srv_metrics_text(c->metrics, names, c->engine, c->n_ctx),
                            "text/plain; version=0.0.4");
}

static enum MHD_Result tokenize(srv_req *r) {
    char *out = NULL;
    int st = srv_tokenize(r->h->c, r->body ? r->body : "", r->len, &out);
    return srv_respond(r->conn, st, out, NULL);
}

static enum MHD_Result detokenize(srv_req *r) {
    char *out = NULL;
    int st = srv_detokenize(r->h->c, r->body ? r->body : "", r->len, &out);
    return srv_respond(r->conn, st, out, NULL);
}

const srv_route SRV_ROUTES[] = {
    { "GET", "/", page, "a chat page (streamed replies, system prompt, stop button)" },
    { "POST", "/v1/chat/completions", chat, "messages -> assistant answer (\"stream\": true for SSE)" },
    { "POST", "/v1/completions", completions,
      "prompt -> continuation (\"stream\": true for SSE)\n"
      "fields: n (choices, each on a free slot), max_tokens, temperature (default 1),\n"
      "top_p (default 1), seed, stop (string or up to 4 strings), stream,\n"
      "stream_options.include_usage, logprobs, logit_bias, frequency_penalty,\n"
      "presence_penalty, response_format (json_object, json_schema), echo; chat also\n"
      "top_logprobs, tools, tool_choice, parallel_tool_calls; extras: top_k, min_p,\n"
      "repeat_penalty, cache_prompt (default true); other fields: 400" },
    { "POST", "/v1/embeddings", embeddings,
      "input (string, token ids, or an array of them) -> unit-length mean of the final\n"
      "hidden states (after the final norm); encoding_format float or base64" },
    { "GET", "/v1/models", models, "the served model" },
    { "GET", "/v1/models/{id}", model, "the served model by its id (404 for another)" },
    { "GET", "/health", health, "{\"status\":\"ok\", slots_idle, slots_processing, queued}" },
    { "POST", "/tokenize", tokenize, "{\"content\": TEXT, \"add_special\"?: bool} -> {\"tokens\": [...]}" },
    { "POST", "/detokenize", detokenize, "{\"tokens\": [...]} -> {\"content\": TEXT}" },
    { "GET", "/metrics", metrics, "Prometheus text: requests, tokens, latency histograms, slots, queue, KV" },
    { "GET", "/props", props, "server properties (as llama-server's /props)" },
    { "GET", "/slots", slots, "each slot: busy, prompt/decoded/cached tokens, KV tokens (as llama-server)" },
};
const size_t SRV_N_ROUTES = sizeof SRV_ROUTES / sizeof SRV_ROUTES[0];

int llama3_server_route(int i, const char **method, const char **path, const char **help) {
    if (i < 0 || (size_t)i >= SRV_N_ROUTES) return -1;
    *method = SRV_ROUTES[i].method;
    *path = SRV_ROUTES[i].path;
    *help = SRV_ROUTES[i].help;
    return 0;
}
