/* Writes the seed corpora of the fuzz harnesses: tiny valid models made here (GGUF with a
 * SentencePiece or a byte-level BPE vocabulary, safetensors, a PyTorch zip + pickle), small
 * pieces of the fixtures (configs, a shard index, reduced tokenizer files, tokenizer test
 * strings) and chat dialogs. Usage: gen_seeds OUT_DIR [FIXTURES_DIR]
 * Creates OUT_DIR/<harness>/ for each harness; deterministic. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/gguf.h"
#include "fuzz_common.h"
#include "tensor_types.h"

static const char *g_out;
static int g_count;

static void put_seed(const char *harness, const char *name, const void *data, size_t len) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", g_out, harness);
    mkdir(dir, 0755);
    fz_write(dir, name, data, len);
    g_count++;
}

static void put_seed_str(const char *harness, const char *name, const char *s) {
    put_seed(harness, name, s, strlen(s));
}

static void put_seed_file(const char *harness, const char *name, const char *fixture, size_t max) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", fz_fixtures(), fixture);
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "gen_seeds: skipping %s (missing)\n", path); return; }
    fz_buf b = { 0 };
    char tmp[65536];
    for (size_t r; b.n < max && (r = fread(tmp, 1, sizeof tmp, f)) > 0;) fz_put(&b, tmp, r);
    fclose(f);
    if (b.n > max) b.n = max;
    put_seed(harness, name, b.p, b.n);
    fz_free(&b);
}

/* ---- tiny GGUF models ------------------------------------------------------------------------ */

typedef struct gg_model {
    int dim, heads, kv_heads, ffn, vocab;
    uint32_t type;
    fz_buf store[16];
    int n_store;
    int garbage_gate;  /* ffn_gate as f32 with arbitrary bit patterns (NaN, inf, huge) */
} gg_model;

static void gg_tensor(l3_gguf_writer *w, gg_model *m, const char *name, uint32_t type, int rows, int cols,
                      float fill) {
    fz_buf *b = &m->store[m->n_store++];
    int n = rows ? rows * cols : cols;
    float *f = malloc((size_t)n * sizeof *f);
    for (int i = 0; i < n; i++) {
        uint32_t x = (uint32_t)(i + 1) * 2654435761u ^ (uint32_t)strlen(name) * 40503u;
        f[i] = fill != 0 ? fill : ((float)((x >> 8) % 1000) / 1000.0f - 0.5f) * 0.5f;
    }
    const l3_type_info *ti = l3_type_get(type);
    size_t nb = l3_row_bytes(type, cols) * (size_t)(rows ? rows : 1);
    uint8_t *q = malloc(nb);
    for (int r = 0; r < (rows ? rows : 1); r++)
        ti->from_float(f + (size_t)r * cols, q + (size_t)r * l3_row_bytes(type, cols), cols);
    fz_put(b, q, nb);
    free(q);
    free(f);
    int64_t ne[2] = { cols, rows ? rows : 1 };
    l3_gguf_w_tensor(w, name, type, rows ? 2 : 1, ne, b->p, b->n);
}

static void gg_weights(l3_gguf_writer *w, gg_model *m, int tied) {
    int hd = m->dim / m->heads, kv = m->kv_heads * hd;
    l3_gguf_w_str(w, "general.architecture", "llama");
    l3_gguf_w_str(w, "general.name", "fuzz-tiny");
    l3_gguf_w_u32(w, "llama.embedding_length", (uint32_t)m->dim);
    l3_gguf_w_u32(w, "llama.block_count", 1);
    l3_gguf_w_u32(w, "llama.attention.head_count", (uint32_t)m->heads);
    l3_gguf_w_u32(w, "llama.attention.head_count_kv", (uint32_t)m->kv_heads);
    l3_gguf_w_u32(w, "llama.feed_forward_length", (uint32_t)m->ffn);
    l3_gguf_w_u32(w, "llama.context_length", 64);
    l3_gguf_w_u32(w, "llama.rope.dimension_count", (uint32_t)hd);
    l3_gguf_w_u32(w, "llama.vocab_size", (uint32_t)m->vocab);
    l3_gguf_w_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    l3_gguf_w_f32(w, "llama.rope.freq_base", 500000.0f);
    gg_tensor(w, m, "token_embd.weight", m->type, m->vocab, m->dim, 0);
    gg_tensor(w, m, "output_norm.weight", L3_F32, 0, m->dim, 1);
    if (!tied) gg_tensor(w, m, "output.weight", m->type, m->vocab, m->dim, 0);
    gg_tensor(w, m, "blk.0.attn_norm.weight", L3_F32, 0, m->dim, 1);
    gg_tensor(w, m, "blk.0.attn_q.weight", m->type, m->dim, m->dim, 0);
    gg_tensor(w, m, "blk.0.attn_k.weight", m->type, kv, m->dim, 0);
    gg_tensor(w, m, "blk.0.attn_v.weight", m->type, kv, m->dim, 0);
    gg_tensor(w, m, "blk.0.attn_output.weight", m->type, m->dim, m->dim, 0);
    gg_tensor(w, m, "blk.0.ffn_norm.weight", L3_F32, 0, m->dim, 1);
    if (m->garbage_gate) {
        /* Small weights, except +inf in rows 0 and 4 of every 32: the activations that the next
         * matrix quantizes are then non-finite in exactly those lanes. */
        fz_buf *b = &m->store[m->n_store++];
        for (int r = 0; r < m->ffn; r++)
            for (int c = 0; c < m->dim; c++) {
                float v = (r % 32 == 0 || r % 32 == 4) && c == 0 ? INFINITY : 0.01f * (float)((r * 7 + c * 3) % 11 - 5);
                fz_put(b, &v, 4);
            }
        int64_t ne[2] = { m->dim, m->ffn };
        l3_gguf_w_tensor(w, "blk.0.ffn_gate.weight", L3_F32, 2, ne, b->p, b->n);
    } else {
        gg_tensor(w, m, "blk.0.ffn_gate.weight", m->type, m->ffn, m->dim, 0);
    }
    gg_tensor(w, m, "blk.0.ffn_down.weight", m->type, m->dim, m->ffn, 0);
    gg_tensor(w, m, "blk.0.ffn_up.weight", m->type, m->ffn, m->dim, 0);
}

static void gg_write(l3_gguf_writer *w, gg_model *m, const char *harness, const char *name) {
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/%s", g_out, harness);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    llama3_error err = { 0 };
    if (l3_gguf_write(w, path, &err) != 0) { fprintf(stderr, "gen_seeds: %s\n", err.msg); exit(1); }
    l3_gguf_writer_free(w);
    for (int i = 0; i < m->n_store; i++) fz_free(&m->store[i]);
    m->n_store = 0;
    g_count++;
}

/* SentencePiece ("llama") vocabulary of 32 pieces. */
static void gg_spm_vocab(l3_gguf_writer *w) {
    const char *tok[32] = { "<unk>", "<s>", "</s>", "<0x0A>", "\xe2\x96\x81", "\xe2\x96\x81" "a", "\xe2\x96\x81" "the" };
    char extra[32][8];
    float scores[32];
    int32_t types[32];
    for (int i = 7; i < 32; i++) {
        snprintf(extra[i], sizeof extra[i], "%c", 'a' + (i - 7));
        tok[i] = extra[i];
    }
    for (int i = 0; i < 32; i++) {
        scores[i] = -(float)i;
        types[i] = i == 0 ? 2 : i < 3 ? 3 : i == 3 ? 6 : 1;
    }
    size_t lens[32];
    for (int i = 0; i < 32; i++) lens[i] = strlen(tok[i]);
    l3_gguf_w_str(w, "tokenizer.ggml.model", "llama");
    l3_gguf_w_arr_str(w, "tokenizer.ggml.tokens", tok, lens, 32);
    l3_gguf_w_arr(w, "tokenizer.ggml.scores", GGUF_F32, scores, 32);
    l3_gguf_w_arr(w, "tokenizer.ggml.token_type", GGUF_I32, types, 32);
    l3_gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 1);
    l3_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 2);
    l3_gguf_w_bool(w, "tokenizer.ggml.add_space_prefix", true);
}

/* GPT-2 byte-to-text mapping (as in GGUF and tokenizer.json vocabularies), as UTF-8. */
static void gpt2_map_byte(int b, char *out) {
    int cp;
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) cp = b;
    else {
        int n = 0;
        for (int x = 0; x < b; x++)
            if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF))) n++;
        cp = 256 + n;
    }
    if (cp < 0x80) { out[0] = (char)cp; out[1] = 0; }
    else { out[0] = (char)(0xC0 | cp >> 6); out[1] = (char)(0x80 | (cp & 0x3F)); out[2] = 0; }
}

/* Byte-level BPE ("gpt2", Llama 3 pre-tokenizer): 256 bytes, 3 merges, 5 special tokens. */
enum { BPE_VOCAB = 264 };
static void gg_bpe_vocab(l3_gguf_writer *w) {
    static char bytes[256][4];
    const char *tok[BPE_VOCAB];
    int32_t types[BPE_VOCAB];
    for (int b = 0; b < 256; b++) {
        gpt2_map_byte(b, bytes[b]);
        tok[b] = bytes[b];
        types[b] = 1;
    }
    const char *more[] = { "he", "\xc4\xa0t", "\xc4\xa0the", "<|begin_of_text|>", "<|end_of_text|>",
                           "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>" };
    for (int i = 0; i < 8; i++) {
        tok[256 + i] = more[i];
        types[256 + i] = i < 3 ? 1 : 3;
    }
    size_t lens[BPE_VOCAB];
    for (int i = 0; i < BPE_VOCAB; i++) lens[i] = strlen(tok[i]);
    const char *merges[] = { "h e", "\xc4\xa0 t", "\xc4\xa0t he" };
    size_t mlens[3] = { 3, strlen(merges[1]), strlen(merges[2]) };
    l3_gguf_w_str(w, "tokenizer.ggml.model", "gpt2");
    l3_gguf_w_str(w, "tokenizer.ggml.pre", "llama-bpe");
    l3_gguf_w_arr_str(w, "tokenizer.ggml.tokens", tok, lens, BPE_VOCAB);
    l3_gguf_w_arr(w, "tokenizer.ggml.token_type", GGUF_I32, types, BPE_VOCAB);
    l3_gguf_w_arr_str(w, "tokenizer.ggml.merges", merges, mlens, 3);
    l3_gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 259);
    l3_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 260);
    l3_gguf_w_u32(w, "tokenizer.ggml.eot_token_id", 263);
    l3_gguf_w_str(w, "tokenizer.chat_template",
                  "{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
                  "{{ message['content'] | trim }}<|eot_id|>{% endfor %}");
}

static void gguf_seeds(void) {
    gg_model m = { .dim = 16, .heads = 2, .kv_heads = 1, .ffn = 64, .vocab = 32, .type = L3_F32 };
    l3_gguf_writer *w = l3_gguf_writer_new();
    gg_weights(w, &m, 0);
    gg_spm_vocab(w);
    gg_write(w, &m, "gguf", "tiny_spm_f32.gguf");

    m = (gg_model){ .dim = 16, .heads = 2, .kv_heads = 1, .ffn = 64, .vocab = 32, .type = L3_F16 };
    w = l3_gguf_writer_new();
    gg_weights(w, &m, 1);
    gg_spm_vocab(w);
    gg_write(w, &m, "gguf", "tiny_spm_f16_tied.gguf");

    m = (gg_model){ .dim = 32, .heads = 4, .kv_heads = 2, .ffn = 64, .vocab = BPE_VOCAB, .type = L3_Q8_0 };
    w = l3_gguf_writer_new();
    gg_weights(w, &m, 1);
    float freqs[4] = { 1, 1, 4, 8 };
    int64_t ne[1] = { 4 };
    l3_gguf_w_tensor(w, "rope_freqs.weight", L3_F32, 1, ne, freqs, sizeof freqs);
    gg_bpe_vocab(w);
    gg_write(w, &m, "gguf", "tiny_bpe_q8_0.gguf");

    m = (gg_model){ .dim = 32, .heads = 2, .kv_heads = 2, .ffn = 32, .vocab = 32, .type = L3_Q4_0 };
    w = l3_gguf_writer_new();
    gg_weights(w, &m, 0);
    gg_spm_vocab(w);
    gg_write(w, &m, "gguf", "tiny_spm_q4_0.gguf");

    /* dim 64: rows of two or more blocks, the quantized-activation (SIMD) paths of the kernels */
    m = (gg_model){ .dim = 64, .heads = 4, .kv_heads = 2, .ffn = 128, .vocab = 32, .type = L3_Q4_0 };
    w = l3_gguf_writer_new();
    gg_weights(w, &m, 1);
    gg_spm_vocab(w);
    gg_write(w, &m, "gguf", "tiny_spm_q4_0_d64.gguf");

    /* Weights that are not finite: an f32 ffn_gate with +inf entries in a q4_0
     * model, so the 8-bit activation quantizer meets non-finite values (a mutated tensor type
     * did that to a fixture: signed overflow in kernels/q8_simd.h). */
    m = (gg_model){ .dim = 64, .heads = 4, .kv_heads = 2, .ffn = 128, .vocab = 32, .type = L3_Q4_0, .garbage_gate = 1 };
    w = l3_gguf_writer_new();
    gg_weights(w, &m, 1);
    gg_spm_vocab(w);
    gg_write(w, &m, "gguf", "tiny_q4_0_nonfinite_ffn_gate.gguf");

    /* general.alignment 1: tensor data at any address (readers must not assume alignment). */
    m = (gg_model){ .dim = 16, .heads = 2, .kv_heads = 1, .ffn = 64, .vocab = 32, .type = L3_F32 };
    w = l3_gguf_writer_new();
    l3_gguf_w_u32(w, "general.alignment", 1);
    l3_gguf_w_str(w, "general.pad", "x");  /* makes the data section start at an odd offset */
    gg_weights(w, &m, 0);
    float freqs1[4] = { 1, 1, 4, 8 };
    int64_t ne1[1] = { 4 };
    l3_gguf_w_tensor(w, "rope_freqs.weight", L3_F32, 1, ne1, freqs1, sizeof freqs1);
    gg_spm_vocab(w);
    gg_write(w, &m, "gguf", "tiny_spm_f32_align1.gguf");

    /* The vocabulary alone (a tokenizer file for fuzz_tokenizer_file). */
    w = l3_gguf_writer_new();
    gg_bpe_vocab(w);
    gg_write(w, &m, "tokenizer_file", "vocab_bpe.gguf");
}

/* ---- the other formats --------------------------------------------------------------------- */

static const char SEP[4] = { 0x00, (char)0xff, 0x00, (char)0xff };

static void safetensors_seeds(void) {
    fz_buf b = { 0 };
    fz_tiny_safetensors(&b, -1);
    put_seed("safetensors", "tiny.safetensors", b.p, b.n);
    fz_free(&b);
    for (int s = 0; s < 2; s++) {
        fz_tiny_safetensors(&b, s);
        put_seed("safetensors", FZ_HF_SHARD_NAMES[s], b.p, b.n);
        fz_free(&b);
    }
    put_seed_str("safetensors", "tiny.index.json", FZ_HF_INDEX);
    put_seed_file("safetensors", "mqa31.index.json", "models/mqa31/hf/model.safetensors.index.json", 1 << 20);
    /* The real header of a fixture (its tensors then lie beyond the end: an error path). */
    put_seed_file("safetensors", "gqa_header_only.safetensors", "models/gqa/hf/model.safetensors", 16384);
}

static void json_seeds(void) {
    put_seed_str("json_config", "tiny_config.json", FZ_HF_CONFIG);
    put_seed_str("json_config", "tiny_params.json", FZ_META_PARAMS);
    fz_buf b = { 0 };
    fz_puts(&b, FZ_HF_CONFIG);
    fz_put(&b, SEP, 4);
    fz_puts(&b, "{\"bos_token_id\": 1, \"eos_token_id\": [2, 3]}");
    put_seed("json_config", "tiny_config_with_generation.json", b.p, b.n);
    fz_free(&b);
    const char *models[] = { "gqa", "mqa31", "tok32" };
    for (int i = 0; i < 3; i++) {
        char src[256], name[64];
        snprintf(src, sizeof src, "models/%s/hf/config.json", models[i]);
        snprintf(name, sizeof name, "%s_config.json", models[i]);
        put_seed_file("json_config", name, src, 1 << 16);
        snprintf(src, sizeof src, "models/%s/meta/params.json", models[i]);
        snprintf(name, sizeof name, "%s_params.json", models[i]);
        put_seed_file("json_config", name, src, 1 << 16);
    }
}

static void pth_seeds(void) {
    fz_buf b = { 0 };
    fz_tiny_pth(&b);
    put_seed("pth", "tiny.pth", b.p, b.n);
    fz_free(&b);
    fz_tiny_pickle(&b);
    put_seed("pth", "tiny.pkl", b.p, b.n);
    fz_free(&b);
}

static void tokenizer_seeds(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer/ggml-vocab-llama-bpe.gguf.inp", fz_fixtures());
    FILE *f = fopen(path, "rb");
    if (f) {
        fz_buf all = { 0 };
        char tmp[4096];
        for (size_t r; (r = fread(tmp, 1, sizeof tmp, f)) > 0;) fz_put(&all, tmp, r);
        fclose(f);
        fz_put_u8(&all, 0);
        const char *sep = "\n__ggml_vocab_test__\n";
        char *p = (char *)all.p;
        for (int i = 0; p && *p; i++) {
            char *e = strstr(p, sep);
            size_t n = e ? (size_t)(e - p) : strlen(p);
            fz_buf s = { 0 };
            fz_put_u8(&s, 0);  /* mode: encode */
            fz_put(&s, p, n);
            char name[32];
            snprintf(name, sizeof name, "ggml_vocab_%02d", i);
            put_seed("tokenizer", name, s.p, s.n);
            fz_free(&s);
            p = e ? e + strlen(sep) : NULL;
        }
        fz_free(&all);
    }
    /* decode mode: a few ids, including special and invalid ones */
    int32_t ids[] = { 128000, 9906, 1917, 128009, 15722, 236, 128255, 128256, -1 };
    fz_buf s = { 0 };
    fz_put_u8(&s, 1 | (8 << 1));
    fz_put(&s, ids, sizeof ids);
    put_seed("tokenizer", "decode_ids", s.p, s.n);
    fz_free(&s);

    const char chat1[] = "system\0You are a helpful assistant.\0user\0Hello <|eot_id|> there\0assistant\0Hi!";
    put_seed("chat", "dialog3", chat1, sizeof chat1 - 1);
    const char chat2[] = "ipython\0{\"x\": 1}\0<|start_header_id|>\0  spaced  \n";
    put_seed("chat", "odd_roles", chat2, sizeof chat2 - 1);

    fz_buf b = { 0 };
    snprintf(path, sizeof path, "%s/tokenizer/tokenizer.model", fz_fixtures());
    if (fz_reduce_tiktoken(path, 600, &b) == 0) put_seed("tokenizer_file", "tiktoken_600.model", b.p, b.n);
    fz_free(&b);
    snprintf(path, sizeof path, "%s/tokenizer/llama3-tokenizer.json", fz_fixtures());
    if (fz_reduce_tokenizer_json(path, 400, &b) == 0) {
        put_seed("tokenizer_file", "hf_400.json", b.p, b.n);
        char cfg[1024];
        snprintf(cfg, sizeof cfg, "%s/tokenizer/llama3-tokenizer_config.json", fz_fixtures());
        fz_buf c = { 0 };
        if (fz_reduce_tokenizer_config(cfg, &c) == 0) {
            fz_put(&b, SEP, 4);
            fz_put(&b, c.p, c.n);
            put_seed("tokenizer_file", "hf_400_with_config.json", b.p, b.n);
        }
        fz_free(&c);
    }
    fz_free(&b);
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: gen_seeds OUT_DIR [FIXTURES_DIR]\n");
        return 2;
    }
    if (argc == 3) setenv("LLAMA3_FIXTURES", argv[2], 1);
    g_out = argv[1];
    if (mkdir(g_out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "gen_seeds: cannot create %s: %s\n", g_out, strerror(errno));
        return 1;
    }
    static const char *const harnesses[] = { "gguf", "safetensors", "json_config", "pth", "tokenizer", "chat",
                                             "tokenizer_file", "http" };
    for (size_t i = 0; i < sizeof harnesses / sizeof harnesses[0]; i++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", g_out, harnesses[i]);
        mkdir(dir, 0755);
    }
    gguf_seeds();
    safetensors_seeds();
    json_seeds();
    pth_seeds();
    tokenizer_seeds();
    printf("gen_seeds: %d seeds in %s\n", g_count, g_out);
    return 0;
}
