/* llama3 chat: an interactive multi-turn chat in Meta's Llama 3 format. The KV cache is kept
 * across turns: each turn evaluates only the new user message and the assistant header; the
 * answer's tokens are already in the cache, closed with the <|eot_id|> that ends them. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char *CHAT_HELP =
    "usage: llama3 chat -m MODEL [--system TEXT] [options]\n"
    "\n"
    "Chat with a Llama 3 instruct model. Each line of input is one user message; the answer\n"
    "streams to stdout. The conversation stays in the KV cache, so each turn only evaluates\n"
    "the new message. On a pipe (stdin not a terminal) there is no prompt or banner: one\n"
    "message per line, one answer per line.\n"
    "\n"
    "Commands (a line starting with '/'):\n"
    "  /reset         start a new conversation (keeps the system message)\n"
    "  /system TEXT   set the system message and start a new conversation\n"
    "  /save FILE     write the conversation as JSON: {\"messages\":[{\"role\",\"content\"},...]}\n"
    "  /load FILE     read such a file, evaluate it (and answer if it ends with a user message)\n"
    "  /help          this list\n"
    "  /quit          leave (so does end of input)\n"
    "Ctrl-C stops the current answer; at the prompt, a second Ctrl-C in a row exits.\n"
    "When the context is full the answer stops and a message says so: /reset starts over\n"
    "(or run with a larger -c).\n"
    "\n"
    "Options:\n"
    "      --system TEXT     system message\n"
    "  -n, --n-predict N     at most N tokens per answer (default: until end of turn)\n"
    CLI_SAMPLER_OPTS_HELP
    "      --print-ids       at exit, print the conversation's token ids (as evaluated) on one line\n"
    "Model:\n" CLI_MODEL_OPTS_HELP
    "  -h, --help            this help\n";

static volatile sig_atomic_t g_sigint;
static void on_sigint(int sig) { (void)sig; g_sigint++; }

typedef struct chat {
    llama3_model *m;
    llama3_session *s;
    llama3_tokenizer *tok;
    llama3_sampler_params sp;
    long n_predict;
    int vocab, n_ctx;
    int32_t eot;
    float *logits;
    char *system;                 /* owned, may be NULL */
    json_t *messages;             /* the conversation (system first), for /save */
    int32_t *hist;                /* every id in the KV cache, in order */
    int n_hist, cap_hist;
    bool tty;
} chat;

static const char *CMD = "chat";

static int hist_push(chat *c, const int32_t *ids, int n) {
    if (c->n_hist + n > c->cap_hist) {
        int cap = (c->n_hist + n) * 2 + 64;
        int32_t *nh = realloc(c->hist, (size_t)cap * sizeof *nh);
        if (!nh) return cli_error(CMD, "out of memory");
        c->hist = nh;
        c->cap_hist = cap;
    }
    memcpy(c->hist + c->n_hist, ids, (size_t)n * sizeof *ids);
    c->n_hist += n;
    return 0;
}

/* Appends one encoded piece (the "call again with a bigger buffer" convention) to ids. */
typedef int (*encode_fn)(const llama3_tokenizer *, const char *, const char *, int32_t *, int, llama3_error *);
static int enc_message(const llama3_tokenizer *t, const char *role, const char *content, int32_t *ids, int cap,
                       llama3_error *err) {
    return llama3_chat_encode_message(t, role, content, ids, cap, err);
}
static int enc_header(const llama3_tokenizer *t, const char *role, const char *content, int32_t *ids, int cap,
                      llama3_error *err) {
    (void)role, (void)content;
    return llama3_chat_encode_assistant_header(t, ids, cap, err);
}
static int append_encoded(chat *c, encode_fn fn, const char *role, const char *content, int32_t **ids, int *n,
                          int *cap) {
    llama3_error err = { 0 };
    for (;;) {
        int r = fn(c->tok, role, content, *ids + *n, *cap - *n, &err);
        if (r < 0) return cli_error(CMD, "%s", err.msg);
        if (r <= *cap - *n) { *n += r; return 0; }
        int ncap = *n + r + 64;
        int32_t *nb = realloc(*ids, (size_t)ncap * sizeof *nb);
        if (!nb) return cli_error(CMD, "out of memory");
        *ids = nb;
        *cap = ncap;
    }
}

static void reset_conversation(chat *c) {
    llama3_session_reset(c->s, 0, 0);
    c->n_hist = 0;
    json_array_clear(c->messages);
    if (c->system) json_array_append_new(c->messages, json_pack("{s:s,s:s}", "role", "system", "content", c->system));
}

/* Evaluates ids after what the cache holds; refuses (cache unchanged, returns 2) when they
 * do not fit: a full context is the conversation's state, not a failure of the program. */
static int eval_new(chat *c, const int32_t *ids, int n, bool want_logits) {
    llama3_error err = { 0 };
    int pos = llama3_session_pos(c->s, 0);
    if (n > c->n_ctx - pos) {
        fprintf(stderr, "llama3 chat: the context is full (%d of %d tokens used, %d more needed); /reset starts a new "
                        "conversation, or run with a larger -c\n", pos, c->n_ctx, n);
        return 2;
    }
    if (llama3_eval(c->s, 0, ids, n, want_logits ? c->logits : NULL, 0, &err)) return cli_error(CMD, "%s", err.msg);
    return hist_push(c, ids, n);
}

/* Ids that open the conversation when the cache is empty: BOS and the system message. */
static int opening_ids(chat *c, int32_t **ids, int *n, int *cap) {
    if (llama3_session_pos(c->s, 0) > 0) return 0;
    int32_t bos = llama3_model_bos(c->m);
    if (bos < 0) return cli_error(CMD, "the vocabulary has no <|begin_of_text|>");
    (*ids)[(*n)++] = bos;
    if (c->system) return append_encoded(c, enc_message, "system", c->system, ids, n, cap);
    return 0;
}

/* Samples and streams the assistant's answer; the cache ends with its tokens and <|eot_id|>. */
static int answer(chat *c) {
    llama3_error err = { 0 };
    llama3_sampler *smp = llama3_sampler_new(&c->sp, c->vocab);
    size_t cap = 256, len = 0;
    char *text = malloc(cap), piece[256];
    if (!smp || !text) { llama3_sampler_free(smp); free(text); return cli_error(CMD, "out of memory"); }
    for (int i = 0; i < c->n_hist; i++) llama3_sampler_accept(smp, c->hist[i]);
    llama3_detok dt = { 0 };
    int rc = 0;
    bool full = false, interrupted = false;
    g_sigint = 0;
    for (long n = 0; c->n_predict <= 0 || n < c->n_predict; n++) {
        if (g_sigint) { interrupted = true; break; }
        /* Room for this token and the <|eot_id|> that closes the answer. */
        if (llama3_session_pos(c->s, 0) + 2 > c->n_ctx) { full = true; break; }
        int32_t id = llama3_sample(smp, c->logits);
        if (llama3_model_is_end_token(c->m, id)) break;
        int w = llama3_detok_push(&dt, c->tok, id, piece, sizeof piece, &err);
        if (w > 0) {
            fwrite(piece, 1, (size_t)w, stdout);
            fflush(stdout);
            if (len + (size_t)w + 1 > cap) {
                char *nt = realloc(text, cap = (len + (size_t)w + 1) * 2);
                if (!nt) { rc = cli_error(CMD, "out of memory"); break; }
                text = nt;
            }
            memcpy(text + len, piece, (size_t)w);
            len += (size_t)w;
        }
        if ((rc = eval_new(c, &id, 1, true))) break;
    }
    int w = llama3_detok_flush(&dt, piece, sizeof piece);
    if (w > 0 && rc == 0) {
        fwrite(piece, 1, (size_t)w, stdout);
        char *nt = realloc(text, len + (size_t)w + 1);
        if (nt) { text = nt; memcpy(text + len, piece, (size_t)w); len += (size_t)w; }
    }
    text[len] = 0;
    fputc('\n', stdout);
    fflush(stdout);
    if (interrupted) fprintf(stderr, "[interrupted]\n");
    if (full) fprintf(stderr, "llama3 chat: the context is full (%d tokens): the answer was cut; /reset starts a "
                              "new conversation\n", c->n_ctx);
    /* Whatever stopped the answer, <|eot_id|> closes it, as the chat format would re-encode it. */
    if (rc == 0) rc = eval_new(c, &c->eot, 1, false);
    if (rc == 0)
        json_array_append_new(c->messages, json_pack("{s:s,s:s}", "role", "assistant", "content", text));
    free(text);
    llama3_sampler_free(smp);
    return rc;
}

/* Encodes and evaluates a user message (plus BOS/system first) and the assistant header. */
static int user_turn(chat *c, const char *content) {
    int cap = 64, n = 0, rc;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids) return cli_error(CMD, "out of memory");
    rc = opening_ids(c, &ids, &n, &cap);
    if (!rc) rc = append_encoded(c, enc_message, "user", content, &ids, &n, &cap);
    if (!rc) rc = append_encoded(c, enc_header, NULL, NULL, &ids, &n, &cap);
    if (!rc) rc = eval_new(c, ids, n, true);
    free(ids);
    if (rc) return rc;
    json_array_append_new(c->messages, json_pack("{s:s,s:s}", "role", "user", "content", content));
    return answer(c);
}

static int save(chat *c, const char *path) {
    json_t *root = json_pack("{s:O}", "messages", c->messages);
    int rc = root && json_dump_file(root, path, JSON_INDENT(2) | JSON_ENSURE_ASCII) == 0 ? 0 : 1;
    json_decref(root);
    if (rc) return cli_error(CMD, "%s: cannot write", path);
    fprintf(stderr, "saved %zu messages to %s\n", json_array_size(c->messages), path);
    return 0;
}

/* Replaces the conversation with a saved one and evaluates it in one pass. */
static int load(chat *c, const char *path) {
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    json_t *msgs = root ? json_object_get(root, "messages") : NULL;
    if (!root) return cli_error(CMD, "%s: line %d: %s", path, je.line, je.text);
    if (!json_is_array(msgs)) { json_decref(root); return cli_error(CMD, "%s: expected {\"messages\": [...]}", path); }
    size_t i;
    json_t *msg;
    json_array_foreach(msgs, i, msg) {
        const char *role = json_string_value(json_object_get(msg, "role"));
        if (!role || !json_is_string(json_object_get(msg, "content")) ||
            (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "ipython"))) {
            json_decref(root);
            return cli_error(CMD, "%s: message %zu needs a role (system, user, assistant, ipython) and a string content",
                             path, i);
        }
    }
    /* A leading system message becomes the system message. */
    json_t *first = json_array_get(msgs, 0);
    free(c->system);
    c->system = NULL;
    if (first && !strcmp(json_string_value(json_object_get(first, "role")), "system"))
        c->system = strdup(json_string_value(json_object_get(first, "content")));
    reset_conversation(c);
    int cap = 256, n = 0, rc;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids) { json_decref(root); return cli_error(CMD, "out of memory"); }
    rc = opening_ids(c, &ids, &n, &cap);
    const char *last_role = "system";
    json_array_foreach(msgs, i, msg) {
        if (rc) break;
        const char *role = json_string_value(json_object_get(msg, "role"));
        const char *content = json_string_value(json_object_get(msg, "content"));
        if (i == 0 && !strcmp(role, "system")) continue;
        rc = append_encoded(c, enc_message, role, content, &ids, &n, &cap);
        if (!rc) json_array_append_new(c->messages, json_pack("{s:s,s:s}", "role", role, "content", content));
        last_role = role;
    }
    bool reply = !rc && !strcmp(last_role, "user");
    if (reply) rc = append_encoded(c, enc_header, NULL, NULL, &ids, &n, &cap);
    if (!rc) rc = eval_new(c, ids, n, reply);
    free(ids);
    if (rc) { reset_conversation(c); json_decref(root); return rc; }
    fprintf(stderr, "loaded %zu messages (%d tokens) from %s\n", json_array_size(msgs), n, path);
    json_decref(root);
    return reply ? answer(c) : 0;
}

static const char *SLASH_HELP =
    "/reset  /system TEXT  /save FILE  /load FILE  /help  /quit  (Ctrl-C stops an answer)\n";

/* Runs one command line; returns 1 to quit. */
static int command(chat *c, char *line) {
    char *arg = strchr(line, ' ');
    if (arg) { *arg++ = 0; while (*arg == ' ') arg++; }
    if (!strcmp(line, "/quit") || !strcmp(line, "/exit")) return 1;
    if (!strcmp(line, "/help")) fputs(SLASH_HELP, stderr);
    else if (!strcmp(line, "/reset")) { reset_conversation(c); fprintf(stderr, "new conversation\n"); }
    else if (!strcmp(line, "/system")) {
        free(c->system);
        c->system = arg && *arg ? strdup(arg) : NULL;
        reset_conversation(c);
        fprintf(stderr, c->system ? "system message set; new conversation\n" : "system message cleared; new conversation\n");
    } else if (!strcmp(line, "/save") || !strcmp(line, "/load")) {
        if (!arg || !*arg) cli_error(CMD, "%s needs a file name", line);
        else if (line[1] == 's') save(c, arg);
        else load(c, arg);
    } else cli_error(CMD, "unknown command '%s' (/help lists them)", line);
    return 0;
}

static int repl(chat *c) {
    char *line = NULL;
    size_t cap = 0;
    int rc = 0, prompt_interrupts = 0;
    if (c->tty) fprintf(stderr, "llama3 chat: type a message, /help for commands, Ctrl-D or /quit to leave\n");
    for (;;) {
        if (c->tty) { fputs("> ", stdout); fflush(stdout); }
        g_sigint = 0;
        errno = 0;
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) {
            if (errno == EINTR || g_sigint) {  /* Ctrl-C at the prompt */
                clearerr(stdin);
                if (++prompt_interrupts >= 2) break;
                fputs(c->tty ? "\n(Ctrl-C again to exit)\n" : "", stderr);
                continue;
            }
            break;  /* end of input */
        }
        prompt_interrupts = 0;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (n == 0) continue;
        if (line[0] == '/') {
            if (command(c, line)) break;
            continue;
        }
        if (user_turn(c, line) == 1 && !c->tty) { rc = 1; break; }  /* scripts want a clear failure */
    }
    free(line);
    return rc;
}

int cmd_chat(int argc, char **argv) {
    cli_model_opts mo;
    cli_model_opts_init(&mo);
    const char *system_msg = NULL;
    bool print_ids = false, seed_given = false;
    chat c = { 0 };
    c.sp = llama3_sampler_defaults();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int r = cli_model_opt(&mo, argc, argv, &i, CMD);
        if (r == 0) r = cli_sampler_opt(&c.sp, &seed_given, argc, argv, &i, CMD);
        if (r < 0) return 1;
        if (r > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(CHAT_HELP, stdout); return 0; }
        else if (!strcmp(a, "--print-ids")) print_ids = true;
        else if (!(v = cli_value(argc, argv, &i, CMD))) return 1;
        else if (!strcmp(a, "--system")) system_msg = v;
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            if (!cli_parse_int(v, 0, 1 << 24, &c.n_predict)) return cli_error(CMD, "invalid -n '%s'", v);
        } else return cli_error(CMD, "unknown option '%s' (see llama3 chat --help)", a);
    }
    if (!seed_given) c.sp.seed = (uint64_t)time(NULL);
    if (cli_open(&mo, CMD, &c.m, &c.s, 1)) return 1;
    int rc = 1;
    c.tok = llama3_model_tokenizer(c.m);
    c.vocab = llama3_model_args(c.m)->vocab_size;
    c.n_ctx = llama3_session_n_ctx(c.s);
    c.tty = isatty(STDIN_FILENO);
    c.messages = json_array();
    c.logits = malloc((size_t)c.vocab * sizeof *c.logits);
    if (!c.tok || !llama3_tokenizer_has_chat(c.tok) || (c.eot = llama3_token_id(c.tok, "<|eot_id|>")) < 0) {
        cli_error(CMD, "%s: the vocabulary cannot format Llama 3 chats (no <|eot_id|> / header tokens)", mo.model);
        goto done;
    }
    if (!c.logits || !c.messages) { cli_error(CMD, "out of memory"); goto done; }
    if (system_msg && !(c.system = strdup(system_msg))) { cli_error(CMD, "out of memory"); goto done; }
    reset_conversation(&c);

    /* No SA_RESTART: Ctrl-C must interrupt the read at the prompt. */
    struct sigaction sa = { 0 }, old;
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    rc = repl(&c);
    sigaction(SIGINT, &old, NULL);
    if (print_ids) {
        for (int i = 0; i < c.n_hist; i++) printf(i ? " %d" : "%d", c.hist[i]);
        printf("\n");
    }
done:
    free(c.logits);
    free(c.hist);
    free(c.system);
    json_decref(c.messages);
    llama3_session_free(c.s);
    llama3_model_free(c.m);
    return rc;
}
