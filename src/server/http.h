/* The HTTP layer's shared pieces (libmicrohttpd): a request as its connection holds it, the
 * responders, and the route table http.c dispatches on (routes.c). */
#ifndef LLAMA3_SERVER_HTTP_H
#define LLAMA3_SERVER_HTTP_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <stdbool.h>
#include <stddef.h>

#include "server/server.h"

/* One open connection (MHD's socket context): the reply status for the request log, and the
 * deadlines the watchdog enforces by shutting the socket down. */
typedef struct srv_conn {
    struct srv_http *h;
    int fd;
    int status;                  /* of the reply queued last (0: none yet) */
    int phase;                   /* 0: waiting for a head, 1: reading a body, 2: answering */
    struct timespec since;       /* accepted or last reply done (phase 0), head in (phase 1) */
    char addr[64];
    struct srv_conn *prev, *next;
} srv_conn;

struct srv_http {
    struct MHD_Daemon *d;
    srv_ctx *c;
    srv_http_options o;
    pthread_mutex_t mu;          /* guards conns and stop */
    pthread_cond_t cv;
    srv_conn *conns;
    bool stop;
    pthread_t watchdog;
    bool watchdog_started;
};

typedef struct srv_req srv_req;

/* Answers a request whose body has been read in full (r->body, r->len). */
typedef enum MHD_Result (*srv_handler)(srv_req *r);

/* One route: a request for path with another method gets 405 (HEAD is taken as GET). */
typedef struct srv_route {
    const char *method, *path;
    srv_handler handler;
    const char *help;        /* for `llama3 serve --help`: lines separated by '\n' */
} srv_route;

extern const srv_route SRV_ROUTES[];
extern const size_t SRV_N_ROUTES;

/* One choice of a generation: its job and the text of the ids seen so far. */
typedef struct srv_choice {
    srv_job *job;
    srv_text text;
    int n_seen;                  /* job ids fed into text */
    int32_t *ids;                /* [n_seen] with logprobs: the ids and their logprobs */
    srv_lp *lps;
    int cap_ids;
    int lp_sent;                 /* a stream: tokens whose logprobs went out */
    bool done;                   /* no more ids will come (text finished) */
    bool ended;                  /* a stream: its last chunk is queued */
} srv_choice;

/* Per-request state; shared by the connection (completed callback) and a streamed
 * response (its free callback), freed by whichever lets go last (srv_req_unref). */
struct srv_req {
    atomic_int refs;
    srv_http *h;
    struct MHD_Connection *conn;
    const srv_route *route;
    int route_index;             /* for /metrics (SRV_N_ROUTES: none) */
    const char *arg;             /* the {id} of a route path ending in "{id}" (into path) */
    char method[8], path[160];
    struct timespec t0;          /* head received */
    struct timespec t_first, t_last;  /* a generation's first and last token seen */
    char *body;
    size_t len, cap;
    bool too_big;
    /* a generation (generate.c) */
    srv_params p;
    struct srv_choice *ch;       /* [n_ch]: one job each */
    int n_ch;
    int n_seen;                  /* the most ids any choice has seen (latency metrics) */
    bool failed;                 /* a choice failed: the reply is an error */
    char id[48];
    long created;
    int fd;
    /* a stream: bytes of events not yet handed to MHD */
    char *out;
    size_t out_len, out_off;
    int phase;                   /* 0: role chunk next, 1: tokens, 2: all queued */
    bool whole;                  /* not a stream: the whole JSON reply, headers sent early */
    bool probed;                 /* written to after the client's FIN (see generate.c) */
};

void srv_req_unref(srv_req *r);

/* Queues a JSON response with body (taken; NULL: a 500 "out of memory" body) and, for 405,
 * the Allow header. */
enum MHD_Result srv_respond(struct MHD_Connection *conn, int status, char *body, const char *allow);
/* A response of another type (text/plain for /metrics), body taken. */
enum MHD_Result srv_respond_text(struct MHD_Connection *conn, int status, char *body, const char *type);
/* The headers every reply carries (CORS), and the status for the request log; for replies
 * built elsewhere (a stream). */
void srv_reply_headers(struct MHD_Connection *conn, struct MHD_Response *resp, int status);
/* An OpenAI-style error object. */
enum MHD_Result srv_respond_error(struct MHD_Connection *conn, int status, const char *msg, const char *allow);

/* generate.c: answers a chat or completion request, as one JSON body or as server-sent
 * events. */
enum MHD_Result srv_generate(srv_req *r, srv_kind kind);

#endif
