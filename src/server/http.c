/* The HTTP layer on libmicrohttpd, one thread per connection: routes, body limits, error
 * objects, and the two ways a generation is answered (one JSON body, or server-sent events
 * from a content-reader callback). A generation's connection thread waits on its job and
 * polls its socket, so a client that leaves frees its batch slot within ~100 ms. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server.h"

struct srv_http {
    struct MHD_Daemon *d;
    srv_ctx *c;
    srv_http_options o;
};

typedef enum route {
    R_NONE, R_CHAT, R_COMPLETIONS, R_MODELS, R_HEALTH, R_TOKENIZE, R_DETOKENIZE
} route;

static const struct { const char *path, *method; route r; } ROUTES[] = {
    { "/v1/chat/completions", "POST", R_CHAT },
    { "/v1/completions", "POST", R_COMPLETIONS },
    { "/v1/models", "GET", R_MODELS },
    { "/health", "GET", R_HEALTH },
    { "/tokenize", "POST", R_TOKENIZE },
    { "/detokenize", "POST", R_DETOKENIZE },
};

/* Per-request state; shared by the connection (completed callback) and a streamed
 * response (its free callback), freed by whichever lets go last. */
typedef struct srv_req {
    atomic_int refs;
    srv_http *h;
    struct MHD_Connection *conn;
    route r;
    char *body;
    size_t len, cap;
    bool too_big;
    /* a generation */
    srv_params p;
    srv_job *job;
    srv_text text;
    int n_seen;                  /* job ids fed into text */
    bool job_done, failed;
    char id[48];
    long created;
    int fd;
    /* a stream: bytes of events not yet handed to MHD */
    char *out;
    size_t out_len, out_off;
    int phase;                   /* 0: role chunk next, 1: tokens, 2: all queued */
} srv_req;

static void req_unref(srv_req *r) {
    if (atomic_fetch_sub(&r->refs, 1) != 1) return;
    srv_job_release(r->h->c->engine, r->job);
    srv_params_free(&r->p);
    srv_text_free(&r->text);
    free(r->body);
    free(r->out);
    free(r);
}

static enum MHD_Result respond(struct MHD_Connection *conn, int status, char *body, const char *allow) {
    static const char OOM[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"code\":500}}";
    struct MHD_Response *resp =
        body ? MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(sizeof OOM - 1, (void *)OOM, MHD_RESPMEM_PERSISTENT);
    if (!resp) { free(body); return MHD_NO; }
    if (!body) status = 500;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (allow) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result respond_error(struct MHD_Connection *conn, int status, const char *msg, const char *allow) {
    return respond(conn, status, srv_error_json(status, msg), allow);
}

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
    bool done = false;
    int n = srv_job_poll(r->h->c->engine, r->job, r->n_seen, timeout_ms, ids, 64, &done);
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
            if (r->p.kind == SRV_CHAT && out_add(r, srv_chunk_event(c, &r->p, r->id, r->created, NULL, 0, NULL)))
                return MHD_CONTENT_READER_END_WITH_ERROR;
            continue;
        }
        if (client_gone(r->fd)) {
            srv_engine_cancel(c->engine, r->job);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        int fin = pump(r, 100);
        waited = true;
        size_t len;
        const char *text = srv_text_take(&r->text, &len);
        int bad = 0;
        if (len) bad |= out_add(r, srv_chunk_event(c, &r->p, r->id, r->created, text, len, NULL));
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
            bad |= out_add(r, srv_chunk_event(c, &r->p, r->id, r->created, "", 0, finish_of(r)));
            if (r->p.include_usage) bad |= out_add(r, srv_usage_event(c, &r->p, r->id, r->created, r->text.n_used));
        }
        bad |= out_add(r, strdup("data: [DONE]\n\n"));
        r->phase = 2;
        if (bad) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

static void stream_free(void *cls) { req_unref(cls); }

static enum MHD_Result generation(srv_req *r) {
    srv_ctx *c = r->h->c;
    char msg[320];
    int st = srv_parse_generation(c, r->r == R_CHAT ? SRV_CHAT : SRV_COMPLETION, r->body ? r->body : "", r->len, &r->p,
                                  msg, sizeof msg);
    if (st) return respond_error(r->conn, st, msg, NULL);
    r->text.stop = r->p.stop;  /* the text owns the stop strings from here */
    r->text.n_stop = r->p.n_stop;
    r->p.stop = NULL;
    r->p.n_stop = 0;
    srv_job *j = srv_job_new();
    if (!j) return respond_error(r->conn, 500, "out of memory", NULL);
    j->prompt = r->p.prompt;   /* the job owns the prompt ids */
    r->p.prompt = NULL;
    j->n_prompt = r->p.n_prompt;
    j->sp = r->p.sp;
    j->max_tokens = r->p.max_tokens;
    r->job = j;
    if (srv_engine_submit(c->engine, j))
        return respond_error(r->conn, 503, "the server is busy (request queue full); retry later", NULL);
    static atomic_ulong counter;
    snprintf(r->id, sizeof r->id, "%s-%lu", r->r == R_CHAT ? "chatcmpl" : "cmpl", (unsigned long)++counter);
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
        enum MHD_Result ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    /* One JSON body: wait here (this connection's own thread) until the job ends. */
    while (!pump(r, 100))
        if (client_gone(r->fd)) return MHD_NO;  /* closes; the completed callback frees the slot */
    touch(r);
    if (r->failed) return respond_error(r->conn, 500, r->job->error[0] ? r->job->error : "generation failed", NULL);
    size_t len;
    const char *text = srv_text_take(&r->text, &len);
    return respond(r->conn, 200,
                   srv_completion_json(c, &r->p, r->id, r->created, text, len, finish_of(r), r->text.n_used), NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    srv_http *h = cls;
    srv_req *r = *con_cls;
    if (!r) {  /* headers are in: route, method and size checks before reading any body */
        route rt = R_NONE;
        const char *allow = NULL;
        bool head = !strcmp(method, "HEAD");
        for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++)
            if (!strcmp(url, ROUTES[i].path)) {
                allow = ROUTES[i].method;
                if (!strcmp(method, ROUTES[i].method) || (head && !strcmp(ROUTES[i].method, "GET"))) rt = ROUTES[i].r;
            }
        if (!allow) return respond_error(conn, 404, "no such route", NULL);
        if (rt == R_NONE) return respond_error(conn, 405, "method not allowed on this route", allow);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > h->o.max_body)
            return respond_error(conn, 413, "request body too large", NULL);
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        atomic_init(&r->refs, 1);
        r->h = h;
        r->conn = conn;
        r->r = rt;
        r->fd = -1;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->too_big || r->len + n > h->o.max_body) {
            r->too_big = true;
            return MHD_YES;  /* answered once the upload ends */
        }
        if (r->len + n + 1 > r->cap) {
            size_t cap = (r->len + n + 1) * 2;
            if (cap > h->o.max_body + 1) cap = h->o.max_body + 1;
            char *b = realloc(r->body, cap);
            if (!b) return MHD_NO;
            r->body = b;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload, n);
        r->len += n;
        r->body[r->len] = 0;
        return MHD_YES;
    }
    if (r->too_big) return respond_error(conn, 413, "request body too large", NULL);
    srv_ctx *c = h->c;
    char *out = NULL;
    int st;
    switch (r->r) {
    case R_CHAT:
    case R_COMPLETIONS: return generation(r);
    case R_MODELS: return respond(conn, 200, srv_models_json(c), NULL);
    case R_HEALTH: return respond(conn, 200, srv_health_json(c), NULL);
    case R_TOKENIZE: st = srv_tokenize(c, r->body ? r->body : "", r->len, &out); return respond(conn, st, out, NULL);
    case R_DETOKENIZE: st = srv_detokenize(c, r->body ? r->body : "", r->len, &out); return respond(conn, st, out, NULL);
    default: return respond_error(conn, 404, "no such route", NULL);
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode why) {
    (void)cls, (void)conn, (void)why;
    srv_req *r = *con_cls;
    *con_cls = NULL;
    if (!r) return;
    /* The client is done or gone: its job (if still running) leaves the batch now. */
    if (r->job) srv_engine_cancel(r->h->c->engine, r->job);
    req_unref(r);
}

srv_http *srv_http_start(srv_ctx *c, const srv_http_options *o, int *bound_port, char *msg, size_t msg_cap) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    const char *host = !strcmp(o->host, "localhost") ? "127.0.0.1" : o->host;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)o->port);
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)o->port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(msg, msg_cap, "--host '%s' is not a numeric IPv4 or IPv6 address", o->host);
        return NULL;
    }
    srv_http *h = calloc(1, sizeof *h);
    if (!h) { snprintf(msg, msg_cap, "out of memory"); return NULL; }
    h->c = c;
    h->o = *o;
    h->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_s,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_END);
    if (!h->d) {
        snprintf(msg, msg_cap, "cannot listen on %s port %d (in use, or not an address of this machine?)", o->host, o->port);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = di ? di->port : o->port;
    return h;
}

void srv_http_stop(srv_http *h) {
    if (!h) return;
    MHD_stop_daemon(h->d);
    free(h);
}
