/* The HTTP layer on libmicrohttpd, one thread per connection: the daemon, dispatch on the
 * route table (routes.c), body limits, error objects. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http.h"
#include "util.h"

void srv_req_unref(srv_req *r) {
    if (atomic_fetch_sub(&r->refs, 1) != 1) return;
    srv_job_release(r->h->c->engine, r->job);
    srv_params_free(&r->p);
    srv_text_free(&r->text);
    free(r->body);
    free(r->out);
    free(r->ids);
    free(r->lps);
    free(r);
}

enum MHD_Result srv_respond(struct MHD_Connection *conn, int status, char *body, const char *allow) {
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

enum MHD_Result srv_respond_error(struct MHD_Connection *conn, int status, const char *msg, const char *allow) {
    return srv_respond(conn, status, srv_error_json(status, msg), allow);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    srv_http *h = cls;
    srv_req *r = *con_cls;
    if (!r) {  /* headers are in: route, method and size checks before reading any body */
        const srv_route *rt = NULL;
        const char *allow = NULL;
        bool head = !strcmp(method, "HEAD");
        for (size_t i = 0; i < SRV_N_ROUTES; i++)
            if (!strcmp(url, SRV_ROUTES[i].path)) {
                allow = SRV_ROUTES[i].method;
                if (!strcmp(method, SRV_ROUTES[i].method) || (head && !strcmp(SRV_ROUTES[i].method, "GET")))
                    rt = &SRV_ROUTES[i];
            }
        if (!allow) return srv_respond_error(conn, 404, "no such route", NULL);
        if (!rt) return srv_respond_error(conn, 405, "method not allowed on this route", allow);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > h->o.max_body)
            return srv_respond_error(conn, 413, "request body too large", NULL);
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        atomic_init(&r->refs, 1);
        r->h = h;
        r->conn = conn;
        r->route = rt;
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
    if (r->too_big) return srv_respond_error(conn, 413, "request body too large", NULL);
    return r->route->handler(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode why) {
    (void)cls, (void)conn, (void)why;
    srv_req *r = *con_cls;
    *con_cls = NULL;
    if (!r) return;
    /* The client is done or gone: its job (if still running) leaves the batch now. */
    if (r->job) srv_engine_cancel(r->h->c->engine, r->job);
    srv_req_unref(r);
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
    h->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_s,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_END);
    if (!h->d) {
        l3_fail(err, LLAMA3_ERR_IO, "cannot listen on %s port %d (in use, or not an address of this machine?)", o->host,
                o->port);
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
