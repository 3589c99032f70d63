/* Continuous batching: one llama3_eval_batch call per step advances every decoding sequence
 * by one token and feeds a chunk of each waiting prompt, so sequences join and leave at token
 * boundaries without stalling each other for more than one chunk. */
#include <stdlib.h>
#include <string.h>

#include "llama3.h"
#include "session.h"
#include "threads.h"
#include "util.h"

/* llama3_eval_batch's cap on rows per call (session.c's micro-batch). */
#define L3_BATCH_MAX_ROWS 256

typedef struct l3_seq {
    int active;
    int32_t *prompt;        /* ids still to feed: prompt[n_fed..n_prompt) */
    int n_prompt, n_fed;
    int32_t next;           /* the sampled id to feed next (decoding) */
    int decoding;           /* prompt done: one row per step */
    int n_generated, max_tokens;
    llama3_sampler *smp;
    llama3_json_constraint *constraint;  /* borrowed */
    int logprobs, top_logprobs;
    int n_cached;           /* prompt tokens kept from the slot's cache */
} l3_seq;

/* What a slot's KV cache holds: its tokens in order (the first llama3_session_pos of them
 * are in the cache), kept after the sequence leaves for the prompt cache. */
typedef struct l3_slot_hist {
    int32_t *ids;
    int n, cap;
    uint64_t last_used;     /* for choosing a slot to overwrite: least recently used first */
} l3_slot_hist;

/* The log-probabilities of one group's sampled token. */
typedef struct l3_group_lp {
    float logprob;
    int n_top;
    int32_t top_id[LLAMA3_MAX_TOP_LOGPROBS];
    float top_logprob[LLAMA3_MAX_TOP_LOGPROBS];
} l3_group_lp;

struct llama3_batch {
    llama3_model *m;
    llama3_session *s;
    int n_slots, n_ctx, vocab, max_rows, chunk;
    int rr;                 /* round-robin start for prefill, so no prompt starves */
    l3_seq *seq;
    int32_t *ids;           /* [max_rows] */
    int *slot_of;           /* [max_rows] */
    uint8_t *prompt;        /* [max_rows]: a prompt row (as llama3_eval treats a prompt) */
    int *group_slot;        /* [n_slots]: slot of each row group, in order */
    int *group_rows;        /* [n_slots]: rows of each group */
    int32_t *group_id;      /* [n_slots]: the id sampled for each group, -1 mid-prompt */
    float *logits;          /* [n_slots x vocab] */
    l3_group_lp *group_lp;  /* [n_slots] */
    l3_slot_hist *hist;     /* [n_slots] */
    uint64_t clock;
};

static int hist_push(l3_slot_hist *h, int32_t id) {
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 256;
        int32_t *n = realloc(h->ids, (size_t)cap * sizeof *n);
        if (!n) return -1;
        h->ids = n;
        h->cap = cap;
    }
    h->ids[h->n++] = id;
    return 0;
}

static void seq_clear(l3_seq *q) {
    free(q->prompt);
    llama3_sampler_free(q->smp);
    memset(q, 0, sizeof *q);
}

llama3_batch *llama3_batch_new(llama3_model *m, llama3_session *s, const llama3_batch_options *opt,
                               llama3_error *err) {
    llama3_batch_options o = opt ? *opt : (llama3_batch_options){ 0 };
    if (!m || !s) { l3_fail(err, LLAMA3_ERR_ARG, "batch needs a model and a session"); return NULL; }
    if (o.max_rows < 0 || o.prefill_chunk < 0) { l3_fail(err, LLAMA3_ERR_ARG, "negative batch size"); return NULL; }
    if (o.max_rows == 0 || o.max_rows > L3_BATCH_MAX_ROWS) o.max_rows = L3_BATCH_MAX_ROWS;
    if (o.prefill_chunk == 0) o.prefill_chunk = 64;
    llama3_batch *b = calloc(1, sizeof *b);
    if (!b) { l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory"); return NULL; }
    b->m = m;
    b->s = s;
    /* The session does not export its slot count; its position query answers -1 past it. */
    while (b->n_slots < 4096 && llama3_session_pos(s, b->n_slots) >= 0) b->n_slots++;
    /* Every decoding slot needs a row of its own in each step. */
    if (b->n_slots > o.max_rows) b->n_slots = o.max_rows;
    b->n_ctx = llama3_session_n_ctx(s);
    b->vocab = llama3_model_args(m)->vocab_size;
    b->max_rows = o.max_rows;
    b->chunk = o.prefill_chunk;
    b->seq = calloc((size_t)b->n_slots, sizeof *b->seq);
    b->ids = malloc((size_t)b->max_rows * sizeof *b->ids);
    b->slot_of = malloc((size_t)b->max_rows * sizeof *b->slot_of);
    b->prompt = malloc((size_t)b->max_rows);
    b->group_slot = malloc((size_t)b->n_slots * sizeof *b->group_slot);
    b->group_rows = malloc((size_t)b->n_slots * sizeof *b->group_rows);
    b->group_id = malloc((size_t)b->n_slots * sizeof *b->group_id);
    b->logits = malloc((size_t)b->n_slots * b->vocab * sizeof *b->logits);
    b->group_lp = calloc((size_t)b->n_slots, sizeof *b->group_lp);
    b->hist = calloc((size_t)b->n_slots, sizeof *b->hist);
    if (!b->seq || !b->ids || !b->slot_of || !b->prompt || !b->group_slot || !b->group_rows || !b->group_id || !b->logits ||
        !b->group_lp || !b->hist) {
        llama3_batch_free(b);
        l3_fail(err, LLAMA3_ERR_MEMORY, "cannot allocate the batch");
        return NULL;
    }
    return b;
}

void llama3_batch_free(llama3_batch *b) {
    if (!b) return;
    for (int i = 0; b->seq && i < b->n_slots; i++) seq_clear(&b->seq[i]);
    free(b->seq);
    free(b->ids);
    free(b->slot_of);
    free(b->prompt);
    free(b->group_slot);
    free(b->group_rows);
    free(b->group_id);
    free(b->logits);
    free(b->group_lp);
    for (int i = 0; b->hist && i < b->n_slots; i++) free(b->hist[i].ids);
    free(b->hist);
    free(b);
}

int llama3_batch_capacity(const llama3_batch *b) { return b->n_slots; }

int llama3_batch_n_active(const llama3_batch *b) {
    int n = 0;
    for (int i = 0; i < b->n_slots; i++) n += b->seq[i].active;
    return n;
}

int llama3_batch_add(llama3_batch *b, const int32_t *prompt, int n_prompt, const llama3_sampler_params *sp,
                     int max_tokens, llama3_error *err) {
    llama3_batch_seq o = { .sp = sp, .max_tokens = max_tokens };
    return llama3_batch_add_seq(b, prompt, n_prompt, &o, err);
}

/* The free slot to start on, and how many of the prompt's tokens its cache already holds:
 * the longest common prefix when caching, else (and on no match) an empty slot, else the
 * least recently used one. */
static int pick_slot(llama3_batch *b, const int32_t *prompt, int n_prompt, int cache, int *keep) {
    int best = -1, best_len = 0, spare = -1;
    uint64_t spare_rank = 0;
    for (int i = 0; i < b->n_slots; i++) {
        if (b->seq[i].active) continue;
        const l3_slot_hist *h = &b->hist[i];
        int valid = llama3_session_pos(b->s, i);
        if (valid > h->n) valid = h->n;
        if (cache) {
            int k = 0;
            while (k < valid && k < n_prompt && h->ids[k] == prompt[k]) k++;
            if (k > best_len) best = i, best_len = k;
        }
        /* empty slots first, then the least recently used */
        const uint64_t rank = valid == 0 ? 0 : h->last_used + 1;
        if (spare < 0 || rank < spare_rank) spare = i, spare_rank = rank;
    }
    if (best < 0) {
        *keep = 0;
        return spare;
    }
    /* the last prompt token is fed again: its logits start the reply */
    *keep = best_len < n_prompt ? best_len : n_prompt - 1;
    return best;
}

int llama3_batch_add_seq(llama3_batch *b, const int32_t *prompt, int n_prompt, const llama3_batch_seq *o,
                         llama3_error *err) {
    if (n_prompt <= 0) return l3_fail(err, LLAMA3_ERR_ARG, "empty prompt");
    /* At least one position must stay free for the first sampled token to be fed back. */
    if (n_prompt >= b->n_ctx)
        return l3_fail(err, LLAMA3_ERR_CONTEXT, "prompt of %d tokens does not fit the context (%d)", n_prompt, b->n_ctx);
    for (int i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= b->vocab)
            return l3_fail(err, LLAMA3_ERR_ARG, "token id %d out of range (vocabulary has %d tokens)", prompt[i], b->vocab);
    if (o->top_logprobs < 0 || o->top_logprobs > LLAMA3_MAX_TOP_LOGPROBS)
        return l3_fail(err, LLAMA3_ERR_ARG, "top_logprobs must be 0..%d", LLAMA3_MAX_TOP_LOGPROBS);
    int keep = 0;
    int slot = pick_slot(b, prompt, n_prompt, o->cache_prompt, &keep);
    if (slot < 0) return l3_fail(err, LLAMA3_ERR_CONTEXT, "no free slot (all %d busy)", b->n_slots);
    l3_seq *q = &b->seq[slot];
    l3_slot_hist *h = &b->hist[slot];
    llama3_sampler_params p = o->sp ? *o->sp : llama3_sampler_defaults();
    q->prompt = malloc((size_t)n_prompt * sizeof *q->prompt);
    q->smp = llama3_sampler_new(&p, b->vocab);
    h->n = keep;
    int hist_ok = 1;
    for (int i = keep; i < n_prompt && hist_ok; i++) hist_ok = hist_push(h, prompt[i]) == 0;
    if (!q->prompt || !q->smp || !hist_ok) {
        seq_clear(q);
        h->n = 0;
        llama3_session_reset(b->s, slot, 0);
        return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    }
    memcpy(q->prompt, prompt, (size_t)n_prompt * sizeof *prompt);
    for (int i = 0; i < n_prompt; i++) llama3_sampler_accept(q->smp, prompt[i]);
    q->n_prompt = n_prompt;
    q->n_fed = q->n_cached = keep;
    q->max_tokens = o->max_tokens > 0 ? o->max_tokens : b->n_ctx;
    q->constraint = o->constraint;
    q->logprobs = o->logprobs != 0;
    q->top_logprobs = o->logprobs ? o->top_logprobs : 0;
    q->active = 1;
    h->last_used = ++b->clock;
    llama3_session_reset(b->s, slot, keep);
    return slot;
}

int llama3_batch_n_cached(const llama3_batch *b, int seq) {
    if (seq < 0 || seq >= b->n_slots || !b->seq[seq].active) return 0;
    return b->seq[seq].n_cached;
}

void llama3_batch_remove(llama3_batch *b, int seq) {
    if (seq < 0 || seq >= b->n_slots || !b->seq[seq].active) return;
    seq_clear(&b->seq[seq]);
    /* the cache keeps what was fed (llama3_session_pos); the history may hold one more */
    l3_slot_hist *h = &b->hist[seq];
    if (h->n > llama3_session_pos(b->s, seq)) h->n = llama3_session_pos(b->s, seq);
}

/* Sampling, a group per item: each sequence has its own sampler and logits row, so the
 * pool's threads share the per-token passes over the vocabulary (0.3 ms each at
 * temperature 0.6 / top-p 0.9 with 128k logits; 8 sequences: 2.7 ms of a ~70 ms step). */
static void sample_groups(void *ctx, int64_t g0, int64_t g1, int thread) {
    (void)thread;
    llama3_batch *b = ctx;
    for (int64_t g = g0; g < g1; g++) {
        if (b->group_id[g] < 0) continue;
        l3_seq *q = &b->seq[b->group_slot[g]];
        float *logits = b->logits + (size_t)g * b->vocab;
        if (q->constraint) llama3_json_constraint_apply(q->constraint, logits, q->max_tokens - q->n_generated);
        const int32_t id = llama3_sample(q->smp, logits);
        b->group_id[g] = id;
        if (q->constraint) llama3_json_constraint_accept(q->constraint, id);
        if (q->logprobs) {
            l3_group_lp *lp = &b->group_lp[g];
            lp->logprob = llama3_logprobs(logits, b->vocab, id, q->top_logprobs, lp->top_id, lp->top_logprob, &lp->n_top);
        }
    }
}

int llama3_batch_step(llama3_batch *b, llama3_batch_event *ev, int cap, llama3_error *err) {
    int n = 0, n_groups = 0;
    /* Decoding sequences first: one row each, so they advance every step. */
    for (int i = 0; i < b->n_slots; i++) {
        l3_seq *q = &b->seq[i];
        if (!q->active || !q->decoding) continue;
        if (hist_push(&b->hist[i], q->next)) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
        b->ids[n] = q->next;
        b->prompt[n] = 0;
        b->slot_of[n++] = i;
        b->group_slot[n_groups] = i;
        b->group_rows[n_groups++] = 1;
    }
    /* Then prompt chunks in the rows left, starting from a rotating slot. */
    for (int k = 0; k < b->n_slots && n < b->max_rows; k++) {
        int i = (b->rr + k) % b->n_slots;
        l3_seq *q = &b->seq[i];
        if (!q->active || q->decoding) continue;
        int len = q->n_prompt - q->n_fed;
        if (len > b->chunk) len = b->chunk;
        if (len > b->max_rows - n) len = b->max_rows - n;
        memcpy(b->ids + n, q->prompt + q->n_fed, (size_t)len * sizeof *b->ids);
        /* prompt rows however the prompt is chunked (llama3_eval: a call of 2+ ids) */
        for (int r = 0; r < len; r++) b->slot_of[n + r] = i, b->prompt[n + r] = q->n_prompt > 1;
        n += len;
        b->group_slot[n_groups] = i;
        b->group_rows[n_groups++] = len;
    }
    if (n_groups > 0) b->rr = (b->rr + 1) % b->n_slots;
    if (n == 0) return 0;
    int rc = l3_eval_rows(b->s, b->ids, b->slot_of, b->prompt, n, b->logits, err);
    if (rc) return rc;

    for (int g = 0; g < n_groups; g++) {
        l3_seq *q = &b->seq[b->group_slot[g]];
        b->group_id[g] = 0;
        if (!q->decoding) {
            q->n_fed += b->group_rows[g];
            if (q->n_fed < q->n_prompt) { b->group_id[g] = -1; continue; }  /* mid-prompt: no logits */
            q->decoding = 1;
            free(q->prompt);  /* fed: not needed any more */
            q->prompt = NULL;
        }
    }
    l3_parallel_for(l3_session_pool(b->s), n_groups, 1, sample_groups, b);

    int n_ev = 0;
    for (int g = 0; g < n_groups; g++) {
        l3_seq *q = &b->seq[b->group_slot[g]];
        const int32_t id = b->group_id[g];
        if (id < 0) continue;
        q->n_generated++;
        llama3_batch_finish fin = LLAMA3_FINISH_NONE;
        if (llama3_model_is_end_token(b->m, id)) fin = LLAMA3_FINISH_END;
        else if (q->n_generated >= q->max_tokens) fin = LLAMA3_FINISH_LENGTH;
        else if (llama3_session_pos(b->s, b->group_slot[g]) >= b->n_ctx) fin = LLAMA3_FINISH_CONTEXT;
        if (n_ev < cap) {
            llama3_batch_event *e = &ev[n_ev++];
            e->seq = b->group_slot[g];
            e->token = id;
            e->n_generated = q->n_generated;
            e->finish = fin;
            e->logprob = 0;
            e->n_top = 0;
            if (q->logprobs) {
                const l3_group_lp *lp = &b->group_lp[g];
                e->logprob = lp->logprob;
                e->n_top = lp->n_top;
                memcpy(e->top_id, lp->top_id, (size_t)lp->n_top * sizeof *lp->top_id);
                memcpy(e->top_logprob, lp->top_logprob, (size_t)lp->n_top * sizeof *lp->top_logprob);
            }
        }
        if (fin != LLAMA3_FINISH_NONE) llama3_batch_remove(b, b->group_slot[g]);
        else q->next = id;
    }
    return n_ev;
}
