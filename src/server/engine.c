/* The model thread: admits queued jobs into free batch slots, runs one batched step, hands
 * the sampled ids to the jobs' HTTP threads, and frees the slot of any job whose client left.
 * HTTP threads never touch the model; the mutex guards only job state and the queue. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server.h"
#include "util.h"

srv_job *srv_job_new(void) {
    srv_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->refs = 1;
    j->seq = -1;
    j->state = SRV_DONE;  /* until submitted */
    return j;
}

/* Under e->mu. */
static void job_unref(srv_job *j) {
    if (--j->refs > 0) return;
    free(j->prompt);
    free(j->toks);
    free(j->lps);
    free(j->bias);
    llama3_json_constraint_free(j->constraint);
    free(j);
}

/* Under e->mu: the engine's part of j is over. */
static void job_done(srv_engine *e, srv_job *j, llama3_batch_finish fin, const char *error) {
    j->state = SRV_DONE;
    j->finish = fin;
    if (error && !j->error[0]) snprintf(j->error, sizeof j->error, "%.150s", error);
    pthread_cond_broadcast(&e->progress);
    job_unref(j);
}

static int job_push(srv_job *j, const llama3_batch_event *ev) {
    if (j->n_toks == j->cap_toks) {
        int cap = j->cap_toks ? 2 * j->cap_toks : 64;
        int32_t *n = realloc(j->toks, (size_t)cap * sizeof *n);
        if (!n) return -1;
        j->toks = n;
        if (j->logprobs) {
            srv_lp *l = realloc(j->lps, (size_t)cap * sizeof *l);
            if (!l) return -1;
            j->lps = l;
        }
        j->cap_toks = cap;
    }
    if (j->logprobs) {
        srv_lp *l = &j->lps[j->n_toks];
        l->logprob = ev->logprob;
        l->n_top = ev->n_top;
        memcpy(l->top_id, ev->top_id, sizeof l->top_id);
        memcpy(l->top_logprob, ev->top_logprob, sizeof l->top_logprob);
    }
    j->toks[j->n_toks++] = ev->token;
    return 0;
}

static void *engine_main(void *arg) {
    srv_engine *e = arg;
    int cap = llama3_batch_capacity(e->b);
    llama3_error err = { 0 };
    pthread_mutex_lock(&e->mu);
    while (!e->stopping) {
        /* Leavers first, so their slots serve the queue in this same round. */
        for (int i = 0; i < cap; i++) {
            srv_job *j = e->running[i];
            if (j && j->cancel) {
                llama3_batch_remove(e->b, i);
                e->running[i] = NULL;
                e->n_running--;
                job_done(e, j, LLAMA3_FINISH_NONE, NULL);
            }
        }
        /* Cancelled jobs leave the queue now, so they do not count against its bound. */
        for (srv_job **pp = &e->q_head, *prev = NULL; *pp;) {
            srv_job *j = *pp;
            if (!j->cancel) { prev = j; pp = &j->next; continue; }
            *pp = j->next;
            if (e->q_tail == j) e->q_tail = prev;
            e->q_len--;
            job_done(e, j, LLAMA3_FINISH_NONE, NULL);
        }
        while (e->q_head && e->n_running < cap) {
            srv_job *j = e->q_head;
            e->q_head = j->next;
            if (!e->q_head) e->q_tail = NULL;
            e->q_len--;
            if (j->cancel) { job_done(e, j, LLAMA3_FINISH_NONE, NULL); continue; }
            llama3_batch_seq o = { .sp = &j->sp, .max_tokens = j->max_tokens, .cache_prompt = j->cache_prompt,
                                   .constraint = j->constraint, .logprobs = j->logprobs, .top_logprobs = j->top_logprobs };
            int id = llama3_batch_add_seq(e->b, j->prompt, j->n_prompt, &o, &err);
            if (id < 0) { job_done(e, j, LLAMA3_FINISH_NONE, err.msg); continue; }
            j->n_cached = llama3_batch_n_cached(e->b, id);
            j->seq = id;
            j->state = SRV_RUNNING;
            e->running[id] = j;
            e->n_running++;
        }
        if (e->n_running == 0) {
            pthread_cond_wait(&e->wake, &e->mu);
            continue;
        }
        pthread_mutex_unlock(&e->mu);
        int n_ev = llama3_batch_step(e->b, e->ev, cap, &err);
        pthread_mutex_lock(&e->mu);
        for (int i = 0; i < cap; i++) e->kv_pos[i] = llama3_session_pos(e->s, i);
        if (n_ev < 0) {  /* should not happen (inputs were checked): fail the running jobs */
            for (int i = 0; i < cap; i++)
                if (e->running[i]) {
                    llama3_batch_remove(e->b, i);
                    job_done(e, e->running[i], LLAMA3_FINISH_NONE, err.msg);
                    e->running[i] = NULL;
                }
            e->n_running = 0;
            continue;
        }
        for (int k = 0; k < n_ev; k++) {
            srv_job *j = e->running[e->ev[k].seq];
            if (!j) continue;
            bool oom = job_push(j, &e->ev[k]) != 0;
            if (e->ev[k].finish != LLAMA3_FINISH_NONE || oom) {
                if (oom) llama3_batch_remove(e->b, e->ev[k].seq);
                e->running[e->ev[k].seq] = NULL;
                e->n_running--;
                job_done(e, j, e->ev[k].finish, oom ? "out of memory" : NULL);
            }
        }
        if (n_ev > 0) pthread_cond_broadcast(&e->progress);
    }
    /* Shutting down: every job still held ends now. */
    for (int i = 0; i < cap; i++)
        if (e->running[i]) {
            job_done(e, e->running[i], LLAMA3_FINISH_NONE, "the server is shutting down");
            e->running[i] = NULL;
        }
    e->n_running = 0;
    while (e->q_head) {
        srv_job *j = e->q_head;
        e->q_head = j->next;
        job_done(e, j, LLAMA3_FINISH_NONE, "the server is shutting down");
    }
    e->q_tail = NULL;
    e->q_len = 0;
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

int srv_engine_start(srv_engine *e, llama3_model *m, llama3_session *s, int queue_max, llama3_error *err) {
    memset(e, 0, sizeof *e);
    e->m = m;
    e->s = s;
    e->q_max = queue_max;
    /* Prompt chunks of 32 rows keep a new request from stalling running streams for long. */
    e->b = llama3_batch_new(m, s, &(llama3_batch_options){ .prefill_chunk = 32 }, err);
    if (!e->b) return -1;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->wake, NULL);
    pthread_cond_init(&e->progress, NULL);
    int cap = llama3_batch_capacity(e->b);
    e->running = calloc((size_t)cap, sizeof *e->running);
    e->ev = calloc((size_t)cap, sizeof *e->ev);
    e->kv_pos = calloc((size_t)cap, sizeof *e->kv_pos);
    if (!e->running || !e->ev || !e->kv_pos) {
        srv_engine_free(e);  /* the model thread is not running: this only releases */
        return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    }
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        srv_engine_free(e);
        return l3_fail(err, LLAMA3_ERR_MEMORY, "cannot start the model thread");
    }
    e->started = true;
    return 0;
}

void srv_engine_stop(srv_engine *e) {
    if (!e->started) return;
    pthread_mutex_lock(&e->mu);
    e->stopping = true;
    pthread_cond_broadcast(&e->wake);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    e->started = false;
}

void srv_engine_free(srv_engine *e) {
    srv_engine_stop(e);
    if (!e->b) return;
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->wake);
    pthread_cond_destroy(&e->progress);
    llama3_batch_free(e->b);
    free(e->running);
    free(e->ev);
    free(e->kv_pos);
    e->b = NULL;
}

int srv_engine_submit(srv_engine *e, srv_job *const *jobs, int n) {
    pthread_mutex_lock(&e->mu);
    /* Queued jobs first fill the free slots; only those beyond them count against --queue. */
    int free_slots = llama3_batch_capacity(e->b) - e->n_running;
    int st = 0;
    if (e->stopping || e->q_len - free_slots >= e->q_max) st = -1;
    else if (n > 1 && free_slots - e->q_len < n) st = -2;  /* the choices run side by side or not at all */
    for (int i = 0; i < n && st == 0; i++) {
        srv_job *j = jobs[i];
        j->refs++;
        j->state = SRV_QUEUED;
        j->next = NULL;
        if (e->q_tail) e->q_tail->next = j;
        else e->q_head = j;
        e->q_tail = j;
        e->q_len++;
    }
    if (st == 0) pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->mu);
    return st;
}

/* The absolute time timeout_ms from now, for pthread_cond_timedwait. */
static struct timespec deadline_in(int timeout_ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    return ts;
}

void srv_jobs_wait(srv_engine *e, srv_job *const *jobs, const int *have, int n, int timeout_ms) {
    const struct timespec ts = deadline_in(timeout_ms);
    pthread_mutex_lock(&e->mu);
    for (;;) {
        bool ready = false;
        for (int i = 0; i < n && !ready; i++) ready = jobs[i]->n_toks > have[i] || jobs[i]->state == SRV_DONE;
        if (ready || pthread_cond_timedwait(&e->progress, &e->mu, &ts) == ETIMEDOUT) break;
    }
    pthread_mutex_unlock(&e->mu);
}

int srv_job_poll(srv_engine *e, srv_job *j, int have, int timeout_ms, int32_t *out, srv_lp *lp_out, int cap,
                 bool *done) {
    const struct timespec ts = deadline_in(timeout_ms);
    pthread_mutex_lock(&e->mu);
    while (j->n_toks <= have && j->state != SRV_DONE)
        if (pthread_cond_timedwait(&e->progress, &e->mu, &ts) == ETIMEDOUT) break;
    int n = j->n_toks - have;
    if (n > cap) n = cap;
    if (n > 0) {
        memcpy(out, j->toks + have, (size_t)n * sizeof *out);
        if (lp_out && j->lps) memcpy(lp_out, j->lps + have, (size_t)n * sizeof *lp_out);
    } else {
        n = 0;
    }
    *done = j->state == SRV_DONE && have + n == j->n_toks;
    pthread_mutex_unlock(&e->mu);
    return n;
}

void srv_engine_cancel(srv_engine *e, srv_job *j) {
    if (!j) return;
    pthread_mutex_lock(&e->mu);
    if (j->state != SRV_DONE && !j->cancel) {
        j->cancel = true;
        pthread_cond_signal(&e->wake);
    }
    pthread_mutex_unlock(&e->mu);
}

void srv_job_release(srv_engine *e, srv_job *j) {
    if (!j) return;
    pthread_mutex_lock(&e->mu);
    if (j->state != SRV_DONE) {
        j->cancel = true;
        pthread_cond_signal(&e->wake);
    }
    job_unref(j);
    pthread_mutex_unlock(&e->mu);
}

void srv_engine_counts(srv_engine *e, int *n_running, int *n_queued, int *n_slots) {
    pthread_mutex_lock(&e->mu);
    *n_running = e->n_running;
    *n_queued = e->q_len;
    *n_slots = llama3_batch_capacity(e->b);
    pthread_mutex_unlock(&e->mu);
}

int srv_engine_slots(srv_engine *e, srv_slot_info *info, int cap) {
    pthread_mutex_lock(&e->mu);
    int n = llama3_batch_capacity(e->b);
    for (int i = 0; i < n && i < cap; i++) {
        const srv_job *j = e->running[i];
        info[i] = (srv_slot_info){ j != NULL, j ? j->n_prompt : 0, j ? j->n_toks : 0, j ? j->n_cached : 0, e->kv_pos[i] };
    }
    pthread_mutex_unlock(&e->mu);
    return n;
}
