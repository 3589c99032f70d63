/* Answers to chat and completion requests: one JSON body, or server-sent events from a
 * content-reader callback. The connection thread waits on its job and polls its socket, so
 * a client that leaves frees its batch slot within ~100 ms. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/http.h"

static bool client_gone(int fd) {
    if (fd < 0) return false;
    struct pollfd pfd = { fd, POLLRDHUP, 0 };
    return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* Restarts the idle timer after a long wait inside a handler (setting 0 first resets it). */
static void touch(srv_req *r) {
    MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
    MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)r->h->o.timeout_s);
}

/* Moves the job's new ids into the text; 1 when nothing more will come. */
static int pump(srv_req *r, int timeout_ms) {
    int32_t ids[64];
    srv_lp lps[64];
    bool done = false;
    int n = srv_job_poll(r->h->c->engine, r->job, r->n_seen, timeout_ms, ids, r->p.logprobs ? lps : NULL, 64, &done);
    if (r->p.logprobs && n > 0) {
        if (r->n_seen + n > r->cap_ids) {
            int cap = (r->n_seen + n) * 2;
            int32_t *ni = realloc(r->ids, (size_t)cap * sizeof *ni);
            if (ni) r->ids = ni;
            srv_lp *nl = ni ? realloc(r->lps, (size_t)cap * sizeof *nl) : NULL;
            if (nl) r->lps = nl;
            if (!ni || !nl) { r->failed = true; n = 0; }
            else r->cap_ids = cap;
        }
        if (n > 0) {
            memcpy(r->ids + r->n_seen, ids, (size_t)n * sizeof *ids);
            memcpy(r->lps + r->n_seen, lps, (size_t)n * sizeof *lps);
        }
    }
    if (n > 0) {
        if (r->n_seen == 0) clock_gettime(CLOCK_MONOTONIC, &r->t_first);
        clock_gettime(CLOCK_MONOTONIC, &r->t_last);
    }
    r->n_seen += n;
    if (srv_text_feed(&r->text, r->h->c->m, ids, n)) r->failed = true;
    if (r->text.stopped && !done) srv_engine_cancel(r->h->c->engine, r->job);  /* a stop string: free the slot now */
    if (done || r->text.stopped || r->failed) {
        r->job_done = true;
        if (r->job->error[0]) r->failed = true;
        srv_text_finish(&r->text);
        return 1;
    }
    return 0;
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

static const char *finish_of(srv_req *r) { return srv_finish_reason(r->job, &r->text); }

/* Tools offered and allowed: the reply may be a call, known only once it is whole. */
static bool may_call(const srv_req *r) { return r->p.tools.n > 0 && r->p.tools.choice != SRV_TOOLS_NONE; }

/* The tokens not yet reported with logprobs (those whose text has been taken in). */
static srv_toklog logs_since(srv_req *r, int from) {
    int n = r->p.logprobs ? r->text.n_used - from : 0;
    return (srv_toklog){ r->ids + from, r->lps + from, n > 0 ? n : 0, 0 };
}

/* MHD asks for the next bytes of a stream: hand out queued events, else wait for ids. */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    srv_req *r = cls;
    const srv_ctx *c = r->h->c;
    bool waited = false;
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
            if (r->p.kind == SRV_CHAT && out_add(r, srv_chunk_event(c, &r->p, r->id, r->created, NULL, 0, NULL, NULL)))
                return MHD_CONTENT_READER_END_WITH_ERROR;
            if (r->p.echo_len &&
                out_add(r, srv_chunk_event(c, &r->p, r->id, r->created, r->p.echo, r->p.echo_len, NULL, NULL)))
                return MHD_CONTENT_READER_END_WITH_ERROR;
            continue;
        }
        if (client_gone(r->fd)) {
            srv_engine_cancel(c->engine, r->job);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        int fin = pump(r, 100);
        waited = true;
        size_t len = 0;
        const char *text = NULL;
        int bad = 0;
        json_t *call = NULL;
        if (!may_call(r)) text = srv_text_take(&r->text, &len);
        else if (fin && !r->failed) {
            text = srv_text_take(&r->text, &len);
            if ((call = srv_tools_reply_call(&r->p.tools, text, len))) len = 0;
        }
        if (call) {
            bad |= out_add(r, srv_tool_call_event(c, &r->p, r->id, r->created, call));
        } else if (len) {
            srv_toklog lg = logs_since(r, r->lp_sent);
            r->lp_sent += lg.n;
            bad |= out_add(r, srv_chunk_event(c, &r->p, r->id, r->created, text, len, NULL, &lg));
        }
        if (!fin) {
            if (bad) return MHD_CONTENT_READER_END_WITH_ERROR;
            continue;
        }
        if (r->failed) {  /* headers are gone already: the error travels as an event */
            char *e = srv_error_json(500, r->job->error[0] ? r->job->error : "generation failed");
            char *ev = e ? malloc(strlen(e) + 9) : NULL;
            if (ev) sprintf(ev, "data: %s\n\n", e);
            free(e);
            bad |= out_add(r, ev);
        } else {
            srv_toklog lg = logs_since(r, r->lp_sent);
            r->lp_sent += lg.n;
            bad |= out_add(r, srv_chunk_event(c, &r->p, r->id, r->created, "", 0, call ? "tool_calls" : finish_of(r), &lg));
            if (r->p.include_usage)
                bad |= out_add(r, srv_usage_event(c, &r->p, r->id, r->created, r->text.n_used, r->job->n_cached));
        }
        bad |= out_add(r, strdup("data: [DONE]\n\n"));
        r->phase = 2;
        if (bad) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

static void stream_free(void *cls) { srv_req_unref(cls); }

enum MHD_Result srv_generate(srv_req *r, srv_kind kind) {
    srv_ctx *c = r->h->c;
    char msg[320];
    int st = srv_parse_generation(c, kind, r->body ? r->body : "", r->len, &r->p, msg, sizeof msg);
    if (st) return srv_respond_error(r->conn, st, msg, NULL);
    r->text.stop = r->p.stop;  /* the text owns the stop strings from here */
    r->text.n_stop = r->p.n_stop;
    r->p.stop = NULL;
    r->p.n_stop = 0;
    srv_job *j = srv_job_new();
    if (!j) return srv_respond_error(r->conn, 500, "out of memory", NULL);
    j->prompt = r->p.prompt;   /* the job owns the prompt ids */
    r->p.prompt = NULL;
    j->n_prompt = r->p.n_prompt;
    j->sp = r->p.sp;
    j->max_tokens = r->p.max_tokens;
    j->bias = r->p.bias;       /* the job owns the bias array (j->sp points into it) */
    r->p.bias = NULL;
    j->constraint = r->p.constraint;
    r->p.constraint = NULL;
    j->cache_prompt = r->p.cache_prompt;
    j->logprobs = r->p.logprobs;
    j->top_logprobs = r->p.top_logprobs;
    r->job = j;
    if (srv_engine_submit(c->engine, j))
        return srv_respond_error(r->conn, 503, "the server is busy (request queue full); retry later", NULL);
    static atomic_ulong counter;
    snprintf(r->id, sizeof r->id, "%s-%lu", kind == SRV_CHAT ? "chatcmpl" : "cmpl", (unsigned long)++counter);
    r->created = (long)time(NULL);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    r->fd = ci ? ci->connect_fd : -1;

    if (r->p.stream) {
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader, r,
                                                                      stream_free);
        if (!resp) return MHD_NO;
        atomic_fetch_add(&r->refs, 1);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        srv_reply_headers(r->conn, resp, 200);
        enum MHD_Result ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    /* One JSON body: wait here (this connection's own thread) until the job ends. */
    while (!pump(r, 100))
        if (client_gone(r->fd)) return MHD_NO;  /* closes; the completed callback frees the slot */
    touch(r);
    if (r->failed) return srv_respond_error(r->conn, 500, r->job->error[0] ? r->job->error : "generation failed", NULL);
    size_t len;
    const char *text = srv_text_take(&r->text, &len);
    json_t *call = may_call(r) ? srv_tools_reply_call(&r->p.tools, text, len) : NULL;
    if (call)
        return srv_respond(r->conn, 200,
                           srv_tool_call_json(c, &r->p, r->id, r->created, call, r->text.n_used, r->job->n_cached), NULL);
    srv_toklog lg = logs_since(r, 0);
    lg.offset = r->p.echo_len;
    return srv_respond(r->conn, 200,
                       srv_completion_json(c, &r->p, r->id, r->created, text, len, finish_of(r), r->text.n_used,
                                           r->job->n_cached, &lg),
                       NULL);
}
