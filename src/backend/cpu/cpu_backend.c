/* The CPU backend: the ops of backend.h on host memory, the weights used where the file maps
 * them, the work of each op split over the session's thread pool. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "alloc_limit.h"
#include "args.h"
#include "backend/cpu/cpu.h"
#include "backend/cpu/kernels/row_groups.h"
#include "backend/cpu/matmul.h"
#include "dist/dist.h"

static cpu_session *cpu(l3_backend_session *s) { return (cpu_session *)s; }
static const llama3_args *args_of(const cpu_session *s) { return &s->m->base.w->args; }

/* ---- the steps of model.py, one row at a time ----------------------------------------- */

/* RMSNorm.forward: x * rsqrt(mean(x^2) + eps) * weight, in float32. */
static void rmsnorm(float *out, const float *x, const float *weight, int n, float eps) {
    float ss = 0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    float r = 1.0f / sqrtf(ss / n + eps);
    for (int i = 0; i < n; i++) out[i] = x[i] * r * weight[i];
}

/* cos and sin of pos * freq[i] for every pair i: the same for q, k and every layer, so
 * computed once per row and pass. cs holds [cos, sin] pairs. */
static void rope_table(float *cs, int head_dim, int pos, const float *freqs) {
    for (int i = 0; i < head_dim / 2; i++) {
        float angle = (float)pos * freqs[i];
        cs[2 * i] = cosf(angle);
        cs[2 * i + 1] = sinf(angle);
    }
}

/* apply_rotary_emb: rotate each (even, odd) pair of a head by pos * freq[i]. HF weights keep
 * transformers' rotate-half order, where pair i is (i, i + head_dim/2) (see model/weights.h). */
static void rope(float *vec, int n_heads, int head_dim, const float *cs, l3_rope_layout layout) {
    int half = head_dim / 2;
    for (int i = 0; i < half; i++) {
        float c = cs[2 * i], s = cs[2 * i + 1];
        for (int h = 0; h < n_heads; h++) {
            float *v = vec + h * head_dim;
            int a = layout == L3_ROPE_HALF ? i : 2 * i;
            int b = layout == L3_ROPE_HALF ? i + half : 2 * i + 1;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}

static float silu(float x) { return x / (1.0f + expf(-x)); }

/* ---- activations ---------------------------------------------------------------------- */

static float *act(cpu_session *s, l3_act a) {
    l3_scratch *sc = &s->scratch;
    float *const bufs[L3_ACT_COUNT] = { [L3_ACT_X] = sc->x,     [L3_ACT_XB] = sc->xb,   [L3_ACT_Q] = sc->q,
                                        [L3_ACT_K] = sc->k,     [L3_ACT_V] = sc->v,     [L3_ACT_ATT] = sc->att,
                                        [L3_ACT_H1] = sc->h1,   [L3_ACT_H3] = sc->h3 };
    return bufs[a];
}

/* the 8-bit level flags of the pass's rows, or NULL when every row takes two levels */
static const uint8_t *one_level(const cpu_session *s) { return s->any_one_level ? s->one_level : NULL; }

/* ---- the ops -------------------------------------------------------------------------- */
/* Every op runs its rows (or, for the element-wise ones, its elements) on the session's threads:
 * on many cores a step left on one thread for all T prompt rows costs what the parallel matmuls
 * saved. Grains keep the smallest steps (a decode row's norms and residual adds) on the calling
 * thread, where waking the others costs more than the work, and split a batched step's (the
 * adds of 8 rows of 2048: 4 grains). Each element is computed as alone, so the results do not
 * depend on the split. */
#define ROW_GRAIN 4          /* rows per chunk for the per-row steps */
#define ELEM_GRAIN 4096      /* floats per chunk for the element-wise steps */

typedef struct rope_cs_job { cpu_session *s; const l3_pass *p; } rope_cs_job;
static void rope_cs_rows(void *ctx, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    const rope_cs_job *j = ctx;
    const int hd = args_of(j->s)->head_dim;
    for (int64_t t = t0; t < t1; t++) rope_table(j->s->scratch.rope_cs + t * hd, hd, j->p->pos[t], j->s->m->rope_freqs);
}

static void cpu_begin(l3_backend_session *bs, const l3_pass *p) {
    cpu_session *s = cpu(bs);
    s->pass = p;
    s->any_one_level = 0;
    for (int t = 0; t < p->n; t++) {
        s->one_level[t] = p->prompt && p->prompt[t] && s->prompt_levels == 1;
        s->any_one_level |= s->one_level[t];
    }
    rope_cs_job j = { s, p };
    l3_parallel_for(s->pool, p->n, ROW_GRAIN, rope_cs_rows, &j);
}

typedef struct embed_job { cpu_session *s; float *x; } embed_job;
static void embed_rows(void *ctx, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    const embed_job *j = ctx;
    const cpu_session *s = j->s;
    const l3_weights *w = s->m->base.w;
    const l3_tensor *e = &w->tok_embeddings;
    const int dim = args_of(s)->dim;
    const size_t row = l3_row_bytes(e->type, dim);
    for (int64_t t = t0; t < t1; t++) {
        const int64_t id = s->pass->ids[t] - w->vocab_offset;  /* (a slice holds some rows) */
        if (id >= 0 && id < e->rows) s->m->k->to_float[e->type]((const uint8_t *)e->data + (size_t)id * row, j->x + t * dim, dim);
        else memset(j->x + t * dim, 0, (size_t)dim * sizeof *j->x);
    }
}

static void cpu_embed(l3_backend_session *bs, l3_act dst) {
    cpu_session *s = cpu(bs);
    embed_job j = { s, act(s, dst) };
    l3_parallel_for(s->pool, s->pass->n, ROW_GRAIN, embed_rows, &j);
}

typedef struct norm_job { float *out; const float *x, *w; int n; float eps; } norm_job;
static void norm_rows(void *ctx, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    const norm_job *j = ctx;
    for (int64_t t = t0; t < t1; t++) rmsnorm(j->out + t * j->n, j->x + t * j->n, j->w, j->n, j->eps);
}

static void cpu_rmsnorm(l3_backend_session *bs, l3_act dst, l3_act src, l3_tensor_id weight, int layer) {
    cpu_session *s = cpu(bs);
    const llama3_args *a = args_of(s);
    const float *w = (weight == L3_ATTENTION_NORM ? s->m->attention_norm : s->m->ffn_norm) + (int64_t)layer * a->dim;
    norm_job j = { act(s, dst), act(s, src), w, a->dim, a->norm_eps };
    l3_parallel_for(s->pool, s->pass->n, 4, norm_rows, &j);
}

static void cpu_matmul(l3_backend_session *bs, l3_tensor_id weight, int layer, l3_act src, l3_act dst) {
    cpu_session *s = cpu(bs);
    l3_cpu_matmul(s->m->k, l3_weights_get(s->m->base.w, weight, layer), l3_cpu_groups(s->m, weight, layer), act(s, src),
                  s->pass->n, one_level(s), act(s, dst), &s->scratch, s->pool);
}

typedef struct rope_job { cpu_session *s; int layer; } rope_job;
static void rope_rows(void *ctx, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    const rope_job *j = ctx;
    cpu_session *s = j->s;
    const int layer = j->layer;
    const llama3_args *a = args_of(s);
    const l3_pass *p = s->pass;
    const l3_kv_cache *kv = &s->kv;
    const l3_rope_layout layout = s->m->base.w->rope_layout;
    const int hd = a->head_dim, q_dim = a->n_heads * hd, kv_dim = a->n_kv_heads * hd;
    float *q = act(s, L3_ACT_Q), *k = act(s, L3_ACT_K), *v = act(s, L3_ACT_V);
    for (int64_t t = t0; t < t1; t++) {
        const float *cs = s->scratch.rope_cs + t * hd;
        rope(q + (int64_t)t * q_dim, a->n_heads, hd, cs, layout);
        rope(k + (int64_t)t * kv_dim, a->n_kv_heads, hd, cs, layout);
        l3_kv_store(kv, l3_kv_row(kv, kv->k, p->slot[t], layer, p->pos[t]), k + (int64_t)t * kv_dim);
        l3_kv_store(kv, l3_kv_row(kv, kv->v, p->slot[t], layer, p->pos[t]), v + (int64_t)t * kv_dim);
    }
}

/* RoPE on the pass's q and k rows, then k and v into each row's KV slot (rows write distinct
 * slot positions: the session gives each (slot, position) to one row of a pass) */
static void cpu_rope_and_store(l3_backend_session *bs, int layer) {
    cpu_session *s = cpu(bs);
    rope_job j = { s, layer };
    l3_parallel_for(s->pool, s->pass->n, ROW_GRAIN, rope_rows, &j);
}

static void cpu_attention(l3_backend_session *bs, int layer) { l3_cpu_attention(cpu(bs), layer); }

typedef struct elem_job { float *a; const float *b; } elem_job;
static void swiglu_elems(void *ctx, int64_t i0, int64_t i1, int thread) {
    (void)thread;
    const elem_job *j = ctx;
    for (int64_t i = i0; i < i1; i++) j->a[i] = silu(j->a[i]) * j->b[i];
}
static void add_elems(void *ctx, int64_t i0, int64_t i1, int thread) {
    (void)thread;
    const elem_job *j = ctx;
    for (int64_t i = i0; i < i1; i++) j->a[i] += j->b[i];
}

static void cpu_swiglu(l3_backend_session *bs, l3_act h1, l3_act h3) {
    cpu_session *s = cpu(bs);
    elem_job j = { act(s, h1), act(s, h3) };
    l3_parallel_for(s->pool, (int64_t)s->pass->n * args_of(s)->hidden_dim, ELEM_GRAIN, swiglu_elems, &j);
}

static void cpu_add(l3_backend_session *bs, l3_act x, l3_act y) {
    cpu_session *s = cpu(bs);
    elem_job j = { act(s, x), act(s, y) };
    l3_parallel_for(s->pool, (int64_t)s->pass->n * args_of(s)->dim, ELEM_GRAIN, add_elems, &j);
}

static void cpu_all_reduce(l3_backend_session *bs, l3_act a) {
    cpu_session *s = cpu(bs);
    l3_dist_allreduce_sum(bs->dist, act(s, a), (size_t)s->pass->n * (size_t)l3_act_width(a, args_of(s)));
}

static int cpu_output(l3_backend_session *bs, l3_act x, float *logits, llama3_error *err) {
    (void)err;
    cpu_session *s = cpu(bs);
    const llama3_args *a = args_of(s);
    const l3_pass *p = s->pass;
    const int dim = a->dim;
    float *h = act(s, x), *xb = act(s, L3_ACT_XB);
    uint8_t *out_one = s->scratch.out_one_level;
    for (int i = 0; i < p->n_out; i++) {
        rmsnorm(xb + (int64_t)i * dim, h + (int64_t)p->out_rows[i] * dim, s->m->norm, dim, a->norm_eps);
        out_one[i] = s->one_level[p->out_rows[i]];
    }
    if (p->hidden) {  /* the normed rows themselves */
        if (p->n_out > 0 && logits) memcpy(logits, xb, (size_t)p->n_out * dim * sizeof *logits);
        s->pass = NULL;
        return 0;
    }
    /* the logits rows as one product, rows of the output matrix in parallel */
    if (p->n_out > 0)
        l3_cpu_matmul(s->m->k, &s->m->base.w->output, l3_cpu_groups(s->m, L3_OUTPUT, 0), xb, p->n_out,
                      s->any_one_level ? out_one : NULL, logits, &s->scratch, s->pool);
    s->pass = NULL;
    return 0;
}

static void cpu_write_act(l3_backend_session *bs, l3_act a, const float *src, int rows) {
    cpu_session *s = cpu(bs);
    memcpy(act(s, a), src, (size_t)rows * (size_t)l3_act_width(a, args_of(s)) * sizeof(float));
}

static void cpu_read_act(l3_backend_session *bs, l3_act a, float *dst, int rows) {
    cpu_session *s = cpu(bs);
    memcpy(dst, act(s, a), (size_t)rows * (size_t)l3_act_width(a, args_of(s)) * sizeof(float));
}

/* ---- models and sessions -------------------------------------------------------------- */

/* a norm vector widened to float32 */
static void widen(const l3_tensor *t, float *out) { l3_type_get(t->type)->to_float(t->data, out, t->cols); }

/* ---- row groups ------------------------------------------------------------------------ */

static int group_slot(const cpu_model *m, l3_tensor_id id, int layer) {
    return (l3_tensor_is_layer(id) ? layer : m->base.w->args.n_layers) * L3_TENSOR_COUNT + (int)id;
}

const void *l3_cpu_groups(const cpu_model *m, l3_tensor_id id, int layer) {
    return m->groups ? m->groups[group_slot(m, id, layer)] : NULL;
}

/* whether [p, p + n) lies in one of the file mappings */
static int in_file(const l3_model_params *p, const void *data, size_t n) {
    const uint8_t *d = data;
    for (int i = 0; i < p->n_file_maps; i++) {
        const uint8_t *b = p->file_maps[i].data;
        if (d >= b && n <= p->file_maps[i].size && (size_t)(d - b) <= p->file_maps[i].size - n) return 1;
    }
    return 0;
}

/* Hands back the whole pages of [p, p + n), rows of a read-only file mapping now copied into
 * groups: the memory holds one copy of them. Reading them again (a tied output's token
 * embeddings) maps those pages back in from the file. */
static void release_pages(const void *p, size_t n) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t a = ((uintptr_t)p + page - 1) / page * page, b = ((uintptr_t)p + n) / page * page;
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

/* a matrix's bytes, and what its groups take in the mapping (each starts on a cache line) */
static size_t matrix_bytes(const l3_tensor *t) { return l3_row_bytes(t->type, t->cols) * (size_t)t->rows; }
static size_t lines_of(size_t bytes) { return (bytes + 63) / 64 * 64; }

/* the matrix of a slot, if the kernel set has row groups for it (its type, rows a multiple
 * of the group, columns of whole 32s) and it lies in the file mappings where there are any
 * (a copy made by the loader, such as an MPI column slice, would stay beside its groups),
 * else NULL */
static const l3_tensor *groupable(const cpu_model *m, const l3_model_params *p, int slot) {
    const l3_weights *w = m->base.w;
    const int layer = slot / L3_TENSOR_COUNT;
    const l3_tensor_id id = (l3_tensor_id)(slot % L3_TENSOR_COUNT);
    if ((layer < w->args.n_layers) != l3_tensor_is_layer(id) || l3_tensor_is_vector(id) || id == L3_TOK_EMBEDDINGS)
        return NULL;
    const l3_tensor *t = l3_weights_get(w, id, layer);
    const int G = m->k->group_rows[t->type];
    if (G < 2 || !m->k->dotn_q8_groups[t->type] || !l3_row_groups_supported((int)t->type) || t->rows % G || t->cols % 32)
        return NULL;
    if (p->n_file_maps && !in_file(p, t->data, matrix_bytes(t))) return NULL;
    return t;
}

#define HUGE_PAGE ((size_t)2 << 20)

/* one matrix into its groups, groups [g0, g1) per task (the copy is on every core: most of
 * its time is the kernel clearing the new pages) */
typedef struct pack_job { const l3_tensor *t; int G; uint8_t *out; } pack_job;
static void pack_groups(void *ctx, int64_t g0, int64_t g1, int thread) {
    (void)thread;
    const pack_job *j = ctx;
    const size_t rb = l3_row_bytes(j->t->type, j->t->cols);
    for (int64_t g = g0; g < g1; g++)
        l3_row_groups_pack((int)j->t->type, j->G, (const uint8_t *)j->t->data + g * j->G * rb, rb, j->t->cols,
                           j->out + g * j->G * rb);
}

/* Copies every matrix the kernel set has row groups for into them, in one anonymous mapping
 * on 2 MiB pages where the kernel gives them (decode streams it: at 4 KiB pages the hardware
 * prefetcher stops at every page end, as for the files, util.c). */
static int make_groups(cpu_model *m, const l3_model_params *p, llama3_error *err) {
    const int n_slots = (m->base.w->args.n_layers + 1) * L3_TENSOR_COUNT;
    if (!p->repack || !m->k->use_q8) return 0;
    size_t total = 0;
    for (int slot = 0; slot < n_slots; slot++) {
        const l3_tensor *t = groupable(m, p, slot);
        if (t) total += lines_of(matrix_bytes(t));
    }
    if (total == 0) return 0;
    int rc = l3_alloc_take(p->budget, total, "weight rows in groups", err);
    if (rc) return rc;
    m->groups = calloc((size_t)n_slots, sizeof *m->groups);
    m->groups_map_bytes = total + HUGE_PAGE;
    m->groups_map = mmap(NULL, m->groups_map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m->groups_map == MAP_FAILED) m->groups_map = NULL;
    if (!m->groups || !m->groups_map) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory for the weight rows in groups");
    uint8_t *g = (uint8_t *)(((uintptr_t)m->groups_map + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE);
#ifdef MADV_HUGEPAGE
    madvise(g, total, MADV_HUGEPAGE);  /* (advice only) */
#endif
    l3_pool *pool = l3_pool_new(l3_physical_cores());
    if (!pool) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    for (int slot = 0; slot < n_slots; slot++) {
        const l3_tensor *t = groupable(m, p, slot);
        if (!t) continue;
        const int G = m->k->group_rows[t->type];
        const size_t bytes = matrix_bytes(t);
        pack_job j = { t, G, g };
        l3_parallel_for(pool, t->rows / G, 64, pack_groups, &j);
        m->groups[slot] = g;
        g += lines_of(bytes);
        if (p->n_file_maps) release_pages(t->data, bytes);
    }
    l3_pool_free(pool);
    return 0;
}

static void cpu_model_free(l3_backend_model *bm) {
    cpu_model *m = (cpu_model *)bm;
    if (!m) return;
    free(m->groups);
    if (m->groups_map) munmap(m->groups_map, m->groups_map_bytes);
    free(m->attention_norm);
    free(m->ffn_norm);
    free(m->norm);
    free(m->rope_freqs);
    free(m);
}

static int cpu_model_new(const l3_weights *w, const l3_model_params *p, l3_backend_model **out, llama3_error *err) {
    const llama3_args *a = &w->args;
    const int device = p->device;
    l3_alloc_budget *budget = p->budget;
    if (device != 0) return l3_fail(err, LLAMA3_ERR_ARG, "device cpu:%d: there is one CPU device (cpu)", device);
    uint64_t floats = ((uint64_t)2 * (uint64_t)a->n_layers + 1) * (uint64_t)a->dim + (uint64_t)a->head_dim / 2, bytes;
    int rc;
    if (!l3_mul_ok(floats, sizeof(float), &bytes))
        return l3_fail(err, LLAMA3_ERR_MEMORY, "float32 copies of the norm weights: size overflows");
    if ((rc = l3_alloc_take(budget, bytes, "float32 copies of the norm weights", err))) return rc;
    cpu_model *m = calloc(1, sizeof *m);
    if (!m) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    m->base.be = &l3_backend_cpu;
    m->base.w = w;
    m->k = l3_kernels();
    m->attention_norm = malloc((size_t)a->n_layers * a->dim * sizeof(float));
    m->ffn_norm = malloc((size_t)a->n_layers * a->dim * sizeof(float));
    m->norm = malloc((size_t)a->dim * sizeof(float));
    m->rope_freqs = malloc((size_t)(a->head_dim / 2) * sizeof(float));
    if (!m->attention_norm || !m->ffn_norm || !m->norm || !m->rope_freqs) {
        cpu_model_free(&m->base);
        return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    }
    widen(&w->norm, m->norm);
    for (int l = 0; l < a->n_layers; l++) {
        widen(&w->layers[l].attention_norm, m->attention_norm + (size_t)l * a->dim);
        widen(&w->layers[l].ffn_norm, m->ffn_norm + (size_t)l * a->dim);
    }
    l3_rope_freqs(a, w->rope_freq_factors, m->rope_freqs);
    if ((rc = make_groups(m, p, err))) {
        cpu_model_free(&m->base);
        return rc;
    }
    *out = &m->base;
    return 0;
}

static void cpu_session_free(l3_backend_session *bs) {
    cpu_session *s = cpu(bs);
    if (!s) return;
    l3_kv_free(&s->kv);
    l3_scratch_free(&s->scratch);
    free(s->one_level);
    free(s);
}

static int cpu_session_new(l3_backend_model *bm, const l3_session_params *p, l3_backend_session **out,
                           llama3_error *err) {
    const cpu_model *m = (const cpu_model *)bm;
    const llama3_args *a = &bm->w->args;
    cpu_session *s = calloc(1, sizeof *s);
    if (!s) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    s->base.be = &l3_backend_cpu;
    s->base.model = bm;
    s->base.dist = p->dist;
    s->m = m;
    s->pool = p->pool;
    s->prompt_levels = p->prompt_levels;
    int rc = l3_kv_init(&s->kv, p->kv_type, p->n_slots, a->n_layers, p->n_ctx, a->n_kv_heads, a->head_dim, p->budget,
                        err);
    if (rc) {
        free(s);
        return rc;
    }
    const int threads = l3_pool_size(p->pool);
    if ((rc = l3_alloc_take(p->budget, l3_scratch_size(a, p->max_rows, p->n_ctx, threads), "session buffers", err))) {
        cpu_session_free(&s->base);
        return rc;
    }
    s->one_level = calloc((size_t)p->max_rows, 1);
    if (!s->one_level || l3_scratch_init(&s->scratch, a, p->max_rows, p->n_ctx, threads) != 0) {
        cpu_session_free(&s->base);
        return l3_fail(err, LLAMA3_ERR_MEMORY, "cannot allocate session buffers");
    }
    *out = &s->base;
    return 0;
}

static size_t cpu_kv_bytes(const l3_backend_session *bs) { return l3_kv_bytes(&((const cpu_session *)bs)->kv); }

static size_t cpu_scratch_bytes(const l3_backend_session *bs) {
    const cpu_session *s = (const cpu_session *)bs;
    return l3_scratch_bytes(&s->scratch, args_of(s), s->kv.n_ctx);
}

const l3_backend l3_backend_cpu = {
    .name = "cpu",
    .model_new = cpu_model_new,
    .model_free = cpu_model_free,
    .session_new = cpu_session_new,
    .session_free = cpu_session_free,
    .kv_bytes = cpu_kv_bytes,
    .scratch_bytes = cpu_scratch_bytes,
    .begin = cpu_begin,
    .embed = cpu_embed,
    .rmsnorm = cpu_rmsnorm,
    .matmul = cpu_matmul,
    .rope_and_store = cpu_rope_and_store,
    .attention = cpu_attention,
    .swiglu = cpu_swiglu,
    .add = cpu_add,
    .all_reduce = cpu_all_reduce,
    .output = cpu_output,
    .write_act = cpu_write_act,
    .read_act = cpu_read_act,
};
