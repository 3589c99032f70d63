/* GPT-2's byte-to-unicode mapping, which GGUF "gpt2" and Hugging Face byte-level vocabularies use
 * to store raw bytes as printable text, and the merge list that gives BPE its priorities.
 *
 * Mapping: bytes 0x21..0x7E, 0xA1..0xAC, 0xAE..0xFF stand for themselves; the 68 others
 * (0x00..0x20, 0x7F..0xA0, 0xAD), in increasing order, become U+0100..U+0143. */
#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>

static int unmap_cp(uint32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
        return (int)cp;
    if (cp < 0x100 || cp > 0x143) return -1;
    uint32_t k = cp - 0x100;
    if (k <= 32) return (int)k;              /* 0x00..0x20 */
    if (k <= 66) return (int)(0x7F + k - 33); /* 0x7F..0xA0 */
    return 0xAD;
}

long l3_gpt2_unmap(const char *s, size_t len, char *out) {
    /* Every mapped code point is below U+0144, so mapped text is ASCII and 2-byte sequences. */
    const unsigned char *p = (const unsigned char *)s;
    long n = 0;
    for (size_t i = 0; i < len;) {
        unsigned c = p[i];
        int b;
        if (c < 0x80) {
            b = unmap_cp(c);
            i++;
        } else if (c >= 0xC2 && c <= 0xC5 && i + 1 < len && (p[i + 1] & 0xC0) == 0x80) {
            b = unmap_cp(((c & 0x1F) << 6) | (p[i + 1] & 0x3Fu));
            i += 2;
        } else {
            return -1;
        }
        if (b < 0) return -1;
        out[n++] = (char)b;
    }
    return n;
}

/* tiktoken merges the adjacent pair whose concatenation has the lowest rank. A merge list
 * ranks pairs instead; the token a merge produces gets the index of its first merge, which
 * makes the two orders agree (Hugging Face's converter emits merges in token-rank order).
 *
 * Loading is bound by cache misses in the 128k-entry map, so merges are handled in batches:
 * decode and hash a batch, prefetch its buckets, then probe. A merge that names no token (or is
 * malformed) cannot fire and is skipped, as llama.cpp does. */
#define MERGE_BATCH 32

int l3_tok_rank_merges(llama3_tokenizer *t, size_t n, l3_merge_get get, void *ctx) {
    size_t cap = 256;
    char *scratch = malloc(MERGE_BATCH * cap);
    if (!scratch) return LLAMA3_ERR_MEMORY;
    long len[MERGE_BATCH];
    uint64_t hash[MERGE_BATCH];
    for (size_t base = 0; base < n && base < INT32_MAX; base += MERGE_BATCH) {
        size_t m = n - base < MERGE_BATCH ? n - base : MERGE_BATCH;
        for (size_t k = 0; k < m; k++) {
            const char *l, *r;
            size_t ll, rl;
            len[k] = -1;
            if (!get(ctx, base + k, &l, &ll, &r, &rl)) continue;
            if (ll + rl > cap) {  /* rare: a very long token; grow the per-merge slots */
                size_t nc = cap;
                while (nc < ll + rl) nc *= 2;
                char *ns = realloc(scratch, MERGE_BATCH * nc);
                if (!ns) { free(scratch); return LLAMA3_ERR_MEMORY; }
                scratch = ns;
                cap = nc;
                k = (size_t)-1;  /* slots moved: redo the batch */
                continue;
            }
            char *o = scratch + k * cap;
            long a = l3_gpt2_unmap(l, ll, o);
            long b = a < 0 ? -1 : l3_gpt2_unmap(r, rl, o + a);
            if (b < 0) continue;
            len[k] = a + b;
            hash[k] = l3_hash_bytes(o, (size_t)len[k]);
            __builtin_prefetch(&t->map.e[hash[k] & t->map.mask]);
        }
        for (size_t k = 0; k < m; k++) {
            if (len[k] < 0) continue;
            l3_hentry *e = (l3_hentry *)l3_hmap_get_h(&t->map, scratch + k * cap, (size_t)len[k], hash[k]);
            int32_t index = (int32_t)(base + k);
            if (e && index < e->rank) {
                e->rank = index;
                t->rank[e->id] = index;
            }
        }
    }
    free(scratch);
    return 0;
}
