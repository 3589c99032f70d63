/* The op harness: every op of a backend (backend/backend.h) on random inputs with odd sizes,
 * every weight type, against the double-precision reference of op_reference.c, with a
 * tolerance per op and type (llama.cpp's test-backend-ops is the model). A backend is held to
 * it before its goldens; the CPU backend once per kernel set this machine runs.
 *
 * usage: test_backend_ops [--backend NAME] [--set ISA] [--mutants] [-v]
 *   --mutants: the harness itself under test: for each op, a copy of the backend whose op
 *   perturbs its result by ~5% must be caught (exit 1 if any mutant passes). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_limit.h"
#include "args.h"
#include "backend/backend.h"
#include "backend/cpu/kernels/kernels.h"
#include "dist/dist.h"
#include "op_reference.h"
#include "tensor_types.h"
#include "threads.h"

static const uint32_t TYPES[] = { L3_F32,  L3_F16,  L3_BF16, L3_Q8_0, L3_Q4_0, L3_Q4_1,
                                  L3_Q5_0, L3_Q5_1, L3_Q4_K, L3_Q5_K, L3_Q6_K, L3_Q8_K };
#define N_TYPES (int)(sizeof TYPES / sizeof TYPES[0])
#define MAX_ROWS 64
#define N_CTX 128

static int g_failures, g_checks, g_verbose, g_quiet;
static const char *g_label;
static l3_pool *g_pool;

static void check(double err, double tol, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void check(double err, double tol, const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    g_checks++;
    int ok = err <= tol;  /* NaN fails */
    if (!ok) g_failures++;
    if ((!ok && !g_quiet) || g_verbose) printf("%s %s %s: error %.3g (tolerance %.3g)\n", ok ? "ok  " : "FAIL", g_label, what, err, tol);
}

/* ---- random inputs -------------------------------------------------------------------- */

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static float urand(void) {  /* uniform in [-1, 1) */
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) * (1.0 / (1 << 23))) - 1.0f;
}
static void fill(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = urand() * scale;
}
static float *floats(int64_t n) { return calloc((size_t)n, sizeof(float)); }

/* ---- a one-layer model of random weights ---------------------------------------------- */

typedef struct tmodel {
    l3_weights w;
    l3_layer_weights layer;
    float *ref[L3_TENSOR_COUNT];   /* each tensor dequantized by the type table (the reference) */
    void *data[L3_TENSOR_COUNT];
    float rope_freqs[256];
} tmodel;

/* Tensors of type[id] (0 = F32; a type whose blocks do not fit the row stays F32). */
static void tmodel_init(tmodel *m, int dim, int n_heads, int n_kv_heads, int hidden, int vocab, const uint32_t *type,
                        l3_rope_layout layout) {
    memset(m, 0, sizeof *m);
    llama3_args *a = &m->w.args;
    l3_args_defaults(a);
    a->dim = dim, a->n_layers = 1, a->n_heads = n_heads, a->n_kv_heads = n_kv_heads, a->vocab_size = vocab;
    a->hidden_dim = hidden, a->multiple_of = 0, a->norm_eps = 1e-5f, a->rope_theta = 500000, a->max_seq_len = N_CTX;
    a->max_batch_size = 4;
    llama3_error err;
    if (l3_args_finalize(a, "test model", &err)) { fprintf(stderr, "%s\n", err.msg); exit(2); }
    m->w.layers = &m->layer;
    m->w.rope_layout = layout;
    for (int id = 0; id < L3_TENSOR_COUNT; id++) {
        const l3_tensor_desc *d = l3_tensor_table(id);
        const int64_t rows = l3_size_of(d->rows, a), cols = l3_size_of(d->cols, a);
        uint32_t t = type ? type[id] : L3_F32;
        if (l3_row_bytes(t, cols) == 0) t = L3_F32;
        const l3_type_info *ti = l3_type_get(t);
        const size_t rb = l3_row_bytes(t, cols);
        float *f = floats(rows * cols);
        if (d->rows == L3_SIZE_ONE) {
            for (int64_t i = 0; i < cols; i++) f[i] = 1.0f + 0.5f * urand();  /* norm weights */
        } else {
            fill(f, rows * cols, id == L3_TOK_EMBEDDINGS ? 1.0f : 0.5f);
        }
        m->data[id] = malloc(rb * (size_t)rows);
        m->ref[id] = f;
        for (int64_t r = 0; r < rows; r++) {
            ti->from_float(f + r * cols, (uint8_t *)m->data[id] + r * rb, cols);
            ti->to_float((uint8_t *)m->data[id] + r * rb, f + r * cols, cols);
        }
        *l3_weights_tensor(&m->w, id, 0) = (l3_tensor){ t, rows, cols, m->data[id], rb * (size_t)rows };
    }
    l3_rope_freqs(a, NULL, m->rope_freqs);
}

static void tmodel_free(tmodel *m) {
    for (int id = 0; id < L3_TENSOR_COUNT; id++) free(m->data[id]), free(m->ref[id]);
}

/* A backend model and session over m. */
typedef struct harness {
    const l3_backend *be;
    l3_backend_model *bm;
    l3_backend_session *bs;
    l3_alloc_budget budget;
} harness;

static int open_backend_ctx(harness *h, const l3_backend *be, tmodel *m, llama3_kv_type kv, int prompt_levels, int n_ctx);
static int open_backend(harness *h, const l3_backend *be, tmodel *m, llama3_kv_type kv, int prompt_levels) {
    return open_backend_ctx(h, be, m, kv, prompt_levels, N_CTX);
}
static int open_backend_ctx(harness *h, const l3_backend *be, tmodel *m, llama3_kv_type kv, int prompt_levels, int n_ctx) {
    llama3_error err = { 0 };
    h->be = be;
    h->budget = (l3_alloc_budget){ (uint64_t)1 << 40, 0 };
    const l3_model_params mp = { .device = 0, .budget = &h->budget, .repack = 1 };  /* (the kernels' row groups too) */
    if (be->model_new(&m->w, &mp, &h->bm, &err)) {
        printf("FAIL %s: model_new: %s\n", g_label, err.msg);
        return g_failures++, -1;
    }
    l3_session_params p = { n_ctx, 2, MAX_ROWS, kv, prompt_levels, g_pool, &h->budget, l3_dist_world() };
    if (be->session_new(h->bm, &p, &h->bs, &err)) {
        printf("FAIL %s: session_new: %s\n", g_label, err.msg);
        be->model_free(h->bm);
        return g_failures++, -1;
    }
    return 0;
}

static void close_backend(harness *h) {
    h->be->session_free(h->bs);
    h->be->model_free(h->bm);
}

/* A pass of n rows: slot 0 at positions 0..n-1, every row flagged prompt or not. */
typedef struct tpass {
    l3_pass p;
    int32_t ids[MAX_ROWS];
    int pos[MAX_ROWS], slot[MAX_ROWS], out[MAX_ROWS];
    uint8_t prompt[MAX_ROWS];
} tpass;

static void tpass_init(tpass *t, int n, int vocab, const uint8_t *prompt) {
    memset(t, 0, sizeof *t);
    for (int i = 0; i < n; i++) {
        t->ids[i] = (int32_t)((i * 7919 + 3) % vocab);
        t->pos[i] = i;
        t->slot[i] = 0;
        t->prompt[i] = prompt ? prompt[i] : 0;
    }
    t->p = (l3_pass){ t->ids, t->pos, t->slot, n, prompt ? t->prompt : NULL, t->out, 0, 0 };
}

/* ---- tolerances ----------------------------------------------------------------------- */

static int is_float_type(uint32_t t) { return t == L3_F32 || t == L3_F16 || t == L3_BF16; }

/* Relative L2 bound of a product with weights of type t (measured on the CPU sets: float
 * weights <= 3.1e-6; 8-bit activations in two levels <= 2.2e-5; prompt rows in one level, as
 * llama.cpp's, <= 5.4e-3, bounded by the goldens' 2e-2). */
static double matmul_tol(uint32_t t, int prompt_one_level) {
    if (is_float_type(t)) return 1e-5;
    return prompt_one_level ? 2e-2 : 2e-4;
}

/* ---- the ops -------------------------------------------------------------------------- */

static void test_embed(const l3_backend *be, uint32_t type) {
    uint32_t types[L3_TENSOR_COUNT] = { 0 };
    types[L3_TOK_EMBEDDINGS] = type;
    tmodel m;
    tmodel_init(&m, 256, 4, 2, 40, 37, types, L3_ROPE_INTERLEAVED);
    harness h;
    if (open_backend(&h, be, &m, LLAMA3_KV_F32, 1)) return tmodel_free(&m);
    const int n = 9, dim = m.w.args.dim;
    tpass t;
    tpass_init(&t, n, 37, NULL);
    t.ids[0] = 0, t.ids[1] = 36;  /* the first and last rows of the table */
    float *x = floats((int64_t)n * dim);
    double *want = calloc((size_t)n * dim, sizeof *want);
    for (int i = 0; i < n; i++)
        for (int e = 0; e < dim; e++) want[i * dim + e] = m.ref[L3_TOK_EMBEDDINGS][(int64_t)t.ids[i] * dim + e];
    be->begin(h.bs, &t.p);
    be->embed(h.bs, L3_ACT_X);
    be->read_act(h.bs, L3_ACT_X, x, n);
    be->output(h.bs, L3_ACT_X, NULL, NULL);
    check(rel_l2(x, want, (int64_t)n * dim), 1e-7, "embed %s", l3_type_name(type));
    free(x), free(want);
    close_backend(&h);
    tmodel_free(&m);
}

/* Both norms of the layer (distinct weights) on rows of ordinary size, rows near eps (where
 * mean(x^2) is ~3e-7 against eps 1e-5) and a row of zeros. */
static void test_rmsnorm(const l3_backend *be, uint32_t type) {
    uint32_t types[L3_TENSOR_COUNT] = { 0 };
    types[L3_ATTENTION_NORM] = types[L3_FFN_NORM] = type;
    tmodel m;
    tmodel_init(&m, 264, 4, 2, 40, 37, types, L3_ROPE_INTERLEAVED);
    harness h;
    if (open_backend(&h, be, &m, LLAMA3_KV_F32, 1)) return tmodel_free(&m);
    const int n = 7, dim = m.w.args.dim;
    tpass t;
    tpass_init(&t, n, 37, NULL);
    float *x = floats((int64_t)n * dim), *y = floats((int64_t)n * dim);
    double *want = calloc((size_t)n * dim, sizeof *want);
    for (int near_eps = 0; near_eps < 2; near_eps++)
        for (int which = 0; which < 2; which++) {
            const l3_tensor_id id = which ? L3_FFN_NORM : L3_ATTENTION_NORM;
            fill(x, (int64_t)n * dim, near_eps ? 1e-3f : 2.0f);
            memset(x + 3 * dim, 0, (size_t)dim * sizeof *x);
            for (int i = 0; i < n; i++) ref_rmsnorm(want + i * dim, x + i * dim, m.ref[id], dim, m.w.args.norm_eps);
            be->begin(h.bs, &t.p);
            be->write_act(h.bs, L3_ACT_X, x, n);
            be->rmsnorm(h.bs, L3_ACT_XB, L3_ACT_X, id, 0);
            be->read_act(h.bs, L3_ACT_XB, y, n);
            be->output(h.bs, L3_ACT_X, NULL, NULL);
            check(rel_l2(y, want, (int64_t)n * dim), 1e-6, "rmsnorm %s %s%s", which ? "ffn_norm" : "attention_norm",
                  l3_type_name(type), near_eps ? " near eps" : "");
        }
    free(x), free(y), free(want);
    close_backend(&h);
    tmodel_free(&m);
}

/* dst = src . W^T for a tensor of the given type, T rows, with prompt flags: none, all, or
 * batch.c's order (decoded tokens, then prompt rows); on sessions of one and two prompt levels. */
static void test_matmul_one(const l3_backend *be, uint32_t type, int dim, l3_tensor_id id, const int *Ts, int n_T) {
    uint32_t types[L3_TENSOR_COUNT] = { 0 };
    types[id] = type;
    tmodel m;
    tmodel_init(&m, dim, dim / 64, dim / 128, 40, 37, types, L3_ROPE_INTERLEAVED);
    if (l3_weights_get(&m.w, id, 0)->type != type) return tmodel_free(&m);  /* (blocks do not fit) */
    const l3_tensor_desc *d = l3_tensor_table(id);
    const int rows = (int)l3_size_of(d->rows, &m.w.args), cols = (int)l3_size_of(d->cols, &m.w.args);
    const l3_act src = id == L3_WO ? L3_ACT_ATT : id == L3_W2 ? L3_ACT_H1 : L3_ACT_XB;
    const l3_act dst = id == L3_WQ ? L3_ACT_Q : id == L3_WK ? L3_ACT_K : id == L3_WV ? L3_ACT_V
                     : id == L3_W1 ? L3_ACT_H1 : id == L3_W3 ? L3_ACT_H3 : L3_ACT_XB;
    float *x = floats((int64_t)MAX_ROWS * cols), *y = floats((int64_t)MAX_ROWS * rows);
    double *want = calloc((size_t)MAX_ROWS * rows, sizeof *want);
    fill(x, (int64_t)MAX_ROWS * cols, 1.0f);
    ref_matmul(want, x, m.ref[id], MAX_ROWS, rows, cols);
    for (int levels = 1; levels <= 2; levels++) {
        harness h;
        if (open_backend(&h, be, &m, LLAMA3_KV_F32, levels)) break;
        for (int k = 0; k < n_T; k++)
            for (int mode = 0; mode < 3; mode++) {
                const int T = Ts[k];
                if (levels == 2 && mode != 1) continue;  /* (flags matter only for one level) */
                uint8_t prompt[MAX_ROWS];
                for (int i = 0; i < T; i++) prompt[i] = mode == 1 || (mode == 2 && i >= (T + 2) / 3);
                tpass t;
                tpass_init(&t, T, 37, mode ? prompt : NULL);
                be->begin(h.bs, &t.p);
                be->write_act(h.bs, src, x, T);
                be->matmul(h.bs, id, 0, src, dst);
                be->read_act(h.bs, dst, y, T);
                be->output(h.bs, L3_ACT_X, NULL, NULL);
                /* decoded rows and prompt rows each against their own bound */
                const int n_dec = mode == 0 ? T : mode == 1 ? 0 : (T + 2) / 3;
                const char *flags[] = { "decode", "prompt", "decode+prompt" };
                if (n_dec > 0)
                    check(rel_l2(y, want, (int64_t)n_dec * rows), matmul_tol(type, 0), "matmul %s %s [%dx%d] T=%d %s levels=%d",
                          d->name, l3_type_name(type), rows, cols, T, flags[mode], levels);
                if (n_dec < T)
                    check(rel_l2(y + (int64_t)n_dec * rows, want + (int64_t)n_dec * rows, (int64_t)(T - n_dec) * rows),
                          matmul_tol(type, levels == 1), "matmul %s %s [%dx%d] T=%d %s levels=%d (prompt rows)",
                          d->name, l3_type_name(type), rows, cols, T, flags[mode], levels);
            }
        close_backend(&h);
    }
    free(x), free(y), free(want);
    tmodel_free(&m);
}

static void test_matmul(const l3_backend *be, uint32_t type) {
    static const int all_T[] = { 1, 3, 8, 17, 64 }, some_T[] = { 1, 9 };
    test_matmul_one(be, type, 512, L3_W1, all_T, 5);   /* 40 rows: no whole tile or run */
    test_matmul_one(be, type, 512, L3_WO, some_T, 2);  /* 512 x 512 */
    test_matmul_one(be, type, 512, L3_WK, some_T, 2);  /* the KV rows */
    if (is_float_type(type)) test_matmul_one(be, type, 2304, L3_W1, all_T + 3, 2);  /* columns past one slice */
}

/* rope_and_store then attention: a prompt of 37 rows in slot 0 and 5 in slot 1 in one pass,
 * then one decoded row in each slot (slot 1 first); Q and K after the rotation, and ATT,
 * against the reference over a cache holding the reference's rotated keys and values
 * rounded to the cache's type. scale multiplies Q and K (20: scores in the hundreds). */
static void test_attention(const l3_backend *be, int dim, int n_heads, int n_kv_heads, llama3_kv_type kv,
                           l3_rope_layout layout, float scale) {
    tmodel m;
    tmodel_init(&m, dim, n_heads, n_kv_heads, 40, 37, NULL, layout);
    const llama3_args *a = &m.w.args;
    const int hd = a->head_dim, qd = n_heads * hd, kvd = n_kv_heads * hd, group = n_heads / n_kv_heads;
    if (l3_row_bytes(L3_Q8_0, hd) == 0 && kv == LLAMA3_KV_Q8_0) return tmodel_free(&m);
    harness h;
    if (open_backend(&h, be, &m, kv, 1)) return tmodel_free(&m);
    const char *kvn = llama3_kv_type_name(kv), *lay = layout == L3_ROPE_HALF ? "half" : "interleaved";
    /* the reference cache: per slot, positions of rotated keys and values */
    double *kc = calloc((size_t)2 * N_CTX * kvd, sizeof *kc), *vc = calloc((size_t)2 * N_CTX * kvd, sizeof *vc);
    for (int step = 0; step < 2; step++) {
        const int P = 37;
        tpass t;
        int n;
        if (step == 0) {
            n = P + 5;
            tpass_init(&t, n, 37, NULL);
            for (int i = P; i < n; i++) t.slot[i] = 1, t.pos[i] = i - P;
        } else {
            n = 2;
            tpass_init(&t, n, 37, NULL);
            t.slot[0] = 1, t.pos[0] = 5, t.slot[1] = 0, t.pos[1] = P;
        }
        float *q = floats((int64_t)n * qd), *k = floats((int64_t)n * kvd), *v = floats((int64_t)n * kvd);
        float *got = floats((int64_t)n * qd);
        double *wq = calloc((size_t)n * qd, sizeof *wq), *wk = calloc((size_t)n * kvd, sizeof *wk);
        double *watt = calloc((size_t)n * qd, sizeof *watt);
        fill(q, (int64_t)n * qd, scale), fill(k, (int64_t)n * kvd, scale), fill(v, (int64_t)n * kvd, 1.0f);
        for (int i = 0; i < n; i++) {
            ref_rope(wq + (int64_t)i * qd, q + (int64_t)i * qd, n_heads, hd, t.pos[i], m.rope_freqs, layout == L3_ROPE_HALF);
            ref_rope(wk + (int64_t)i * kvd, k + (int64_t)i * kvd, n_kv_heads, hd, t.pos[i], m.rope_freqs, layout == L3_ROPE_HALF);
            /* the cache holds the rotated row rounded to its type */
            float row[1024], back[1024];
            for (int e = 0; e < kvd; e++) row[e] = (float)wk[(int64_t)i * kvd + e];
            for (int kvi = 0; kvi < 2; kvi++) {
                const float *src = kvi ? v + (int64_t)i * kvd : row;
                if (kv == LLAMA3_KV_F16) for (int e = 0; e < kvd; e++) back[e] = l3_f16_to_f32(l3_f32_to_f16(src[e]));
                else if (kv == LLAMA3_KV_Q8_0) {
                    uint8_t blocks[2048];
                    l3_type_get(L3_Q8_0)->from_float(src, blocks, kvd);
                    l3_type_get(L3_Q8_0)->to_float(blocks, back, kvd);
                } else memcpy(back, src, (size_t)kvd * sizeof *back);
                double *dst = (kvi ? vc : kc) + ((int64_t)t.slot[i] * N_CTX + t.pos[i]) * kvd;
                for (int e = 0; e < kvd; e++) dst[e] = back[e];
            }
        }
        for (int i = 0; i < n; i++)
            for (int hh = 0; hh < n_heads; hh++) {
                const int64_t base = (int64_t)t.slot[i] * N_CTX * kvd + (hh / group) * hd;
                ref_attention_head(watt + (int64_t)i * qd + hh * hd, wq + (int64_t)i * qd + hh * hd, kc + base, vc + base, kvd,
                                   t.pos[i] + 1, hd);
            }
        be->begin(h.bs, &t.p);
        be->write_act(h.bs, L3_ACT_Q, q, n);
        be->write_act(h.bs, L3_ACT_K, k, n);
        be->write_act(h.bs, L3_ACT_V, v, n);
        be->rope_and_store(h.bs, 0);
        be->read_act(h.bs, L3_ACT_Q, got, n);
        check(rel_l2(got, wq, (int64_t)n * qd), 1e-6, "rope q hd=%d %s %s", hd, lay, step ? "decode" : "prompt");
        be->read_act(h.bs, L3_ACT_K, got, n);
        check(rel_l2(got, wk, (int64_t)n * kvd), 1e-6, "rope k hd=%d %s %s", hd, lay, step ? "decode" : "prompt");
        be->attention(h.bs, 0);
        be->read_act(h.bs, L3_ACT_ATT, got, n);
        be->output(h.bs, L3_ACT_X, NULL, NULL);
        /* measured <= 1.2e-7 (f32), 1.9e-6 (f16: keys a bit apart may round apart), 1.4e-5
         * (q8_0), 2.6e-6 with scores in the hundreds */
        const double tol = kv == LLAMA3_KV_Q8_0 ? 1e-4 : scale > 1 || kv == LLAMA3_KV_F16 ? 2e-5 : 1e-6;
        check(rel_l2(got, watt, (int64_t)n * qd), tol, "attention %d/%d heads hd=%d kv=%s %s%s %s", n_heads, n_kv_heads, hd,
              kvn, lay, scale > 1 ? " scores in the hundreds" : "", step ? "decode" : "prompt");
        free(q), free(k), free(v), free(got), free(wq), free(wk), free(watt);
    }
    free(kc), free(vc);
    close_backend(&h);
    tmodel_free(&m);
}

static void test_swiglu_add(const l3_backend *be) {
    tmodel m;
    tmodel_init(&m, 256, 4, 2, 72, 37, NULL, L3_ROPE_INTERLEAVED);
    harness h;
    if (open_backend(&h, be, &m, LLAMA3_KV_F32, 1)) return tmodel_free(&m);
    const int n = 11, hidden = m.w.args.hidden_dim, dim = m.w.args.dim;
    tpass t;
    tpass_init(&t, n, 37, NULL);
    float *h1 = floats((int64_t)n * hidden), *h3 = floats((int64_t)n * hidden), *y = floats((int64_t)n * hidden);
    double *want = calloc((size_t)n * hidden, sizeof *want);
    fill(h1, (int64_t)n * hidden, 12.0f), fill(h3, (int64_t)n * hidden, 1.0f);
    h1[0] = -100.0f, h1[1] = 100.0f;  /* exp(-x) past the float range both ways */
    for (int64_t i = 0; i < (int64_t)n * hidden; i++) want[i] = ref_swiglu(h1[i], h3[i]);
    be->begin(h.bs, &t.p);
    be->write_act(h.bs, L3_ACT_H1, h1, n);
    be->write_act(h.bs, L3_ACT_H3, h3, n);
    be->swiglu(h.bs, L3_ACT_H1, L3_ACT_H3);
    be->read_act(h.bs, L3_ACT_H1, y, n);
    check(rel_l2(y, want, (int64_t)n * hidden), 1e-6, "swiglu [%d x %d]", n, hidden);
    float *x = floats((int64_t)n * dim), *xb = floats((int64_t)n * dim);
    fill(x, (int64_t)n * dim, 3.0f), fill(xb, (int64_t)n * dim, 1.0f);
    double *sum = calloc((size_t)n * dim, sizeof *sum);
    for (int64_t i = 0; i < (int64_t)n * dim; i++) sum[i] = (double)(x[i] + xb[i]);  /* one float rounding */
    be->write_act(h.bs, L3_ACT_X, x, n);
    be->write_act(h.bs, L3_ACT_XB, xb, n);
    be->add(h.bs, L3_ACT_X, L3_ACT_XB);
    be->read_act(h.bs, L3_ACT_X, x, n);
    be->output(h.bs, L3_ACT_X, NULL, NULL);
    check(rel_l2(x, sum, (int64_t)n * dim), 0, "add [%d x %d]", n, dim);
    free(h1), free(h3), free(y), free(want), free(x), free(xb), free(sum);
    close_backend(&h);
    tmodel_free(&m);
}

/* output(norm(x)) for the rows asked for, in the order asked, over an output matrix of the
 * given type (37 rows: odd), decoded and prompt rows. */
static void test_output(const l3_backend *be, uint32_t type) {
    uint32_t types[L3_TENSOR_COUNT] = { 0 };
    types[L3_OUTPUT] = type, types[L3_NORM] = type == L3_F16 || type == L3_BF16 ? type : L3_F32;
    tmodel m;
    tmodel_init(&m, 512, 8, 4, 40, 37, types, L3_ROPE_INTERLEAVED);
    if (m.w.output.type != type) return tmodel_free(&m);
    harness h;
    if (open_backend(&h, be, &m, LLAMA3_KV_F32, 1)) return tmodel_free(&m);
    const int n = 12, dim = m.w.args.dim, vocab = m.w.args.vocab_size;
    float *x = floats((int64_t)n * dim), *logits = floats((int64_t)n * vocab);
    fill(x, (int64_t)n * dim, 2.0f);
    for (int prompt = 0; prompt < 2; prompt++) {
        const int rows[] = { 11, 0, 5 };
        uint8_t flags[MAX_ROWS];
        memset(flags, prompt, sizeof flags);
        tpass t;
        tpass_init(&t, n, vocab, flags);
        memcpy(t.out, rows, sizeof rows);
        t.p.n_out = 3;
        double *normed = calloc((size_t)3 * dim, sizeof *normed), *want = calloc((size_t)3 * vocab, sizeof *want);
        float *nf = floats((int64_t)3 * dim);
        for (int i = 0; i < 3; i++) {
            ref_rmsnorm(normed + i * dim, x + (int64_t)rows[i] * dim, m.ref[L3_NORM], dim, m.w.args.norm_eps);
            for (int e = 0; e < dim; e++) nf[i * dim + e] = (float)normed[i * dim + e];
        }
        ref_matmul(want, nf, m.ref[L3_OUTPUT], 3, vocab, dim);
        be->begin(h.bs, &t.p);
        be->write_act(h.bs, L3_ACT_X, x, n);
        llama3_error err = { 0 };
        int rc = be->output(h.bs, L3_ACT_X, logits, &err);
        check(rc == 0 ? rel_l2(logits, want, (int64_t)3 * vocab) : INFINITY, matmul_tol(type, prompt),
              "output %s rows 11,0,5 of %d %s", l3_type_name(type), n, prompt ? "prompt" : "decode");
        /* the same rows as final hidden states (embeddings): norm(x) itself */
        float *hid = floats((int64_t)3 * dim);
        t.p.hidden = 1;
        be->begin(h.bs, &t.p);
        be->write_act(h.bs, L3_ACT_X, x, n);
        rc = be->output(h.bs, L3_ACT_X, hid, &err);
        const double hid_err = rc == 0 ? rel_l2(hid, normed, (int64_t)3 * dim) : INFINITY;
        free(hid);
        check(hid_err, 1e-6,
              "output %s rows 11,0,5 of %d %s, hidden states", l3_type_name(type), n, prompt ? "prompt" : "decode");
        free(normed), free(want), free(nf);
    }
    free(x), free(logits);
    close_backend(&h);
    tmodel_free(&m);
}

/* Attention of decoded rows over a long cache (positions P and P + 701 in a cache filled by
 * prompt passes): the rows a backend may split over their positions (the CPU's do from 1024
 * positions on), against the reference; and a decoded row gets the same bits alone as beside
 * a prompt row of another slot in the same pass. */
static void test_attention_long(const l3_backend *be, llama3_kv_type kv) {
    enum { P = 1500, CTX = 2300 };
    tmodel m;
    tmodel_init(&m, 256, 4, 2, 40, 37, NULL, L3_ROPE_INTERLEAVED);
    const llama3_args *a = &m.w.args;
    const int hd = a->head_dim, qd = a->n_heads * hd, kvd = a->n_kv_heads * hd, group = a->n_heads / a->n_kv_heads;
    harness h;
    if (open_backend_ctx(&h, be, &m, kv, 1, CTX)) return tmodel_free(&m);
    const char *kvn = llama3_kv_type_name(kv);
    double *kc = calloc((size_t)2 * CTX * kvd, sizeof *kc), *vc = calloc((size_t)2 * CTX * kvd, sizeof *vc);
    float *q = floats((int64_t)MAX_ROWS * qd), *k = floats((int64_t)MAX_ROWS * kvd), *v = floats((int64_t)MAX_ROWS * kvd);
    double *wq = calloc((size_t)MAX_ROWS * qd, sizeof *wq), *wk = calloc((size_t)MAX_ROWS * kvd, sizeof *wk);
    /* fill slot 0 with P + 701 positions and slot 1 with 3, rows as test_attention's */
    const int fill_to[2] = { P + 701, 3 };
    for (int slot = 0; slot < 2; slot++)
        for (int p0 = 0; p0 < fill_to[slot]; p0 += MAX_ROWS) {
            const int n = fill_to[slot] - p0 < MAX_ROWS ? fill_to[slot] - p0 : MAX_ROWS;
            uint8_t prompt[MAX_ROWS];
            memset(prompt, 1, sizeof prompt);
            tpass t;
            tpass_init(&t, n, 37, prompt);
            for (int i = 0; i < n; i++) t.slot[i] = slot, t.pos[i] = p0 + i;
            fill(q, (int64_t)n * qd, 1.0f), fill(k, (int64_t)n * kvd, 1.0f), fill(v, (int64_t)n * kvd, 1.0f);
            for (int i = 0; i < n; i++) {
                ref_rope(wk + (int64_t)i * kvd, k + (int64_t)i * kvd, a->n_kv_heads, hd, t.pos[i], m.rope_freqs, 0);
                for (int e = 0; e < kvd; e++) {
                    const double *src = wk + (int64_t)i * kvd;
                    const int64_t at = ((int64_t)slot * CTX + t.pos[i]) * kvd + e;
                    kc[at] = kv == LLAMA3_KV_F16 ? l3_f16_to_f32(l3_f32_to_f16((float)src[e])) : (float)src[e];
                    vc[at] = kv == LLAMA3_KV_F16 ? l3_f16_to_f32(l3_f32_to_f16(v[(int64_t)i * kvd + e])) : v[(int64_t)i * kvd + e];
                }
            }
            be->begin(h.bs, &t.p);
            be->write_act(h.bs, L3_ACT_Q, q, n);
            be->write_act(h.bs, L3_ACT_K, k, n);
            be->write_act(h.bs, L3_ACT_V, v, n);
            be->rope_and_store(h.bs, 0);
            be->output(h.bs, L3_ACT_X, NULL, NULL);
        }
    /* decoded rows at P (slot 0, its position P: overwriting the cache there) alone, then the
     * same row beside a prompt row of slot 1 at position 3 */
    float alone[1024], beside[1024], got[2048];
    for (int pass = 0; pass < 2; pass++) {
        const int n = pass ? 2 : 1;
        uint8_t prompt[2] = { 0, 1 };
        tpass t;
        tpass_init(&t, n, 37, prompt);
        t.slot[0] = 0, t.pos[0] = P;
        if (n == 2) t.slot[1] = 1, t.pos[1] = 3;
        for (int i = 0; i < n; i++) {  /* row 0's inputs the same both times */
            uint64_t st = 77 + (uint64_t)i;
#define NEXT() (st = st * 6364136223846793005ull + 1, (float)((st >> 40) % 2001) / 1000.0f - 1.0f)
            for (int e = 0; e < qd; e++) q[(int64_t)i * qd + e] = NEXT();
            for (int e = 0; e < kvd; e++) k[(int64_t)i * kvd + e] = NEXT();
            for (int e = 0; e < kvd; e++) v[(int64_t)i * kvd + e] = NEXT();
#undef NEXT
        }
        for (int i = 0; i < n; i++) {
            ref_rope(wq + (int64_t)i * qd, q + (int64_t)i * qd, a->n_heads, hd, t.pos[i], m.rope_freqs, 0);
            ref_rope(wk + (int64_t)i * kvd, k + (int64_t)i * kvd, a->n_kv_heads, hd, t.pos[i], m.rope_freqs, 0);
            for (int e = 0; e < kvd; e++) {
                const int64_t at = ((int64_t)t.slot[i] * CTX + t.pos[i]) * kvd + e;
                const float kv_k = (float)wk[(int64_t)i * kvd + e], kv_v = v[(int64_t)i * kvd + e];
                kc[at] = kv == LLAMA3_KV_F16 ? l3_f16_to_f32(l3_f32_to_f16(kv_k)) : kv_k;
                vc[at] = kv == LLAMA3_KV_F16 ? l3_f16_to_f32(l3_f32_to_f16(kv_v)) : kv_v;
            }
        }
        be->begin(h.bs, &t.p);
        be->write_act(h.bs, L3_ACT_Q, q, n);
        be->write_act(h.bs, L3_ACT_K, k, n);
        be->write_act(h.bs, L3_ACT_V, v, n);
        be->rope_and_store(h.bs, 0);
        be->attention(h.bs, 0);
        be->read_act(h.bs, L3_ACT_ATT, got, n);
        be->output(h.bs, L3_ACT_X, NULL, NULL);
        memcpy(pass ? beside : alone, got, (size_t)qd * sizeof(float));
        double want[1024];
        for (int hh = 0; hh < a->n_heads; hh++)
            ref_attention_head(want + hh * hd, wq + hh * hd, kc + (hh / group) * hd, vc + (hh / group) * hd, kvd, P + 1, hd);
        check(rel_l2(got, want, qd), kv == LLAMA3_KV_F16 ? 2e-5 : 1e-6, "attention over %d positions, kv=%s, %s", P + 1, kvn,
              pass ? "beside a prompt row" : "alone");
    }
    check(memcmp(alone, beside, (size_t)qd * sizeof(float)) != 0, 0, "attention over %d positions, kv=%s: the same bits alone "
          "and beside a prompt row", P + 1, kvn);
    free(q), free(k), free(v), free(wq), free(wk), free(kc), free(vc);
    close_backend(&h);
    tmodel_free(&m);
}

static void run_all(const l3_backend *be) {
    for (int i = 0; i < N_TYPES; i++) test_embed(be, TYPES[i]);
    test_rmsnorm(be, L3_F32), test_rmsnorm(be, L3_F16), test_rmsnorm(be, L3_BF16);
    for (int i = 0; i < N_TYPES; i++) test_matmul(be, TYPES[i]);
    static const llama3_kv_type kvs[] = { LLAMA3_KV_F32, LLAMA3_KV_F16, LLAMA3_KV_Q8_0 };
    for (int k = 0; k < 3; k++)
        for (int layout = 0; layout < 2; layout++) {
            test_attention(be, 256, 4, 2, kvs[k], (l3_rope_layout)layout, 1.0f);  /* GQA, head_dim 64 */
            test_attention(be, 120, 3, 1, kvs[k], (l3_rope_layout)layout, 1.0f);  /* head_dim 40 */
        }
    test_attention(be, 256, 4, 2, LLAMA3_KV_F32, L3_ROPE_INTERLEAVED, 20.0f);
    test_attention(be, 256, 4, 2, LLAMA3_KV_F16, L3_ROPE_INTERLEAVED, 20.0f);
    test_attention_long(be, LLAMA3_KV_F16);
    test_attention_long(be, LLAMA3_KV_F32);
    test_swiglu_add(be);
    for (int i = 0; i < N_TYPES; i++) test_output(be, TYPES[i]);
}

/* ---- mutants: the harness must catch a backend whose op is off by ~5% ------------------ */

static const l3_backend *g_inner;
static void perturb(l3_backend_session *s, l3_act a) {
    float row[8192];
    g_inner->read_act(s, a, row, 1);
    const int64_t w = l3_act_width(a, &s->model->w->args);
    for (int64_t e = 0; e < w; e++) row[e] *= 1.05f;
    g_inner->write_act(s, a, row, 1);
}
static void m_embed(l3_backend_session *s, l3_act d) { g_inner->embed(s, d), perturb(s, d); }
static void m_rmsnorm(l3_backend_session *s, l3_act d, l3_act x, l3_tensor_id w, int l) {
    g_inner->rmsnorm(s, d, x, w, l), perturb(s, d);
}
static void m_matmul(l3_backend_session *s, l3_tensor_id w, int l, l3_act x, l3_act d) {
    g_inner->matmul(s, w, l, x, d), perturb(s, d);
}
static void m_rope(l3_backend_session *s, int l) { g_inner->rope_and_store(s, l), perturb(s, L3_ACT_Q); }
static void m_attention(l3_backend_session *s, int l) { g_inner->attention(s, l), perturb(s, L3_ACT_ATT); }
static void m_swiglu(l3_backend_session *s, l3_act a, l3_act b) { g_inner->swiglu(s, a, b), perturb(s, a); }
static void m_add(l3_backend_session *s, l3_act a, l3_act b) { g_inner->add(s, a, b), perturb(s, a); }
static int m_output(l3_backend_session *s, l3_act x, float *logits, llama3_error *err) {
    int rc = g_inner->output(s, x, logits, err);
    if (logits) logits[0] = logits[0] * 1.05f + 1.0f;
    return rc;
}

static int run_mutants(const l3_backend *be) {
    g_inner = be;
    const char *names[] = { "embed", "rmsnorm", "matmul", "rope_and_store", "attention", "swiglu", "add", "output" };
    int escaped = 0;
    for (int i = 0; i < 8; i++) {
        l3_backend mb = *be;
        switch (i) {
        case 0: mb.embed = m_embed; break;
        case 1: mb.rmsnorm = m_rmsnorm; break;
        case 2: mb.matmul = m_matmul; break;
        case 3: mb.rope_and_store = m_rope; break;
        case 4: mb.attention = m_attention; break;
        case 5: mb.swiglu = m_swiglu; break;
        case 6: mb.add = m_add; break;
        case 7: mb.output = m_output; break;
        }
        const int before = g_failures, verbose = g_verbose;
        g_verbose = 0, g_quiet = 1;  /* the mutant's failures are expected */
        run_all(&mb);
        g_verbose = verbose, g_quiet = 0;
        const int caught = g_failures - before;
        g_failures = before;
        printf("%s mutant %s (result x 1.05): %d checks fail\n", caught ? "ok  " : "FAIL", names[i], caught);
        if (!caught) escaped++;
    }
    return escaped;
}

int main(int argc, char **argv) {
    const char *only_backend = NULL, *only_set = NULL;
    int mutants = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc) only_backend = argv[++i];
        else if (!strcmp(argv[i], "--set") && i + 1 < argc) only_set = argv[++i];
        else if (!strcmp(argv[i], "--mutants")) mutants = 1;
        else if (!strcmp(argv[i], "-v")) g_verbose = 1;
        else { fprintf(stderr, "usage: test_backend_ops [--backend NAME] [--set ISA] [--mutants] [-v]\n"); return 2; }
    }
    g_pool = l3_pool_new(3);
    const l3_backend *backends[] = { &l3_backend_cpu };
    int escaped = 0;
    for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++) {
        const l3_backend *be = backends[b];
        if (only_backend && strcmp(only_backend, be->name)) continue;
        const char *sets[8];
        int n_sets = l3_kernels_available(sets, 8);
        for (int si = 0; si < n_sets && si < 8; si++) {
            if (only_set && strcmp(only_set, sets[si])) continue;
            if (mutants && !only_set && si != n_sets - 1) continue;  /* mutants: the best set */
            char label[64];
            snprintf(label, sizeof label, "%s/%s", be->name, sets[si]);
            g_label = label;
            l3_kernels_select(sets[si]);  /* the CPU backend's models take the set in force */
            const int before = g_checks;
            if (mutants) escaped += run_mutants(be);
            else run_all(be);
            printf("%s: %d checks\n", label, g_checks - before);
        }
    }
    l3_pool_free(g_pool);
    if (mutants) {
        printf("%s\n", escaped ? "FAILED: a mutant passed the harness" : "PASSED: every mutant caught");
        return escaped ? 1 : 0;
    }
    printf("%d checks, %d failed\n", g_checks, g_failures);
    return g_failures ? 1 : 0;
}
