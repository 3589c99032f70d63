/* Finding and loading a tokenizer: a GGUF file (metadata only), Meta's tokenizer.model,
 * a Hugging Face tokenizer.json, or a folder holding one of the last two. The format is
 * detected from the content, not the name. */
#include "tokenizer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "formats/gguf.h"

typedef enum { FILE_GGUF, FILE_JSON, FILE_TIKTOKEN } file_kind;

static int sniff(const char *path, file_kind *kind, llama3_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return l3_fail(err, LLAMA3_ERR_IO, "%s: cannot open", path);
    unsigned char head[64];
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    if (n >= 4 && memcmp(head, "GGUF", 4) == 0) { *kind = FILE_GGUF; return 0; }
    size_t i = 0;
    if (n >= 3 && memcmp(head, "\xEF\xBB\xBF", 3) == 0) i = 3;  /* UTF-8 BOM */
    while (i < n && (head[i] == ' ' || head[i] == '\t' || head[i] == '\r' || head[i] == '\n')) i++;
    *kind = i < n && head[i] == '{' ? FILE_JSON : FILE_TIKTOKEN;
    return 0;
}

/* tokenizer_config.json beside a tokenizer.json (malloc'd path, or NULL). */
static char *sibling_config(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup("tokenizer_config.json");
    size_t d = (size_t)(slash - path);
    char *dir = malloc(d + 1);
    if (!dir) return NULL;
    memcpy(dir, path, d);
    dir[d] = 0;
    char *p = l3_path_join(d ? dir : "/", "tokenizer_config.json");
    free(dir);
    return p;
}

static int load_file(const char *path, const char *config_path, llama3_tokenizer **out, llama3_error *err) {
    file_kind k = FILE_TIKTOKEN;
    int rc = sniff(path, &k, err);
    if (rc) return rc;
    if (k == FILE_GGUF) {
        l3_gguf *g = NULL;
        if ((rc = l3_gguf_open(path, &g, err))) return rc;
        rc = l3_tok_load_gguf(g, path, out, err);
        l3_gguf_close(g);
        return rc;
    }
    if (k == FILE_JSON) {
        char *cfg = config_path ? NULL : sibling_config(path);
        rc = l3_tok_load_hf_json(path, config_path ? config_path : cfg, out, err);
        free(cfg);
        return rc;
    }
    return l3_tok_load_tiktoken(path, out, err);
}

llama3_tokenizer *llama3_tokenizer_load(const char *path, llama3_error *err) {
    llama3_tokenizer *t = NULL;
    if (!path) {
        l3_fail(err, LLAMA3_ERR_ARG, "llama3_tokenizer_load: no path");
        return NULL;
    }
    if (l3_is_dir(path)) {
        static const char *const names[] = { "tokenizer.json", "tokenizer.model", "original/tokenizer.model" };
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            char *p = l3_path_join(path, names[i]);
            if (!p) {
                l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
                return NULL;
            }
            if (l3_file_exists(p)) {
                load_file(p, NULL, &t, err);
                free(p);
                return t;
            }
            free(p);
        }
        l3_fail(err, LLAMA3_ERR_IO, "%s: folder has no tokenizer.json or tokenizer.model", path);
        return NULL;
    }
    if (!l3_file_exists(path)) {
        l3_fail(err, LLAMA3_ERR_IO, "%s: no such file", path);
        return NULL;
    }
    load_file(path, NULL, &t, err);
    return t;
}

int l3_tokenizer_from_source(const l3_vocab_source *src, llama3_tokenizer **out, llama3_error *err) {
    *out = NULL;
    if (!src || src->kind == L3_VOCAB_NONE) return 0;
    if (src->kind == L3_VOCAB_GGUF) {
        if (!src->gguf) return l3_fail(err, LLAMA3_ERR_ARG, "tokenizer source: GGUF without a file");
        return l3_tok_load_gguf(src->gguf, src->gguf->map.path ? src->gguf->map.path : "GGUF", out, err);
    }
    if (!src->path) return l3_fail(err, LLAMA3_ERR_ARG, "tokenizer source: no path");
    return load_file(src->path, src->config_path, out, err);
}
