/* llama3 serve: an OpenAI-compatible HTTP server. One model thread runs continuous batching
 * over --slots KV slots; connection threads parse requests, queue them and stream answers.
 * The HTTP + JSON layer is src/server/ (built into the CLI only: it needs libmicrohttpd). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *SERVE_HELP =
    "usage: llama3 serve -m MODEL [--host 127.0.0.1] [--port 8080] [--slots N] [-c CTX] [options]\n"
    "\n"
    "Serve the model over HTTP/1.1 with OpenAI's API. Requests share one model thread that\n"
    "batches every running sequence into one forward pass per token (continuous batching).\n"
    "\n"
    "Endpoints:\n"
    "  POST /v1/chat/completions   messages -> assistant answer (\"stream\": true for SSE)\n"
    "  POST /v1/completions        prompt -> continuation (\"stream\": true for SSE)\n"
    "        fields: max_tokens, temperature (default 1), top_p (default 1), seed, stop\n"
    "        (string or up to 4 strings), stream, stream_options.include_usage; extras: top_k,\n"
    "        min_p, repeat_penalty\n"
    "  GET  /v1/models             the served model\n"
    "  GET  /health                {\"status\":\"ok\", slots_idle, slots_processing, queued}\n"
    "  POST /tokenize              {\"content\": TEXT, \"add_special\"?: bool} -> {\"tokens\": [...]}\n"
    "  POST /detokenize            {\"tokens\": [...]} -> {\"content\": TEXT}\n"
    "\n"
    "Options:\n"
    "      --host ADDR       numeric address to listen on (default 127.0.0.1)\n"
    "      --port N          TCP port (default 8080; 0 = any free port)\n"
    "      --slots N         sequences generated together (default 4); each has a -c context\n"
    "      --queue N         requests that may wait for a slot; more get 503 (default 16)\n"
    "      --timeout S       close idle or stalled connections after S seconds (default 60)\n"
    "      --max-body BYTES  largest request body; larger gets 413 (default 1048576)\n"
    "Model:\n" CLI_MODEL_OPTS_HELP
    "  -h, --help            this help\n"
    "\n"
    "SIGINT or SIGTERM stops the server cleanly.\n";

#ifdef LLAMA3_HAVE_MHD
#include <pthread.h>

#include "server/server.h"

int cmd_serve(int argc, char **argv) {
    const char *cmd = "serve";
    cli_model_opts mo;
    cli_model_opts_init(&mo);
    const char *host = "127.0.0.1";
    long port = 8080, slots = 4, queue = 16, timeout = 60, max_body = 1 << 20;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int r = cli_model_opt(&mo, argc, argv, &i, cmd);
        if (r < 0) return 1;
        if (r > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(SERVE_HELP, stdout); return 0; }
        if (!(v = cli_value(argc, argv, &i, cmd))) return 1;
        if (!strcmp(a, "--host")) host = v;
        else if (!strcmp(a, "--port")) {
            if (!cli_parse_int(v, 0, 65535, &port)) return cli_error(cmd, "invalid --port '%s' (0..65535)", v);
        } else if (!strcmp(a, "--slots")) {
            if (!cli_parse_int(v, 1, 256, &slots)) return cli_error(cmd, "invalid --slots '%s' (1..256)", v);
        } else if (!strcmp(a, "--queue")) {
            if (!cli_parse_int(v, 0, 4096, &queue)) return cli_error(cmd, "invalid --queue '%s' (0..4096)", v);
        } else if (!strcmp(a, "--timeout")) {
            if (!cli_parse_int(v, 1, 86400, &timeout)) return cli_error(cmd, "invalid --timeout '%s' (1..86400 s)", v);
        } else if (!strcmp(a, "--max-body")) {
            if (!cli_parse_int(v, 1024, 1L << 30, &max_body)) return cli_error(cmd, "invalid --max-body '%s'", v);
        } else return cli_error(cmd, "unknown option '%s' (see llama3 serve --help)", a);
    }
    /* Signals go to a waiting thread (below), never to a connection thread mid-request. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    llama3_model *m;
    llama3_session *s;
    if (cli_open(&mo, cmd, &m, &s, (int)slots)) return 1;
    llama3_error err = { 0 };
    srv_engine engine;
    const char *name = strrchr(mo.model, '/');
    name = name && name[1] ? name + 1 : mo.model;
    srv_ctx ctx = { m, llama3_model_tokenizer(m), name, llama3_session_n_ctx(s), &engine };
    int rc = 1, bound = 0;
    char msg[256];
    if (srv_engine_start(&engine, m, s, (int)queue, &err)) {
        cli_error(cmd, "%s", err.msg);
        goto done_model;
    }
    srv_http_options ho = { host, (int)port, (int)timeout, (size_t)max_body, (int)(2 * (slots + queue) + 32) };
    srv_http *h = srv_http_start(&ctx, &ho, &bound, msg, sizeof msg);
    if (!h) {
        cli_error(cmd, "%s", msg);
        goto done_engine;
    }
    fprintf(stderr, "llama3 serve: %s, %ld slots x %d tokens of context; listening on http://%s%s%s:%d\n", name, slots,
            ctx.n_ctx, strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", bound);
    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "llama3 serve: %s, stopping\n", sig == SIGINT ? "interrupted" : "terminated");
    /* Jobs end first (their waiting connection threads return), then the daemon joins them. */
    srv_engine_stop(&engine);
    srv_http_stop(h);
    rc = 0;
done_engine:
    srv_engine_free(&engine);
done_model:
    llama3_session_free(s);
    llama3_model_free(m);
    return rc;
}

#else

int cmd_serve(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(SERVE_HELP, stdout); return 0; }
    return cli_error("serve", "this build has no HTTP server (libmicrohttpd was not found when it was configured)");
}

#endif
