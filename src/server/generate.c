/* Answers to chat and completion requests: one JSON body, or server-sent events from a
 * content-reader callback. A request's n choices are n jobs, each on a batch slot of its own,
 * run side by side. The connection thread waits on its jobs and polls its socket, so a client
 * that leaves frees its batch slots within ~100-200 ms.
 *
 * A client's FIN alone does not tell a client that left (close) from one that only finished
 * sending (shutdown(SHUT_WR)) and waits for the reply: only a write tells them apart, as a
 * closed socket answers it with a reset. So on a FIN the server writes something the client
 * may read (a stream: an SSE comment line; a whole reply: its headers, the body following
 * when ready) and takes the client as gone only on the reset (or another socket error). */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/http.h"

typedef enum peer_state { PEER_OPEN, PEER_FIN, PEER_GONE } peer_state;

/* PEER_FIN: the client sent its FIN (left, or only half-closed); PEER_GONE: reset or error. */
static peer_state peer(int fd) {
    if (fd < 0) return PEER_OPEN;
    struct pollfd pfd = { fd, POLLRDHUP, 0 };
    if (poll(&pfd, 1, 0) <= 0) return PEER_OPEN;
    if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)) return PEER_GONE;
    return pfd.revents & POLLRDHUP ? PEER_FIN : PEER_OPEN;
}

/* Restarts the idle timer after a long wait inside a handler (setting 0 first resets it). */
static void touch(srv_req *r) {
    MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
    MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)r->h->o.timeout_s);
}

static void cancel_all(srv_req *r) {
    for (int i = 0; i < r->n_ch; i++) srv_engine_cancel(r->h->c->engine, r->ch[i].job);
}

/* Moves one choice's new ids (already there: no wait) into its text. */
static void pump_choice(srv_req *r, srv_choice *ch) {
    int32_t ids[64];
    srv_lp lps[64];
    bool done = false;
    int n = srv_job_poll(r->h->c->engine, ch->job, ch->n_seen, 0, ids, r->p.logprobs ? lps : NULL, 64, &done);
    if (r->p.logprobs && n > 0) {
        if (ch->n_seen + n > ch->cap_ids) {
            int cap = (ch->n_seen + n) * 2;
            int32_t *ni = realloc(ch->ids, (size_t)cap * sizeof *ni);
            if (ni) ch->ids = ni;
            srv_lp *nl = ni ? realloc(ch->lps, (size_t)cap * sizeof *nl) : NULL;
            if (nl) ch->lps = nl;
            if (!ni || !nl) { r->failed = true; n = 0; }
            else ch->cap_ids = cap;
        }
        if (n > 0) {
            memcpy(ch->ids + ch->n_seen, ids, (size_t)n * sizeof *ids);
            memcpy(ch->lps + ch->n_seen, lps, (size_t)n * sizeof *lps);
        }
    }
    if (n > 0) {
        if (r->n_seen == 0) clock_gettime(CLOCK_MONOTONIC, &r->t_first);
        clock_gettime(CLOCK_MONOTONIC, &r->t_last);
    }
    ch->n_seen += n;
    if (ch->n_seen > r->n_seen) r->n_seen = ch->n_seen;
    if (srv_text_feed(&ch->text, r->h->c->m, ids, n)) r->failed = true;
    if (ch->text.stopped && !done) srv_engine_cancel(r->h->c->engine, ch->job);  /* a stop string: free the slot now */
    if (done || ch->text.stopped || r->failed) {
        ch->done = true;
        if (ch->job->error[0]) r->failed = true;
        srv_text_finish(&ch->text);
    }
}

/* Waits (at most timeout_ms) for any choice to move, then moves them all; 1 when every
 * choice is done (or one failed). */
static int pump(srv_req *r, int timeout_ms) {
    srv_job *jobs[SRV_MAX_N];
    int have[SRV_MAX_N], n = 0;
    for (int i = 0; i < r->n_ch; i++)
        if (!r->ch[i].done) jobs[n] = r->ch[i].job, have[n++] = r->ch[i].n_seen;
    if (n) srv_jobs_wait(r->h->c->engine, jobs, have, n, timeout_ms);
    bool all = true;
    for (int i = 0; i < r->n_ch; i++) {
        if (!r->ch[i].done) pump_choice(r, &r->ch[i]);
        all &= r->ch[i].done;
    }
    if (r->failed) cancel_all(r);
    return all || r->failed;
}

static int out_add(srv_req *r, char *s) {
    if (!s) return -1;
    size_t n = strlen(s);
    char *o = realloc(r->out, r->out_len + n + 1);
    if (!o) { free(s); return -1; }
    r->out = o;
    memcpy(r->out + r->out_len, s, n);
    r->out_len += n;
    free(s);
    return 0;
}

static const char *finish_of(const srv_choice *ch) { return srv_finish_reason(ch->job, &ch->text); }

/* Tools offered and allowed: the reply may be a call, known only once it is whole. */
static bool may_call(const srv_req *r) { return r->p.tools.n > 0 && r->p.tools.choice != SRV_TOOLS_NONE; }

/* The tokens not yet reported with logprobs (those whose text has been taken in). */
static srv_toklog logs_since(const srv_req *r, const srv_choice *ch, int from) {
    int n = r->p.logprobs ? ch->text.n_used - from : 0;
    return (srv_toklog){ ch->ids + from, ch->lps + from, n > 0 ? n : 0, 0 };
}

/* A stream: the events of choice i's new text, and its last chunk once it is done. */
static int stream_choice(srv_req *r, int i) {
    const srv_ctx *c = r->h->c;
    srv_choice *ch = &r->ch[i];
    size_t len = 0;
    const char *text = NULL;
    int bad = 0;
    json_t *calls = NULL;
    if (!may_call(r)) text = srv_text_take(&ch->text, &len);
    else if (ch->done) {
        text = srv_text_take(&ch->text, &len);
        if ((calls = srv_tools_reply_calls(&r->p.tools, text, len))) len = 0;
    }
    const bool called = calls != NULL;
    if (called) {
        bad |= out_add(r, srv_tool_call_event(c, &r->p, r->id, r->created, i, calls));
    } else if (len) {
        srv_toklog lg = logs_since(r, ch, ch->lp_sent);
        ch->lp_sent += lg.n;
        bad |= out_add(r, srv_chunk_event(c, &r->p, r->id, r->created, i, text, len, NULL, &lg));
    }
    if (ch->done) {
        srv_toklog lg = logs_since(r, ch, ch->lp_sent);
        ch->lp_sent += lg.n;
        bad |= out_add(r, srv_chunk_event(c, &r->p, r->id, r->created, i, "", 0, called ? "tool_calls" : finish_of(ch), &lg));
        ch->ended = true;
    }
    return bad;
}

static int completion_tokens(const srv_req *r) {
    int n = 0;
    for (int i = 0; i < r->n_ch; i++) n += r->ch[i].text.n_used;
    return n;
}

/* The whole (non-streamed) reply once every choice has ended: the body, and its status. */
static char *whole_body(srv_req *r, int *status) {
    const srv_ctx *c = r->h->c;
    if (r->failed) {
        const char *why = "generation failed";
        for (int i = 0; i < r->n_ch; i++)
            if (r->ch[i].job->error[0]) why = r->ch[i].job->error;
        *status = 500;
        return srv_error_json(500, why);
    }
    json_t *choices = json_array();
    for (int i = 0; i < r->n_ch; i++) {
        srv_choice *ch = &r->ch[i];
        size_t len;
        const char *text = srv_text_take(&ch->text, &len);
        json_t *calls = may_call(r) ? srv_tools_reply_calls(&r->p.tools, text, len) : NULL;
        srv_toklog lg = logs_since(r, ch, 0);
        lg.offset = r->p.echo_len;
        json_array_append_new(choices, srv_choice_json(c, &r->p, i, text, len, finish_of(ch), &lg, calls));
    }
    *status = 200;
    return srv_completion_json(c, &r->p, r->id, r->created, choices, completion_tokens(r), r->ch[0].job->n_cached);
}

/* A whole reply whose headers went out early (the client half-closed): waits for the jobs,
 * then hands out the JSON body (an error object if generation failed: the status is sent). */
static ssize_t whole_reader(srv_req *r, char *buf, size_t max) {
    if (r->phase == 0) {
        while (!pump(r, 100)) {
            if (peer(r->fd) == PEER_GONE) {  /* the reset that answered the headers */
                cancel_all(r);
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
        }
        touch(r);
        int status;
        if (out_add(r, whole_body(r, &status))) return MHD_CONTENT_READER_END_WITH_ERROR;
        r->phase = 2;
    }
    if (r->out_off >= r->out_len) return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = r->out_len - r->out_off < max ? r->out_len - r->out_off : max;
    memcpy(buf, r->out + r->out_off, n);
    r->out_off += n;
    return (ssize_t)n;
}

/* MHD asks for the next bytes of a stream: hand out queued events, else wait for ids. */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    srv_req *r = cls;
    const srv_ctx *c = r->h->c;
    bool waited = false;
    if (r->whole) return whole_reader(r, buf, max);
    for (;;) {
        if (r->out_off < r->out_len) {
            size_t n = r->out_len - r->out_off < max ? r->out_len - r->out_off : max;
            memcpy(buf, r->out + r->out_off, n);
            r->out_off += n;
            if (waited) touch(r);
            return (ssize_t)n;
        }
        r->out_len = r->out_off = 0;
        if (r->phase == 2) return MHD_CONTENT_READER_END_OF_STREAM;
        if (r->phase == 0) {
            r->phase = 1;
            for (int i = 0; i < r->n_ch; i++) {
                if (r->p.kind == SRV_CHAT && out_add(r, srv_chunk_event(c, &r->p, r->id, r->created, i, NULL, 0, NULL, NULL)))
                    return MHD_CONTENT_READER_END_WITH_ERROR;
                if (r->p.echo_len &&
                    out_add(r, srv_chunk_event(c, &r->p, r->id, r->created, i, r->p.echo, r->p.echo_len, NULL, NULL)))
                    return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            continue;
        }
        const peer_state ps = peer(r->fd);
        if (ps == PEER_GONE) {
            cancel_all(r);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (ps == PEER_FIN && !r->probed) {  /* a write: a client that left answers it with a reset */
            r->probed = true;
            if (out_add(r, strdup(": the request is complete; the reply follows\n\n"))) return MHD_CONTENT_READER_END_WITH_ERROR;
            continue;
        }
        int fin = pump(r, 100);
        waited = true;
        int bad = 0;
        if (r->failed) {  /* headers are gone already: the error travels as an event */
            const char *why = "generation failed";
            for (int i = 0; i < r->n_ch; i++)
                if (r->ch[i].job->error[0]) why = r->ch[i].job->error;
            char *e = srv_error_json(500, why);
            char *ev = e ? malloc(strlen(e) + 9) : NULL;
            if (ev) sprintf(ev, "data: %s\n\n", e);
            free(e);
            bad |= out_add(r, ev);
        } else {
            for (int i = 0; i < r->n_ch; i++)
                if (!r->ch[i].ended) bad |= stream_choice(r, i);
            if (fin && r->p.include_usage)
                bad |= out_add(r, srv_usage_event(c, &r->p, r->id, r->created, completion_tokens(r), r->ch[0].job->n_cached));
        }
        if (fin || r->failed) {
            bad |= out_add(r, strdup("data: [DONE]\n\n"));
            r->phase = 2;
        }
        if (bad) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

static void stream_free(void *cls) { srv_req_unref(cls); }

/* Queues a response whose body comes from stream_reader: server-sent events, or (r->whole)
 * the whole JSON reply once it is ready. */
static enum MHD_Result queue_reader(srv_req *r, const char *type) {
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader, r,
                                                                  stream_free);
    if (!resp) return MHD_NO;
    atomic_fetch_add(&r->refs, 1);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    srv_reply_headers(r->conn, resp, 200);
    enum MHD_Result ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Choice i's seed: the request's for choice 0 (so n = 1 and choice 0 agree), a distinct one
 * derived from it (splitmix64) for the others. */
static uint64_t choice_seed(uint64_t seed, int i) {
    if (i == 0) return seed;
    uint64_t z = seed + (uint64_t)i * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Choice i's job: the prompt, sampling settings and constraint of the request. */
static srv_job *choice_job(srv_req *r, int i) {
    srv_job *j = srv_job_new();
    if (!j) return NULL;
    j->n_prompt = r->p.n_prompt;
    j->sp = r->p.sp;
    j->sp.seed = choice_seed(r->p.sp.seed, i);
    j->max_tokens = r->p.max_tokens;
    j->cache_prompt = r->p.cache_prompt;
    j->logprobs = r->p.logprobs;
    j->top_logprobs = r->p.top_logprobs;
    if (r->p.constraints) {  /* the job owns its constraint */
        j->constraint = r->p.constraints[i];
        r->p.constraints[i] = NULL;
    }
    j->prompt = malloc((size_t)r->p.n_prompt * sizeof *j->prompt);
    if (r->p.n_bias) j->bias = malloc((size_t)r->p.n_bias * sizeof *j->bias);  /* j->sp points here */
    if (!j->prompt || (r->p.n_bias && !j->bias)) {
        srv_job_release(r->h->c->engine, j);
        return NULL;
    }
    memcpy(j->prompt, r->p.prompt, (size_t)r->p.n_prompt * sizeof *j->prompt);
    if (r->p.n_bias) memcpy(j->bias, r->p.bias, (size_t)r->p.n_bias * sizeof *j->bias);
    j->sp.logit_bias = j->bias;
    return j;
}

/* The choices' texts: each gets its own copy of the stop strings. */
static int choice_text(srv_req *r, srv_choice *ch) {
    if (!r->p.n_stop) return 0;
    if (!(ch->text.stop = calloc((size_t)r->p.n_stop, sizeof *ch->text.stop))) return -1;
    for (int k = 0; k < r->p.n_stop; k++) {
        if (!(ch->text.stop[k] = strdup(r->p.stop[k]))) return -1;
        ch->text.n_stop++;
    }
    return 0;
}

enum MHD_Result srv_generate(srv_req *r, srv_kind kind) {
    srv_ctx *c = r->h->c;
    char msg[320];
    int st = srv_parse_generation(c, kind, r->body ? r->body : "", r->len, &r->p, msg, sizeof msg);
    if (st) return srv_respond_error(r->conn, st, msg, NULL);
    int run, queued, slots;
    srv_engine_counts(c->engine, &run, &queued, &slots);
    if (r->p.n > slots) {
        snprintf(msg, sizeof msg, "'n' is %d but the server has %d slots (each choice needs one; see --slots)", r->p.n, slots);
        return srv_respond_error(r->conn, 400, msg, NULL);
    }
    if (!(r->ch = calloc((size_t)r->p.n, sizeof *r->ch))) return srv_respond_error(r->conn, 500, "out of memory", NULL);
    r->n_ch = r->p.n;
    srv_job *jobs[SRV_MAX_N];
    for (int i = 0; i < r->n_ch; i++) {
        if (choice_text(r, &r->ch[i]) || !(r->ch[i].job = jobs[i] = choice_job(r, i)))
            return srv_respond_error(r->conn, 500, "out of memory", NULL);
    }
    st = srv_engine_submit(c->engine, jobs, r->n_ch);
    if (st == -1) return srv_respond_error(r->conn, 503, "the server is busy (request queue full); retry later", NULL);
    if (st == -2) {
        snprintf(msg, sizeof msg, "'n' is %d but fewer slots are free now (the choices run side by side); retry later",
                 r->p.n);
        return srv_respond_error(r->conn, 503, msg, NULL);
    }
    static atomic_ulong counter;
    snprintf(r->id, sizeof r->id, "%s-%lu", kind == SRV_CHAT ? "chatcmpl" : "cmpl", (unsigned long)++counter);
    r->created = (long)time(NULL);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    r->fd = ci ? ci->connect_fd : -1;

    if (r->p.stream) return queue_reader(r, "text/event-stream");
    /* One JSON body: wait here (this connection's own thread) until every choice ends. */
    while (!pump(r, 100)) {
        const peer_state ps = peer(r->fd);
        if (ps == PEER_GONE) return MHD_NO;  /* closes; the completed callback frees the slots */
        if (ps == PEER_FIN) {  /* left or half-closed: the headers now, the body when ready */
            r->whole = r->probed = true;
            return queue_reader(r, "application/json");
        }
    }
    touch(r);
    int status;
    char *body = whole_body(r, &status);
    return srv_respond(r->conn, status, body, NULL);
}
