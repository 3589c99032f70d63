/* /metrics in Prometheus' text format: requests by route and status, prompt and generated
 * tokens, histograms of the time to the first token and of the time per later token, and
 * gauges read from the engine (slots busy, queue length, KV cells used). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

/* The statuses the server answers with; anything else counts as "other". */
static const int STATUSES[] = { 200, 204, 400, 401, 404, 405, 413, 499, 500, 503 };
#define N_STATUS (sizeof STATUSES / sizeof STATUSES[0] + 1)
static const double TTFT_LE[] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
static const double TOKEN_LE[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 };
#define N_TTFT (sizeof TTFT_LE / sizeof TTFT_LE[0])
#define N_TOKEN (sizeof TOKEN_LE / sizeof TOKEN_LE[0])

typedef struct hist {
    unsigned long n[16];         /* per bucket (cumulated when printed) */
    unsigned long count;
    double sum;
} hist;

struct srv_metrics {
    pthread_mutex_t mu;
    int n_routes;
    unsigned long *requests;     /* [(n_routes + 1) x N_STATUS] */
    unsigned long prompt_tokens, generated_tokens;
    hist ttft, token;
};

srv_metrics *srv_metrics_new(int n_routes) {
    srv_metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->n_routes = n_routes;
    m->requests = calloc((size_t)(n_routes + 1) * N_STATUS, sizeof *m->requests);
    if (!m->requests) { free(m); return NULL; }
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

void srv_metrics_free(srv_metrics *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    free(m->requests);
    free(m);
}

static void observe(hist *h, const double *le, size_t n, double v) {
    size_t b = 0;
    while (b < n && v > le[b]) b++;
    h->n[b]++;
    h->count++;
    h->sum += v;
}

void srv_metrics_request(srv_metrics *m, int route, int status, int n_prompt, int n_generated, double ttft_s,
                         double per_token_s) {
    if (!m) return;
    size_t s = 0;
    while (s < N_STATUS - 1 && STATUSES[s] != status) s++;
    if (route < 0 || route > m->n_routes) route = m->n_routes;
    pthread_mutex_lock(&m->mu);
    m->requests[(size_t)route * N_STATUS + s]++;
    if (n_prompt > 0) m->prompt_tokens += (unsigned long)n_prompt;
    if (n_generated > 0) m->generated_tokens += (unsigned long)n_generated;
    if (ttft_s >= 0) observe(&m->ttft, TTFT_LE, N_TTFT, ttft_s);
    if (per_token_s >= 0) observe(&m->token, TOKEN_LE, N_TOKEN, per_token_s);
    pthread_mutex_unlock(&m->mu);
}

typedef struct buf { char *s; size_t len, cap; int oom; } buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) { b->oom = 1; return; }
        if ((size_t)n < b->cap - b->len) { b->len += (size_t)n; return; }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *t = realloc(b->s, cap);
        if (!t) { b->oom = 1; return; }
        b->s = t;
        b->cap = cap;
    }
}

static void put_hist(buf *b, const char *name, const char *help, const hist *h, const double *le, size_t n) {
    put(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    unsigned long cum = 0;
    for (size_t i = 0; i < n; i++) {
        cum += h->n[i];
        put(b, "%s_bucket{le=\"%g\"} %lu\n", name, le[i], cum);
    }
    put(b, "%s_bucket{le=\"+Inf\"} %lu\n%s_sum %.6f\n%s_count %lu\n", name, h->count, name, h->sum, name, h->count);
}

char *srv_metrics_text(srv_metrics *m, const char *const *route_names, srv_engine *e, int n_ctx) {
    buf b = { malloc(4096), 0, 4096, 0 };
    if (!b.s) return NULL;
    b.s[0] = 0;
    int run, queued, slots;
    srv_engine_counts(e, &run, &queued, &slots);
    srv_slot_info *info = calloc((size_t)slots, sizeof *info);
    long kv = 0;
    if (info) {
        srv_engine_slots(e, info, slots);
        for (int i = 0; i < slots; i++) kv += info[i].kv_tokens;
        free(info);
    }
    pthread_mutex_lock(&m->mu);
    put(&b, "# HELP llama3_requests_total HTTP requests answered, by route and status.\n"
            "# TYPE llama3_requests_total counter\n");
    for (int r = 0; r <= m->n_routes; r++)
        for (size_t s = 0; s < N_STATUS; s++) {
            unsigned long n = m->requests[(size_t)r * N_STATUS + s];
            if (!n) continue;
            char st[16];
            if (s < N_STATUS - 1) snprintf(st, sizeof st, "%d", STATUSES[s]);
            else snprintf(st, sizeof st, "other");
            put(&b, "llama3_requests_total{route=\"%s\",status=\"%s\"} %lu\n", r < m->n_routes ? route_names[r] : "other",
                st, n);
        }
    put(&b, "# HELP llama3_prompt_tokens_total Prompt tokens of generation requests.\n"
            "# TYPE llama3_prompt_tokens_total counter\nllama3_prompt_tokens_total %lu\n", m->prompt_tokens);
    put(&b, "# HELP llama3_generated_tokens_total Tokens generated.\n"
            "# TYPE llama3_generated_tokens_total counter\nllama3_generated_tokens_total %lu\n", m->generated_tokens);
    put_hist(&b, "llama3_time_to_first_token_seconds", "Time from a request's arrival to its first generated token.",
             &m->ttft, TTFT_LE, N_TTFT);
    put_hist(&b, "llama3_token_latency_seconds", "Mean time per generated token after the first, per request.",
             &m->token, TOKEN_LE, N_TOKEN);
    pthread_mutex_unlock(&m->mu);
    put(&b, "# HELP llama3_slots_busy Slots generating now.\n# TYPE llama3_slots_busy gauge\nllama3_slots_busy %d\n", run);
    put(&b, "# HELP llama3_slots_total Slots.\n# TYPE llama3_slots_total gauge\nllama3_slots_total %d\n", slots);
    put(&b, "# HELP llama3_queue_length Requests waiting for a slot.\n# TYPE llama3_queue_length gauge\n"
            "llama3_queue_length %d\n", queued);
    put(&b, "# HELP llama3_kv_cells_used Tokens held in the KV cache (running and cached prompts).\n"
            "# TYPE llama3_kv_cells_used gauge\nllama3_kv_cells_used %ld\n", kv);
    put(&b, "# HELP llama3_kv_cells_total KV cache capacity in tokens.\n# TYPE llama3_kv_cells_total gauge\n"
            "llama3_kv_cells_total %ld\n", (long)slots * n_ctx);
    if (b.oom) { free(b.s); return NULL; }
    return b.s;
}
