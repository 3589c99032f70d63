/* GPT-2's byte-to-unicode mapping, which GGUF "gpt2" and Hugging Face byte-level vocabularies use
 * to store raw bytes as printable text, and the merge list that gives BPE its priorities.
 *
 * Mapping: bytes 0x21..0x7E, 0xA1..0xAC, 0xAE..0xFF stand for themselves; the 68 others
 * (0x00..0x20, 0x7F..0xA0, 0xAD), in increasing order, become U+0100..U+0143. */
#include "tokenizer/tokenizer.h"

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
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    long n = 0;
    while (i < len) {
        int k = l3_utf8_valid_len(p + i, len - i);
        if (!k) return -1;
        int b = unmap_cp(l3_utf8_decode(p + i, k));
        if (b < 0) return -1;
        out[n++] = (char)b;
        i += (size_t)k;
    }
    return n;
}

/* tiktoken merges the adjacent pair whose concatenation has the lowest rank. A merge list
 * ranks pairs instead; the token a merge produces gets the index of its first merge, which
 * makes the two orders agree (Hugging Face's converter emits merges in token-rank order). */
int l3_tok_rank_merge(llama3_tokenizer *t, const char *left, size_t llen, const char *right,
                      size_t rlen, int32_t index, char *scratch, size_t scratch_cap) {
    if (llen + rlen > scratch_cap) return -1;
    long a = l3_gpt2_unmap(left, llen, scratch);
    if (a < 0) return -1;
    long b = l3_gpt2_unmap(right, rlen, scratch + a);
    if (b < 0) return -1;
    l3_hentry *e = (l3_hentry *)l3_hmap_get(&t->map, scratch, (size_t)(a + b));
    if (!e) return -1;
    if (index < e->rank) {
        e->rank = index;
        t->rank[e->id] = index;
    }
    return 0;
}
