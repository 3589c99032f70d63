/* The server's entry points (llama3_tools.h): the engine's model thread and the HTTP layer,
 * started and stopped together. */
#include <stdlib.h>
#include <string.h>

#include "llama3_tools.h"
#include "server/http.h"
#include "util.h"

struct llama3_server {
    srv_engine engine;
    srv_ctx ctx;
    srv_http *http;
    int port;
    char *model_name;
};

int llama3_server_available(llama3_error *err) {
    (void)err;
    return 1;
}

llama3_server *llama3_server_start(llama3_model *m, llama3_session *s, const llama3_server_options *o,
                                   llama3_error *err) {
    llama3_server *srv = calloc(1, sizeof *srv);
    char *name = strdup(o->model_name ? o->model_name : "");
    if (!srv || !name) {
        free(srv);
        free(name);
        l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
        return NULL;
    }
    srv->model_name = name;
    srv->ctx = (srv_ctx){ m, llama3_model_tokenizer(m), name, llama3_session_n_ctx(s), &srv->engine, NULL, NULL, NULL };
    srv->ctx.metrics = srv_metrics_new((int)SRV_N_ROUTES);
    srv->ctx.embedder = srv_embedder_new();
    if (!srv->ctx.metrics || !srv->ctx.embedder) {
        srv_metrics_free(srv->ctx.metrics);
        srv_embedder_free(srv->ctx.embedder);
        free(name);
        free(srv);
        l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
        return NULL;
    }
    /* structured output's vocabulary trie (a vocabulary it cannot use: response_format is refused) */
    if (srv->ctx.tok) srv->ctx.vocab = llama3_json_vocab_new(srv->ctx.tok, NULL);
    if (srv_engine_start(&srv->engine, m, s, o->queue, err)) {
        llama3_json_vocab_free(srv->ctx.vocab);
        srv_metrics_free(srv->ctx.metrics);
        srv_embedder_free(srv->ctx.embedder);
        free(name);
        free(srv);
        return NULL;
    }
    /* Connection limits independent of the slots: slow or idle clients cannot take the room of
     * working ones, and one address cannot take all of it. */
    srv_http_options ho = {
        o->host, o->port, o->timeout_s, o->max_body,
        o->max_connections > 0 ? o->max_connections : 256,
        o->max_per_address > 0 ? o->max_per_address : 32,
        o->head_timeout_s > 0 ? o->head_timeout_s : 10,
        o->body_timeout_s > 0 ? o->body_timeout_s : 60,
        o->api_key && *o->api_key ? o->api_key : NULL,
        o->cors_origin && *o->cors_origin ? o->cors_origin : NULL,
    };
    srv->http = srv_http_start(&srv->ctx, &ho, &srv->port, err);
    if (!srv->http) {
        srv_engine_free(&srv->engine);
        llama3_json_vocab_free(srv->ctx.vocab);
        srv_metrics_free(srv->ctx.metrics);
        srv_embedder_free(srv->ctx.embedder);
        free(name);
        free(srv);
        return NULL;
    }
    return srv;
}

int llama3_server_port(const llama3_server *srv) { return srv->port; }

void llama3_server_stop(llama3_server *srv) {
    if (!srv) return;
    /* Jobs end first (their waiting connection threads return), then the daemon joins them. */
    srv_engine_stop(&srv->engine);
    srv_http_stop(srv->http);
    srv_engine_free(&srv->engine);
    llama3_json_vocab_free(srv->ctx.vocab);
    srv_metrics_free(srv->ctx.metrics);
    srv_embedder_free(srv->ctx.embedder);
    free(srv->model_name);
    free(srv);
}
