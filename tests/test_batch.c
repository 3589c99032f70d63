/* Continuous batching: N sequences advanced together (joining at different steps, prompts
 * prefilled in chunks beside running decodes) yield exactly the ids each yields alone with
 * plain llama3_eval; a removed sequence frees its slot for a new one; the prompt cache keeps
 * a slot's matching prefix and still yields the ids (and logprobs) of the whole prompt alone;
 * 12 sequences together (decode steps past one decode tile's 8 rows) still yield their ids alone.
 * usage: test_batch MODEL.gguf [KV_TYPE] (f16 by default; f32, q8_0) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama3.h"

#define N_SEQ 6
#define N_GEN 24

static int fails;
static llama3_kv_type kv_type = LLAMA3_KV_F16;
static float alone_lp[N_GEN];  /* run_alone's log-probabilities of its ids */
#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); fails++; } } while (0)

/* Deterministic prompts of varied lengths (some longer than a prefill chunk). */
static int make_prompt(int k, int vocab, int32_t *ids) {
    static const int lens[N_SEQ] = { 3, 17, 90, 1, 40, 150 };
    uint32_t x = 12345u + 7919u * (uint32_t)k;
    for (int i = 0; i < lens[k]; i++) {
        x = x * 1664525u + 1013904223u;
        ids[i] = (int32_t)((x >> 8) % (uint32_t)(vocab < 5000 ? vocab : 5000));
    }
    return lens[k];
}

static llama3_sampler_params params_for(int k) {
    llama3_sampler_params p = llama3_sampler_defaults();
    /* seeded sampling for two of them (at temperature 1, where a last-bit difference in the
     * logits soon decides a draw: each must get the numbers it gets alone) */
    if (k == 4) { p.temperature = 0.8f; p.top_p = 0.95f; p.seed = 42; }
    else if (k == 1) { p.temperature = 1.0f; p.top_p = 1.0f; p.seed = 7; }
    else p.temperature = 0;
    return p;
}

/* The reference: one sequence on its own, llama3_eval for the prompt then one id at a time. */
static int run_alone(llama3_model *m, const int32_t *prompt, int n_prompt, llama3_sampler_params p, int32_t *out) {
    llama3_error err = { 0 };
    llama3_session *s =
        llama3_session_new(m, &(llama3_session_options){ .n_ctx = 256, .n_slots = 1, .kv_type = kv_type }, &err);
    if (!s) { fprintf(stderr, "%s\n", err.msg); return -1; }
    int vocab = llama3_model_args(m)->vocab_size, n = 0;
    float *logits = malloc((size_t)vocab * sizeof *logits);
    llama3_sampler *smp = llama3_sampler_new(&p, vocab);
    for (int i = 0; i < n_prompt; i++) llama3_sampler_accept(smp, prompt[i]);
    int rc = llama3_eval(s, 0, prompt, n_prompt, logits, 0, &err);
    while (rc == 0 && n < N_GEN) {
        int32_t id = llama3_sample(smp, logits);
        alone_lp[n] = llama3_logprobs(logits, vocab, id, 0, NULL, NULL, NULL);
        out[n++] = id;
        if (llama3_model_is_end_token(m, id) || n == N_GEN) break;
        rc = llama3_eval(s, 0, &id, 1, logits, 0, &err);
    }
    if (rc) fprintf(stderr, "%s\n", err.msg);
    llama3_sampler_free(smp);
    free(logits);
    llama3_session_free(s);
    return rc ? -1 : n;
}

/* 12 sequences at once: decode steps of 12 rows, more than one decode tile's 8 (and past
 * MM_DECODE_ROWS), still give each sequence the ids it gets alone (the ids: their prompts were
 * prefilled in other chunks than alone, so the logits differ in the last bits; test_kernels holds
 * each decoded row of a product to its bits alone). */
static void wide_batch(llama3_model *m, int vocab) {
    enum { W = 12 };
    static int32_t prompt[W][256], alone[W][N_GEN], got[W][N_GEN];
    int n_prompt[W], n_alone[W], n_got[W] = { 0 }, seq_of[W], ok = 1;
    llama3_sampler_params sp[W];
    for (int k = 0; k < W; k++) {
        n_prompt[k] = make_prompt(k % N_SEQ, vocab, prompt[k]);
        prompt[k][0] = (prompt[k][0] + k) % vocab;  /* twelve different prompts */
        sp[k] = params_for(k % N_SEQ);
        n_alone[k] = run_alone(m, prompt[k], n_prompt[k], sp[k], alone[k]);
        if (n_alone[k] < 0) { fails++; return; }
    }
    llama3_error err = { 0 };
    llama3_session *s =
        llama3_session_new(m, &(llama3_session_options){ .n_ctx = 256, .n_slots = W, .kv_type = kv_type }, &err);
    llama3_batch *b = s ? llama3_batch_new(m, s, &(llama3_batch_options){ .prefill_chunk = 32 }, &err) : NULL;
    CHECK(b != NULL, "12 slots: %s", err.msg);
    for (int k = 0; b && k < W; k++) {
        seq_of[k] = llama3_batch_add(b, prompt[k], n_prompt[k], &sp[k], N_GEN, &err);
        CHECK(seq_of[k] >= 0, "add %d: %s", k, err.msg);
        ok &= seq_of[k] >= 0;
    }
    llama3_batch_event ev[W];
    int max_active = 0;
    for (int steps = 0; b && ok && llama3_batch_n_active(b) > 0 && steps < 2000; steps++) {
        int na = llama3_batch_n_active(b);
        if (na > max_active) max_active = na;
        int n_ev = llama3_batch_step(b, ev, W, &err);
        CHECK(n_ev >= 0, "step: %s", err.msg);
        if (n_ev < 0) break;
        for (int e = 0; e < n_ev; e++)
            for (int k = 0; k < W; k++)
                if (seq_of[k] == ev[e].seq && n_got[k] < N_GEN) got[k][n_got[k]++] = ev[e].token;
    }
    CHECK(!b || max_active == W, "never ran %d sequences together (max %d)", W, max_active);
    for (int k = 0; b && ok && k < W; k++)
        CHECK(n_got[k] == n_alone[k] && !memcmp(got[k], alone[k], (size_t)n_got[k] * sizeof(int32_t)),
              "wide batch: sequence %d's ids differ from alone (%d vs %d ids)", k, n_got[k], n_alone[k]);
    llama3_batch_free(b);
    llama3_session_free(s);
}

int main(int argc, char **argv) {
    if (argc != 2 && argc != 3) { fprintf(stderr, "usage: test_batch MODEL [KV_TYPE]\n"); return 2; }
    if (argc == 3) {
        int t = llama3_kv_type_from_name(argv[2]);
        if (t < 0) { fprintf(stderr, "unknown KV type %s\n", argv[2]); return 2; }
        kv_type = (llama3_kv_type)t;
    }
    llama3_error err = { 0 };
    llama3_model *m = llama3_model_load(argv[1], NULL, &err);
    if (!m) { fprintf(stderr, "%s\n", err.msg); return 1; }
    int vocab = llama3_model_args(m)->vocab_size;
    static int32_t prompts[N_SEQ][256], alone[N_SEQ][N_GEN], got[N_SEQ][N_GEN];
    int n_prompt[N_SEQ], n_alone[N_SEQ], n_got[N_SEQ] = { 0 }, seq_of[N_SEQ], done[N_SEQ] = { 0 };
    for (int k = 0; k < N_SEQ; k++) {
        n_prompt[k] = make_prompt(k, vocab, prompts[k]);
        n_alone[k] = run_alone(m, prompts[k], n_prompt[k], params_for(k), alone[k]);
        if (n_alone[k] < 0) return 1;
    }

    /* 4 slots for 6 sequences (+1 that is removed early): later ones wait for a free slot. */
    llama3_session *s =
        llama3_session_new(m, &(llama3_session_options){ .n_ctx = 256, .n_slots = 4, .kv_type = kv_type }, &err);
    llama3_batch *b = s ? llama3_batch_new(m, s, &(llama3_batch_options){ .prefill_chunk = 32 }, &err) : NULL;
    if (!b) { fprintf(stderr, "%s\n", err.msg); return 1; }
    CHECK(llama3_batch_capacity(b) == 4, "capacity %d", llama3_batch_capacity(b));
    CHECK(llama3_batch_add(b, prompts[0], 0, NULL, 4, &err) < 0, "empty prompt accepted");
    int32_t bad = vocab;
    CHECK(llama3_batch_add(b, &bad, 1, NULL, 4, &err) == LLAMA3_ERR_ARG, "bad id accepted");
    static int32_t longp[256];
    CHECK(llama3_batch_add(b, longp, 256, NULL, 4, &err) == LLAMA3_ERR_CONTEXT, "over-long prompt accepted");

    llama3_sampler_params greedy = params_for(0);
    int victim = llama3_batch_add(b, prompts[5], n_prompt[5], &greedy, 0, &err);
    CHECK(victim >= 0, "add: %s", err.msg);
    int next = 0, steps = 0, n_done = 0, max_active = 0;
    llama3_batch_event ev[8];
    while (n_done < N_SEQ && steps < 2000) {
        /* Join at token boundaries, one per step while slots are free. */
        if (next < N_SEQ) {
            llama3_sampler_params p = params_for(next);
            int id = llama3_batch_add(b, prompts[next], n_prompt[next], &p, N_GEN, &err);
            if (id >= 0) seq_of[next++] = id;
            else CHECK(err.code == LLAMA3_ERR_CONTEXT, "add: %s", err.msg);
        }
        if (steps == 3 && victim >= 0) { llama3_batch_remove(b, victim); victim = -1; }
        int na = llama3_batch_n_active(b);
        if (na > max_active) max_active = na;
        int n_ev = llama3_batch_step(b, ev, 8, &err);
        CHECK(n_ev >= 0, "step: %s", err.msg);
        if (n_ev < 0) break;
        for (int e = 0; e < n_ev; e++) {
            int k = -1;
            for (int j = 0; j < next; j++)
                if (!done[j] && seq_of[j] == ev[e].seq) k = j;
            CHECK(k >= 0, "event for unknown sequence %d", ev[e].seq);
            if (k < 0) continue;
            CHECK(ev[e].n_generated == n_got[k] + 1, "n_generated %d", ev[e].n_generated);
            if (n_got[k] < N_GEN) got[k][n_got[k]++] = ev[e].token;
            if (ev[e].finish != LLAMA3_FINISH_NONE) { done[k] = 1; n_done++; }
        }
        steps++;
    }
    CHECK(n_done == N_SEQ, "only %d of %d sequences finished in %d steps", n_done, N_SEQ, steps);
    CHECK(max_active == 4, "never ran 4 sequences together (max %d)", max_active);
    CHECK(llama3_batch_n_active(b) == 0, "%d still active", llama3_batch_n_active(b));
    for (int k = 0; k < N_SEQ; k++) {
        int same = n_got[k] == n_alone[k] && !memcmp(got[k], alone[k], (size_t)n_got[k] * sizeof(int32_t));
        CHECK(same, "sequence %d (prompt %d ids): batched ids differ from alone (%d vs %d ids, first %d vs %d)", k,
              n_prompt[k], n_got[k], n_alone[k], n_got[k] ? got[k][0] : -1, n_alone[k] ? alone[k][0] : -1);
    }

    /* Prompt cache: prompt 2 plus 10 new ids starts on the slot that ran prompt 2, keeps its
     * 90 tokens and yields the ids of the whole prompt run alone; the same prompt 3 again
     * keeps all but its last token; logprobs come with the events (greedy: the top one). */
    {
        static int32_t ext[256], ref[N_GEN], out[N_GEN];
        int n_ext = n_prompt[2] + 10;
        memcpy(ext, prompts[2], (size_t)n_prompt[2] * sizeof *ext);
        for (int i = 0; i < 10; i++) ext[n_prompt[2] + i] = prompts[5][i];
        const int32_t *cases[2] = { ext, prompts[3] };
        const int n_case[2] = { n_ext, n_prompt[3] }, want_cached[2] = { n_prompt[2], n_prompt[3] - 1 };
        for (int c = 0; c < 2; c++) {
            llama3_sampler_params g = params_for(0);
            int n_ref = run_alone(m, cases[c], n_case[c], g, ref), n_out = 0, lp_ok = 1;
            llama3_batch_seq o = { .sp = &g, .max_tokens = N_GEN, .cache_prompt = 1, .logprobs = 1, .top_logprobs = 5 };
            int id = llama3_batch_add_seq(b, cases[c], n_case[c], &o, &err);
            CHECK(id >= 0, "add_seq: %s", err.msg);
            CHECK(llama3_batch_n_cached(b, id) == want_cached[c], "case %d: %d prompt tokens cached, want %d", c,
                  llama3_batch_n_cached(b, id), want_cached[c]);
            for (int st = 0; id >= 0 && st < 400 && n_out < N_GEN; st++) {
                int n_ev = llama3_batch_step(b, ev, 8, &err), fin = 0;
                for (int e = 0; e < n_ev; e++) {
                    /* close to the whole prompt's (kernels for other row counts round differently);
                     * a context off by one token moves them far more */
                    if (fabsf(ev[e].logprob - alone_lp[n_out]) > 1e-3f) {
                        if (lp_ok) fprintf(stderr, "case %d token %d: logprob %g, alone %g\n", c, n_out, ev[e].logprob, alone_lp[n_out]);
                        lp_ok = 0;
                    }
                    out[n_out++] = ev[e].token;
                    lp_ok &= ev[e].n_top == 5 && ev[e].top_id[0] == ev[e].token && ev[e].logprob == ev[e].top_logprob[0] &&
                             ev[e].logprob <= 0 && ev[e].top_logprob[1] <= ev[e].top_logprob[0];
                    fin |= ev[e].finish != LLAMA3_FINISH_NONE;
                }
                if (fin) break;
            }
            CHECK(n_out == n_ref && !memcmp(out, ref, (size_t)n_out * sizeof *out),
                  "case %d: ids with a cached prefix differ from the whole prompt alone (%d vs %d ids)", c, n_out, n_ref);
            CHECK(lp_ok, "case %d: logprobs differ from the whole prompt alone or the greedy token is not the top one", c);
        }
        /* without cache_prompt nothing is kept */
        llama3_batch_seq o = { .max_tokens = 1 };
        int id = llama3_batch_add_seq(b, prompts[3], n_prompt[3], &o, &err);
        CHECK(id >= 0 && llama3_batch_n_cached(b, id) == 0, "kept a prefix without cache_prompt");
        llama3_batch_remove(b, id);
    }
    llama3_batch_free(b);
    llama3_session_free(s);
    wide_batch(m, vocab);
    llama3_model_free(m);
    printf("test_batch %s (KV %s): %d sequences, %d steps: %s\n", argv[1], llama3_kv_type_name(kv_type), N_SEQ, steps,
           fails ? "FAILED" : "ok");
    return fails ? 1 : 0;
}
