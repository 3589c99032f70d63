/* Internal tokenizer entry points (the public ones are in llama3.h). */
#ifndef LLAMA3_TOKENIZER_H
#define LLAMA3_TOKENIZER_H
#include "model/weights.h"

/* Builds the tokenizer a weights description points to (GGUF metadata or a file).
 * *out = NULL and 0 returned when the source is L3_VOCAB_NONE. */
int l3_tokenizer_from_source(const l3_vocab_source *src, llama3_tokenizer **out, llama3_error *err);
/* 1 for eos / <|eot_id|> / <|eom_id|> / <|end_of_text|> (or the SentencePiece eos). */
int l3_tokenizer_is_end(const llama3_tokenizer *t, int32_t id);
int32_t l3_tokenizer_bos(const llama3_tokenizer *t);

/* ---- chat pieces for a multi-turn REPL that keeps its KV cache ------------------------- *
 * Same return convention as llama3_tokenize: the number of ids (may exceed cap) or < 0. */
/* <|start_header_id|>role<|end_header_id|>\n\n content.strip() <|eot_id|> (no BOS). */
int l3_chat_encode_message(const llama3_tokenizer *t, const char *role, const char *content,
                           int32_t *ids, int cap, llama3_error *err);
/* <|start_header_id|>assistant<|end_header_id|>\n\n */
int l3_chat_encode_assistant_header(const llama3_tokenizer *t, int32_t *ids, int cap,
                                    llama3_error *err);
/* 1 when the tokenizer can format Llama 3 chats (the header/eot specials exist and the
 * chat template, if any, is recognisably Llama 3's). */
int l3_tokenizer_has_llama3_chat(const llama3_tokenizer *t);

/* ======================================================================================== *
 * Internals shared by the files of src/tokenizer/ (not for use elsewhere).                  *
 * ======================================================================================== */

typedef enum l3_tok_kind { L3_TOK_BPE = 0, L3_TOK_SPM = 1 } l3_tok_kind;

/* Token types, numbered as GGUF's tokenizer.ggml.token_type. */
enum {
    L3_TT_MISSING = 0,  /* a hole in the id range: no such token */
    L3_TT_NORMAL = 1, L3_TT_UNKNOWN = 2, L3_TT_CONTROL = 3, L3_TT_USER = 4,
    L3_TT_UNUSED = 5, L3_TT_BYTE = 6,
};

/* Open-addressing hash map from byte strings to (id, rank). Keys are not copied. */
typedef struct l3_hentry {
    const char *key;
    uint32_t len;
    int32_t id;
    int32_t rank;   /* BPE merge priority (lower merges first); INT32_MAX = never merged */
    uint32_t hash;  /* low bits of the hash, to skip most memcmp */
} l3_hentry;
typedef struct l3_hmap {
    l3_hentry *e;
    size_t mask;   /* capacity - 1 (capacity a power of two) */
    size_t n;
} l3_hmap;

uint64_t l3_hash_bytes(const void *p, size_t n);
int l3_hmap_init(l3_hmap *m, size_t expected);
void l3_hmap_free(l3_hmap *m);
/* Inserts unless the key exists (the first insert wins). Returns 0, or -1 when out of memory. */
int l3_hmap_put(l3_hmap *m, const char *key, size_t len, int32_t id, int32_t rank);
const l3_hentry *l3_hmap_get(const l3_hmap *m, const char *key, size_t len);
/* The same with the key's l3_hash_bytes already computed. */
const l3_hentry *l3_hmap_get_h(const l3_hmap *m, const char *key, size_t len, uint64_t h);
int l3_hmap_put_h(l3_hmap *m, const char *key, size_t len, int32_t id, int32_t rank, uint64_t h);

typedef struct l3_pretok l3_pretok;  /* the compiled PCRE2 pre-tokenizer */

struct llama3_tokenizer {
    l3_tok_kind kind;
    int n_vocab;
    char *blob;             /* every token's bytes, back to back */
    size_t blob_len, blob_cap;
    uint32_t *off, *len;    /* [n_vocab] */
    uint8_t *type;          /* [n_vocab] L3_TT_* */
    int32_t *rank;          /* [n_vocab] BPE: merge priority (INT32_MAX = none) */
    float *score;           /* [n_vocab] SPM: piece scores */
    l3_hmap map;            /* mergeable token bytes -> id, rank */
    l3_hmap special;        /* special-token names (and Llama 3.0 aliases) -> id */
    char *alias_blob;       /* storage for alias names */
    uint8_t special_first[256];  /* first bytes of special names, to find candidates fast */
    int *special_lens, n_special_lens;  /* distinct special-name lengths, longest first */
    int32_t byte_id[256];   /* BPE: the single-byte token; SPM: the <0xNN> token (-1: none) */
    int32_t bos, eos, unk;
    int32_t end_ids[8];
    int n_end;
    int32_t id_start_header, id_end_header, id_eot;  /* -1 when absent */
    int chat_template_other;  /* a chat template that is not Llama 3's was found */
    int llama3_layout;        /* ids base..base+255 are Meta's special tokens */
    int32_t llama3_base;      /* that base (128000 for Llama 3) */
    int meta_chunking;        /* apply tokenizer.py's 400k / 25k character chunking */
    int add_space_prefix;     /* SPM dummy prefix */
    l3_pretok *pretok;        /* BPE only */
};

/* vocab.c: building a tokenizer. */
llama3_tokenizer *l3_tok_alloc(l3_tok_kind kind, int n_vocab, llama3_error *err, const char *what);
/* Stores a token's bytes and type. Returns 0 or LLAMA3_ERR_MEMORY. */
int l3_tok_set(llama3_tokenizer *t, int32_t id, const void *bytes, size_t len, int type);
/* After every token is set: builds the maps, special names, end ids, pre-tokenizer.
 * what = the file, for messages. */
int l3_tok_finish(llama3_tokenizer *t, const char *what, llama3_error *err);
int32_t l3_tok_lookup(const llama3_tokenizer *t, const char *bytes, size_t len);
/* Adds an id that ends generation (ignored when out of range or already listed). */
void l3_tok_add_end(llama3_tokenizer *t, int32_t id);
/* Records whether a chat template (may be NULL) is Llama 3's. */
void l3_tok_note_chat_template(llama3_tokenizer *t, const char *tmpl, size_t len);

/* gpt2_bytes.c: GPT-2's byte <-> printable code point mapping used by GGUF and HF vocabularies.
 * Decodes a mapped UTF-8 string into raw bytes (out needs len bytes). -1 if not mapped text. */
long l3_gpt2_unmap(const char *s, size_t len, char *out);
/* Sets each token's rank to the index of the first merge that produces it. get(ctx, i, ...)
 * gives merge i's two halves (mapped text); returns 0 to skip a malformed entry.
 * Called after l3_tok_finish (it updates the built map). */
typedef int (*l3_merge_get)(void *ctx, size_t i, const char **l, size_t *ll, const char **r, size_t *rl);
int l3_tok_rank_merges(llama3_tokenizer *t, size_t n, l3_merge_get get, void *ctx);

/* llama3_specials.c: Meta's names for ids base..base+255. */
/* 3.1 name (when v31) or 3.0 name of special number i (0..255), written into buf. */
void l3_llama3_special_name(int i, int v31, char *buf, size_t cap);
/* base >= 0: gives ids base..base+255 Meta's 3.1 names (before the maps are built).
 * base < 0: adds the 3.0 names that 3.1 dropped as aliases (after the maps are built). */
int l3_tok_apply_llama3_specials(llama3_tokenizer *t, int32_t base, llama3_error *err);

/* Sources (tokenizer.model, tokenizer.json, GGUF metadata). */
struct l3_gguf;
int l3_tok_load_tiktoken(const char *path, llama3_tokenizer **out, llama3_error *err);
int l3_tok_load_hf_json(const char *path, const char *config_path, llama3_tokenizer **out,
                        llama3_error *err);
int l3_tok_load_gguf(const struct l3_gguf *g, const char *what, llama3_tokenizer **out,
                     llama3_error *err);

/* pretok.c: Meta's pat_str over valid UTF-8 (the caller checks validity). */
int l3_pretok_new(l3_pretok **out, llama3_error *err);
void l3_pretok_free(l3_pretok *p);
typedef int (*l3_piece_fn)(void *ctx, const char *piece, size_t len);
int l3_pretok_split(const l3_pretok *p, const char *s, size_t n, l3_piece_fn fn, void *ctx,
                    llama3_error *err);

/* utf8.c */
/* Length of the valid UTF-8 sequence at s (1..4), or 0 when s[0] does not start one
 * (overlong, surrogate, > U+10FFFF, truncated). n >= 1. */
int l3_utf8_valid_len(const unsigned char *s, size_t n);
/* Python's str.isspace() for one code point. */
int l3_unicode_isspace(uint32_t cp);
/* Decodes the valid sequence of length k at s. */
uint32_t l3_utf8_decode(const unsigned char *s, int k);

/* An output buffer that counts past its capacity (the "call again" convention). */
typedef struct l3_idsink { int32_t *ids; int cap; int64_t n; } l3_idsink;
static inline void l3_sink_push(l3_idsink *s, int32_t id) {
    if (s->n < s->cap) s->ids[s->n] = id;
    s->n++;
}

/* bpe.c: encodes one pre-token (byte-level BPE, tiktoken's merge order). force: 0 = choose,
 * 1 = the quadratic scan, 2 = the heap (tests compare the two). */
int l3_bpe_piece(const llama3_tokenizer *t, const char *p, size_t n, l3_idsink *out, int force);

/* spm.c: SentencePiece BPE on one text fragment (dummy prefix already added by the caller). */
int l3_spm_encode(const llama3_tokenizer *t, const char *s, size_t n, l3_idsink *out,
                  llama3_error *err);

/* encode.c: the whole encoder into a sink (used by chat.c). */
int l3_tokenize_sink(const llama3_tokenizer *t, const char *text, size_t len, int flags,
                     l3_idsink *out, llama3_error *err);

#endif
