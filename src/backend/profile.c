#include "backend/profile.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "threads.h"
#include "util.h"

typedef enum op_kind {
    OP_BEGIN, OP_EMBED, OP_RMSNORM, OP_MATMUL, OP_ROPE_STORE, OP_ATTENTION, OP_SWIGLU, OP_ADD, OP_ALL_REDUCE,
    OP_OUTPUT, OP_KINDS
} op_kind;
static const char *const op_names[OP_KINDS] = { "begin", "embed", "rmsnorm", "matmul", "rope_and_store",
                                                "attention", "swiglu", "add", "all_reduce", "output" };

typedef struct op_stats {
    int64_t calls, wall_ns, region_ns, busy_ns;
    double at_ns[L3_POOL_AT_N];  /* the parallel parts on 16 and 64 threads (threads.h) */
} op_stats;

/* The table forward.c sees while timing is on: first member, so that an op finds its
 * profiler from s->be. */
typedef struct l3_profile {
    l3_backend table;
    const l3_backend *inner;
    l3_pool *pool;
    op_stats op[OP_KINDS];
    int64_t passes, rows;
} l3_profile;

static l3_profile *prof(const l3_backend_session *s) { return (l3_profile *)(uintptr_t)s->be; }

/* An op's interval: the wall clock and the pool's counters before it, added up after it. */
typedef struct mark {
    int64_t t;
    l3_pool_times pt;
} mark;
static mark mark_now(const l3_profile *p) {
    mark m;
    l3_pool_get_times(p->pool, &m.pt);
    m.t = l3_time_ns();
    return m;
}
static void account(l3_profile *p, op_kind k, const mark *m0) {
    const int64_t t = l3_time_ns();
    l3_pool_times pt;
    l3_pool_get_times(p->pool, &pt);
    op_stats *o = &p->op[k];
    o->calls++;
    o->wall_ns += t - m0->t;
    o->region_ns += pt.region_ns - m0->pt.region_ns;
    o->busy_ns += pt.busy_ns - m0->pt.busy_ns;
    for (int k = 0; k < L3_POOL_AT_N; k++) o->at_ns[k] += pt.at_ns[k] - m0->pt.at_ns[k];
}

#define TIMED(kind, call)                    \
    do {                                     \
        l3_profile *p_ = prof(s);            \
        const mark m_ = mark_now(p_);        \
        call;                                \
        account(p_, kind, &m_);              \
    } while (0)

static void t_begin(l3_backend_session *s, const l3_pass *pass) {
    prof(s)->passes++, prof(s)->rows += pass->n;
    TIMED(OP_BEGIN, prof(s)->inner->begin(s, pass));
}
static void t_embed(l3_backend_session *s, l3_act dst) { TIMED(OP_EMBED, prof(s)->inner->embed(s, dst)); }
static void t_rmsnorm(l3_backend_session *s, l3_act dst, l3_act src, l3_tensor_id w, int layer) {
    TIMED(OP_RMSNORM, prof(s)->inner->rmsnorm(s, dst, src, w, layer));
}
static void t_matmul(l3_backend_session *s, l3_tensor_id w, int layer, l3_act src, l3_act dst) {
    TIMED(OP_MATMUL, prof(s)->inner->matmul(s, w, layer, src, dst));
}
static void t_rope_and_store(l3_backend_session *s, int layer) {
    TIMED(OP_ROPE_STORE, prof(s)->inner->rope_and_store(s, layer));
}
static void t_attention(l3_backend_session *s, int layer) { TIMED(OP_ATTENTION, prof(s)->inner->attention(s, layer)); }
static void t_swiglu(l3_backend_session *s, l3_act h1, l3_act h3) { TIMED(OP_SWIGLU, prof(s)->inner->swiglu(s, h1, h3)); }
static void t_add(l3_backend_session *s, l3_act x, l3_act y) { TIMED(OP_ADD, prof(s)->inner->add(s, x, y)); }
static void t_all_reduce(l3_backend_session *s, l3_act a) { TIMED(OP_ALL_REDUCE, prof(s)->inner->all_reduce(s, a)); }
static int t_output(l3_backend_session *s, l3_act x, float *logits, llama3_error *err) {
    int rc;
    TIMED(OP_OUTPUT, rc = prof(s)->inner->output(s, x, logits, err));
    return rc;
}

int l3_profile_attached(const l3_backend_session *s) { return s->be->begin == t_begin; }

int l3_profile_attach(l3_backend_session *s, l3_pool *pool, llama3_error *err) {
    if (l3_profile_attached(s)) {  /* again: counts back to zero */
        l3_profile *p = prof(s);
        memset(p->op, 0, sizeof p->op);
        p->passes = p->rows = 0;
        l3_pool_set_timing(pool, 1);
        return 0;
    }
    l3_profile *p = calloc(1, sizeof *p);
    if (!p) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    p->inner = s->be;
    p->pool = pool;
    p->table = *s->be;
    p->table.begin = t_begin, p->table.embed = t_embed, p->table.rmsnorm = t_rmsnorm, p->table.matmul = t_matmul;
    p->table.rope_and_store = t_rope_and_store, p->table.attention = t_attention, p->table.swiglu = t_swiglu;
    p->table.add = t_add, p->table.all_reduce = t_all_reduce, p->table.output = t_output;
    l3_pool_set_timing(pool, 1);
    s->be = &p->table;
    return 0;
}

void l3_profile_detach(l3_backend_session *s) {
    if (!l3_profile_attached(s)) return;
    l3_profile *p = prof(s);
    l3_pool_set_timing(p->pool, 0);
    s->be = p->inner;
    free(p);
}

int l3_profile_ops(const l3_backend_session *s, llama3_profile_op *out, int cap) {
    if (!l3_profile_attached(s)) return 0;
    const l3_profile *p = prof(s);
    int n = 0;
    for (int k = 0; k < OP_KINDS; k++) {
        const op_stats *o = &p->op[k];
        if (o->calls == 0) continue;
        if (n < cap)
            out[n] = (llama3_profile_op){ op_names[k], o->calls, o->wall_ns / 1e6, (o->wall_ns - o->region_ns) / 1e6,
                                          o->busy_ns / 1e6 };
        n++;
    }
    return n;
}

/* appends to buf as snprintf would, keeping count of the length needed */
static void put(char *buf, size_t cap, size_t *len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(*len < cap ? buf + *len : NULL, *len < cap ? cap - *len : 0, fmt, ap);
    va_end(ap);
    if (n > 0) *len += (size_t)n;
}

int l3_profile_format(const l3_backend_session *s, char *buf, size_t cap) {
    if (cap) buf[0] = 0;
    if (!l3_profile_attached(s)) return 0;
    const l3_profile *p = prof(s);
    const int threads = l3_pool_size(p->pool);
    op_stats all = { 0, 0, 0, 0, { 0, 0 } };
    for (int k = 0; k < OP_KINDS; k++) {
        all.calls += p->op[k].calls, all.wall_ns += p->op[k].wall_ns, all.region_ns += p->op[k].region_ns,
            all.busy_ns += p->op[k].busy_ns;
        for (int a = 0; a < L3_POOL_AT_N; a++) all.at_ns[a] += p->op[k].at_ns[a];
    }
    size_t len = 0;
    put(buf, cap, &len, "profile: %lld passes, %lld rows, %d threads, %.1f ms in the ops\n", (long long)p->passes,
        (long long)p->rows, threads, all.wall_ns / 1e6);
    /* serial: the op's time outside parallel regions (its own setup and the work too small to
     * split), on one thread; use: the threads' busy share of the op's parallel regions */
    put(buf, cap, &len, "%-15s %8s %11s %7s %11s %7s %8s %8s\n", "op", "calls", "ms", "share", "serial ms", "use",
        "on 16", "on 64");
    for (int k = 0; k <= OP_KINDS; k++) {
        const op_stats *o = k < OP_KINDS ? &p->op[k] : &all;
        if (k < OP_KINDS && o->calls == 0) continue;
        const double serial = (o->wall_ns - o->region_ns) / 1e6;
        const double use = o->region_ns > 0 ? 100.0 * o->busy_ns / ((double)threads * o->region_ns) : 0;
        put(buf, cap, &len, "%-15s %8lld %11.2f %6.1f%% %11.3f ", k < OP_KINDS ? op_names[k] : "total",
            (long long)o->calls, o->wall_ns / 1e6, all.wall_ns ? 100.0 * o->wall_ns / all.wall_ns : 0, serial);
        if (o->region_ns > 0) put(buf, cap, &len, "%6.1f%%", use);
        else put(buf, cap, &len, "%7s", "-");
        /* the op's speedup on 16 and 64 threads: its one-thread part as it is, each parallel
         * job's work spread over at most as many threads as it has grains */
        for (int a = 0; a < L3_POOL_AT_N; a++) {
            const double one = (double)(o->wall_ns - o->region_ns), t = one + o->at_ns[a];
            if (threads > 1 && t > 0) put(buf, cap, &len, " %7.1fx", (one + (double)o->busy_ns) / t);
            else put(buf, cap, &len, " %8s", "-");
        }
        put(buf, cap, &len, "\n");
    }
    if (threads < 2) {
        put(buf, cap, &len, "serial fraction: needs 2 or more threads (with one, every op runs on one)\n");
    } else {
        /* Amdahl: the time on one thread over that plus the work the threads did in parallel */
        const double serial = (double)(all.wall_ns - all.region_ns), work = serial + (double)all.busy_ns;
        const double f = work > 0 ? serial / work : 0;
        put(buf, cap, &len, "serial fraction %.3f%% (%.2f ms on one thread of %.2f ms of work); Amdahl: 16 threads "
                            "%.1fx, 64 threads %.1fx; with each job's grains as its limit: 16 threads %.1fx, 64 threads "
                            "%.1fx; threads busy %.1f%% of the parallel time\n",
            100 * f, serial / 1e6, work / 1e6, 1 / (f + (1 - f) / 16), 1 / (f + (1 - f) / 64),
            work / (serial + all.at_ns[0]), work / (serial + all.at_ns[1]),
            all.region_ns ? 100.0 * all.busy_ns / ((double)threads * all.region_ns) : 0);
    }
    return (int)len;
}
