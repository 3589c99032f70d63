/* Sessions: KV-cache slots and threads around the forward pass, on the model's backend;
 * splits long inputs into batched passes and checks ids and context bounds before anything
 * runs. Device-neutral: the backend holds the cache and the activations. With several
 * processes (model parallelism), rank 0's session drives: each pass it runs is first sent to
 * the other ranks, whose sessions follow (llama3_session_follow). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_limit.h"
#include "backend/profile.h"
#include "dist/dist.h"
#include "forward.h"
#include "kv_types.h"
#include "model/model.h"
#include "session.h"
#include "threads.h"

/* Rows per forward pass (llama.cpp's default micro-batch too): bounds scratch memory while
 * keeping prefill matrix-matrix; pages of scratch that a short input never touches cost no RAM. */
#define L3_UBATCH 512

struct llama3_session {
    llama3_model *m;
    l3_backend_session *bs;  /* the backend's KV cache and activations */
    l3_pool *pool;
    l3_dist *dist;
    int n_ctx, n_slots;
    int *slot_pos;           /* tokens in each slot */
    int32_t *id_buf;         /* a follower's pass */
    int *pos_buf, *slot_buf, *out_buf;
    uint8_t *prompt_buf;     /* per row: a prompt row */
    int profile_on_free;     /* LLAMA3_PROFILE: print the op timers when the session ends */
};

/* What rank 0 sends the other ranks before each pass (then the pass's arrays). */
typedef struct pass_header {
    int32_t n, n_out, has_prompt, stop, hidden;
} pass_header;

llama3_session *llama3_session_new(llama3_model *m, const llama3_session_options *opt, llama3_error *err) {
    llama3_session_options o = opt ? *opt : (llama3_session_options){ 0 };
    const llama3_args *a = &m->args;
    if (o.n_ctx < 0 || o.n_slots < 0 || o.n_threads < 0) {
        l3_fail(err, LLAMA3_ERR_ARG, "negative context, slot or thread count");
        return NULL;
    }
    if (o.prompt_int8_levels < 0 || o.prompt_int8_levels > 2) {
        l3_fail(err, LLAMA3_ERR_ARG, "prompt_int8_levels %d (expected 0, 1 or 2)", o.prompt_int8_levels);
        return NULL;
    }
    if (o.n_ctx == 0) o.n_ctx = a->max_seq_len < 4096 ? a->max_seq_len : 4096;
    /* ModelArgs.max_seq_len and max_batch_size bound the cache, as in model.py. */
    if (o.n_ctx > a->max_seq_len) {
        l3_fail(err, LLAMA3_ERR_ARG, "context %d exceeds the model's max_seq_len %d", o.n_ctx, a->max_seq_len);
        return NULL;
    }
    if (o.n_slots == 0) o.n_slots = 1;
    if (o.n_slots > a->max_batch_size) {
        l3_fail(err, LLAMA3_ERR_ARG, "%d slots exceed max_batch_size %d", o.n_slots, a->max_batch_size);
        return NULL;
    }
    if (o.n_threads == 0) o.n_threads = l3_physical_cores();
    if (o.n_threads > 256) o.n_threads = 256;
    llama3_session *s = calloc(1, sizeof *s);
    if (!s) { l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory"); return NULL; }
    s->m = m;
    s->dist = m->dist;
    s->n_ctx = o.n_ctx;
    s->n_slots = o.n_slots;
    const int vocab_part = m->compute->args.vocab_size, n_procs = l3_dist_size(s->dist);
    s->slot_pos = calloc((size_t)o.n_slots, sizeof(int));
    s->id_buf = malloc(L3_UBATCH * sizeof(int32_t));
    s->pos_buf = malloc(L3_UBATCH * sizeof(int));
    s->slot_buf = malloc(L3_UBATCH * sizeof(int));
    s->out_buf = malloc(L3_UBATCH * sizeof(int));
    s->prompt_buf = malloc(L3_UBATCH);
    s->pool = l3_pool_new(o.n_threads);
    int rc = !s->slot_pos || !s->id_buf || !s->pos_buf || !s->slot_buf || !s->out_buf || !s->prompt_buf || !s->pool
                 ? l3_fail(err, LLAMA3_ERR_MEMORY, "cannot allocate session buffers")
                 : 0;
    if (!rc) {
        l3_alloc_budget budget = { m->max_alloc, 0 };
        l3_session_params p = { o.n_ctx, o.n_slots, L3_UBATCH, o.kv_type, o.prompt_int8_levels == 2 ? 2 : 1, s->pool,
                                &budget, s->dist };
        rc = m->be->session_new(m->bm, &p, &s->bs, err);
    }
    if (!rc && n_procs > 1) {
        /* this rank's logits rows of a pass, and on rank 0 every rank's */
        s->bs->part_logits = malloc((size_t)L3_UBATCH * vocab_part * sizeof(float));
        if (l3_dist_rank(s->dist) == 0) s->bs->gathered = malloc((size_t)L3_UBATCH * vocab_part * n_procs * sizeof(float));
        if (!s->bs->part_logits || (l3_dist_rank(s->dist) == 0 && !s->bs->gathered))
            rc = l3_fail(err, LLAMA3_ERR_MEMORY, "cannot allocate the logits buffers");
    }
    /* every process opens its session with the same options (the same command line) */
    llama3_session_options first = o;
    if (n_procs > 1) l3_dist_bcast(s->dist, &first, sizeof first);
    if (!rc && memcmp(&first, &o, sizeof o) != 0)
        rc = l3_fail(err, LLAMA3_ERR_ARG, "rank %d: session options differ from rank 0's", l3_dist_rank(s->dist));
    rc = l3_dist_agree(s->dist, rc, "open its session", err);
    if (rc) {
        s->dist = NULL;  /* (nothing to tell the others) */
        llama3_session_free(s);
        return NULL;
    }
    const char *prof = getenv("LLAMA3_PROFILE");
    if (prof && *prof && strcmp(prof, "0") != 0) {
        s->profile_on_free = 1;
        if (l3_profile_attach(s->bs, s->pool, err)) {
            llama3_session_free(s);
            return NULL;
        }
    }
    return s;
}

int llama3_session_profile(llama3_session *s, int on, llama3_error *err) {
    if (!on) {
        l3_profile_detach(s->bs);
        return 0;
    }
    return l3_profile_attach(s->bs, s->pool, err);
}

int llama3_session_profile_report(const llama3_session *s, char *buf, size_t cap) {
    return l3_profile_format(s->bs, buf, cap);
}

int llama3_session_profile_ops(const llama3_session *s, llama3_profile_op *out, int cap) {
    return l3_profile_ops(s->bs, out, cap);
}

/* LLAMA3_PROFILE's report, when the session ends (each rank its own, under MPI) */
static void print_profile(const llama3_session *s) {
    const int n = l3_profile_format(s->bs, NULL, 0);
    char *text = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (!text) return;
    l3_profile_format(s->bs, text, (size_t)n + 1);
    if (l3_dist_size(s->dist) > 1) fprintf(stderr, "rank %d ", l3_dist_rank(s->dist));
    fputs(text, stderr);
    free(text);
}

/* Rank 0: the pass every rank runs next (or the end, when p is NULL). */
static void send_pass(llama3_session *s, const l3_pass *p) {
    pass_header h = { p ? p->n : 0, p ? p->n_out : 0, p && p->prompt, p == NULL, p && p->hidden };
    l3_dist_bcast(s->dist, &h, sizeof h);
    if (!p) return;
    l3_dist_bcast(s->dist, (void *)p->ids, (size_t)p->n * sizeof *p->ids);
    l3_dist_bcast(s->dist, (void *)p->pos, (size_t)p->n * sizeof *p->pos);
    l3_dist_bcast(s->dist, (void *)p->slot, (size_t)p->n * sizeof *p->slot);
    if (p->prompt) l3_dist_bcast(s->dist, (void *)p->prompt, (size_t)p->n);
    if (p->n_out) l3_dist_bcast(s->dist, (void *)p->out_rows, (size_t)p->n_out * sizeof *p->out_rows);
}

/* One forward pass, on every rank. */
static int run_pass(llama3_session *s, const l3_pass *p, float *logits, llama3_error *err) {
    if (l3_dist_size(s->dist) > 1) send_pass(s, p);
    return l3_forward(s->bs, p, logits, err);
}

int llama3_session_follow(llama3_session *s, llama3_error *err) {
    if (l3_dist_rank(s->dist) == 0) return l3_fail(err, LLAMA3_ERR_ARG, "rank 0 drives the session; it does not follow");
    for (;;) {
        pass_header h;
        l3_dist_bcast(s->dist, &h, sizeof h);
        if (h.stop) return 0;
        if (h.n < 1 || h.n > L3_UBATCH || h.n_out < 0 || h.n_out > h.n)
            return l3_fail(err, LLAMA3_ERR_ARG, "rank %d: a pass of %d rows from rank 0", l3_dist_rank(s->dist), h.n);
        l3_dist_bcast(s->dist, s->id_buf, (size_t)h.n * sizeof *s->id_buf);
        l3_dist_bcast(s->dist, s->pos_buf, (size_t)h.n * sizeof *s->pos_buf);
        l3_dist_bcast(s->dist, s->slot_buf, (size_t)h.n * sizeof *s->slot_buf);
        if (h.has_prompt) l3_dist_bcast(s->dist, s->prompt_buf, (size_t)h.n);
        if (h.n_out) l3_dist_bcast(s->dist, s->out_buf, (size_t)h.n_out * sizeof *s->out_buf);
        l3_pass p = { s->id_buf, s->pos_buf, s->slot_buf, h.n, h.has_prompt ? s->prompt_buf : NULL, s->out_buf, h.n_out,
                      h.hidden };
        int rc = l3_forward(s->bs, &p, NULL, err);
        if (rc) return rc;
    }
}

void llama3_session_free(llama3_session *s) {
    if (!s) return;
    if (s->dist && l3_dist_size(s->dist) > 1 && l3_dist_rank(s->dist) == 0) send_pass(s, NULL);  /* the end */
    if (s->bs) {
        if (s->profile_on_free && l3_profile_attached(s->bs)) print_profile(s);
        l3_profile_detach(s->bs);
        free(s->bs->part_logits);
        free(s->bs->gathered);
        s->m->be->session_free(s->bs);
    }
    l3_pool_free(s->pool);
    free(s->slot_pos);
    free(s->id_buf);
    free(s->pos_buf);
    free(s->slot_buf);
    free(s->out_buf);
    free(s->prompt_buf);
    free(s);
}

int llama3_session_n_ctx(const llama3_session *s) { return s->n_ctx; }
int llama3_session_pos(const llama3_session *s, int slot) {
    return slot >= 0 && slot < s->n_slots ? s->slot_pos[slot] : -1;
}
void llama3_session_reset(llama3_session *s, int slot, int n_keep) {
    if (slot < 0 || slot >= s->n_slots) return;
    if (n_keep < 0) n_keep = 0;
    if (n_keep < s->slot_pos[slot]) s->slot_pos[slot] = n_keep;
}
size_t llama3_session_kv_bytes(const llama3_session *s) { return s->m->be->kv_bytes(s->bs); }
int64_t llama3_kv_bytes_per_token(const llama3_model *m, llama3_kv_type t, llama3_error *err) {
    const llama3_args *a = &m->args;
    int rc = l3_kv_check_type(t, a->head_dim, err);
    if (rc) return rc;
    return 2 * (int64_t)a->n_layers * a->n_kv_heads * (int64_t)l3_kv_type_bytes(t, a->head_dim);
}
size_t llama3_session_scratch_bytes(const llama3_session *s) {
    return s->m->be->scratch_bytes(s->bs);
}

static int check_ids(const llama3_session *s, const int32_t *ids, int n, llama3_error *err) {
    int vocab = s->m->args.vocab_size;
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return l3_fail(err, LLAMA3_ERR_ARG, "token id %d out of range (vocabulary has %d tokens)", ids[i], vocab);
    return 0;
}

/* llama3_eval and llama3_eval_hidden: out gets the logits (or with hidden the final hidden
 * states) of the last row, or of every row with all. */
static int eval_slot(llama3_session *s, int slot, const int32_t *ids, int n, float *logits, int all_logits, int hidden,
                     llama3_error *err) {
    if (slot < 0 || slot >= s->n_slots) return l3_fail(err, LLAMA3_ERR_ARG, "slot %d out of range", slot);
    if (n <= 0) return l3_fail(err, LLAMA3_ERR_ARG, "nothing to evaluate");
    int rc = check_ids(s, ids, n, err);
    if (rc) return rc;
    if (n > s->n_ctx - s->slot_pos[slot])
        return l3_fail(err, LLAMA3_ERR_CONTEXT, "%d tokens do not fit the context: %d of %d positions are free (raise -c)",
                       n, s->n_ctx - s->slot_pos[slot], s->n_ctx);
    const int vocab = hidden ? s->m->args.dim : s->m->args.vocab_size;
    /* more than one id: a prompt (the whole call, whatever its passes); one id: a decoded token */
    memset(s->prompt_buf, n > 1, L3_UBATCH);
    for (int done = 0; done < n;) {
        int T = n - done < L3_UBATCH ? n - done : L3_UBATCH;
        int n_out = 0;
        for (int t = 0; t < T; t++) {
            s->pos_buf[t] = s->slot_pos[slot] + t;
            s->slot_buf[t] = slot;
            if (logits && (all_logits || done + t == n - 1)) s->out_buf[n_out++] = t;
        }
        l3_pass p = { ids + done, s->pos_buf, s->slot_buf, T, s->prompt_buf, s->out_buf, n_out, hidden };
        if ((rc = run_pass(s, &p, logits ? logits + (all_logits ? (size_t)done * vocab : 0) : NULL, err))) return rc;
        s->slot_pos[slot] += T;
        done += T;
    }
    return 0;
}

int llama3_eval(llama3_session *s, int slot, const int32_t *ids, int n, float *logits, int all_logits,
                llama3_error *err) {
    return eval_slot(s, slot, ids, n, logits, all_logits, 0, err);
}

int llama3_eval_hidden(llama3_session *s, int slot, const int32_t *ids, int n, float *hidden, llama3_error *err) {
    if (!hidden) return l3_fail(err, LLAMA3_ERR_ARG, "no output buffer");
    return eval_slot(s, slot, ids, n, hidden, 1, 1, err);
}

int llama3_eval_batch(llama3_session *s, const int32_t *ids, const int *slot_of, int n, float *logits,
                      llama3_error *err) {
    return l3_eval_rows(s, ids, slot_of, NULL, n, logits, err);
}

struct l3_pool *l3_session_pool(llama3_session *s) { return s->pool; }

int l3_eval_rows(llama3_session *s, const int32_t *ids, const int *slot_of, const uint8_t *prompt, int n,
                 float *logits, llama3_error *err) {
    if (n <= 0 || n > L3_UBATCH)
        return l3_fail(err, LLAMA3_ERR_ARG, "batch of %d rows (expected 1..%d)", n, L3_UBATCH);
    int rc = check_ids(s, ids, n, err);
    if (rc) return rc;
    /* Validate slots and room first, so a bad batch changes nothing. */
    for (int i = 0; i < n; i++) {
        if (slot_of[i] < 0 || slot_of[i] >= s->n_slots)
            return l3_fail(err, LLAMA3_ERR_ARG, "slot %d out of range", slot_of[i]);
        int start = i;
        while (i + 1 < n && slot_of[i + 1] == slot_of[start]) i++;
        int len = i - start + 1;
        for (int j = 0; j < start; j++)
            if (slot_of[j] == slot_of[start])
                return l3_fail(err, LLAMA3_ERR_ARG, "rows of slot %d are not contiguous", slot_of[start]);
        if (len > s->n_ctx - s->slot_pos[slot_of[start]])
            return l3_fail(err, LLAMA3_ERR_CONTEXT, "slot %d: %d tokens do not fit the context", slot_of[start], len);
    }
    int n_out = 0;
    for (int i = 0; i < n; i++) {
        int slot = slot_of[i];
        s->slot_buf[i] = slot;
        s->pos_buf[i] = s->slot_pos[slot];
        s->slot_pos[slot]++;
        if (i == n - 1 || slot_of[i + 1] != slot) s->out_buf[n_out++] = i;
        /* without flags: a slot with more than one row feeds a prompt */
        s->prompt_buf[i] = prompt ? prompt[i] != 0
                                  : (i > 0 && slot_of[i - 1] == slot) || (i + 1 < n && slot_of[i + 1] == slot);
    }
    l3_pass p = { ids, s->pos_buf, s->slot_buf, n, s->prompt_buf, s->out_buf, logits ? n_out : 0, 0 };
    return run_pass(s, &p, logits, err);
}
