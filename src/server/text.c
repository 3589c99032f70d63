/* A job's sampled ids become text here: the streaming detokenizer keeps characters whole,
 * stop strings cut the text (and end the job), and a stream holds back any tail that could
 * still grow into a stop string so a client never sees part of one. */
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

static int append(srv_text *t, const char *s, size_t n) {
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->len + n + 1) * 2 + 64;
        char *a = realloc(t->all, cap);
        if (!a) return -1;
        t->all = a;
        t->cap = cap;
    }
    memcpy(t->all + t->len, s, n);
    t->len += n;
    t->all[t->len] = 0;
    return 0;
}

/* Cuts the text at the first stop string that starts at or after `from`. */
static void match_stop(srv_text *t, size_t from) {
    if (!t->all) return;  /* no text yet (a held-back byte); NULL + 0 is UB */
    size_t cut = t->len + 1;
    for (int i = 0; i < t->n_stop; i++) {
        size_t sl = strlen(t->stop[i]);
        size_t start = from >= sl ? from - sl + 1 : 0;
        if (start > t->len) continue;
        const char *p = memmem(t->all + start, t->len - start, t->stop[i], sl);
        if (p && (size_t)(p - t->all) < cut) cut = (size_t)(p - t->all);
    }
    if (cut <= t->len) {
        t->len = cut;
        t->all[cut] = 0;
        t->stopped = true;
    }
}

int srv_text_feed(srv_text *t, const llama3_model *m, const int32_t *ids, int n) {
    const llama3_tokenizer *tok = llama3_model_tokenizer(m);
    char piece[512];
    for (int i = 0; i < n && !t->stopped; i++) {
        if (llama3_model_is_end_token(m, ids[i])) break;
        t->n_used++;
        int w = llama3_detok_push(&t->dt, tok, ids[i], piece, sizeof piece, NULL);
        if (w < 0) return -1;
        size_t before = t->len;
        if (w > 0 && append(t, piece, (size_t)w)) return -1;
        if (t->n_stop) match_stop(t, before);
    }
    return 0;
}

void srv_text_finish(srv_text *t) {
    if (!t->stopped) {
        char tail[8];
        int w = llama3_detok_flush(&t->dt, tail, sizeof tail);
        size_t before = t->len;
        if (w > 0 && append(t, tail, (size_t)w) == 0 && t->n_stop) match_stop(t, before);
    }
    t->final = true;  /* nothing more can follow: no hold-back */
}

const char *srv_text_take(srv_text *t, size_t *len) {
    size_t safe = t->len;
    if (!t->stopped && !t->final) {
        /* Longest tail that is a proper prefix of some stop string. */
        size_t hold = 0;
        for (int i = 0; i < t->n_stop; i++) {
            size_t sl = strlen(t->stop[i]);
            for (size_t k = sl - 1; k > hold; k--)
                if (k <= t->len && !memcmp(t->all + t->len - k, t->stop[i], k)) { hold = k; break; }
        }
        safe = t->len - hold;
    }
    /* Never split a UTF-8 character (a stop string may end mid-character). */
    while (safe > t->sent && safe < t->len && ((unsigned char)t->all[safe] & 0xC0) == 0x80) safe--;
    if (safe <= t->sent) { *len = 0; return t->all ? t->all + t->sent : ""; }
    const char *p = t->all + t->sent;
    *len = safe - t->sent;
    t->sent = safe;
    return p;
}

void srv_text_free(srv_text *t) {
    free(t->all);
    for (int i = 0; i < t->n_stop; i++) free(t->stop[i]);
    free(t->stop);
    memset(t, 0, sizeof *t);
}
