/* The HTTP layer on libmicrohttpd, one thread per connection: the daemon, dispatch on the
 * route table (routes.c), body limits, error objects, the API key, CORS, one log line per
 * request, connection limits and the deadlines for a request's head and body (a watchdog
 * thread shuts down the socket of a connection that is too slow). */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "server/http.h"
#include "util.h"

void srv_req_unref(srv_req *r) {
    if (atomic_fetch_sub(&r->refs, 1) != 1) return;
    for (int i = 0; i < r->n_ch; i++) {
        srv_choice *ch = &r->ch[i];
        srv_job_release(r->h->c->engine, ch->job);
        srv_text_free(&ch->text);
        free(ch->ids);
        free(ch->lps);
    }
    free(r->ch);
    srv_params_free(&r->p);
    free(r->body);
    free(r->out);
    free(r);
}

static srv_conn *conn_of(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void srv_reply_headers(struct MHD_Connection *conn, struct MHD_Response *resp, int status) {
    srv_conn *sc = conn_of(conn);
    if (!sc) return;
    sc->status = status;
    if (sc->h->o.cors_origin) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, sc->h->o.cors_origin);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Origin");
    }
}

static enum MHD_Result respond_typed(struct MHD_Connection *conn, int status, char *body, const char *type,
                                     const char *allow) {
    static const char OOM[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"code\":500}}";
    struct MHD_Response *resp =
        body ? MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(sizeof OOM - 1, (void *)OOM, MHD_RESPMEM_PERSISTENT);
    if (!resp) { free(body); return MHD_NO; }
    if (!body) status = 500, type = "application/json";
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (allow) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    srv_reply_headers(conn, resp, status);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result srv_respond(struct MHD_Connection *conn, int status, char *body, const char *allow) {
    return respond_typed(conn, status, body, "application/json", allow);
}

enum MHD_Result srv_respond_text(struct MHD_Connection *conn, int status, char *body, const char *type) {
    return respond_typed(conn, status, body, type, NULL);
}

/* A CORS preflight: the methods and headers a browser may use. */
static enum MHD_Result preflight(struct MHD_Connection *conn) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    srv_reply_headers(conn, resp, 204);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS");
    MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
    enum MHD_Result ret = MHD_queue_response(conn, 204, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* "Authorization: Bearer KEY", compared in constant time. */
static bool authorized(const srv_http *h, struct MHD_Connection *conn) {
    const char *key = h->o.api_key;
    const char *got = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!got || strncasecmp(got, "Bearer ", 7)) return false;
    got += 7;
    size_t n = strlen(key), m = strlen(got);
    unsigned char diff = n != m;
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)(key[i] ^ (i < m ? got[i] : 0));
    return diff == 0;
}

static double since_s(const struct timespec *a, const struct timespec *b) {
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) * 1e-9;
}

enum MHD_Result srv_respond_error(struct MHD_Connection *conn, int status, const char *msg, const char *allow) {
    return srv_respond(conn, status, srv_error_json(status, msg), allow);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    srv_http *h = cls;
    srv_req *r = *con_cls;
    if (!r) {  /* headers are in: route, method, key and size checks before reading any body */
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        atomic_init(&r->refs, 1);
        r->h = h;
        r->conn = conn;
        r->fd = -1;
        r->route_index = (int)SRV_N_ROUTES;
        snprintf(r->method, sizeof r->method, "%s", method);
        snprintf(r->path, sizeof r->path, "%s", url);
        clock_gettime(CLOCK_MONOTONIC, &r->t0);
        *con_cls = r;
        srv_conn *sc = conn_of(conn);
        if (sc) {
            pthread_mutex_lock(&h->mu);
            sc->phase = 1;
            sc->since = r->t0;
            sc->status = 0;
            pthread_mutex_unlock(&h->mu);
        }
        const srv_route *rt = NULL;
        const char *allow = NULL;
        bool head = !strcmp(method, "HEAD");
        for (size_t i = 0; i < SRV_N_ROUTES; i++) {
            const char *path = SRV_ROUTES[i].path, *brace = strstr(path, "{id}");
            size_t pre = brace ? (size_t)(brace - path) : 0;
            const char *arg = NULL;
            if (brace ? !strncmp(url, path, pre) && url[pre] && !strchr(url + pre, '/') : !strcmp(url, path))
                arg = brace ? r->path + pre : NULL;
            else continue;
            allow = SRV_ROUTES[i].method;
            if (!strcmp(method, SRV_ROUTES[i].method) || (head && !strcmp(SRV_ROUTES[i].method, "GET"))) {
                rt = &SRV_ROUTES[i];
                r->route_index = (int)i;
                r->arg = arg;
            }
        }
        if (h->o.cors_origin && !strcmp(method, "OPTIONS")) return preflight(conn);
        if (h->o.api_key && strcmp(url, "/health") && !authorized(h, conn))
            return srv_respond_error(conn, 401, "invalid or missing API key (send \"Authorization: Bearer KEY\")", NULL);
        if (!allow) return srv_respond_error(conn, 404, "no such route", NULL);
        if (!rt) return srv_respond_error(conn, 405, "method not allowed on this route", allow);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > h->o.max_body)
            return srv_respond_error(conn, 413, "request body too large", NULL);
        r->route = rt;
        return MHD_YES;
    }
    if (!r->route) {  /* answered already (an error at the head): the body is dropped */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->too_big || r->len + n > h->o.max_body) {
            r->too_big = true;
            return MHD_YES;  /* answered once the upload ends */
        }
        return l3_buf_append(&r->body, &r->len, &r->cap, upload, n, (size_t)h->o.max_body) ? MHD_YES : MHD_NO;
    }
    srv_conn *sc = conn_of(conn);
    if (sc) {
        pthread_mutex_lock(&h->mu);
        sc->phase = 2;  /* the whole request is in: no deadline while it is answered */
        pthread_mutex_unlock(&h->mu);
    }
    if (r->too_big) return srv_respond_error(conn, 413, "request body too large", NULL);
    return r->route->handler(r);
}

/* One line per request on stderr, and the request's counts for /metrics. */
static void log_request(srv_http *h, srv_req *r, srv_conn *sc) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    const int status = sc && sc->status ? sc->status : 499;  /* 499: the client left before a reply */
    const bool gen = r->n_ch > 0;
    int n_gen = 0;
    for (int i = 0; i < r->n_ch; i++) n_gen += r->ch[i].text.n_used;
    const int n_prompt = gen ? r->p.n_prompt : 0;
    const bool first = r->t_first.tv_sec || r->t_first.tv_nsec;
    const double ttft = first ? since_s(&r->t0, &r->t_first) : -1;
    const double per_token = first && r->n_seen > 1 ? since_s(&r->t_first, &r->t_last) / (r->n_seen - 1) : -1;
    srv_metrics_request(h->c->metrics, r->route_index, status, n_prompt, n_gen, ttft, per_token);
    time_t t = time(NULL);
    struct tm tm;
    char stamp[32];
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr, "%s %s %s %s %d prompt=%d generated=%d %.0fms\n", stamp, sc ? sc->addr : "-", r->method, r->path,
            status, n_prompt, n_gen, since_s(&r->t0, &now) * 1000);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode why) {
    (void)why;
    srv_http *h = cls;
    srv_req *r = *con_cls;
    *con_cls = NULL;
    if (!r) return;
    /* The client is done or gone: its job (if still running) leaves the batch now. */
    for (int i = 0; i < r->n_ch; i++) srv_engine_cancel(r->h->c->engine, r->ch[i].job);
    srv_conn *sc = conn_of(conn);
    log_request(h, r, sc);
    if (sc) {  /* the next request's head is due from now */
        pthread_mutex_lock(&h->mu);
        sc->phase = 0;
        clock_gettime(CLOCK_MONOTONIC, &sc->since);
        pthread_mutex_unlock(&h->mu);
    }
    srv_req_unref(r);
}

/* URLs are %-decoded, except that one holding %00 stays as sent (a NUL would cut the path
 * short: "/%00" must not be "/"). */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *uri) {
    (void)cls, (void)conn;
    for (const char *p = uri; (p = strchr(p, '%')); p++)
        if (p[1] == '0' && p[2] == '0') return strlen(uri);
    return MHD_http_unescape(uri);
}

/* Connections come and go: each gets a srv_conn, listed for the watchdog. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    srv_http *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        srv_conn *sc = calloc(1, sizeof *sc);
        if (!sc) return;
        sc->h = h;
        const union MHD_ConnectionInfo *fd = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ad = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        sc->fd = fd ? fd->connect_fd : -1;
        snprintf(sc->addr, sizeof sc->addr, "-");
        if (ad && ad->client_addr)
            getnameinfo(ad->client_addr, ad->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                                : sizeof(struct sockaddr_in),
                        sc->addr, sizeof sc->addr, NULL, 0, NI_NUMERICHOST);
        clock_gettime(CLOCK_MONOTONIC, &sc->since);
        pthread_mutex_lock(&h->mu);
        sc->next = h->conns;
        if (h->conns) h->conns->prev = sc;
        h->conns = sc;
        pthread_mutex_unlock(&h->mu);
        *socket_context = sc;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        srv_conn *sc = *socket_context;
        *socket_context = NULL;
        if (!sc) return;
        /* before MHD closes the socket: the watchdog never touches a reused descriptor */
        pthread_mutex_lock(&h->mu);
        if (sc->prev) sc->prev->next = sc->next;
        else h->conns = sc->next;
        if (sc->next) sc->next->prev = sc->prev;
        pthread_mutex_unlock(&h->mu);
        free(sc);
    }
}

/* Every 100 ms: a connection still without a whole head after head_timeout_s (from accept or
 * its last reply), or without its whole body body_timeout_s after the head, is shut down (its
 * MHD thread then sees the end of the stream and closes it). Slow senders cannot hold
 * connections, however little they send. */
static void *watchdog(void *arg) {
    srv_http *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        struct timespec now, until;
        clock_gettime(CLOCK_MONOTONIC, &now);
        for (srv_conn *sc = h->conns; sc; sc = sc->next) {
            const double limit = sc->phase == 0 ? h->o.head_timeout_s : sc->phase == 1 ? h->o.body_timeout_s : -1;
            if (limit > 0 && sc->fd >= 0 && since_s(&sc->since, &now) > limit) {
                shutdown(sc->fd, SHUT_RDWR);
                sc->phase = 3;  /* done with it */
            }
        }
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100000000L;
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&h->cv, &h->mu, &until);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

srv_http *srv_http_start(srv_ctx *c, const srv_http_options *o, int *bound_port, llama3_error *err) {
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
        l3_fail(err, LLAMA3_ERR_ARG, "--host '%s' is not a numeric IPv4 or IPv6 address", o->host);
        return NULL;
    }
    srv_http *h = calloc(1, sizeof *h);
    if (!h) { l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory"); return NULL; }
    h->c = c;
    h->o = *o;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    if (pthread_create(&h->watchdog, NULL, watchdog, h) != 0) {
        srv_http_stop(h);
        l3_fail(err, LLAMA3_ERR_MEMORY, "cannot start the connection watchdog");
        return NULL;
    }
    h->watchdog_started = true;
    h->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_s,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)o->max_per_address,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
                            MHD_OPTION_UNESCAPE_CALLBACK, unescape, h,
                            MHD_OPTION_END);
    if (!h->d) {
        l3_fail(err, LLAMA3_ERR_IO, "cannot listen on %s port %d (in use, or not an address of this machine?)", o->host,
                o->port);
        srv_http_stop(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = di ? di->port : o->port;
    return h;
}

void srv_http_stop(srv_http *h) {
    if (!h) return;
    if (h->d) MHD_stop_daemon(h->d);
    if (h->watchdog_started) {
        pthread_mutex_lock(&h->mu);
        h->stop = true;
        pthread_cond_signal(&h->cv);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->watchdog, NULL);
    }
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
}
