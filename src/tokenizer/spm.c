/* SentencePiece BPE (GGUF tokenizer model "llama", e.g. TinyStories / Llama 2 vocabularies).
 *
 * Start from UTF-8 characters and repeatedly merge the adjacent pair whose concatenation is a
 * piece with the highest score (leftmost on ties), as llama.cpp and SentencePiece do. Pieces
 * are stored decoded (U+2581 '▁' as a space), so the text is matched as is. Characters left
 * that are not pieces fall back to <0xNN> byte tokens (or <unk> when the vocabulary has none). */
#include "tokenizer/tokenizer.h"

#include <stdlib.h>

typedef struct sym { uint32_t start, n; int32_t prev, next; } sym;
typedef struct big { float score; uint32_t left, size; } big;

static inline int big_better(const big *a, const big *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void push(big *h, size_t *n, big c) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!big_better(&c, &h[up])) break;
        h[i] = h[up];
        i = up;
    }
    h[i] = c;
}

static big pop(big *h, size_t *n) {
    big top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && big_better(&h[c + 1], &h[c])) c++;
        if (!big_better(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

static void try_pair(const llama3_tokenizer *t, const char *s, const sym *y, int32_t l, int32_t r,
                     big *h, size_t *hn) {
    if (l < 0 || r < 0) return;
    uint32_t size = y[l].n + y[r].n;
    const l3_hentry *e = l3_hmap_get(&t->map, s + y[l].start, size);
    if (e) push(h, hn, (big){ t->score[e->id], (uint32_t)l, size });
}

int l3_spm_encode(const llama3_tokenizer *t, const char *s, size_t n, l3_idsink *out, llama3_error *err) {
    if (n == 0) return 0;
    if (n >= UINT32_MAX / 4) return l3_fail(err, LLAMA3_ERR_ARG, "text too long (%zu bytes)", n);
    sym *y = malloc(n * sizeof *y);
    big *h = malloc(3 * n * sizeof *h);
    if (!y || !h) {
        free(y); free(h);
        return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory encoding text");
    }
    const unsigned char *u = (const unsigned char *)s;
    int32_t m = 0;
    for (size_t i = 0; i < n;) {
        int k = l3_utf8_valid_len(u + i, n - i);
        if (!k) k = 1;
        y[m] = (sym){ (uint32_t)i, (uint32_t)k, m - 1, m + 1 };
        m++;
        i += (size_t)k;
    }
    y[m - 1].next = -1;
    size_t hn = 0;
    for (int32_t i = 0; i + 1 < m; i++) try_pair(t, s, y, i, i + 1, h, &hn);
    while (hn) {
        big b = pop(h, &hn);
        sym *l = &y[b.left];
        if (l->n == 0 || l->next < 0) continue;
        sym *r = &y[l->next];
        if (l->n + r->n != b.size) continue;  /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (l->next >= 0) y[l->next].prev = (int32_t)b.left;
        try_pair(t, s, y, l->prev, (int32_t)b.left, h, &hn);
        try_pair(t, s, y, (int32_t)b.left, l->next, h, &hn);
    }
    int rc = 0;
    for (int32_t i = 0; i >= 0 && i < m; i = y[i].next) {
        const l3_hentry *e = l3_hmap_get(&t->map, s + y[i].start, y[i].n);
        if (e) {
            l3_sink_push(out, e->id);
            continue;
        }
        for (uint32_t j = 0; j < y[i].n; j++) {
            int32_t id = t->byte_id[u[y[i].start + j]];
            if (id < 0) id = t->unk;
            if (id < 0) {
                rc = l3_fail(err, LLAMA3_ERR_UNSUPPORTED,
                             "byte 0x%02X has no token in this vocabulary (no <0x%02X> or <unk>)",
                             u[y[i].start + j], u[y[i].start + j]);
                goto done;
            }
            l3_sink_push(out, id);
        }
    }
done:
    free(y);
    free(h);
    return rc;
}
