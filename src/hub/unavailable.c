/* The Hugging Face client's entry points (llama3_tools.h) in a build without libcurl or
 * libcrypto: each says the client is missing, so `llama3 pull` can tell what to install. */
#include "llama3_tools.h"
#include "util.h"

static int missing(llama3_error *err) {
    return l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "this build has no Hugging Face client (built without libcurl or "
                   "OpenSSL's libcrypto; install libcurl4-openssl-dev and libssl-dev and rebuild)");
}

int llama3_hub_available(llama3_error *err) {
    missing(err);
    return 0;
}

int llama3_hub_pull(const char *spec, const llama3_hub_options *o, llama3_hub_result *res, llama3_error *err) {
    (void)spec, (void)o;
    res->path = NULL;
    return missing(err);
}

void llama3_hub_result_free(llama3_hub_result *res) { (void)res; }

int llama3_hub_cache_dir(char **dir, llama3_error *err) {
    *dir = NULL;
    return missing(err);
}

int llama3_hub_list(llama3_hub_cached **out, int *n, llama3_error *err) {
    *out = NULL;
    *n = 0;
    return missing(err);
}

int llama3_hub_remove(const char *repo, uint64_t *freed, llama3_error *err) {
    (void)repo, (void)freed;
    return missing(err);
}
