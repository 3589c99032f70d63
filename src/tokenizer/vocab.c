/* The vocabulary: token bytes, types, ranks, and the hash maps built over them.
 * Every source (tokenizer.model, tokenizer.json, GGUF) fills a tokenizer through l3_tok_set
 * and then calls l3_tok_finish, so the sources only differ in parsing. */
#include "tokenizer/tokenizer.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc_limit.h"

/* ---- hash map -------------------------------------------------------------------------- */

static uint64_t mix64(uint64_t x) {  /* splitmix64's finaliser */
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* hardening: vocabularies come from untrusted files, and with a fixed hash a crafted one can
 * put every token in one probe chain (loading becomes quadratic). The hash is keyed with a
 * per-process seed the file cannot know: the clock and ASLR'd addresses, which is enough
 * against offline precomputation (this is not a cryptographic MAC). Fuzzing builds use a fixed
 * seed so runs stay reproducible. Lazily set, so no initialisation call is needed. */
static _Atomic uint64_t g_hash_seed;

static uint64_t hash_seed(void) {
    uint64_t s = atomic_load_explicit(&g_hash_seed, memory_order_relaxed);
    if (s) return s;
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    s = mix64(0x243F6A8885A308D3ull);
#else
    struct timespec ts = { 0 };
    timespec_get(&ts, TIME_UTC);
    int local = 0;
    s = mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30)) ^ mix64((uint64_t)(uintptr_t)&local) ^
        mix64((uint64_t)(uintptr_t)&g_hash_seed);
    s |= 1;  /* 0 means "not set yet" */
#endif
    uint64_t expected = 0;
    /* The first thread to get here wins; the others use its seed. */
    if (!atomic_compare_exchange_strong(&g_hash_seed, &expected, s)) s = expected;
    return s;
}

/* A word-at-a-time multiply-xorshift hash: the BPE inner loop hashes many short strings. */
uint64_t l3_hash_bytes(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = hash_seed() ^ ((uint64_t)n * 0xD6E8FEB86659FD93ull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    h *= 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 32);
}

int l3_hmap_init(l3_hmap *m, size_t expected) {
    memset(m, 0, sizeof *m);
    if (expected > ((size_t)1 << 28)) return -1;  /* vocabularies stop at 2^24 tokens */
    size_t cap = 16;
    while (cap < expected * 2) cap <<= 1;
    m->e = calloc(cap, sizeof *m->e);
    m->mask = cap - 1;
    m->n = 0;
    return m->e ? 0 : -1;
}

void l3_hmap_free(l3_hmap *m) {
    free(m->e);
    memset(m, 0, sizeof *m);
}

static int hmap_grow(l3_hmap *m) {
    l3_hmap g;
    if (l3_hmap_init(&g, (m->mask + 1)) != 0) return -1;
    for (size_t i = 0; i <= m->mask; i++) {
        const l3_hentry *e = &m->e[i];
        if (!e->key) continue;
        size_t j = l3_hash_bytes(e->key, e->len) & g.mask;
        while (g.e[j].key) j = (j + 1) & g.mask;
        g.e[j] = *e;
        g.n++;
    }
    free(m->e);
    *m = g;
    return 0;
}

int l3_hmap_put_h(l3_hmap *m, const char *key, size_t len, int32_t id, int32_t rank, uint64_t h) {
    if ((m->n + 1) * 2 > m->mask + 1 && hmap_grow(m) != 0) return -1;
    size_t j = h & m->mask;
    for (;; j = (j + 1) & m->mask) {
        l3_hentry *e = &m->e[j];
        if (!e->key) break;
        if (e->hash == (uint32_t)h && e->len == len && memcmp(e->key, key, len) == 0) return 0;
    }
    /* An empty key still needs a non-NULL pointer to mark the slot used. */
    m->e[j] = (l3_hentry){ .key = len ? key : "", .len = (uint32_t)len, .id = id, .rank = rank,
                           .hash = (uint32_t)h };
    m->n++;
    return 0;
}

int l3_hmap_put(l3_hmap *m, const char *key, size_t len, int32_t id, int32_t rank) {
    return l3_hmap_put_h(m, key, len, id, rank, l3_hash_bytes(key, len));
}

const l3_hentry *l3_hmap_get_h(const l3_hmap *m, const char *key, size_t len, uint64_t h) {
    if (!m->e) return NULL;
    for (size_t j = h & m->mask;; j = (j + 1) & m->mask) {
        const l3_hentry *e = &m->e[j];
        if (!e->key) return NULL;
        if (e->hash == (uint32_t)h && e->len == len && memcmp(e->key, key, len) == 0) return e;
    }
}

const l3_hentry *l3_hmap_get(const l3_hmap *m, const char *key, size_t len) {
    return l3_hmap_get_h(m, key, len, l3_hash_bytes(key, len));
}

/* ---- building ----------------------------------------------------------------------------- */

llama3_tokenizer *l3_tok_alloc(l3_tok_kind kind, int n_vocab, llama3_error *err, const char *what) {
    if (n_vocab <= 0 || n_vocab > (1 << 24)) {
        l3_fail(err, LLAMA3_ERR_FORMAT, "%s: vocabulary size %d out of range (1..16777216)", what, n_vocab);
        return NULL;
    }
    /* hardening: the tables (and the token map l3_tok_finish builds: 2-4 entries per token)
     * go through the allocation cap like the loader's buffers. Tokenizer loads have no load
     * options, so this is the default cap; the sources bound n_vocab by their file's size. */
    uint64_t bytes = (uint64_t)n_vocab * (2 * sizeof(uint32_t) + 1 + sizeof(int32_t) + sizeof(float) + 8 +
                                          4 * sizeof(l3_hentry)) + 64;  /* at most: every id present */
    char label[300];
    snprintf(label, sizeof label, "%s: tables for a %d-token vocabulary", what, n_vocab);
    if (l3_alloc_check(bytes, NULL, label, err) != 0) return NULL;
    llama3_tokenizer *t = calloc(1, sizeof *t);
    if (!t) goto oom;
    t->kind = kind;
    t->n_vocab = n_vocab;
    t->off = calloc((size_t)n_vocab, sizeof *t->off);
    t->len = calloc((size_t)n_vocab, sizeof *t->len);
    t->type = calloc((size_t)n_vocab, 1);
    t->rank = malloc((size_t)n_vocab * sizeof *t->rank);
    t->score = calloc((size_t)n_vocab, sizeof *t->score);
    t->blob_cap = (size_t)n_vocab * 8 + 64;
    t->blob = malloc(t->blob_cap);
    if (!t->off || !t->len || !t->type || !t->rank || !t->score || !t->blob) goto oom;
    for (int i = 0; i < n_vocab; i++) t->rank[i] = INT32_MAX;
    t->bos = t->eos = t->unk = -1;
    t->id_start_header = t->id_end_header = t->id_eot = -1;
    t->add_space_prefix = 1;
    return t;
oom:
    llama3_tokenizer_free(t);
    l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory for a %d-token vocabulary", what, n_vocab);
    return NULL;
}

int l3_tok_set(llama3_tokenizer *t, int32_t id, const void *bytes, size_t len, int type) {
    if (len > UINT32_MAX / 2 || t->blob_len + len > UINT32_MAX) return LLAMA3_ERR_MEMORY;
    if (t->blob_len + len > t->blob_cap) {
        size_t cap = t->blob_cap * 2;
        while (cap < t->blob_len + len) cap *= 2;
        char *nb = realloc(t->blob, cap);
        if (!nb) return LLAMA3_ERR_MEMORY;
        t->blob = nb;
        t->blob_cap = cap;
    }
    if (len) memcpy(t->blob + t->blob_len, bytes, len);
    t->off[id] = (uint32_t)t->blob_len;
    t->len[id] = (uint32_t)len;
    t->type[id] = (uint8_t)type;
    t->blob_len += len;
    return 0;
}

void l3_tok_add_end(llama3_tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->n_vocab) return;
    for (int i = 0; i < t->n_end; i++)
        if (t->end_ids[i] == id) return;
    if (t->n_end < (int)(sizeof t->end_ids / sizeof t->end_ids[0])) t->end_ids[t->n_end++] = id;
}

/* No Jinja engine: a template that mentions the Llama 3 headers and <|eot_id|> is taken to be
 * Llama 3's (3.0, 3.1 and 3.2 templates all do); any other template disables chat. */
void l3_tok_note_chat_template(llama3_tokenizer *t, const char *tmpl, size_t len) {
    if (!tmpl) return;
    int hdr = 0, eot = 0;
    for (size_t i = 0; i < len; i++) {
        if (tmpl[i] != '<') continue;
        if (len - i >= 19 && memcmp(tmpl + i, "<|start_header_id|>", 19) == 0) hdr = 1;
        if (len - i >= 10 && memcmp(tmpl + i, "<|eot_id|>", 10) == 0) eot = 1;
    }
    t->chat_template_other = !(hdr && eot);
}

static int cmp_desc(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x < y) - (x > y);
}

/* Records first bytes and distinct lengths of the special names (for the special splitter). */
static int index_specials(llama3_tokenizer *t) {
    memset(t->special_first, 0, sizeof t->special_first);
    free(t->special_lens);
    t->special_lens = NULL;
    t->n_special_lens = 0;
    int cap = 0;
    for (size_t j = 0; j <= t->special.mask && t->special.e; j++) {
        const l3_hentry *e = &t->special.e[j];
        if (!e->key || e->len == 0) continue;
        t->special_first[(unsigned char)e->key[0]] = 1;
        int k;
        for (k = 0; k < t->n_special_lens; k++)
            if (t->special_lens[k] == (int)e->len) break;
        if (k < t->n_special_lens) continue;
        if (t->n_special_lens == cap) {
            cap = cap ? cap * 2 : 16;
            int *nl = realloc(t->special_lens, (size_t)cap * sizeof *nl);
            if (!nl) return LLAMA3_ERR_MEMORY;
            t->special_lens = nl;
        }
        t->special_lens[t->n_special_lens++] = (int)e->len;
    }
    if (t->n_special_lens) qsort(t->special_lens, (size_t)t->n_special_lens, sizeof(int), cmp_desc);
    return 0;
}

int l3_tok_finish(llama3_tokenizer *t, const char *what, llama3_error *err) {
    int rc;
    /* Meta's special tokens: found by <|begin_of_text|> among the control tokens. */
    if (t->kind == L3_TOK_BPE) {
        static const char bot[] = "<|begin_of_text|>";
        for (int32_t id = 0; id < t->n_vocab; id++) {
            if (t->type[id] == L3_TT_CONTROL && t->len[id] == sizeof bot - 1 &&
                memcmp(t->blob + t->off[id], bot, sizeof bot - 1) == 0) {
                if (id + 256 <= t->n_vocab && (rc = l3_tok_apply_llama3_specials(t, id, err)) != 0)
                    return rc;
                break;
            }
        }
    }

    /* The map holds the ids that exist: a vocabulary with holes does not pay for them twice. */
    size_t present = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) present += t->type[id] != L3_TT_MISSING;
    if (l3_hmap_init(&t->map, present) != 0 || l3_hmap_init(&t->special, 512) != 0)
        goto oom;
    for (int i = 0; i < 256; i++) t->byte_id[i] = -1;
    /* Insertion is bound by cache misses in the map: hash a batch and prefetch its buckets. */
    uint64_t hash[32];
    for (int32_t base = 0; base < t->n_vocab; base += 32) {
        int32_t end = t->n_vocab - base < 32 ? t->n_vocab : base + 32;
        for (int32_t id = base; id < end; id++) {
            hash[id - base] = l3_hash_bytes(t->blob + t->off[id], t->len[id]);
            __builtin_prefetch(&t->map.e[hash[id - base] & t->map.mask], 1);
        }
        for (int32_t id = base; id < end; id++) {
            const char *b = t->blob + t->off[id];
            uint32_t n = t->len[id];
            uint64_t h = hash[id - base];
            switch (t->type[id]) {
            case L3_TT_CONTROL: case L3_TT_USER:
                if (n && l3_hmap_put_h(&t->special, b, n, id, INT32_MAX, h) != 0) goto oom;
                break;
            case L3_TT_NORMAL: case L3_TT_UNUSED:
                if (n && l3_hmap_put_h(&t->map, b, n, id, t->rank[id], h) != 0) goto oom;
                if (t->kind == L3_TOK_BPE && n == 1 && t->byte_id[(unsigned char)b[0]] < 0)
                    t->byte_id[(unsigned char)b[0]] = id;
                break;
            case L3_TT_BYTE:
                if (n == 1 && t->byte_id[(unsigned char)b[0]] < 0) t->byte_id[(unsigned char)b[0]] = id;
                if (t->kind == L3_TOK_BPE && n && l3_hmap_put_h(&t->map, b, n, id, t->rank[id], h) != 0) goto oom;
                break;
            case L3_TT_UNKNOWN:
                if (t->unk < 0) t->unk = id;
                break;
            }
        }
    }
    if (t->llama3_layout && (rc = l3_tok_apply_llama3_specials(t, -1, err)) != 0) return rc;  /* aliases */
    if (index_specials(t) != 0) goto oom;

    if (t->kind == L3_TOK_BPE) {
        /* Byte-level BPE can encode any input only if every byte has a token. */
        for (int b = 0; b < 256; b++)
            if (t->byte_id[b] < 0)
                return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: byte-level BPE vocabulary has no token for byte 0x%02X",
                               what, b);
        t->meta_chunking = 1;
        if ((rc = l3_pretok_new(&t->pretok, err)) != 0) return rc;
    }

    int32_t bot = llama3_token_id(t, "<|begin_of_text|>");
    int32_t eot_text = llama3_token_id(t, "<|end_of_text|>");
    if (t->bos < 0) t->bos = bot;
    if (t->eos < 0) t->eos = eot_text;
    t->id_start_header = llama3_token_id(t, "<|start_header_id|>");
    t->id_end_header = llama3_token_id(t, "<|end_header_id|>");
    t->id_eot = llama3_token_id(t, "<|eot_id|>");
    l3_tok_add_end(t, t->eos);
    l3_tok_add_end(t, eot_text);
    l3_tok_add_end(t, t->id_eot);
    l3_tok_add_end(t, llama3_token_id(t, "<|eom_id|>"));
    return 0;
oom:
    return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory building the vocabulary maps", what);
}

int32_t l3_tok_lookup(const llama3_tokenizer *t, const char *bytes, size_t len) {
    const l3_hentry *e = l3_hmap_get(&t->map, bytes, len);
    return e ? e->id : -1;
}

/* ---- public accessors ---------------------------------------------------------------------- */

void llama3_tokenizer_free(llama3_tokenizer *t) {
    if (!t) return;
    l3_pretok_free(t->pretok);
    l3_hmap_free(&t->map);
    l3_hmap_free(&t->special);
    free(t->special_lens);
    free(t->alias_blob);
    free(t->blob);
    free(t->off);
    free(t->len);
    free(t->type);
    free(t->rank);
    free(t->score);
    free(t);
}

int llama3_tokenizer_n_vocab(const llama3_tokenizer *t) { return t ? t->n_vocab : 0; }

const char *llama3_token_bytes(const llama3_tokenizer *t, int32_t id, size_t *len) {
    if (!t || id < 0 || id >= t->n_vocab || t->type[id] == L3_TT_MISSING) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = t->len[id];
    return t->blob + t->off[id];
}

int32_t llama3_token_id(const llama3_tokenizer *t, const char *special_name) {
    if (!t || !special_name) return -1;
    const l3_hentry *e = l3_hmap_get(&t->special, special_name, strlen(special_name));
    return e ? e->id : -1;
}

int l3_tokenizer_is_end(const llama3_tokenizer *t, int32_t id) {
    if (!t) return 0;
    for (int i = 0; i < t->n_end; i++)
        if (t->end_ids[i] == id) return 1;
    return 0;
}

int32_t l3_tokenizer_bos(const llama3_tokenizer *t) { return t ? t->bos : -1; }
