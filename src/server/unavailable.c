/* The server's entry points (llama3_tools.h) in a build without libmicrohttpd: each says the
 * server is missing, so `llama3 serve` can tell the user what to install. */
#include "llama3_tools.h"
#include "util.h"

static int missing(llama3_error *err) {
    return l3_fail(err, LLAMA3_ERR_UNSUPPORTED,
                   "this build has no HTTP server (built without libmicrohttpd; install libmicrohttpd-dev and rebuild)");
}

int llama3_server_available(llama3_error *err) {
    missing(err);
    return 0;
}

llama3_server *llama3_server_start(llama3_model *m, llama3_session *s, const llama3_server_options *o,
                                   llama3_error *err) {
    (void)m, (void)s, (void)o;
    missing(err);
    return NULL;
}

int llama3_server_port(const llama3_server *srv) {
    (void)srv;
    return 0;
}

void llama3_server_stop(llama3_server *srv) { (void)srv; }

int llama3_server_route(int i, const char **method, const char **path, const char **help) {
    (void)i, (void)method, (void)path, (void)help;
    return -1;
}
