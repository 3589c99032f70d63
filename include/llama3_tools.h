/* llama3c: what the `llama3` command-line tool uses beyond the public API (llama3.h).
 *
 * The functions follow llama3.h's conventions: 0 (or a pointer) on success, a negative
 * llama3_status (or NULL) on failure with a one-line message in err, which may be NULL.
 * All of them are in libllama3 except the HTTP server's, which come from the llama3_server
 * library: the server itself when the build found libmicrohttpd, otherwise a stand-in that
 * only says it is missing (llama3_server_available). */
#ifndef LLAMA3_TOOLS_H
#define LLAMA3_TOOLS_H

#include <stddef.h>
#include <stdint.h>

#include "llama3.h"

#ifdef __cplusplus
extern "C" {
#endif

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

#ifdef __cplusplus
}
#endif
#endif
