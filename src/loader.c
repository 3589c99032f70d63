/* Format detection: a directory with config.json is a Hugging Face folder, one with
 * params.json a Meta folder, a file starting with "GGUF" a GGUF file. */
#include "loader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int has_file(const char *dir, const char *name) {
    char *p = l3_path_join(dir, name);
    int ok = p && l3_file_exists(p);
    free(p);
    return ok;
}

int l3_load_weights(const char *path, const llama3_load_options *opt, l3_weights *w, llama3_error *err) {
    return l3_load_weights_rank(path, opt, 0, 1, w, err);
}

int l3_load_weights_rank(const char *path, const llama3_load_options *opt, int rank, int n, l3_weights *w,
                         llama3_error *err) {
    memset(w, 0, sizeof *w);
    int rc;
    if (l3_is_dir(path)) {
        if (has_file(path, "config.json")) rc = l3_load_hf(path, opt, w, err);
        else if (has_file(path, "params.json")) rc = l3_load_meta_rank(path, opt, rank, n, w, err);
        else rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: folder has neither config.json (Hugging Face) nor params.json (Meta)", path);
    } else {
        FILE *f = fopen(path, "rb");
        if (!f) return l3_fail(err, LLAMA3_ERR_IO, "%s: cannot open model file", path);
        char magic[4] = { 0 };
        size_t n = fread(magic, 1, 4, f);
        fclose(f);
        if (n == 4 && memcmp(magic, "GGUF", 4) == 0) rc = l3_load_gguf(path, opt, w, err);
        else rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: not a GGUF file (bad magic) and not a model folder", path);
    }
    if (rc == 0 && w->shard_size == 0) {  /* the whole model */
        w->full = w->args;
        w->shard_size = 1;
    }
    if (rc == 0 && (rc = l3_weights_validate(w, err)) != 0 && err) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        l3_fail(err, rc, "%s: %s", path, msg);
    }
    if (rc) l3_weights_free(w);
    return rc;
}
