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
#ifdef LLAMA3_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

#include "cli.h"

static const char *CHAT_HELP =
    "usage: llama3 chat -m MODEL [--system TEXT] [options]\n"
    "\n"
    "Chat with a Llama 3 instruct model. Each line of input is one user message; the answer\n"
    "streams to stdout. The conversation stays in the KV cache, so each turn only evaluates\n"
    "the new message. On a pipe (stdin not a terminal) there is no prompt, banner or speed\n"
    "line: one message per line, one answer per line.\n"
    "On a terminal the line can be edited (arrows, Home/End, Ctrl-A/E/K/W) and Up/Down walk\n"
    "through earlier lines (libedit; a build without it reads plain lines); after each answer\n"
    "a line on stderr gives the tokens and speed of the prompt and of the answer.\n"
    "Multi-line messages: end a line with \\ to go on on the next one, or put the message\n"
    "between \"\"\" and \"\"\" (the text may follow the opening \"\"\" and precede the closing one).\n"
    "\n"
    "Commands (a line starting with '/'):\n"
    "  /reset         start a new conversation (keeps the system message)\n"
    "  /system TEXT   set the system message and start a new conversation\n"
    "  /save FILE     write the conversation as JSON: {\"messages\":[{\"role\",\"content\"},...]}\n"
    "  /load FILE     read such a file, evaluate it (and answer if it ends with a user message)\n"
    "  /help          this list\n"
    "  /quit          leave (so does end of input: Ctrl-D on an empty line)\n"
    "Ctrl-C stops the current answer; at the prompt, a second Ctrl-C in a row exits.\n"
    "When the context is full the answer stops and a message says so: /reset starts over\n"
    "(or run with a larger -c, or with --context-shift).\n"
    "\n"
    "Options:\n"
    "  -sys, --system-prompt, --system TEXT  system message\n"
    "  -n, --n-predict, --predict N  at most N tokens per answer (default: until end of turn)\n"
    "  -r, --reverse-prompt TEXT  end the answer where TEXT appears (not printed); up to 16\n"
    "      --context-shift   when the context is full, drop the oldest messages (the system\n"
    "                        message stays) and go on instead of stopping\n"
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
    int *starts;                  /* where each message after the system message begins in hist */
    int n_starts, cap_starts;
    bool context_shift, answering;
    const char *const *stops;     /* -r */
    int n_stops;
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

/* Records that the next message (after the system message) begins at hist offset at. */
static int mark_start(chat *c, int at) {
    if (c->n_starts == c->cap_starts) {
        int cap = c->cap_starts * 2 + 16;
        int *ns = realloc(c->starts, (size_t)cap * sizeof *ns);
        if (!ns) return cli_error(CMD, "out of memory");
        c->starts = ns;
        c->cap_starts = cap;
    }
    c->starts[c->n_starts++] = at;
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
    c->n_hist = c->n_starts = 0;
    json_array_clear(c->messages);
    if (c->system) json_array_append_new(c->messages, json_pack("{s:s,s:s}", "role", "system", "content", c->system));
}

/* --context-shift: makes room for need more tokens by dropping the oldest messages after the
 * system message (up to one that a user message follows) and evaluating what is left again:
 * positions change, so the cached keys cannot be kept. While answering, the current user
 * message and the answer so far stay. Aims at 3/4 of the context, so that one shift makes room
 * for a while. Returns 0 when there is room now, 2 when there is none to make, 1 on an error. */
static int shift(chat *c, int need) {
    int max_k = c->n_starts - (c->answering ? 2 : 0), k = -1, sys = c->system ? 1 : 0;
    for (int pass = 0; pass < 2 && k < 0; pass++) {
        int target = pass == 0 ? c->n_ctx * 3 / 4 : c->n_ctx;
        for (int j = 1; j <= max_k && k < 0; j++) {
            int rest = j < c->n_starts ? c->n_hist - c->starts[j] : 0;
            json_t *m = json_array_get(c->messages, (size_t)(sys + j));
            const char *role = m ? json_string_value(json_object_get(m, "role")) : "user";
            if (c->starts[0] + rest + need <= target && role && !strcmp(role, "user")) k = j;
        }
    }
    if (k < 0) return 2;
    int from = c->starts[0], to = k < c->n_starts ? c->starts[k] : c->n_hist, cut = to - from;
    memmove(c->hist + from, c->hist + to, (size_t)(c->n_hist - to) * sizeof *c->hist);
    c->n_hist -= cut;
    for (int j = k; j < c->n_starts; j++) c->starts[j - k] = c->starts[j] - cut;
    c->n_starts -= k;
    for (int j = 0; j < k; j++) json_array_remove(c->messages, (size_t)sys);
    llama3_error err = { 0 };
    llama3_session_reset(c->s, 0, 0);
    if (llama3_eval(c->s, 0, c->hist, c->n_hist, c->logits, 0, &err)) return cli_error(CMD, "%s", err.msg);
    fprintf(stderr, "[context full: dropped the %d oldest message%s (%d tokens); %d of %d in use]\n", k,
            k == 1 ? "" : "s", cut, c->n_hist, c->n_ctx);
    return 0;
}

/* Evaluates ids after what the cache holds; refuses (cache unchanged, returns 2) when they
 * do not fit: a full context is the conversation's state, not a failure of the program. */
static int eval_new(chat *c, const int32_t *ids, int n, bool want_logits) {
    llama3_error err = { 0 };
    int pos = llama3_session_pos(c->s, 0);
    if (n > c->n_ctx - pos && c->context_shift && c->n_starts > 0) {
        if (shift(c, n) == 1) return 1;
        pos = llama3_session_pos(c->s, 0);
    }
    if (n > c->n_ctx - pos) {
        fprintf(stderr, "llama3 chat: the context is full (%d of %d tokens used, %d more needed); /reset starts a new "
                        "conversation, or run with a larger -c%s\n", pos, c->n_ctx, n,
                c->context_shift ? "" : " or with --context-shift");
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

/* Prints text that is safe to show (a stop string may be held back) and keeps it. */
static int emit(char **text, size_t *len, size_t *cap, const char *s, size_t n) {
    if (!n) return 0;
    fwrite(s, 1, n, stdout);
    fflush(stdout);
    if (*len + n + 1 > *cap) {
        char *nt = realloc(*text, *cap = (*len + n + 1) * 2);
        if (!nt) return cli_error(CMD, "out of memory");
        *text = nt;
    }
    memcpy(*text + *len, s, n);
    *len += n;
    return 0;
}

/* Samples and streams the assistant's answer; the cache ends with its tokens and <|eot_id|>.
 * n_prompt tokens were evaluated in prompt_s seconds before it (for the speed line). */
static int answer(chat *c, int n_prompt, double prompt_s) {
    llama3_error err = { 0 };
    llama3_sampler *smp = llama3_sampler_new(&c->sp, c->vocab);
    size_t cap = 256, len = 0, n_shown = 0, cap_shown = 0;
    char *text = malloc(cap), piece[256], *shown = NULL;
    if (!smp || !text) { llama3_sampler_free(smp); free(text); return cli_error(CMD, "out of memory"); }
    for (int i = 0; i < c->n_hist; i++) llama3_sampler_accept(smp, c->hist[i]);
    llama3_detok dt = { 0 };
    cli_stop stop = { .stops = c->stops, .n_stops = c->n_stops };
    int rc = 0, n_gen = 0;
    bool full = false, interrupted = false, stopped = false;
    double t0 = llama3_time_s();
    g_sigint = 0;
    c->answering = true;
    for (long n = 0; c->n_predict <= 0 || n < c->n_predict; n++) {
        if (g_sigint) { interrupted = true; break; }
        /* Room for this token and the <|eot_id|> that closes the answer. */
        if (llama3_session_pos(c->s, 0) + 2 > c->n_ctx) {
            int r = c->context_shift ? shift(c, 2) : 2;
            if (r == 2) { full = true; break; }
            if (r) { rc = r; break; }
        }
        int32_t id = llama3_sample(smp, c->logits);
        if (llama3_model_is_end_token(c->m, id)) break;
        n_gen++;
        int w = llama3_detok_push(&dt, c->tok, id, piece, sizeof piece, &err);
        int hit = w > 0 ? cli_stop_push(&stop, piece, (size_t)w, &shown, &n_shown, &cap_shown) : 0;
        if (hit < 0) { rc = cli_error(CMD, "out of memory"); break; }
        if (w > 0 && (rc = emit(&text, &len, &cap, shown, n_shown))) break;
        if (hit) { stopped = true; break; }
        if ((rc = eval_new(c, &id, 1, true))) break;
    }
    c->answering = false;
    int w = llama3_detok_flush(&dt, piece, sizeof piece);
    if (rc == 0 && !stopped) {
        size_t nh;
        const char *held = cli_stop_flush(&stop, &nh);
        rc = emit(&text, &len, &cap, held, nh);
        if (!rc && w > 0) rc = emit(&text, &len, &cap, piece, (size_t)w);
    }
    text[len] = 0;
    fputc('\n', stdout);
    fflush(stdout);
    double t1 = llama3_time_s();
    if (interrupted) fprintf(stderr, "[interrupted]\n");
    if (full) fprintf(stderr, "llama3 chat: the context is full (%d tokens): the answer was cut; /reset starts a "
                              "new conversation%s\n", c->n_ctx, c->context_shift ? "" : " (or use --context-shift)");
    if (c->tty)
        fprintf(stderr, "[prompt %d tokens, %.1f tokens/s | answer %d tokens, %.1f tokens/s | context %d of %d]\n",
                n_prompt, prompt_s > 0 ? n_prompt / prompt_s : 0.0, n_gen, t1 > t0 ? n_gen / (t1 - t0) : 0.0,
                llama3_session_pos(c->s, 0), c->n_ctx);
    /* Whatever stopped the answer, <|eot_id|> closes it, as the chat format would re-encode it. */
    if (rc == 0) rc = eval_new(c, &c->eot, 1, false);
    if (rc == 0)
        json_array_append_new(c->messages, json_pack("{s:s,s:s}", "role", "assistant", "content", text));
    cli_stop_free(&stop);
    free(shown);
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
    int user_at = n, header_at = n;
    if (!rc) rc = append_encoded(c, enc_message, "user", content, &ids, &n, &cap);
    header_at = n;
    if (!rc) rc = append_encoded(c, enc_header, NULL, NULL, &ids, &n, &cap);
    double t0 = llama3_time_s();
    if (!rc) rc = eval_new(c, ids, n, true);
    double t1 = llama3_time_s();
    int base = c->n_hist - n;  /* where ids landed (after a context shift, too) */
    free(ids);
    if (rc) return rc;
    if (mark_start(c, base + user_at) || mark_start(c, base + header_at)) return 1;
    json_array_append_new(c->messages, json_pack("{s:s,s:s}", "role", "user", "content", content));
    return answer(c, n, t1 - t0);
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
        rc = mark_start(c, n);
        if (!rc) rc = append_encoded(c, enc_message, role, content, &ids, &n, &cap);
        if (!rc) json_array_append_new(c->messages, json_pack("{s:s,s:s}", "role", role, "content", content));
        last_role = role;
    }
    bool reply = !rc && !strcmp(last_role, "user");
    if (reply && !(rc = mark_start(c, n))) rc = append_encoded(c, enc_header, NULL, NULL, &ids, &n, &cap);
    double t0 = llama3_time_s();
    if (!rc) rc = eval_new(c, ids, n, reply);
    double t1 = llama3_time_s();
    free(ids);
    if (rc) { reset_conversation(c); json_decref(root); return rc; }
    fprintf(stderr, "loaded %zu messages (%d tokens) from %s\n", json_array_size(msgs), n, path);
    json_decref(root);
    return reply ? answer(c, n, t1 - t0) : 0;
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

/* One line of input without its newline (malloc'd); NULL at the end of input, or on Ctrl-C
 * with *interrupted set. On a terminal with libedit: an editable line with history. */
static char *read_line(chat *c, const char *prompt, bool *interrupted) {
    *interrupted = false;
    g_sigint = 0;
#ifdef LLAMA3_HAVE_LIBEDIT
    if (c->tty) {
        errno = 0;
        char *s = readline(prompt);
        if (g_sigint) {
            free(s);
            *interrupted = true;
            return NULL;
        }
        return s;
    }
#endif
    if (c->tty) { fputs(prompt, stdout); fflush(stdout); }
    char *line = NULL;
    size_t cap = 0;
    errno = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        if (errno == EINTR || g_sigint) {
            clearerr(stdin);
            *interrupted = true;
        }
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    return line;
}

/* A whole message: lines joined while one ends with '\', or from a line starting with """ to
 * one ending with """. NULL at the end of input (an open """ block is then sent as it is) or on
 * Ctrl-C. The history keeps each line as typed. */
static char *read_message(chat *c, bool *interrupted) {
    char *msg = NULL;
    size_t len = 0;
    bool block = false, more = true, first = true;
    while (more) {
        char *line = read_line(c, first ? "> " : ". ", interrupted);
        if (!line) {
            if (block && !*interrupted) return msg ? msg : calloc(1, 1);
            free(msg);
            return NULL;
        }
#ifdef LLAMA3_HAVE_LIBEDIT
        if (c->tty && *line) add_history(line);
#endif
        char *part = line;
        if (first && !strncmp(line, "\"\"\"", 3)) {
            block = true;
            part += 3;
        }
        size_t k = strlen(part);
        more = false;
        if (block) {
            if (k >= 3 && !strcmp(part + k - 3, "\"\"\"")) part[k -= 3] = 0;
            else more = true;
        } else if (k > 0 && part[k - 1] == '\\') {
            part[--k] = 0;
            more = true;
        }
        if (!(block && first && k == 0)) {  /* an opening line of only """ adds nothing */
            char *nm = realloc(msg, len + k + 2);
            if (!nm) { free(line); free(msg); return NULL; }
            msg = nm;
            if (len || !first) msg[len++] = '\n';
            memcpy(msg + len, part, k);
            len += k;
            msg[len] = 0;
        }
        first = false;
        free(line);
    }
    return msg ? msg : calloc(1, 1);
}

static int repl(chat *c) {
    int rc = 0, prompt_interrupts = 0;
    if (c->tty) fprintf(stderr, "llama3 chat: type a message, /help for commands, Ctrl-D or /quit to leave\n");
    for (;;) {
        bool interrupted;
        char *line = read_message(c, &interrupted);
        if (!line) {
            if (interrupted) {  /* Ctrl-C at the prompt */
                if (++prompt_interrupts >= 2) break;
                if (c->tty) fputs("\n(Ctrl-C again to exit)\n", stderr);
                continue;
            }
            if (c->tty) fputc('\n', stdout);  /* Ctrl-D: the shell's prompt starts on a new line */
            break;
        }
        prompt_interrupts = 0;
        int quit = 0;
        if (!line[0]) quit = 0;
        else if (line[0] == '/') quit = command(c, line);
        else if (user_turn(c, line) == 1 && !c->tty) quit = rc = 1;  /* scripts want a clear failure */
        free(line);
        if (quit) break;
    }
    return rc;
}

enum { H_HELP = 1, H_PRINT_IDS, H_SYSTEM, H_N_PREDICT, H_STOP, H_CONTEXT_SHIFT };
static const cli_opt CHAT_OPTS[] = {
    { H_HELP, "-h|--help", CLI_FLAG, NULL },
    { H_PRINT_IDS, "--print-ids", CLI_FLAG, NULL },
    { H_SYSTEM, "-sys|--system-prompt|--system", CLI_VALUE, NULL },
    { H_N_PREDICT, "-n|--n-predict|--predict", CLI_VALUE, NULL },
    { H_STOP, "-r|--reverse-prompt", CLI_VALUE, NULL },
    { H_CONTEXT_SHIFT, "--context-shift", CLI_FLAG, NULL },
    { 0, NULL, 0, NULL },
};

int cmd_chat(int argc, char **argv) {
    cli_model_opts mo;
    cli_model_opts_init(&mo);
    const char *system_msg = NULL, *stops[16];
    bool print_ids = false, seed_given = false;
    chat c = { 0 };
    c.sp = llama3_sampler_defaults();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int r = cli_model_opt(&mo, argc, argv, &i, CMD);
        if (r == 0) r = cli_sampler_opt(&c.sp, &seed_given, argc, argv, &i, CMD);
        if (r < 0) return 1;
        if (r > 0) continue;
        switch (cli_match(CHAT_OPTS, argc, argv, &i, &v, CMD)) {
        case -1: return 1;
        case 0: return cli_unknown(CMD, a);
        case H_HELP: fputs(CHAT_HELP, stdout); return 0;
        case H_PRINT_IDS: print_ids = true; break;
        case H_SYSTEM: system_msg = v; break;
        case H_CONTEXT_SHIFT: c.context_shift = true; break;
        case H_N_PREDICT:
            if (!cli_parse_int(v, 0, 1 << 24, &c.n_predict)) return cli_error(CMD, "invalid %s '%s'", a, v);
            break;
        case H_STOP:
            if (!*v) return cli_error(CMD, "%s needs a non-empty text", a);
            if (c.n_stops == 16) return cli_error(CMD, "at most 16 stop strings");
            stops[c.n_stops++] = v;
            break;
        }
    }
    c.stops = stops;
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
#ifdef LLAMA3_HAVE_LIBEDIT
    if (c.tty) {
        rl_readline_name = "llama3";  /* ~/.editrc may hold "llama3:" settings */
        using_history();
    }
#endif

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
    free(c.starts);
    free(c.system);
    json_decref(c.messages);
    llama3_session_free(c.s);
    llama3_model_free(c.m);
    return rc;
}
