/* Any loadable model -> GGUF v3 with llama.cpp's names and layout for a Llama 3 model.
 *
 * Keys are written in the order of the reference files (general.*, llama.*, file type,
 * tokenizer.*); tensors in Meta's state_dict order: token_embd, rope_freqs (Llama 3.1 scaling),
 * per block attn_q/k/v/output, ffn_gate/down/up, attn_norm, ffn_norm, then output_norm and
 * output (absent when the embeddings are tied). Hugging Face q/k rows are permuted back to
 * Meta's interleaved RoPE order, as convert_hf_to_gguf.py does. 1-D tensors are f32; matrices
 * get the type quant_plan.h picks. The output is built in memory and written at once. */
#include "convert/convert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "convert/matrix_encode.h"
#include "convert/quant_plan.h"
#include "loader.h"

typedef struct conv {
    l3_gguf_writer *w;
    l3_bufs bufs;
    const l3_qplan *plan;
    bool verbose;
    int n_written;
    llama3_progress_fn progress;  /* bytes of source tensors encoded, of total */
    void *progress_data;
    uint64_t done, total;
} conv;

static void advance(conv *c, const char *name, size_t nbytes) {
    c->done += nbytes;
    if (c->progress) c->progress(c->progress_data, name, c->done, c->total);
}

static int put_vector(conv *c, const char *name, const l3_tensor *t, llama3_error *err) {
    size_t nbytes;
    const void *data = t->data;
    if (t->type == L3_F32) nbytes = (size_t)t->cols * 4;
    else if (!(data = l3_encode_matrix(&c->bufs, t->data, t->type, 1, t->cols, L3_F32, 0, &nbytes, name, err)))
        return err ? err->code : LLAMA3_ERR_FORMAT;
    int64_t ne[1] = { t->cols };
    l3_gguf_w_tensor(c->w, name, L3_F32, 1, ne, data, nbytes);
    if (c->verbose) fprintf(stderr, "  %-28s f32  [%lld]\n", name, (long long)t->cols);
    c->n_written++;
    advance(c, name, t->nbytes);
    return 0;
}

/* heads > 0: a Hugging Face q/k matrix to permute back. */
static int put_matrix(conv *c, const char *name, const l3_tensor *t, int heads, llama3_error *err) {
    uint32_t type = l3_qplan_type(c->plan, name, t->cols);
    const void *data = t->data;
    size_t nbytes = t->nbytes;
    if (type != t->type || heads > 0) {
        data = l3_encode_matrix(&c->bufs, t->data, t->type, t->rows, t->cols, type, heads, &nbytes, name, err);
        if (!data) return err ? err->code : LLAMA3_ERR_FORMAT;
    } else {
        nbytes = l3_row_bytes(type, t->cols) * (size_t)t->rows;  /* the view may be longer */
    }
    int64_t ne[2] = { t->cols, t->rows };
    l3_gguf_w_tensor(c->w, name, type, 2, ne, data, nbytes);
    if (c->verbose)
        fprintf(stderr, "  %-28s %-4s [%lld x %lld]%s\n", name, l3_type_name(type), (long long)t->rows,
                (long long)t->cols, heads > 0 ? " (rows permuted to Meta's order)" : "");
    c->n_written++;
    advance(c, name, t->nbytes);
    return 0;
}

/* A tensor of the table under its GGUF name; HF q/k rows go back to Meta's order. */
static int put_table(conv *c, const l3_weights *wt, l3_tensor_id id, int l, llama3_error *err) {
    const l3_tensor_desc *d = l3_tensor_table(id);
    const llama3_args *a = &wt->args;
    char name[64];
    l3_tensor_name(id, L3_FMT_GGUF, l, name, sizeof name);
    const l3_tensor *t = l3_weights_get(wt, id, l);
    if (l3_tensor_is_vector(id)) return put_vector(c, name, t, err);
    int permuted = wt->rope_layout == L3_ROPE_HALF && d->hf_permuted != L3_SIZE_ONE;
    return put_matrix(c, name, t, permuted ? (int)(l3_size_of(d->hf_permuted, a) / a->head_dim) : 0, err);
}

/* What put_tensors will encode, in source bytes (the progress total). */
static uint64_t source_bytes(const l3_weights *wt) {
    const llama3_args *a = &wt->args;
    uint64_t n = l3_weights_get(wt, L3_TOK_EMBEDDINGS, 0)->nbytes + l3_weights_get(wt, L3_NORM, 0)->nbytes;
    if (!wt->tied_output) n += l3_weights_get(wt, L3_OUTPUT, 0)->nbytes;
    if (a->use_scaled_rope) n += (uint64_t)(a->head_dim / 2) * 4;
    for (int l = 0; l < a->n_layers; l++)
        for (int id = L3_FIRST_LAYER_TENSOR; id < L3_TENSOR_COUNT; id++) n += l3_weights_get(wt, id, l)->nbytes;
    return n;
}

static int put_tensors(conv *c, const l3_weights *wt, llama3_error *err) {
    const llama3_args *a = &wt->args;
    int rc;
    if ((rc = put_table(c, wt, L3_TOK_EMBEDDINGS, 0, err))) return rc;
    if (a->use_scaled_rope) {
        int half = a->head_dim / 2;
        float *f = l3_bufs_alloc(&c->bufs, (size_t)half * sizeof *f);
        if (!f) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
        if (wt->rope_freq_factors) memcpy(f, wt->rope_freq_factors, (size_t)half * sizeof *f);
        else l3_rope_factors(a, f);
        l3_tensor t = { .type = L3_F32, .rows = 1, .cols = half, .data = f, .nbytes = (size_t)half * 4 };
        if ((rc = put_vector(c, "rope_freqs.weight", &t, err))) return rc;
    }
    /* each block's matrices, then its norms (llama.cpp's order) */
    for (int l = 0; l < a->n_layers; l++)
        for (int vectors = 0; vectors < 2; vectors++)
            for (int id = L3_FIRST_LAYER_TENSOR; id < L3_TENSOR_COUNT; id++)
                if (l3_tensor_is_vector(id) == vectors && (rc = put_table(c, wt, id, l, err))) return rc;
    if ((rc = put_table(c, wt, L3_NORM, 0, err))) return rc;
    if (!wt->tied_output && (rc = put_table(c, wt, L3_OUTPUT, 0, err))) return rc;
    return 0;
}

/* general.name: the option, else the source GGUF's, else IN's last path component. */
static char *model_name(const char *in, const l3_weights *wt, const char *opt) {
    if (opt) return strdup(opt);
    char *s = NULL;
    if (wt->vocab.kind == L3_VOCAB_GGUF && l3_gguf_get_str(wt->vocab.gguf, "general.name", false, &s, NULL) == 0 && s)
        return s;
    size_t n = strlen(in);
    while (n > 1 && in[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && in[b - 1] != '/') b--;
    size_t len = n - b;
    if (len > 5 && !strncmp(in + n - 5, ".gguf", 5)) len -= 5;
    s = malloc(len + 1);
    if (s) {
        memcpy(s, in + b, len);
        s[len] = 0;
    }
    return s;
}

void l3_gguf_w_llama_hparams(l3_gguf_writer *w, const llama3_args *a, uint32_t file_type) {
    l3_gguf_w_u32(w, "llama.context_length", (uint32_t)a->max_seq_len);
    l3_gguf_w_u32(w, "llama.embedding_length", (uint32_t)a->dim);
    l3_gguf_w_u32(w, "llama.block_count", (uint32_t)a->n_layers);
    l3_gguf_w_u32(w, "llama.feed_forward_length", (uint32_t)a->hidden_dim);
    l3_gguf_w_u32(w, "llama.attention.head_count", (uint32_t)a->n_heads);
    l3_gguf_w_u32(w, "llama.attention.head_count_kv", (uint32_t)a->n_kv_heads);
    l3_gguf_w_f32(w, "llama.rope.freq_base", a->rope_theta);
    l3_gguf_w_f32(w, "llama.attention.layer_norm_rms_epsilon", a->norm_eps);
    l3_gguf_w_u32(w, "llama.vocab_size", (uint32_t)a->vocab_size);
    l3_gguf_w_u32(w, "llama.rope.dimension_count", (uint32_t)a->head_dim);
    l3_gguf_w_u32(w, "general.file_type", file_type);
}

int llama3_convert(const char *in, const char *out, const llama3_convert_options *o, llama3_error *err) {
    l3_qplan plan;
    if (l3_qplan_parse(o->type ? o->type : "bf16", &plan)) {
        char names[512];
        l3_qplan_names(names, sizeof names);
        return l3_fail(err, LLAMA3_ERR_ARG, "unknown output type '%s' (expected one of: %s)", o->type, names);
    }
    l3_weights wt;
    int rc = l3_gguf_check_writable(out, err);
    if (rc || (rc = l3_load_weights(in, NULL, &wt, err))) return rc;
    const llama3_args *a = &wt.args;
    plan.n_layers = a->n_layers;
    plan.has_output = !wt.tied_output;
    conv c = { .w = l3_gguf_writer_new(), .plan = &plan, .verbose = o->verbose, .progress = o->progress,
               .progress_data = o->progress_data, .total = source_bytes(&wt) };
    char *name = model_name(in, &wt, o->name);
    if (!c.w || !name) {
        rc = l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
        goto done;
    }
    l3_gguf_writer *w = c.w;
    l3_gguf_w_str(w, "general.architecture", "llama");
    l3_gguf_w_str(w, "general.name", name);
    l3_gguf_w_llama_hparams(w, a, plan.ftype);
    if ((rc = l3_vocab_export(w, &wt, o->vocab_path, a->vocab_size, err))) goto done;
    if (o->verbose) fprintf(stderr, "llama3 convert: %s (%s) -> %s as %s\n", in, wt.format, out, o->type);
    if ((rc = put_tensors(&c, &wt, err))) goto done;
    rc = l3_gguf_write(w, out, err);
done:
    free(name);
    l3_gguf_writer_free(c.w);
    l3_bufs_free(&c.bufs);
    l3_weights_free(&wt);
    return rc;
}
