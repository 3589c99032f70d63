/* Structured output: sampling constrained token by token. The vocabulary's text tokens are
 * laid out once as a trie of their bytes (llama3_json_vocab); before each token the matcher
 * (json_match.c) walks the trie from its current state, and every token whose bytes it cannot
 * accept gets a logit of -inf. Shared prefixes are matched once, and a branch dies at its
 * first bad byte, so a step costs what the acceptable tokens cost, not the vocabulary times
 * token length. When the reply's token budget gets close to what the shortest completion of
 * the document takes, the reply follows that completion, so it always ends as a whole, valid
 * document. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "constrain/json_grammar.h"
#include "tokenizer/tokenizer.h"
#include "util.h"

typedef struct trie_node {
    uint32_t end;      /* index after this node's subtree (nodes are in depth-first order) */
    int32_t token;     /* the token whose bytes end here, or -1 */
    uint8_t byte;
} trie_node;

struct llama3_json_vocab {
    const llama3_tokenizer *tok;
    trie_node *nodes;  /* [0] is the root (no byte) */
    uint32_t n_nodes;
    int max_len;       /* the longest token in bytes */
    int n_vocab;
    int32_t end_ids[8];
    int n_end;
};

struct llama3_json_constraint {
    const llama3_json_vocab *v;
    js_schema schema;
    js_state st;
    int doc_tokens;    /* tokens of the shortest whole document (for another one after ';') */
    js_state *stack;   /* [max_len + 1]: states along the trie walk */
    uint8_t *allowed;  /* [n_vocab] */
    int ended, failed;
};

/* A token that stands for text (special and control tokens never appear in JSON). */
static int text_token(const llama3_tokenizer *t, int32_t id) {
    if (t->type[id] == L3_TT_CONTROL || t->type[id] == L3_TT_MISSING || t->type[id] == L3_TT_UNUSED) return 0;
    if (t->llama3_layout && id >= t->llama3_base && id < t->llama3_base + 256) return 0;
    return t->len[id] > 0;
}

static int by_bytes(const void *a, const void *b, void *ctx) {
    const llama3_tokenizer *sort_tok = ctx;
    const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    const uint32_t lx = sort_tok->len[x], ly = sort_tok->len[y];
    int c = memcmp(sort_tok->blob + sort_tok->off[x], sort_tok->blob + sort_tok->off[y], lx < ly ? lx : ly);
    return c ? c : lx < ly ? -1 : lx > ly ? 1 : x < y ? -1 : 1;
}

llama3_json_vocab *llama3_json_vocab_new(const llama3_tokenizer *t, llama3_error *err) {
    if (!t || t->kind != L3_TOK_BPE) {
        l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "structured output needs a byte-level BPE vocabulary");
        return NULL;
    }
    llama3_json_vocab *v = calloc(1, sizeof *v);
    int32_t *ids = malloc((size_t)t->n_vocab * sizeof *ids);
    int n = 0;
    size_t total = 1;
    for (int32_t id = 0; v && ids && id < t->n_vocab; id++)
        if (text_token(t, id)) ids[n++] = id, total += t->len[id];
    if (!v || !ids || total > UINT32_MAX || !(v->nodes = malloc(total * sizeof *v->nodes))) {
        free(ids);
        llama3_json_vocab_free(v);
        l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory for the vocabulary trie");
        return NULL;
    }
    /* Sorted by bytes, each token shares its prefix with the one before: a path of open nodes
     * (path[d]: the node of depth d + 1) is closed down to that prefix, then extended. */
    qsort_r(ids, (size_t)n, sizeof *ids, by_bytes, (void *)t);
    uint32_t path[4096];
    int depth = 0, prev = -1;
    v->nodes[0] = (trie_node){ 0, -1, 0 };
    v->n_nodes = 1;
    for (int i = 0; i < n; i++) {
        const int32_t id = ids[i];
        const uint8_t *b = (const uint8_t *)t->blob + t->off[id];
        int len = (int)t->len[id], common = 0;
        if (len > 4096) continue;
        if (prev >= 0) {
            const uint8_t *pb = (const uint8_t *)t->blob + t->off[prev];
            int pl = (int)t->len[prev];
            while (common < pl && common < len && pb[common] == b[common]) common++;
        }
        while (depth > common) v->nodes[path[--depth]].end = v->n_nodes;
        if (common == len) continue;  /* the same bytes as an earlier token: it keeps them */
        for (; depth < len; depth++) {
            path[depth] = v->n_nodes;
            v->nodes[v->n_nodes++] = (trie_node){ 0, -1, b[depth] };
        }
        v->nodes[path[len - 1]].token = id;
        if (len > v->max_len) v->max_len = len;
        prev = id;
    }
    while (depth > 0) v->nodes[path[--depth]].end = v->n_nodes;
    v->nodes[0].end = v->n_nodes;
    free(ids);
    v->tok = t;
    v->n_vocab = t->n_vocab;
    for (int i = 0; i < t->n_end && v->n_end < 8; i++) v->end_ids[v->n_end++] = t->end_ids[i];
    return v;
}

void llama3_json_vocab_free(llama3_json_vocab *v) {
    if (!v) return;
    free(v->nodes);
    free(v);
}

static llama3_json_constraint *constraint_new(const llama3_json_vocab *v, llama3_error *err) {
    llama3_json_constraint *c = calloc(1, sizeof *c);
    if (c) {
        c->v = v;
        c->stack = malloc((size_t)(v->max_len + 1) * sizeof *c->stack);
        c->allowed = malloc((size_t)v->n_vocab);
    }
    if (!c || !c->stack || !c->allowed) {
        if (c) { free(c->stack); free(c->allowed); free(c); }
        l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
        return NULL;
    }
    return c;
}

llama3_json_constraint *llama3_json_constraint_new(const llama3_json_vocab *v, const char *schema, size_t len,
                                                   llama3_error *err) {
    llama3_json_constraint *c = constraint_new(v, err);
    if (!c) return NULL;
    if (js_schema_compile(&c->schema, schema, len, err)) {
        llama3_json_constraint_free(c);
        return NULL;
    }
    js_start(&c->schema, &c->st);
    return c;
}

static int greedy_tokens(const llama3_json_vocab *v, const char *text, int n);

llama3_json_constraint *llama3_json_constraint_tool_calls(const llama3_json_vocab *v, const char *const *names,
                                                          const char *const *parameters, int n, int max_calls,
                                                          llama3_error *err) {
    if (max_calls < 1 || max_calls > 255) { l3_fail(err, LLAMA3_ERR_ARG, "max_calls must be 1..255"); return NULL; }
    llama3_json_constraint *c = constraint_new(v, err);
    if (!c) return NULL;
    if (js_schema_tool_call(&c->schema, names, parameters, n, err)) {
        llama3_json_constraint_free(c);
        return NULL;
    }
    c->schema.max_docs = max_calls;
    js_start(&c->schema, &c->st);
    char shortest[4096];
    int len = js_completion(&c->schema, &c->st, shortest, sizeof shortest);
    c->doc_tokens = len > 0 ? greedy_tokens(v, shortest, len) : -1;
    return c;
}

llama3_json_constraint *llama3_json_constraint_tool_call(const llama3_json_vocab *v, const char *const *names,
                                                         const char *const *parameters, int n, llama3_error *err) {
    return llama3_json_constraint_tool_calls(v, names, parameters, n, 1, err);
}

void llama3_json_constraint_free(llama3_json_constraint *c) {
    if (!c) return;
    js_schema_free(&c->schema);
    free(c->stack);
    free(c->allowed);
    free(c);
}

/* Marks every token whose bytes the matcher accepts from state stack[0] (depth-first over
 * the trie, one state per depth). */
static void walk(llama3_json_constraint *c) {
    const trie_node *t = c->v->nodes;
    uint32_t node_at[4097];
    int d = 0;
    node_at[0] = 0;
    uint32_t next = 1;  /* the next child to try at depth d: node_at[d] + 1, then siblings */
    for (;;) {
        if (next >= t[node_at[d]].end) {  /* no more children here: back up */
            if (d == 0) return;
            next = t[node_at[d]].end;
            d--;
            continue;
        }
        const uint32_t child = next;
        js_state *s = &c->stack[d + 1];
        memcpy(s, &c->stack[d], js_state_size(&c->stack[d]));
        if (js_step(&c->schema, s, t[child].byte)) { next = t[child].end; continue; }  /* the whole branch dies */
        if (t[child].token >= 0) c->allowed[t[child].token] = 1;
        node_at[++d] = child;
        next = child + 1;
    }
}

/* The longest token whose bytes start text[0..n) (0 when none). */
static int longest_token(const llama3_json_vocab *v, const char *text, int n, int32_t *id) {
    uint32_t node = 0;
    int len = 0;
    *id = -1;
    for (int k = 0; k < n; k++) {
        uint32_t ch = node + 1;
        while (ch < v->nodes[node].end && v->nodes[ch].byte != (uint8_t)text[k]) ch = v->nodes[ch].end;
        if (ch >= v->nodes[node].end) break;
        node = ch;
        if (v->nodes[node].token >= 0) *id = v->nodes[node].token, len = k + 1;
    }
    return len;
}

/* Tokens the text takes, longest token first (-1 when some byte has no token). */
static int greedy_tokens(const llama3_json_vocab *v, const char *text, int n) {
    int count = 0;
    int32_t id;
    for (int k = 0; k < n; count++) {
        int len = longest_token(v, text + k, n - k, &id);
        if (len == 0) return -1;
        k += len;
    }
    return count;
}

/* Tokens of headroom kept before the budget binds: one free token can lengthen the shortest
 * completion by a few tokens (a key opened, a container started). */
#define BUDGET_MARGIN 6

int llama3_json_constraint_apply(llama3_json_constraint *c, float *logits, int tokens_left) {
    const llama3_json_vocab *v = c->v;
    char done[4096];
    int need = js_completion(&c->schema, &c->st, done, sizeof done);
    int need_tok = need >= 0 ? greedy_tokens(v, done, need) : -1;
    memset(c->allowed, 0, (size_t)v->n_vocab);
    if (need > 0 && need_tok > 0 && tokens_left > 0 && tokens_left <= need_tok + BUDGET_MARGIN) {
        /* Short of budget: the shortest completion, longest token first, so it always fits
         * the tokens left once it fitted when this began. */
        int32_t id;
        if (longest_token(v, done, need, &id) > 0) c->allowed[id] = 1;
    } else if (!c->ended) {
        memcpy(&c->stack[0], &c->st, js_state_size(&c->st));
        /* another document after ';' (maybe within this token) only when this one and a whole
         * other one still fit the budget */
        if (tokens_left > 0 && (c->doc_tokens < 0 || need_tok < 0 ||
                                tokens_left <= need_tok + 1 + c->doc_tokens + BUDGET_MARGIN))
            c->stack[0].docs = UINT8_MAX;
        walk(c);
    }
    int any = 0;
    if (need == 0 || c->ended)
        for (int i = 0; i < v->n_end; i++) c->allowed[v->end_ids[i]] = 1;
    for (int i = 0; i < v->n_vocab && !any; i++) any = c->allowed[i];
    if (!any)  /* cannot happen with a byte-level vocabulary; end rather than emit garbage */
        for (int i = 0; i < v->n_end; i++) c->allowed[v->end_ids[i]] = 1;
    for (int i = 0; i < v->n_vocab; i++)
        if (!c->allowed[i]) logits[i] = -INFINITY;
    return 0;
}

int llama3_json_constraint_accept(llama3_json_constraint *c, int32_t id) {
    const llama3_tokenizer *t = c->v->tok;
    if (c->failed) return LLAMA3_ERR_ARG;
    for (int i = 0; i < c->v->n_end; i++)
        if (id == c->v->end_ids[i]) { c->ended = 1; return 0; }
    size_t len;
    const char *b = llama3_token_bytes(t, id, &len);
    if (!b || c->ended || !text_token(t, id)) { c->failed = 1; return LLAMA3_ERR_ARG; }
    for (size_t i = 0; i < len; i++)
        if (js_step(&c->schema, &c->st, (uint8_t)b[i])) { c->failed = 1; return LLAMA3_ERR_ARG; }
    return 0;
}

int llama3_json_constraint_complete(const llama3_json_constraint *c) {
    return !c->failed && js_complete(&c->schema, &c->st);
}
