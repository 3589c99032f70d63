/* Byte-level BPE on one pre-token, in tiktoken's order: start from single bytes and repeatedly
 * merge the adjacent pair whose concatenation has the lowest rank (leftmost on ties), until no
 * adjacent pair forms a token.
 *
 * Short pieces (nearly all of them) use tiktoken's quadratic scan over a small array. Long ones
 * (a 25k-character run of one letter) would make that quadratic, so they use a doubly linked
 * list of parts and a min-heap of candidate pairs keyed (rank, start): the heap always yields
 * the same pair the scan would, so both give identical ids (tests check this). */
#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#define BPE_SCAN_MAX 128  /* pieces up to this many bytes use the scan */

static inline int32_t rank_of(const llama3_tokenizer *t, const char *p, size_t a, size_t b) {
    const l3_hentry *e = l3_hmap_get(&t->map, p + a, b - a);
    return e ? e->rank : INT32_MAX;
}

/* Emits the token for bytes [a, b) of p; every part BPE leaves is a token (single bytes
 * always are, merged parts were found in the map). */
static void emit(const llama3_tokenizer *t, const char *p, size_t a, size_t b, l3_idsink *out) {
    if (b - a == 1) {
        l3_sink_push(out, t->byte_id[(unsigned char)p[a]]);
        return;
    }
    const l3_hentry *e = l3_hmap_get(&t->map, p + a, b - a);
    if (e) {
        l3_sink_push(out, e->id);
        return;
    }
    for (size_t i = a; i < b; i++) l3_sink_push(out, t->byte_id[(unsigned char)p[i]]);
}

static void bpe_scan(const llama3_tokenizer *t, const char *p, size_t n, l3_idsink *out) {
    /* start[i]: first byte of part i (start[m] = n); r[i]: rank of parts i and i+1 merged. */
    uint32_t start[BPE_SCAN_MAX + 1];
    int32_t r[BPE_SCAN_MAX];
    size_t m = n;
    for (size_t i = 0; i <= n; i++) start[i] = (uint32_t)i;
    for (size_t i = 0; i + 1 < m; i++) r[i] = rank_of(t, p, start[i], start[i + 2]);
    while (m > 1) {
        size_t best = 0;
        int32_t br = INT32_MAX;
        for (size_t i = 0; i + 1 < m; i++)
            if (r[i] < br) { br = r[i]; best = i; }
        if (br == INT32_MAX) break;
        /* Merge parts best and best+1. */
        memmove(&start[best + 1], &start[best + 2], (m - best - 1) * sizeof start[0]);
        if (best + 3 < m + 1) memmove(&r[best + 1], &r[best + 2], (m - best - 3) * sizeof r[0]);
        m--;
        if (best + 1 < m) r[best] = rank_of(t, p, start[best], start[best + 2]);
        if (best > 0) r[best - 1] = rank_of(t, p, start[best - 1], start[best + 1]);
    }
    for (size_t i = 0; i < m; i++) emit(t, p, start[i], start[i + 1], out);
}

typedef struct cand { int32_t rank; uint32_t left, end; } cand;

static inline int cand_less(const cand *a, const cand *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void heap_push(cand *h, size_t *n, cand c) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!cand_less(&c, &h[up])) break;
        h[i] = h[up];
        i = up;
    }
    h[i] = c;
}

static cand heap_pop(cand *h, size_t *n) {
    cand top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && cand_less(&h[c + 1], &h[c])) c++;
        if (!cand_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

static int bpe_heap(const llama3_tokenizer *t, const char *p, size_t n, l3_idsink *out) {
    /* Parts are named by their first byte: next[i] = first byte of the following part (n at the
     * end), prev[i] likewise backwards; alive marks first bytes of current parts. Each merge
     * pushes at most two candidates, so the heap never exceeds 3n. */
    uint32_t *next = malloc(n * sizeof *next), *prev = malloc(n * sizeof *prev);
    unsigned char *alive = malloc(n);
    cand *h = malloc(3 * n * sizeof *h);
    if (!next || !prev || !alive || !h) {
        free(next); free(prev); free(alive); free(h);
        return LLAMA3_ERR_MEMORY;
    }
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        next[i] = (uint32_t)(i + 1);
        prev[i] = (uint32_t)i - 1;  /* wraps for i = 0; never read there */
        alive[i] = 1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        int32_t rk = rank_of(t, p, i, i + 2);
        if (rk != INT32_MAX) heap_push(h, &hn, (cand){ rk, (uint32_t)i, (uint32_t)(i + 2) });
    }
    while (hn) {
        cand c = heap_pop(h, &hn);
        uint32_t i = c.left;
        if (!alive[i] || next[i] >= n) continue;
        uint32_t j = next[i];
        if (next[j] != c.end) continue;  /* stale: a neighbour changed since it was pushed */
        next[i] = next[j];
        alive[j] = 0;
        if (next[i] < n) prev[next[i]] = i;
        if (i > 0) {
            uint32_t a = prev[i];
            int32_t rk = rank_of(t, p, a, next[i]);
            if (rk != INT32_MAX) heap_push(h, &hn, (cand){ rk, a, next[i] });
        }
        if (next[i] < n) {
            uint32_t e = next[next[i]];
            int32_t rk = rank_of(t, p, i, e);
            if (rk != INT32_MAX) heap_push(h, &hn, (cand){ rk, i, e });
        }
    }
    for (size_t i = 0; i < n; i = next[i]) emit(t, p, i, next[i], out);
    free(next); free(prev); free(alive); free(h);
    return 0;
}

int l3_bpe_piece(const llama3_tokenizer *t, const char *p, size_t n, l3_idsink *out, int force) {
    if (n == 0) return 0;
    if (n == 1) {
        l3_sink_push(out, t->byte_id[(unsigned char)p[0]]);
        return 0;
    }
    /* tiktoken's shortcut: a piece that is itself a token is that token. */
    const l3_hentry *e = l3_hmap_get(&t->map, p, n);
    if (e && force == 0) {
        l3_sink_push(out, e->id);
        return 0;
    }
    if (force == 1 || (force == 0 && n <= BPE_SCAN_MAX)) {
        if (n > BPE_SCAN_MAX) return LLAMA3_ERR_ARG;
        bpe_scan(t, p, n, out);
        return 0;
    }
    if (n >= UINT32_MAX / 4) return LLAMA3_ERR_ARG;
    return bpe_heap(t, p, n, out);
}
