/* POST /v1/embeddings: the mean of the final hidden states (after the final norm) over the
 * input's tokens, L2-normalized, as llama-server's --embeddings with mean pooling. The
 * session for it (one slot, the server's context length) is made at the first request and
 * used by one request at a time; generation's slots are not touched. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

struct srv_embedder {
    pthread_mutex_t mu;
    llama3_session *s;
    float *rows;                  /* [n_ctx x dim] */
};

srv_embedder *srv_embedder_new(void) {
    srv_embedder *e = calloc(1, sizeof *e);
    if (e) pthread_mutex_init(&e->mu, NULL);
    return e;
}

void srv_embedder_free(srv_embedder *e) {
    if (!e) return;
    llama3_session_free(e->s);
    free(e->rows);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

static char *fail(int *status, int code, const char *msg) {
    *status = code;
    return srv_error_json(code, msg);
}

/* base64 of the floats' bytes (little-endian float32), as OpenAI's encoding_format base64 */
static json_t *base64_floats(const float *v, int n) {
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *b = (const unsigned char *)v;
    size_t len = (size_t)n * sizeof *v, o = 0;
    char *s = malloc(4 * ((len + 2) / 3) + 1);
    if (!s) return NULL;
    for (size_t i = 0; i < len; i += 3) {
        unsigned x = (unsigned)b[i] << 16 | (i + 1 < len ? (unsigned)b[i + 1] << 8 : 0) | (i + 2 < len ? b[i + 2] : 0);
        s[o++] = A[x >> 18 & 63];
        s[o++] = A[x >> 12 & 63];
        s[o++] = i + 1 < len ? A[x >> 6 & 63] : '=';
        s[o++] = i + 2 < len ? A[x & 63] : '=';
    }
    s[o] = 0;
    json_t *j = json_string(s);
    free(s);
    return j;
}

/* One input's token ids (string: tokenized with begin-of-text; array: ids as given). */
static int input_ids(const srv_ctx *c, json_t *in, int32_t **ids, int *n, char *msg, size_t cap) {
    llama3_error err = { 0 };
    int vocab = llama3_model_args(c->m)->vocab_size;
    if (json_is_string(in)) {
        int have = 0;
        for (;;) {
            int r = llama3_tokenize(c->tok, json_string_value(in), json_string_length(in), LLAMA3_TOK_BOS, *ids, have, &err);
            if (r < 0) { snprintf(msg, cap, "cannot tokenize the input: %.200s", err.msg); return 400; }
            if (r <= have) { *n = r; return 0; }
            int32_t *g = realloc(*ids, (size_t)r * sizeof *g);
            if (!g) { snprintf(msg, cap, "out of memory"); return 500; }
            *ids = g;
            have = r;
        }
    }
    size_t k = json_array_size(in), i;
    int32_t *g = k ? realloc(*ids, k * sizeof *g) : NULL;
    if (!g) { snprintf(msg, cap, "'input' must be a non-empty string, token array, or an array of them"); return 400; }
    *ids = g;
    json_t *v;
    json_array_foreach(in, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= vocab) {
            snprintf(msg, cap, "'input' token arrays must hold token ids of this vocabulary");
            return 400;
        }
        g[i] = (int32_t)json_integer_value(v);
    }
    *n = (int)k;
    return 0;
}

int srv_embeddings(const srv_ctx *c, const char *body, size_t len, char **out) {
    char msg[256];
    int status = 200;
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(root)) {
        json_decref(root);
        *out = fail(&status, 400, "the request body must be a JSON object with 'input'");
        return status;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "input") && strcmp(key, "model") && strcmp(key, "encoding_format") && strcmp(key, "user")) {
            snprintf(msg, sizeof msg, "unsupported field '%.60s' (this server does not implement it on /v1/embeddings)", key);
            json_decref(root);
            *out = fail(&status, 400, msg);
            return status;
        }
    }
    json_t *input = json_object_get(root, "input"), *fmt = json_object_get(root, "encoding_format");
    const char *format = fmt && !json_is_null(fmt) ? json_string_value(fmt) : "float";
    json_t *m = json_object_get(root, "model");
    int b64 = format && !strcmp(format, "base64");
    if (!format || (!b64 && strcmp(format, "float"))) *out = fail(&status, 400, "'encoding_format' must be \"float\" or \"base64\"");
    else if (m && !json_is_string(m)) *out = fail(&status, 400, "'model' must be a string");
    else if (!c->tok) *out = fail(&status, 400, "this model has no tokenizer");
    if (status != 200) { json_decref(root); return status; }
    /* one input (a string or a token array) or an array of them */
    int many = json_is_array(input) && json_array_size(input) > 0 &&
               (json_is_string(json_array_get(input, 0)) || json_is_array(json_array_get(input, 0)));
    size_t n_in = many ? json_array_size(input) : 1;
    if (!input || (!json_is_string(input) && !(json_is_array(input) && json_array_size(input) > 0)) || n_in > 256) {
        json_decref(root);
        *out = fail(&status, 400, "'input' must be a non-empty string, token array, or an array of up to 256 of them");
        return status;
    }
    srv_embedder *e = c->embedder;
    const int dim = llama3_model_args(c->m)->dim;
    json_t *data = json_array();
    int32_t *ids = NULL;
    double *mean = malloc((size_t)dim * sizeof *mean);
    float *vec = malloc((size_t)dim * sizeof *vec);
    long total = 0;
    pthread_mutex_lock(&e->mu);
    llama3_error err = { 0 };
    if (!e->s && llama3_world_size() > 1) {
        /* a session is made by every process together; the others are inside the server's */
        snprintf(msg, sizeof msg, "/v1/embeddings is not available under mpirun");
        status = 501;
    } else if (!e->s) {
        e->s = llama3_session_new(c->m, &(llama3_session_options){ .n_ctx = c->n_ctx, .n_slots = 1 }, &err);
        e->rows = e->s ? malloc((size_t)c->n_ctx * dim * sizeof *e->rows) : NULL;
        if (!e->rows) {
            llama3_session_free(e->s);
            e->s = NULL;
            snprintf(msg, sizeof msg, "cannot make the embedding session: %.200s", err.msg[0] ? err.msg : "out of memory");
            status = 500;
        }
    }
    for (size_t k = 0; status == 200 && k < n_in; k++) {
        json_t *in = many ? json_array_get(input, k) : input;
        int n = 0, rc;
        if (!json_is_string(in) && !json_is_array(in)) {
            snprintf(msg, sizeof msg, "'input' items must be strings or token arrays");
            status = 400;
        } else if ((rc = input_ids(c, in, &ids, &n, msg, sizeof msg)) != 0) {
            status = rc;
            break;
        } else if (n < 1 || n > c->n_ctx) {
            snprintf(msg, sizeof msg, "input %zu has %d tokens; 1..%d fit the context", k, n, c->n_ctx);
            status = 400;
        } else {
            llama3_session_reset(e->s, 0, 0);
            if (llama3_eval_hidden(e->s, 0, ids, n, e->rows, &err)) {
                snprintf(msg, sizeof msg, "%.200s", err.msg);
                status = 500;
                break;
            }
            /* mean over the tokens, then unit length */
            for (int d = 0; d < dim; d++) mean[d] = 0;
            for (int t = 0; t < n; t++)
                for (int d = 0; d < dim; d++) mean[d] += e->rows[(size_t)t * dim + d];
            double norm = 0;
            for (int d = 0; d < dim; d++) norm += mean[d] * mean[d];
            norm = norm > 0 ? sqrt(norm) : 1;
            for (int d = 0; d < dim; d++) vec[d] = (float)(mean[d] / norm);
            json_t *emb;
            if (b64) emb = base64_floats(vec, dim);
            else {
                emb = json_array();
                for (int d = 0; d < dim; d++) json_array_append_new(emb, json_real(vec[d]));
            }
            json_array_append_new(data, json_pack("{s:s,s:i,s:o}", "object", "embedding", "index", (int)k, "embedding", emb));
            total += n;
        }
    }
    pthread_mutex_unlock(&e->mu);
    free(ids);
    free(mean);
    free(vec);
    if (status == 200) {
        json_t *o = json_pack("{s:s,s:o,s:s,s:{s:i,s:i}}", "object", "list", "data", data, "model", c->model_name, "usage",
                              "prompt_tokens", (json_int_t)total, "total_tokens", (json_int_t)total);
        *out = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
    } else {
        json_decref(data);
        *out = srv_error_json(status, msg);
    }
    json_decref(root);
    return status;
}
