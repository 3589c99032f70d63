/* Reading the fixtures: safetensors goldens, the zip/pickle reader, HF and Meta folders.
 * Values are cross-checked against the same weights in the GGUF bf16 file. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "formats/torch_pth.h"
#include "loader.h"
#include "test_formats.h"

static int same_bytes(const void *a, const void *b, size_t n) { return memcmp(a, b, n) == 0; }

static int st_golden(void) {
    llama3_error err = {0};
    l3_safetensors *st;
    int rc = l3_st_open(fmt_fixture("models/gqa/golden-bf16.safetensors"), &st, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    CHECK(rc == 0);
    const l3_st_tensor *tok = l3_st_find(st, "tokens"), *logits = l3_st_find(st, "logits");
    CHECK(tok && logits && !l3_st_find(st, "nope"));
    CHECK(strcmp(tok->dtype, "I32") == 0 && tok->l3type == -1 && tok->n_dims == 1 && tok->shape[0] == 80);
    CHECK(strcmp(logits->dtype, "F32") == 0 && logits->l3type == 0 && logits->n_dims == 2);
    CHECK(logits->shape[0] == 80 && logits->shape[1] == 512 && logits->nbytes == 80 * 512 * 4);
    CHECK(l3_st_numel(logits) == 80 * 512);
    CHECK(l3_st_meta(st, "prompt_len") && strcmp(l3_st_meta(st, "prompt_len"), "40") == 0);
    CHECK(l3_st_meta(st, "gen_len") && !l3_st_meta(st, "missing"));
    for (int i = 0; i < 80; i++) {
        int32_t id;
        memcpy(&id, (const uint8_t *)tok->data + 4 * i, 4);
        CHECK(id >= 0 && id < 512);
    }
    float x;
    memcpy(&x, logits->data, 4);
    CHECK(isfinite(x));
    l3_st_close(st);
    return 0;
}

/* A weight of the GGUF bf16 fixture. */
static const l3_gguf_tensor *gguf_tensor(const l3_gguf *g, const char *name) {
    const l3_gguf_tensor *t = l3_gguf_find_tensor(g, name);
    if (!t) fprintf(stderr, "gguf tensor %s missing\n", name);
    return t;
}

/* transformers' permutation of q/k rows: within each head, HF row j < hd/2 holds Meta's row
 * 2j and HF row hd/2 + j holds Meta's row 2j + 1. */
static int check_rotate_half_rows(const uint8_t *hf, const uint8_t *meta, int64_t rows, int64_t cols, int hd) {
    size_t rb = (size_t)cols * 2;
    for (int64_t r = 0; r < rows; r++) {
        int64_t head = r / hd, j = r % hd;
        int64_t meta_row = head * hd + (j < hd / 2 ? 2 * j : 2 * (j - hd / 2) + 1);
        if (!same_bytes(hf + r * rb, meta + meta_row * rb, rb)) {
            fprintf(stderr, "row %lld does not match Meta row %lld\n", (long long)r, (long long)meta_row);
            return 1;
        }
    }
    return 0;
}

static int st_hf_matches_gguf(void) {
    llama3_error err = {0};
    l3_safetensors *st;
    l3_gguf *g;
    CHECK(l3_st_open(fmt_fixture("models/gqa/hf/model.safetensors"), &st, &err) == 0);
    CHECK(l3_gguf_open(fmt_fixture("models/gqa/gguf/model-bf16.gguf"), &g, &err) == 0);
    const l3_st_tensor *down = l3_st_find(st, "model.layers.0.mlp.down_proj.weight");
    const l3_gguf_tensor *gdown = gguf_tensor(g, "blk.0.ffn_down.weight");
    CHECK(down && gdown && strcmp(down->dtype, "BF16") == 0 && down->l3type == 30);
    CHECK(down->n_dims == 2 && down->shape[0] == 256 && down->shape[1] == 896);
    CHECK(down->nbytes == gdown->nbytes && same_bytes(down->data, gdown->data, down->nbytes));
    uint16_t h;
    memcpy(&h, down->data, 2);
    printf("down_proj[0][0] = %g (bf16 0x%04x)\n", l3_bf16_to_f32(h), h);
    const l3_st_tensor *emb = l3_st_find(st, "model.embed_tokens.weight");
    const l3_gguf_tensor *gemb = gguf_tensor(g, "token_embd.weight");
    CHECK(emb && gemb && same_bytes(emb->data, gemb->data, emb->nbytes));
    /* q_proj / k_proj rows are HF's rotate-half permutation of Meta's (= GGUF's) rows. */
    const l3_st_tensor *q = l3_st_find(st, "model.layers.1.self_attn.q_proj.weight");
    const l3_st_tensor *k = l3_st_find(st, "model.layers.1.self_attn.k_proj.weight");
    const l3_gguf_tensor *gq = gguf_tensor(g, "blk.1.attn_q.weight"), *gk = gguf_tensor(g, "blk.1.attn_k.weight");
    CHECK(q && k && gq && gk && !same_bytes(q->data, gq->data, q->nbytes));
    CHECK(check_rotate_half_rows(q->data, gq->data, 256, 256, 64) == 0);
    CHECK(check_rotate_half_rows(k->data, gk->data, 128, 256, 64) == 0);
    l3_gguf_close(g);
    l3_st_close(st);
    return 0;
}

static int pth_matches_gguf(void) {
    llama3_error err = {0};
    l3_pth *p;
    l3_gguf *g;
    int rc = l3_pth_open(fmt_fixture("models/gqa/meta/consolidated.00.pth"), &p, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    CHECK(rc == 0);
    CHECK(l3_gguf_open(fmt_fixture("models/gqa/gguf/model-bf16.gguf"), &g, &err) == 0);
    CHECK(p->n_tensors == 3 + 9 * 3);
    const char *pairs[][2] = {
        {"tok_embeddings.weight", "token_embd.weight"}, {"norm.weight", "output_norm.weight"},
        {"output.weight", "output.weight"}, {"layers.0.attention.wq.weight", "blk.0.attn_q.weight"},
        {"layers.2.attention.wk.weight", "blk.2.attn_k.weight"}, {"layers.1.attention.wo.weight", "blk.1.attn_output.weight"},
        {"layers.1.feed_forward.w1.weight", "blk.1.ffn_gate.weight"}, {"layers.1.feed_forward.w2.weight", "blk.1.ffn_down.weight"},
        {"layers.2.attention_norm.weight", "blk.2.attn_norm.weight"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        const l3_pth_tensor *t = l3_pth_find(p, pairs[i][0]);
        const l3_gguf_tensor *gt = gguf_tensor(g, pairs[i][1]);
        CHECK(t && gt && t->l3type == 30 && t->elem_size == 2);
        if (gt->type == 30) {
            CHECK(t->nbytes == gt->nbytes && same_bytes(t->data, gt->data, t->nbytes));
        } else {  /* GGUF keeps norms in f32: compare values */
            CHECK(gt->type == 0 && gt->nbytes == 2 * t->nbytes);
            for (int64_t j = 0; j < (int64_t)(t->nbytes / 2); j++) {
                uint16_t h; float f;
                memcpy(&h, (const uint8_t *)t->data + 2 * j, 2);
                memcpy(&f, (const uint8_t *)gt->data + 4 * j, 4);
                CHECK(l3_bf16_to_f32(h) == f);
            }
        }
    }
    const l3_pth_tensor *wq = l3_pth_find(p, "layers.0.attention.wq.weight");
    CHECK(wq->n_dims == 2 && wq->shape[0] == 256 && wq->shape[1] == 256);
    const l3_pth_tensor *w2 = l3_pth_find(p, "layers.0.feed_forward.w2.weight");
    CHECK(w2->shape[0] == 256 && w2->shape[1] == 896);
    l3_gguf_close(g);
    l3_pth_close(p);
    return 0;
}

static int load(int (*fn)(const char *, const llama3_load_options *, l3_weights *, llama3_error *),
                const char *rel, l3_weights *w) {
    llama3_error err = {0};
    memset(w, 0, sizeof *w);
    int rc = fn(fmt_fixture(rel), NULL, w, &err);
    if (rc == 0) rc = l3_weights_validate(w, &err);
    if (rc) fprintf(stderr, "%s: %s\n", rel, err.msg);
    return rc;
}

static int hf_gqa(void) {
    l3_weights w;
    CHECK(load(l3_load_hf, "models/gqa/hf", &w) == 0);
    const llama3_args *a = &w.args;
    CHECK(a->dim == 256 && a->n_layers == 3 && a->n_heads == 4 && a->n_kv_heads == 2);
    CHECK(a->hidden_dim == 896 && a->vocab_size == 512 && a->head_dim == 64 && a->max_seq_len == 2048);
    CHECK(a->rope_theta == 500000.0f && a->norm_eps == 1e-5f && !a->use_scaled_rope);
    CHECK(w.rope_layout == L3_ROPE_HALF && strcmp(w.format, "hf") == 0 && !w.tied_output);
    CHECK(w.bos_id == 0 && w.eos_id == 1 && w.vocab.kind == L3_VOCAB_NONE);
    CHECK(w.layers[2].w2.rows == 256 && w.layers[2].w2.cols == 896 && w.layers[2].w2.type == 30);
    CHECK(w.norm.rows == 1 && w.norm.cols == 256);
    l3_weights_free(&w);
    return 0;
}

static int hf_mqa31_sharded(void) {
    l3_weights w;
    CHECK(load(l3_load_hf, "models/mqa31/hf", &w) == 0);
    const llama3_args *a = &w.args;
    CHECK(a->n_heads == 2 && a->n_kv_heads == 1 && a->head_dim == 128 && a->hidden_dim == 704);
    CHECK(a->use_scaled_rope && a->rope_scale_factor == 8 && a->rope_low_freq_factor == 1);
    CHECK(a->rope_high_freq_factor == 4 && a->rope_original_ctx == 8192 && a->max_seq_len == 131072);
    CHECK(w.n_maps == 2);
    l3_weights_free(&w);
    return 0;
}

static int hf_tok32_tied(void) {
    l3_weights w;
    CHECK(load(l3_load_hf, "models/tok32/hf", &w) == 0);
    CHECK(w.tied_output && w.output.data == w.tok_embeddings.data && w.args.vocab_size == 128256);
    CHECK(w.vocab.kind == L3_VOCAB_FILE && strstr(w.vocab.path, "tokenizer.json"));
    CHECK(w.vocab.config_path && strstr(w.vocab.config_path, "tokenizer_config.json"));
    CHECK(w.bos_id == 128000 && w.eos_id == 128009);
    l3_weights_free(&w);
    return 0;
}

static int meta_gqa_matches_hf(void) {
    l3_weights m, h;
    CHECK(load(l3_load_meta, "models/gqa/meta", &m) == 0);
    CHECK(load(l3_load_hf, "models/gqa/hf", &h) == 0);
    CHECK(m.rope_layout == L3_ROPE_INTERLEAVED && strcmp(m.format, "meta") == 0);
    CHECK(m.args.hidden_dim == 896 && m.args.multiple_of == 32 && fabsf(m.args.ffn_dim_multiplier - 1.3f) < 1e-6f);
    CHECK(!m.args.use_scaled_rope && m.vocab.kind == L3_VOCAB_NONE && m.n_maps == 1 && m.n_owned == 0);
    CHECK(m.args.dim == h.args.dim && m.args.n_kv_heads == h.args.n_kv_heads);
    CHECK(same_bytes(m.tok_embeddings.data, h.tok_embeddings.data, m.tok_embeddings.nbytes));
    CHECK(same_bytes(m.output.data, h.output.data, m.output.nbytes));
    for (int l = 0; l < 3; l++) {
        const l3_layer_weights *a = &m.layers[l], *b = &h.layers[l];
        CHECK(same_bytes(a->w1.data, b->w1.data, a->w1.nbytes) && same_bytes(a->w2.data, b->w2.data, a->w2.nbytes));
        CHECK(same_bytes(a->w3.data, b->w3.data, a->w3.nbytes) && same_bytes(a->wo.data, b->wo.data, a->wo.nbytes));
        CHECK(same_bytes(a->wv.data, b->wv.data, a->wv.nbytes));
        CHECK(same_bytes(a->ffn_norm.data, b->ffn_norm.data, a->ffn_norm.nbytes));
        CHECK(check_rotate_half_rows(b->wq.data, a->wq.data, 256, 256, 64) == 0);
        CHECK(check_rotate_half_rows(b->wk.data, a->wk.data, 128, 256, 64) == 0);
    }
    l3_weights_free(&m);
    l3_weights_free(&h);
    return 0;
}

static int meta_mqa31_scaled(void) {
    l3_weights w;
    CHECK(load(l3_load_meta, "models/mqa31/meta", &w) == 0);
    const llama3_args *a = &w.args;
    CHECK(a->hidden_dim == 704 && a->n_kv_heads == 1 && a->head_dim == 128);
    CHECK(a->use_scaled_rope && a->rope_scale_factor == 8 && a->rope_low_freq_factor == 1);
    CHECK(a->rope_high_freq_factor == 4 && a->rope_original_ctx == 8192);
    l3_weights_free(&w);
    return 0;
}

/* Two model-parallel shards merge into exactly the single-shard model. */
static int meta2_merge(void) {
    l3_weights one, two;
    CHECK(load(l3_load_meta, "models/gqa/meta", &one) == 0);
    CHECK(load(l3_load_meta, "models/gqa/meta2", &two) == 0);
    CHECK(two.n_maps == 2 && two.n_owned > 0);
    const l3_tensor *a[] = {&one.tok_embeddings, &one.norm, &one.output};
    const l3_tensor *b[] = {&two.tok_embeddings, &two.norm, &two.output};
    for (int i = 0; i < 3; i++)
        CHECK(a[i]->nbytes == b[i]->nbytes && same_bytes(a[i]->data, b[i]->data, a[i]->nbytes));
    for (int l = 0; l < 3; l++) {
        const l3_layer_weights *p = &one.layers[l], *q = &two.layers[l];
        const l3_tensor *x[] = {&p->attention_norm, &p->wq, &p->wk, &p->wv, &p->wo, &p->ffn_norm, &p->w1, &p->w2, &p->w3};
        const l3_tensor *y[] = {&q->attention_norm, &q->wq, &q->wk, &q->wv, &q->wo, &q->ffn_norm, &q->w1, &q->w2, &q->w3};
        for (int i = 0; i < 9; i++)
            CHECK(x[i]->rows == y[i]->rows && x[i]->cols == y[i]->cols && x[i]->type == y[i]->type &&
                  x[i]->nbytes == y[i]->nbytes && same_bytes(x[i]->data, y[i]->data, x[i]->nbytes));
    }
    l3_weights_free(&one);
    l3_weights_free(&two);
    return 0;
}

/* The lead's detector sends each folder to the right reader. */
static int loader_detects_folders(void) {
    const char *dirs[] = {"models/gqa/hf", "models/gqa/meta", "models/gqa/meta2", "models/mqa31/hf",
                          "models/mqa31/meta", "models/tok32/hf"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        llama3_error err = {0};
        l3_weights w;
        int rc = l3_load_weights(fmt_fixture(dirs[i]), NULL, &w, &err);
        if (rc) fprintf(stderr, "%s: %s\n", dirs[i], err.msg);
        CHECK(rc == 0);
        CHECK(strcmp(w.format, strstr(dirs[i], "/hf") ? "hf" : "meta") == 0);
        l3_weights_free(&w);
    }
    return 0;
}

const fmt_case FMT_GOOD_CASES[] = {
    {"st_golden", st_golden},
    {"st_hf_matches_gguf", st_hf_matches_gguf},
    {"pth_matches_gguf", pth_matches_gguf},
    {"hf_gqa", hf_gqa},
    {"hf_mqa31_sharded", hf_mqa31_sharded},
    {"hf_tok32_tied", hf_tok32_tied},
    {"meta_gqa_matches_hf", meta_gqa_matches_hf},
    {"meta_mqa31_scaled", meta_mqa31_scaled},
    {"meta2_merge", meta2_merge},
    {"loader_detects_folders", loader_detects_folders},
    {NULL, NULL},
};
