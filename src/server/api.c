/* OpenAI's wire format: request bodies of /v1/chat/completions and /v1/completions checked
 * field by field (wrong types are the client's error, 400), and the response objects and
 * stream chunks their official clients expect. Plus /v1/models, /health, /tokenize,
 * /detokenize. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server.h"
#include "tokenizer/tokenizer.h"

#define MAX_STOP 4
#define MAX_STOP_LEN 256

static int bad(char *msg, size_t cap, const char *fmt, const char *what) {
    snprintf(msg, cap, fmt, what);
    return 400;
}

void srv_params_free(srv_params *p) {
    for (int i = 0; i < p->n_stop; i++) free(p->stop[i]);
    free(p->stop);
    free(p->prompt);
    free(p->bias);
    free(p->echo);
    for (int i = 0; p->constraints && i < p->n; i++) llama3_json_constraint_free(p->constraints[i]);
    free(p->constraints);
    free(p->schema);
    srv_tools_free(&p->tools);
    memset(p, 0, sizeof *p);
}

/* Calls fn until the buffer is big enough ("call again" convention); NULL ids on error. */
static int grow_ids(int32_t **ids, int *cap, int need) {
    if (need <= *cap) return 0;
    int32_t *n = realloc(*ids, (size_t)need * sizeof *n);
    if (!n) return -1;
    *ids = n;
    *cap = need;
    return 0;
}

static int tokenize_text(const llama3_tokenizer *tok, const char *text, size_t len, int flags, int32_t **ids,
                         int *n, char *msg, size_t cap) {
    llama3_error err = { 0 };
    int have = 0;
    *ids = NULL;
    for (;;) {
        int r = llama3_tokenize(tok, text, len, flags, *ids, have, &err);
        if (r < 0) { free(*ids); *ids = NULL; return bad(msg, cap, "cannot tokenize the text: %s", err.msg); }
        if (r <= have) { *n = r; return 0; }
        if (grow_ids(ids, &have, r)) { free(*ids); *ids = NULL; return bad(msg, cap, "%s", "out of memory"); }
    }
}

/* OpenAI's "content": a string, or an array of {"type": "text", "text": ...} parts. */
static char *message_text(json_t *content) {
    if (json_is_string(content)) return strdup(json_string_value(content));
    if (json_is_null(content)) return strdup("");
    if (!json_is_array(content)) return NULL;
    size_t total = 1, i;
    json_t *part;
    json_array_foreach(content, i, part) {
        const char *type = json_string_value(json_object_get(part, "type"));
        json_t *text = json_object_get(part, "text");
        if (!type || strcmp(type, "text") || !json_is_string(text)) return NULL;
        total += json_string_length(text);
    }
    char *s = malloc(total), *w = s;
    if (!s) return NULL;
    json_array_foreach(content, i, part) {
        json_t *text = json_object_get(part, "text");
        memcpy(w, json_string_value(text), json_string_length(text));
        w += json_string_length(text);
    }
    *w = 0;
    return s;
}

static int chat_prompt(const srv_ctx *c, json_t *msgs, srv_params *p, char *msg, size_t cap) {
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return bad(msg, cap, "%s", "'messages' must be a non-empty array");
    if (!l3_tokenizer_has_llama3_chat(c->tok)) return bad(msg, cap, "%s", "this model's vocabulary has no Llama 3 chat format");
    size_t n = json_array_size(msgs), i;
    llama3_message *lm = calloc(n, sizeof *lm);
    char **texts = calloc(n, sizeof *texts);
    int status = 0, tools_done = 0;
    if (!lm || !texts) { status = bad(msg, cap, "%s", "out of memory"); goto done; }
    json_t *m;
    json_array_foreach(msgs, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!json_is_object(m) || !role) { status = bad(msg, cap, "%s", "each message needs a string 'role'"); goto done; }
        /* OpenAI's newer names for Llama's roles. */
        if (!strcmp(role, "developer")) role = "system";
        else if (!strcmp(role, "tool")) role = "ipython";
        if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "ipython")) {
            status = bad(msg, cap, "unknown message role '%.40s' (system, user, assistant, tool)", role);
            goto done;
        }
        json_t *calls = json_object_get(m, "tool_calls");
        if (!strcmp(role, "assistant") && json_is_array(calls) && json_array_size(calls) > 0) {
            /* earlier calls, as Llama 3.1 writes them (several separated by "; ") */
            if (!(texts[i] = srv_tools_calls_text(calls))) {
                status = bad(msg, cap, "%s", "an assistant message's 'tool_calls' must be function calls with JSON arguments");
                goto done;
            }
        } else if (!(texts[i] = message_text(json_object_get(m, "content")))) {
            status = bad(msg, cap, "%s", "message 'content' must be a string or an array of text parts");
            goto done;
        }
        if (!tools_done && !strcmp(role, "user") && p->tools.n > 0 && p->tools.choice != SRV_TOOLS_NONE) {
            char *t = srv_tools_user_text(&p->tools, texts[i]);
            if (!t) { status = bad(msg, cap, "%s", "out of memory"); goto done; }
            free(texts[i]);
            texts[i] = t;
            tools_done = 1;
        }
        lm[i] = (llama3_message){ role, texts[i] };
    }
    llama3_error err = { 0 };
    int have = 0;
    for (;;) {
        int r = llama3_chat_encode(c->tok, lm, (int)n, p->prompt, have, &err);
        if (r < 0) { status = bad(msg, cap, "cannot encode the messages: %s", err.msg); break; }
        if (r <= have) { p->n_prompt = r; break; }
        if (grow_ids(&p->prompt, &have, r)) { status = bad(msg, cap, "%s", "out of memory"); break; }
    }
done:
    for (size_t k = 0; texts && k < n; k++) free(texts[k]);
    free(texts);
    free(lm);
    return status;
}

static int completion_prompt(const srv_ctx *c, json_t *prompt, srv_params *p, char *msg, size_t cap) {
    /* A one-element array of strings is the same as the string (clients send either). */
    if (json_is_array(prompt) && json_array_size(prompt) == 1 && json_is_string(json_array_get(prompt, 0)))
        prompt = json_array_get(prompt, 0);
    if (json_is_string(prompt))
        return tokenize_text(c->tok, json_string_value(prompt), json_string_length(prompt), LLAMA3_TOK_BOS, &p->prompt,
                             &p->n_prompt, msg, cap);
    if (json_is_array(prompt) && json_array_size(prompt) > 0) {  /* token ids, used as given */
        size_t n = json_array_size(prompt), i;
        int vocab = llama3_model_args(c->m)->vocab_size;
        if (n > (size_t)c->n_ctx) return bad(msg, cap, "%s", "'prompt' has more ids than the context holds");
        p->prompt = malloc(n * sizeof *p->prompt);
        if (!p->prompt) return bad(msg, cap, "%s", "out of memory");
        json_t *v;
        json_array_foreach(prompt, i, v) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= vocab)
                return bad(msg, cap, "%s", "'prompt' must be a string or an array of valid token ids");
            p->prompt[i] = (int32_t)json_integer_value(v);
        }
        p->n_prompt = (int)n;
        return 0;
    }
    return bad(msg, cap, "%s", "'prompt' must be a string or an array of token ids");
}

static int parse_stop(json_t *stop, srv_params *p, char *msg, size_t cap) {
    if (!stop || json_is_null(stop)) return 0;
    size_t n = json_is_array(stop) ? json_array_size(stop) : 1;
    if (!json_is_string(stop) && !json_is_array(stop)) return bad(msg, cap, "%s", "'stop' must be a string or an array of strings");
    if (n > MAX_STOP) return bad(msg, cap, "%s", "'stop' has more than 4 strings");
    p->stop = calloc(n ? n : 1, sizeof *p->stop);
    if (!p->stop) return bad(msg, cap, "%s", "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_is_array(stop) ? json_array_get(stop, i) : stop;
        if (!json_is_string(s) || json_string_length(s) == 0 || json_string_length(s) > MAX_STOP_LEN ||
            strlen(json_string_value(s)) != json_string_length(s))
            return bad(msg, cap, "%s", "each 'stop' string must be 1..256 bytes of text");
        if (!(p->stop[p->n_stop] = strdup(json_string_value(s)))) return bad(msg, cap, "%s", "out of memory");
        p->n_stop++;
    }
    return 0;
}

/* Reads an optional number field into *out within [lo, hi]. */
static int opt_number(json_t *root, const char *key, double lo, double hi, double *out, char *msg, size_t cap) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi) {
        snprintf(msg, cap, "'%s' must be a number in [%g, %g]", key, lo, hi);
        return 400;
    }
    *out = json_number_value(v);
    return 1;
}

/* The request fields each endpoint implements; any other field is refused by name, so a
 * client never gets a reply that silently ignored part of its request. */
static const char *const CHAT_FIELDS[] = {
    "model", "messages", "stream", "stream_options", "n", "temperature", "top_p", "min_p", "top_k", "repeat_penalty",
    "seed", "max_tokens", "max_completion_tokens", "stop", "logprobs", "top_logprobs", "logit_bias",
    "frequency_penalty", "presence_penalty", "response_format", "cache_prompt", "user", "tools", "tool_choice",
    "parallel_tool_calls", NULL,
};
static const char *const COMPLETION_FIELDS[] = {
    "model", "prompt", "stream", "stream_options", "n", "temperature", "top_p", "min_p", "top_k", "repeat_penalty",
    "seed", "max_tokens", "stop", "logprobs", "echo", "logit_bias", "frequency_penalty", "presence_penalty",
    "response_format", "cache_prompt", "user", NULL,
};

static int check_fields(json_t *root, srv_kind kind, char *msg, size_t cap) {
    const char *const *known = kind == SRV_CHAT ? CHAT_FIELDS : COMPLETION_FIELDS;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        int ok = 0;
        for (int i = 0; known[i] && !ok; i++) ok = !strcmp(key, known[i]);
        if (!ok) {
            snprintf(msg, cap, "unsupported field '%.60s' (this server does not implement it on %s)", key,
                     kind == SRV_CHAT ? "/v1/chat/completions" : "/v1/completions");
            return 400;
        }
    }
    return 0;
}

/* logit_bias: {"token id": bias in [-100, 100]}. */
static int parse_logit_bias(const srv_ctx *c, json_t *v, srv_params *p, char *msg, size_t cap) {
    if (!v || json_is_null(v)) return 0;
    if (!json_is_object(v)) return bad(msg, cap, "%s", "'logit_bias' must be an object of token id -> bias");
    size_t n = json_object_size(v);
    int vocab = llama3_model_args(c->m)->vocab_size;
    p->bias = calloc(n ? n : 1, sizeof *p->bias);
    if (!p->bias) return bad(msg, cap, "%s", "out of memory");
    const char *key;
    json_t *b;
    json_object_foreach(v, key, b) {
        char *end;
        long id = strtol(key, &end, 10);
        if (!*key || *end || id < 0 || id >= vocab)
            return bad(msg, cap, "'logit_bias' key '%.40s' is not a token id of this vocabulary", key);
        if (!json_is_number(b) || json_number_value(b) < -100 || json_number_value(b) > 100)
            return bad(msg, cap, "'logit_bias' value for '%.40s' must be a number in [-100, 100]", key);
        /* -100 bans the token (OpenAI: "should result in a ban") */
        double d = json_number_value(b);
        p->bias[p->n_bias++] = (llama3_logit_bias){ (int32_t)id, d <= -100 ? -INFINITY : (float)d };
    }
    p->sp.logit_bias = p->bias;
    p->sp.n_logit_bias = p->n_bias;
    return 0;
}

/* response_format: text, json_object, or json_schema {name, schema, strict}. */
static int parse_response_format(const srv_ctx *c, json_t *v, srv_params *p, char *msg, size_t cap) {
    if (!v || json_is_null(v)) return 0;
    const char *type = json_string_value(json_object_get(v, "type"));
    if (!json_is_object(v) || !type) return bad(msg, cap, "%s", "'response_format' must be an object with a 'type'");
    if (!strcmp(type, "text")) return 0;
    if (strcmp(type, "json_object") && strcmp(type, "json_schema"))
        return bad(msg, cap, "'response_format' type '%.40s' is not supported (text, json_object, json_schema)", type);
    if (!c->vocab) return bad(msg, cap, "%s", "'response_format': this model's vocabulary cannot be constrained");
    if (!strcmp(type, "json_schema")) {
        json_t *js = json_object_get(v, "json_schema");
        json_t *sc = json_object_get(js, "schema");
        if (!json_is_object(js) || !json_is_object(sc))
            return bad(msg, cap, "%s", "'response_format' json_schema needs {\"json_schema\": {\"schema\": {...}}}");
        if (!(p->schema = json_dumps(sc, JSON_COMPACT))) return bad(msg, cap, "%s", "out of memory");
    }
    p->json_format = true;
    return 0;
}

/* One constraint per choice, each from the same recipe: response_format, or a required /
 * named tool_choice (their exclusion is checked before). */
static int make_constraints(const srv_ctx *c, srv_params *p, char *msg, size_t cap) {
    const bool tool = p->tools.choice == SRV_TOOLS_REQUIRED || p->tools.choice == SRV_TOOLS_NAMED;
    if (!p->json_format && !tool) return 0;
    if (!(p->constraints = calloc((size_t)p->n, sizeof *p->constraints))) return bad(msg, cap, "%s", "out of memory");
    for (int i = 0; i < p->n; i++) {
        llama3_error err = { 0 };
        if (tool) {
            if (!(p->constraints[i] = srv_tools_constraint(&p->tools, c->vocab, msg, cap))) return 400;
        } else if (!(p->constraints[i] = llama3_json_constraint_new(c->vocab, p->schema, p->schema ? strlen(p->schema) : 0,
                                                                    &err))) {
            return bad(msg, cap, "'response_format': %s", err.msg);
        }
    }
    return 0;
}

/* logprobs (chat: boolean, with top_logprobs 0..20; completions: the number of alternatives). */
static int parse_logprobs(json_t *root, srv_kind kind, srv_params *p, char *msg, size_t cap) {
    json_t *lp = json_object_get(root, "logprobs"), *top = json_object_get(root, "top_logprobs");
    if (kind == SRV_CHAT) {
        if (lp && !json_is_null(lp) && !json_is_boolean(lp)) return bad(msg, cap, "%s", "'logprobs' must be a boolean");
        p->logprobs = json_is_true(lp);
        if (top && !json_is_null(top)) {
            if (!json_is_integer(top) || json_integer_value(top) < 0 || json_integer_value(top) > LLAMA3_MAX_TOP_LOGPROBS)
                return bad(msg, cap, "%s", "'top_logprobs' must be an integer in [0, 20]");
            if (!p->logprobs) return bad(msg, cap, "%s", "'top_logprobs' needs 'logprobs': true");
            p->top_logprobs = (int)json_integer_value(top);
        }
        return 0;
    }
    if (!lp || json_is_null(lp)) return 0;
    if (!json_is_integer(lp) || json_integer_value(lp) < 0 || json_integer_value(lp) > LLAMA3_MAX_TOP_LOGPROBS)
        return bad(msg, cap, "%s", "'logprobs' must be an integer in [0, 20] (alternatives per token)");
    p->logprobs = true;
    p->top_logprobs = (int)json_integer_value(lp);
    return 0;
}

/* The text of ids decoded whole (malloc'd, NUL-terminated, *len bytes); NULL when out of
 * memory or when an id cannot be decoded (the ids are valid for tok). */
static char *decode_ids(const llama3_tokenizer *tok, const int32_t *ids, int n, size_t *len) {
    size_t used = 0, room = 256;
    char *text = malloc(room), piece[512];
    llama3_detok dt = { 0 };
    for (int i = 0; text && i < n; i++) {
        int w = llama3_detok_push(&dt, tok, ids[i], piece, sizeof piece, NULL);
        if (w < 0) { free(text); return NULL; }
        if (used + (size_t)w + 9 > room) {
            char *t = realloc(text, room = (used + (size_t)w + 9) * 2);
            if (!t) { free(text); return NULL; }
            text = t;
        }
        memcpy(text + used, piece, (size_t)w);
        used += (size_t)w;
    }
    if (!text) return NULL;
    int w = llama3_detok_flush(&dt, text + used, 8);
    if (w > 0) used += (size_t)w;
    text[used] = 0;
    *len = used;
    return text;
}

/* Completions' echo: the prompt's text, decoded from its ids (a string prompt's text is
 * this too, with the special tokens it contains spelled out, but no begin-of-text). */
static int prompt_text(const srv_ctx *c, srv_params *p, char *msg, size_t cap) {
    const int skip = p->n_prompt > 0 && p->prompt[0] == l3_tokenizer_bos(c->tok);
    if (!(p->echo = decode_ids(c->tok, p->prompt + skip, p->n_prompt - skip, &p->echo_len)))
        return bad(msg, cap, "%s", "cannot decode the prompt for 'echo'");
    return 0;
}

int srv_parse_generation(const srv_ctx *c, srv_kind kind, const char *body, size_t len, srv_params *p, char *msg,
                         size_t cap) {
    memset(p, 0, sizeof *p);
    p->kind = kind;
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    int st = 0;
    double d;
    if (!root) { snprintf(msg, cap, "malformed JSON at line %d column %d: %s", je.line, je.column, je.text); return 400; }
    if (!json_is_object(root)) { st = bad(msg, cap, "%s", "the request body must be a JSON object"); goto done; }
    if (!c->tok) { st = bad(msg, cap, "%s", "this model has no tokenizer"); goto done; }
    if ((st = check_fields(root, kind, msg, cap))) goto done;

    json_t *v = json_object_get(root, "model");
    if (v && !json_is_string(v)) { st = bad(msg, cap, "%s", "'model' must be a string"); goto done; }
    v = json_object_get(root, "stream");
    if (v && !json_is_null(v) && !json_is_boolean(v)) { st = bad(msg, cap, "%s", "'stream' must be a boolean"); goto done; }
    p->stream = json_is_true(v);
    v = json_object_get(root, "stream_options");
    if (v && !json_is_null(v)) {
        json_t *iu = json_object_get(v, "include_usage");
        if (!json_is_object(v) || (iu && !json_is_boolean(iu))) { st = bad(msg, cap, "%s", "bad 'stream_options'"); goto done; }
        p->include_usage = json_is_true(iu);
    }
    /* n: at most the slots, which the handler checks (each choice runs on a slot of its own) */
    v = json_object_get(root, "n");
    p->n = 1;
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > SRV_MAX_N) {
            snprintf(msg, cap, "'n' must be an integer in [1, %d]", SRV_MAX_N);
            st = 400;
            goto done;
        }
        p->n = (int)json_integer_value(v);
    }
    /* OpenAI's defaults: temperature 1, top_p 1. */
    p->sp = llama3_sampler_defaults();
    p->sp.temperature = 1.0f;
    p->sp.top_p = 1.0f;
    if ((st = opt_number(root, "temperature", 0, 2, &d, msg, cap)) == 400) goto done;
    if (st) p->sp.temperature = (float)d;
    if ((st = opt_number(root, "top_p", 0, 1, &d, msg, cap)) == 400) goto done;
    if (st) p->sp.top_p = d > 0 ? (float)d : 1e-6f;
    if ((st = opt_number(root, "min_p", 0, 1, &d, msg, cap)) == 400) goto done;
    if (st) p->sp.min_p = (float)d;
    if ((st = opt_number(root, "top_k", 0, 1 << 20, &d, msg, cap)) == 400) goto done;
    if (st) p->sp.top_k = (int)d;
    if ((st = opt_number(root, "repeat_penalty", 0.01, 100, &d, msg, cap)) == 400) goto done;
    if (st) p->sp.repeat_penalty = (float)d;
    st = 0;
    v = json_object_get(root, "seed");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v)) { st = bad(msg, cap, "%s", "'seed' must be an integer"); goto done; }
        p->sp.seed = (uint64_t)json_integer_value(v);
    } else {
        static unsigned counter;
        p->sp.seed = (uint64_t)time(NULL) * 2654435761u + __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    }
    v = json_object_get(root, "max_tokens");
    if (!v || json_is_null(v)) v = json_object_get(root, "max_completion_tokens");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > (1 << 30)) {
            st = bad(msg, cap, "%s", "'max_tokens' must be a positive integer");
            goto done;
        }
        p->max_tokens = (int)json_integer_value(v);
    }
    if ((st = opt_number(root, "frequency_penalty", -2, 2, &d, msg, cap)) == 400) goto done;
    if (st) p->sp.frequency_penalty = (float)d;
    if ((st = opt_number(root, "presence_penalty", -2, 2, &d, msg, cap)) == 400) goto done;
    if (st) p->sp.presence_penalty = (float)d;
    st = 0;
    v = json_object_get(root, "cache_prompt");
    if (v && !json_is_null(v) && !json_is_boolean(v)) { st = bad(msg, cap, "%s", "'cache_prompt' must be a boolean"); goto done; }
    p->cache_prompt = !json_is_false(v);
    v = json_object_get(root, "echo");
    if (v && !json_is_null(v) && !json_is_boolean(v)) { st = bad(msg, cap, "%s", "'echo' must be a boolean"); goto done; }
    bool echo = json_is_true(v);
    if ((st = parse_logprobs(root, kind, p, msg, cap))) goto done;
    if ((st = parse_logit_bias(c, json_object_get(root, "logit_bias"), p, msg, cap))) goto done;
    if ((st = parse_response_format(c, json_object_get(root, "response_format"), p, msg, cap))) goto done;
    if ((st = parse_stop(json_object_get(root, "stop"), p, msg, cap))) goto done;
    if (kind == SRV_CHAT && (st = srv_tools_parse(root, &p->tools, msg, cap))) goto done;
    if (p->tools.choice == SRV_TOOLS_REQUIRED || p->tools.choice == SRV_TOOLS_NAMED) {
        if (p->json_format) { st = bad(msg, cap, "%s", "'response_format' and a required 'tool_choice' exclude each other"); goto done; }
        if (!c->vocab) { st = bad(msg, cap, "%s", "'tool_choice': this model's vocabulary cannot be constrained"); goto done; }
    }
    if ((st = make_constraints(c, p, msg, cap))) goto done;
    if (kind == SRV_CHAT) st = chat_prompt(c, json_object_get(root, "messages"), p, msg, cap);
    else {
        json_t *pr = json_object_get(root, "prompt");
        st = pr ? completion_prompt(c, pr, p, msg, cap) : bad(msg, cap, "%s", "'prompt' is required");
    }
    if (st) goto done;
    if (p->n_prompt <= 0) { st = bad(msg, cap, "%s", "empty prompt"); goto done; }
    if (echo && (st = prompt_text(c, p, msg, cap))) goto done;
    if (p->n_prompt >= c->n_ctx) {
        snprintf(msg, cap, "the prompt has %d tokens; the context holds %d (start the server with a larger -c)", p->n_prompt,
                 c->n_ctx);
        st = 400;
        goto done;
    }
    /* The context caps max_tokens (the answer stops with finish_reason "length"). */
    int room = c->n_ctx - p->n_prompt;
    if (p->max_tokens == 0 || p->max_tokens > room) p->max_tokens = room;
done:
    json_decref(root);
    if (st) srv_params_free(p);
    return st;
}

static char *dump(json_t *o) {
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

char *srv_error_json(int status, const char *message) {
    const char *type = status == 404 ? "not_found_error" : status == 503 ? "server_busy" :
                       status >= 500 ? "server_error" : "invalid_request_error";
    return dump(json_pack("{s:{s:s,s:s,s:i}}", "error", "message", message, "type", type, "code", status));
}

static json_t *usage(int n_prompt, int n_completion, int n_cached) {
    return json_pack("{s:i,s:i,s:i,s:{s:i}}", "prompt_tokens", n_prompt, "completion_tokens", n_completion,
                     "total_tokens", n_prompt + n_completion, "prompt_tokens_details", "cached_tokens", n_cached);
}

/* A token's bytes as a JSON string: a token may hold part of a UTF-8 character, which becomes
 * U+FFFD here (the "bytes" array keeps the exact bytes). */
static json_t *token_string(const llama3_tokenizer *t, int32_t id) {
    size_t n = 0;
    const char *b = llama3_token_bytes(t, id, &n);
    json_t *s = b ? json_stringn(b, n) : json_string("");
    if (s) return s;
    char *fixed = malloc(3 * n + 1), *w = fixed;
    if (!fixed) return NULL;
    for (size_t i = 0; i < n;) {
        const unsigned char c = (unsigned char)b[i];
        size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        json_t *ok = k && i + k <= n ? json_stringn(b + i, k) : NULL;
        if (ok) {
            memcpy(w, b + i, k), w += k, i += k;
            json_decref(ok);
        } else {
            memcpy(w, "\xef\xbf\xbd", 3), w += 3, i++;
        }
    }
    s = json_stringn(fixed, (size_t)(w - fixed));
    free(fixed);
    return s;
}

static json_t *token_bytes(const llama3_tokenizer *t, int32_t id) {
    size_t n = 0;
    const char *b = llama3_token_bytes(t, id, &n);
    json_t *a = json_array();
    for (size_t i = 0; b && i < n; i++) json_array_append_new(a, json_integer((unsigned char)b[i]));
    return a;
}

/* JSON has no -inf: a token the sampler could not pick reports OpenAI's floor. */
static json_t *lp_real(float lp) { return json_real(isfinite(lp) ? lp : -9999.0); }

/* Chat: {"content": [{token, logprob, bytes, top_logprobs: [...]}], "refusal": null}. */
static json_t *chat_logprobs(const srv_ctx *c, const srv_toklog *lg) {
    json_t *content = json_array();
    for (int i = 0; i < lg->n; i++) {
        const srv_lp *l = &lg->lps[i];
        json_t *top = json_array();
        for (int k = 0; k < l->n_top; k++)
            json_array_append_new(top, json_pack("{s:o,s:o,s:o}", "token", token_string(c->tok, l->top_id[k]), "logprob",
                                                 lp_real(l->top_logprob[k]), "bytes", token_bytes(c->tok, l->top_id[k])));
        json_array_append_new(content, json_pack("{s:o,s:o,s:o,s:o}", "token", token_string(c->tok, lg->ids[i]), "logprob",
                                                 lp_real(l->logprob), "bytes", token_bytes(c->tok, lg->ids[i]),
                                                 "top_logprobs", top));
    }
    return json_pack("{s:o,s:n}", "content", content, "refusal");
}

/* Completions (the legacy shape): tokens, token_logprobs, top_logprobs (token -> logprob),
 * text_offset. */
static json_t *completion_logprobs(const srv_ctx *c, const srv_toklog *lg) {
    json_t *tokens = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
    size_t off = lg->offset;
    for (int i = 0; i < lg->n; i++) {
        const srv_lp *l = &lg->lps[i];
        json_array_append_new(tokens, token_string(c->tok, lg->ids[i]));
        json_array_append_new(lps, lp_real(l->logprob));
        json_t *top = json_object();
        for (int k = 0; k < l->n_top; k++) {
            json_t *ts = token_string(c->tok, l->top_id[k]);
            if (ts) json_object_set_new(top, json_string_value(ts), lp_real(l->top_logprob[k]));
            json_decref(ts);
        }
        json_array_append_new(tops, top);
        json_array_append_new(offs, json_integer((json_int_t)off));
        size_t n = 0;
        llama3_token_bytes(c->tok, lg->ids[i], &n);
        off += n;
    }
    return json_pack("{s:o,s:o,s:o,s:o}", "tokens", tokens, "token_logprobs", lps, "top_logprobs", tops, "text_offset", offs);
}

static json_t *logprobs_of(const srv_ctx *c, const srv_params *p, const srv_toklog *lg) {
    if (!p->logprobs || !lg) return json_null();
    return p->kind == SRV_CHAT ? chat_logprobs(c, lg) : completion_logprobs(c, lg);
}

json_t *srv_choice_json(const srv_ctx *c, const srv_params *p, int index, const char *text, size_t len,
                        const char *finish, const srv_toklog *lg, json_t *calls) {
    if (calls)
        return json_pack("{s:i,s:{s:s,s:n,s:o},s:n,s:s}", "index", index, "message", "role", "assistant", "content",
                         "tool_calls", calls, "logprobs", "finish_reason", "tool_calls");
    if (p->kind == SRV_CHAT)
        return json_pack("{s:i,s:{s:s,s:s%},s:o,s:s}", "index", index, "message", "role", "assistant", "content", text,
                         len, "logprobs", logprobs_of(c, p, lg), "finish_reason", finish);
    /* echo: the prompt's text first */
    char *all = malloc(p->echo_len + len + 1);
    if (!all) return NULL;
    if (p->echo_len) memcpy(all, p->echo, p->echo_len);
    if (len) memcpy(all + p->echo_len, text, len);
    json_t *choice = json_pack("{s:s%,s:i,s:o,s:s}", "text", all, p->echo_len + len, "index", index, "logprobs",
                               logprobs_of(c, p, lg), "finish_reason", finish);
    free(all);
    return choice;
}

char *srv_completion_json(const srv_ctx *c, const srv_params *p, const char *id, long created, json_t *choices,
                          int n_completion, int n_cached) {
    return dump(json_pack("{s:s,s:s,s:i,s:s,s:o,s:o}", "id", id, "object",
                          p->kind == SRV_CHAT ? "chat.completion" : "text_completion", "created", (json_int_t)created,
                          "model", c->model_name, "choices", choices, "usage", usage(p->n_prompt, n_completion, n_cached)));
}

static char *event(json_t *o) {
    char *s = dump(o);
    if (!s) return NULL;
    size_t n = strlen(s);
    char *e = malloc(n + 9);
    if (e) {
        memcpy(e, "data: ", 6);
        memcpy(e + 6, s, n);
        memcpy(e + 6 + n, "\n\n", 3);
    }
    free(s);
    return e;
}

char *srv_chunk_event(const srv_ctx *c, const srv_params *p, const char *id, long created, int index,
                      const char *text, size_t len, const char *finish, const srv_toklog *lg) {
    json_t *choice;
    json_t *lp = lg && lg->n > 0 ? logprobs_of(c, p, lg) : json_null();
    if (p->kind == SRV_CHAT) {
        json_t *delta = !text ? json_pack("{s:s,s:s}", "role", "assistant", "content", "")
                              : finish && !len ? json_object() : json_pack("{s:s%}", "content", text, len);
        choice = json_pack("{s:i,s:o,s:o,s:s?}", "index", index, "delta", delta, "logprobs", lp, "finish_reason", finish);
    } else {
        choice = json_pack("{s:s%,s:i,s:o,s:s?}", "text", text ? text : "", text ? len : 0, "index", index, "logprobs", lp,
                           "finish_reason", finish);
    }
    json_t *o = json_pack("{s:s,s:s,s:i,s:s,s:[o]}", "id", id, "object",
                          p->kind == SRV_CHAT ? "chat.completion.chunk" : "text_completion", "created", (json_int_t)created,
                          "model", c->model_name, "choices", choice);
    return event(o);
}

char *srv_tool_call_event(const srv_ctx *c, const srv_params *p, const char *id, long created, int index, json_t *calls) {
    (void)p;
    for (size_t k = 0; k < json_array_size(calls); k++)  /* each call's place among this choice's calls */
        json_object_set_new(json_array_get(calls, k), "index", json_integer((json_int_t)k));
    json_t *choice = json_pack("{s:i,s:{s:o},s:n,s:n}", "index", index, "delta", "tool_calls", calls, "logprobs",
                               "finish_reason");
    return event(json_pack("{s:s,s:s,s:i,s:s,s:[o]}", "id", id, "object", "chat.completion.chunk", "created",
                           (json_int_t)created, "model", c->model_name, "choices", choice));
}

char *srv_usage_event(const srv_ctx *c, const srv_params *p, const char *id, long created, int n_completion,
                      int n_cached) {
    return event(json_pack("{s:s,s:s,s:i,s:s,s:[],s:o}", "id", id, "object",
                           p->kind == SRV_CHAT ? "chat.completion.chunk" : "text_completion", "created", (json_int_t)created,
                           "model", c->model_name, "choices", "usage", usage(p->n_prompt, n_completion, n_cached)));
}

char *srv_models_json(const srv_ctx *c) {
    return dump(json_pack("{s:s,s:[{s:s,s:s,s:i,s:s,s:{s:i,s:i}}]}", "object", "list", "data", "id", c->model_name,
                          "object", "model", "created", (json_int_t)0, "owned_by", "llama3c", "meta", "n_ctx", c->n_ctx,
                          "n_vocab", llama3_model_args(c->m)->vocab_size));
}

int srv_model_json(const srv_ctx *c, const char *id, char **out) {
    if (strcmp(id, c->model_name)) {
        *out = srv_error_json(404, "no such model (GET /v1/models lists the served one)");
        return 404;
    }
    *out = dump(json_pack("{s:s,s:s,s:i,s:s}", "id", c->model_name, "object", "model", "created", (json_int_t)0,
                          "owned_by", "llama3c"));
    return 200;
}

char *srv_props_json(const srv_ctx *c) {
    int run, queued, slots;
    srv_engine_counts(c->engine, &run, &queued, &slots);
    return dump(json_pack("{s:{s:i,s:{s:f,s:f,s:i,s:f,s:b}},s:i,s:s,s:s,s:s,s:b}", "default_generation_settings", "n_ctx",
                          c->n_ctx, "params", "temperature", 1.0, "top_p", 1.0, "top_k", 0, "min_p", 0.0, "cache_prompt", 1,
                          "total_slots", slots, "model_alias", c->model_name, "model_path", c->model_name, "chat_template",
                          "llama3", "structured_output", c->vocab != NULL));
}

char *srv_slots_json(const srv_ctx *c) {
    int run, queued, slots;
    srv_engine_counts(c->engine, &run, &queued, &slots);
    srv_slot_info *info = calloc((size_t)slots, sizeof *info);
    if (!info) return NULL;
    slots = srv_engine_slots(c->engine, info, slots);
    json_t *a = json_array();
    for (int i = 0; i < slots; i++)
        json_array_append_new(a, json_pack("{s:i,s:i,s:b,s:i,s:i,s:i,s:i}", "id", i, "n_ctx", c->n_ctx, "is_processing",
                                           info[i].busy, "n_prompt_tokens", info[i].n_prompt, "n_decoded",
                                           info[i].n_generated, "n_prompt_tokens_cached", info[i].n_cached, "n_past",
                                           info[i].kv_tokens));
    free(info);
    return dump(a);
}

char *srv_health_json(const srv_ctx *c) {
    int run, queued, slots;
    srv_engine_counts(c->engine, &run, &queued, &slots);
    return dump(json_pack("{s:s,s:i,s:i,s:i}", "status", "ok", "slots_idle", slots - run, "slots_processing", run,
                          "queued", queued));
}

int srv_tokenize(const srv_ctx *c, const char *body, size_t len, char **out) {
    char msg[256];
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *content = root ? json_object_get(root, "content") : NULL, *special = root ? json_object_get(root, "add_special") : NULL;
    int st = 400;
    *out = NULL;
    if (!json_is_string(content) || (special && !json_is_boolean(special))) {
        *out = srv_error_json(400, "expected {\"content\": string, \"add_special\"?: boolean}");
    } else if (!c->tok) {
        *out = srv_error_json(400, "this model has no tokenizer");
    } else {
        int32_t *ids = NULL;
        int n = 0;
        if (tokenize_text(c->tok, json_string_value(content), json_string_length(content),
                          json_is_true(special) ? LLAMA3_TOK_BOS : 0, &ids, &n, msg, sizeof msg)) {
            *out = srv_error_json(400, msg);
        } else {
            json_t *arr = json_array();
            for (int i = 0; i < n; i++) json_array_append_new(arr, json_integer(ids[i]));
            *out = dump(json_pack("{s:o}", "tokens", arr));
            st = 200;
        }
        free(ids);
    }
    json_decref(root);
    return st;
}

int srv_detokenize(const srv_ctx *c, const char *body, size_t len, char **out) {
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *tokens = root ? json_object_get(root, "tokens") : NULL;
    int st = 400;
    *out = NULL;
    if (!json_is_array(tokens)) {
        *out = srv_error_json(400, "expected {\"tokens\": [ids]}");
    } else if (!c->tok) {
        *out = srv_error_json(400, "this model has no tokenizer");
    } else {
        int vocab = llama3_tokenizer_n_vocab(c->tok);
        size_t i, n = json_array_size(tokens);
        int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
        json_t *v;
        st = ids ? 200 : 500;
        json_array_foreach(tokens, i, v) {
            if (st != 200) break;
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= vocab) st = 400;
            else ids[i] = (int32_t)json_integer_value(v);
        }
        size_t tl = 0;
        char *text = st == 200 ? decode_ids(c->tok, ids, (int)n, &tl) : NULL;
        if (st == 200 && !text) st = 400;
        if (st == 500) *out = srv_error_json(500, "out of memory");
        else if (st != 200) *out = srv_error_json(400, "'tokens' must hold token ids of this vocabulary");
        else *out = dump(json_pack("{s:s%}", "content", text, tl));
        free(text);
        free(ids);
    }
    json_decref(root);
    return st;
}

const char *srv_finish_reason(const srv_job *j, const srv_text *t) {
    if (t->stopped || j->finish == LLAMA3_FINISH_END) return "stop";
    return "length";
}
