/* llama3 serve: an OpenAI-compatible HTTP server. One model thread runs continuous batching
 * over --slots KV slots; connection threads parse requests, queue them and stream answers.
 * The server is the llama3_server library (src/server/); a build without libmicrohttpd has
 * a stand-in that says so. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *SERVE_HELP_HEAD =
    "usage: llama3 serve -m MODEL [--host 127.0.0.1] [--port 8080] [--slots N] [-c CTX] [options]\n"
    "\n"
    "Serve the model over HTTP/1.1 with OpenAI's API. Requests share one model thread that\n"
    "batches every running sequence into one forward pass per token (continuous batching).\n"
    "\n"
    "Endpoints:\n";

static const char *SERVE_HELP_TAIL =
    "\n"
    "Options:\n"
    "      --host ADDR       numeric address to listen on (default 127.0.0.1)\n"
    "      --port N          TCP port (default 8080; 0 = any free port)\n"
    "      --slots N         sequences generated together (default 4); each has a -c context;\n"
    "                        also -np, --parallel (llama-server's names)\n"
    "      --queue N         requests that may wait for a slot; more get 503 (default 16)\n"
    "      --timeout S       close idle or stalled connections after S seconds (default 60)\n"
    "      --max-body BYTES  largest request body; larger gets 413 (default 1048576)\n"
    "      --api-key KEY     require \"Authorization: Bearer KEY\" on every route but /health\n"
    "                        (default: $LLAMA3_API_KEY; unset = no key)\n"
    "      --cors ORIGIN     allow browsers from ORIGIN (or *): CORS headers, preflights (default none)\n"
    "      --max-connections N  open connections in all (default 256)\n"
    "      --max-per-address N  open connections from one address (default 32)\n"
    "      --head-timeout S  a request's head must arrive within S seconds (default 10)\n"
    "      --body-timeout S  and its body within S seconds more (default 60)\n"
    "Model:\n" CLI_MODEL_OPTS_HELP
    "  -h, --help            this help\n"
    "\n"
    "One line per request goes to stderr: time, address, method, path, status, prompt and\n"
    "generated tokens, milliseconds. SIGINT or SIGTERM stops the server cleanly.\n";

/* The endpoints from the server's route table; a help line's continuation lines indented. */
static void print_help(void) {
    fputs(SERVE_HELP_HEAD, stdout);
    const char *method, *path, *help;
    for (int i = 0; !llama3_server_route(i, &method, &path, &help); i++) {
        size_t n = strcspn(help, "\n");
        printf("  %-4s %-22s %.*s\n", method, path, (int)n, help);
        for (help += n; *help; help += n) {
            help++;
            n = strcspn(help, "\n");
            printf("        %.*s\n", (int)n, help);
        }
    }
    fputs(SERVE_HELP_TAIL, stdout);
}

enum { V_HELP = 1, V_HOST, V_PORT, V_SLOTS, V_QUEUE, V_TIMEOUT, V_MAX_BODY, V_API_KEY, V_CORS, V_MAX_CONN,
       V_PER_ADDR, V_HEAD_TIMEOUT, V_BODY_TIMEOUT };
static const cli_opt SERVE_OPTS[] = {
    { V_HELP, "-h|--help", CLI_FLAG, NULL },
    { V_HOST, "--host", CLI_VALUE, NULL },
    { V_PORT, "--port", CLI_VALUE, NULL },
    { V_SLOTS, "--slots|-np|--parallel", CLI_VALUE, NULL },
    { V_QUEUE, "--queue", CLI_VALUE, NULL },
    { V_TIMEOUT, "--timeout", CLI_VALUE, NULL },
    { V_MAX_BODY, "--max-body", CLI_VALUE, NULL },
    { V_API_KEY, "--api-key", CLI_VALUE, NULL },
    { V_CORS, "--cors", CLI_VALUE, NULL },
    { V_MAX_CONN, "--max-connections", CLI_VALUE, NULL },
    { V_PER_ADDR, "--max-per-address", CLI_VALUE, NULL },
    { V_HEAD_TIMEOUT, "--head-timeout", CLI_VALUE, NULL },
    { V_BODY_TIMEOUT, "--body-timeout", CLI_VALUE, NULL },
    { 0, NULL, 0, NULL },
};

int cmd_serve(int argc, char **argv) {
    const char *cmd = "serve";
    llama3_error err = { 0 };
    if (!llama3_server_available(&err)) return cli_error(cmd, "%s", err.msg);
    cli_model_opts mo;
    cli_model_opts_init(&mo);
    const char *host = "127.0.0.1";
    long port = 8080, slots = 4, queue = 16, timeout = 60, max_body = 1 << 20;
    long max_conn = 256, per_addr = 32, head_timeout = 10, body_timeout = 60;
    const char *api_key = getenv("LLAMA3_API_KEY"), *cors = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int r = cli_model_opt(&mo, argc, argv, &i, cmd);
        if (r < 0) return 1;
        if (r > 0) continue;
        switch (cli_match(SERVE_OPTS, argc, argv, &i, &v, cmd)) {
        case -1: return 1;
        case 0: return cli_unknown(cmd, a);
        case V_HELP: print_help(); return 0;
        case V_HOST: host = v; break;
        case V_PORT:
            if (!cli_parse_int(v, 0, 65535, &port)) return cli_error(cmd, "invalid --port '%s' (0..65535)", v);
            break;
        case V_SLOTS:
            if (!cli_parse_int(v, 1, 256, &slots)) return cli_error(cmd, "invalid %s '%s' (1..256)", a, v);
            break;
        case V_QUEUE:
            if (!cli_parse_int(v, 0, 4096, &queue)) return cli_error(cmd, "invalid --queue '%s' (0..4096)", v);
            break;
        case V_TIMEOUT:
            if (!cli_parse_int(v, 1, 86400, &timeout)) return cli_error(cmd, "invalid --timeout '%s' (1..86400 s)", v);
            break;
        case V_MAX_BODY:
            if (!cli_parse_int(v, 1024, 1L << 30, &max_body)) return cli_error(cmd, "invalid --max-body '%s'", v);
            break;
        case V_API_KEY: api_key = v; break;
        case V_CORS:
            if (!*v || strpbrk(v, "\r\n")) return cli_error(cmd, "invalid --cors '%s' (an origin or *)", v);
            cors = v;
            break;
        case V_MAX_CONN:
            if (!cli_parse_int(v, 1, 65536, &max_conn)) return cli_error(cmd, "invalid --max-connections '%s' (1..65536)", v);
            break;
        case V_PER_ADDR:
            if (!cli_parse_int(v, 1, 65536, &per_addr)) return cli_error(cmd, "invalid --max-per-address '%s' (1..65536)", v);
            break;
        case V_HEAD_TIMEOUT:
            if (!cli_parse_int(v, 1, 86400, &head_timeout)) return cli_error(cmd, "invalid --head-timeout '%s' (1..86400 s)", v);
            break;
        case V_BODY_TIMEOUT:
            if (!cli_parse_int(v, 1, 86400, &body_timeout)) return cli_error(cmd, "invalid --body-timeout '%s' (1..86400 s)", v);
            break;
        }
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
    const char *name = strrchr(mo.model, '/');
    name = name && name[1] ? name + 1 : mo.model;
    llama3_server_options so = { host, (int)port, (int)timeout, (size_t)max_body, (int)queue, name, api_key, cors,
                                 (int)max_conn, (int)per_addr, (int)head_timeout, (int)body_timeout };
    llama3_server *srv = llama3_server_start(m, s, &so, &err);
    int rc = 1;
    if (!srv) {
        cli_error(cmd, "%s", err.msg);
    } else {
        fprintf(stderr, "llama3 serve: %s, %ld slots x %d tokens of context; listening on http://%s%s%s:%d\n", name,
                slots, llama3_session_n_ctx(s), strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
                llama3_server_port(srv));
        int sig = 0;
        sigwait(&sigs, &sig);
        fprintf(stderr, "llama3 serve: %s, stopping\n", sig == SIGINT ? "interrupted" : "terminated");
        llama3_server_stop(srv);
        rc = 0;
    }
    llama3_session_free(s);
    llama3_model_free(m);
    return rc;
}
