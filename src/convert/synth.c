/* llama3_synth (llama3_tools.h): a random-weight model of a real Llama 3 shape as a GGUF file,
 * for benchmarks (llama3c and llama.cpp load the same file). Weights ~ N(0, 0.02) from the
 * seed, each row from its own stream so the thread count does not change them; RMSNorm weights
 * 1; types as `llama3 quantize` picks them (quant_plan.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "convert/convert.h"
#include "convert/quant_plan.h"
#include "formats/gguf.h"
#include "llama3_tools.h"
#include "tensor_types.h"
#include "model/tensors.h"
#include "threads.h"
#include "util.h"

typedef struct synth_shape {
    const char *name, *title;
    int dim, n_layers, n_heads, n_kv_heads, ffn, vocab, ctx;
    float rope_scale;  /* 0 = no Llama 3.1 scaling */
    int tied;
} synth_shape;

static const synth_shape SHAPES[] = {
    { "llama3.2-1b", "Llama 3.2 1B", 2048, 16, 32, 8, 8192, 128256, 131072, 32.0f, 1 },
    { "llama3.2-3b", "Llama 3.2 3B", 3072, 28, 24, 8, 8192, 128256, 131072, 32.0f, 1 },
    { "llama3-8b", "Llama 3 8B", 4096, 32, 32, 8, 14336, 128256, 8192, 0.0f, 0 },
    { "tiny", "tiny", 256, 2, 4, 2, 512, 128256, 131072, 32.0f, 1 },
};

/* ---- random numbers: splitmix64 per row, Box-Muller --------------------------------------- */

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Row r of tensor `tid`: its own stream, so any thread can make any row. */
static void gaussian_row(uint64_t seed, uint64_t tid, uint64_t row, float sigma, float *out, int64_t n) {
    uint64_t s = seed * 0xD1B54A32D192ED03ull ^ (tid + 1) * 0x8CB92BA72F3D8DD7ull ^ (row + 1) * 0x9E3779B97F4A7C15ull;
    splitmix64(&s);
    const float two_pi = 6.283185307179586f;
    for (int64_t i = 0; i < n; i += 2) {
        uint64_t a = splitmix64(&s), b = splitmix64(&s);
        float u1 = ((float)(a >> 40) + 1.0f) * (1.0f / 16777216.0f);  /* (0, 1] */
        float u2 = (float)(b >> 40) * (1.0f / 16777216.0f);
        float r = sigma * sqrtf(-2.0f * logf(u1));
        out[i] = r * cosf(two_pi * u2);
        if (i + 1 < n) out[i + 1] = r * sinf(two_pi * u2);
    }
}

/* ---- quantizing in parallel --------------------------------------------------------------- */

typedef struct fill_job {
    uint64_t seed, tid;
    int64_t cols;
    const l3_type_info *ti;
    size_t row_bytes;
    uint8_t *dst;
    float **row_buf;
} fill_job;

static void fill_rows(void *ctx, int64_t r0, int64_t r1, int thread) {
    const fill_job *j = ctx;
    float *buf = j->row_buf[thread];
    for (int64_t r = r0; r < r1; r++) {
        gaussian_row(j->seed, j->tid, (uint64_t)r, 0.02f, buf, j->cols);
        j->ti->from_float(buf, j->dst + (size_t)r * j->row_bytes, j->cols);
    }
}

/* The shape as ModelArgs (model.py's defaults where a shape says nothing): for the keys and
 * rope_freqs.weight, which convert writes the same way. */
static void shape_args(const synth_shape *s, llama3_args *a) {
    l3_args_defaults(a);
    a->dim = s->dim;
    a->n_layers = s->n_layers;
    a->n_heads = s->n_heads;
    a->n_kv_heads = s->n_kv_heads;
    a->head_dim = s->dim / s->n_heads;
    a->hidden_dim = s->ffn;
    a->vocab_size = s->vocab;
    a->max_seq_len = s->ctx;
    a->rope_theta = 500000.0f;
    a->norm_eps = 1e-5f;
    a->use_scaled_rope = s->rope_scale > 0;
    a->rope_scale_factor = s->rope_scale;
}

/* Placeholder vocabulary: GPT-2 byte tokens, '[N]' fillers, Llama 3.1 special tokens. */
static int placeholder_vocab(l3_gguf_writer *w, int n_vocab) {
    char **toks = calloc((size_t)n_vocab, sizeof *toks);
    int32_t *types = malloc((size_t)n_vocab * sizeof *types);
    if (!toks || !types) { free(toks); free(types); return -1; }
    int rc = 0;
    /* GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100.. */
    int next = 256;
    for (int b = 0; b < 256; b++) {
        int cp;
        if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) cp = b;
        else cp = next++;
        char u[4] = { 0 };
        if (cp < 0x80) u[0] = (char)cp;
        else { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); }
        /* Llama 3's order puts the byte tokens at their rank: here simply id = byte. */
        toks[b] = strdup(u);
        types[b] = 1;
    }
    static const char *named[] = { "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                                   "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>",
                                   "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
                                   "<|eom_id|>", "<|eot_id|>", "<|python_tag|>" };
    for (int i = 256; i < n_vocab; i++) {
        char buf[64];
        if (i >= 128000 && i - 128000 < (int)(sizeof named / sizeof named[0])) snprintf(buf, sizeof buf, "%s", named[i - 128000]);
        else if (i >= 128000) snprintf(buf, sizeof buf, "<|reserved_special_token_%d|>", i - 128000 - 8);
        else snprintf(buf, sizeof buf, "[%d]", i);
        toks[i] = strdup(buf);
        types[i] = i >= 128000 ? 3 : 1;  /* 3 = control */
    }
    for (int i = 0; i < n_vocab; i++)
        if (!toks[i]) rc = -1;
    if (!rc) {
        l3_gguf_w_str(w, "tokenizer.ggml.model", "gpt2");
        l3_gguf_w_str(w, "tokenizer.ggml.pre", "llama-bpe");
        l3_gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks, NULL, (uint64_t)n_vocab);
        l3_gguf_w_arr(w, "tokenizer.ggml.token_type", GGUF_I32, types, (uint64_t)n_vocab);
        l3_gguf_w_arr_str(w, "tokenizer.ggml.merges", NULL, NULL, 0);
        l3_gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 128000);
        l3_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 128009);
    }
    for (int i = 0; i < n_vocab; i++) free(toks[i]);
    free(toks);
    free(types);
    return rc;
}

/* ---- the model ---------------------------------------------------------------------------- */

typedef struct synth_tensor {
    char name[64];
    int type;
    int64_t ne[2];
    int n_dims;
    void *data;
    size_t nbytes;
} synth_tensor;

/* A tensor of the table under its GGUF name, shaped by the args. */
static void add_table(synth_tensor *t, l3_tensor_id id, int layer, const llama3_args *a) {
    const l3_tensor_desc *d = l3_tensor_table(id);
    l3_tensor_name(id, L3_FMT_GGUF, layer, t->name, sizeof t->name);
    t->ne[0] = l3_size_of(d->cols, a);
    t->ne[1] = l3_size_of(d->rows, a);
    t->n_dims = d->rows == L3_SIZE_ONE ? 1 : 2;
}

/* "6 f32, 12 q4_K, 3 q6_K": tensors per type, in type order. */
static void type_counts(const synth_tensor *ts, int n_t, char *buf, size_t cap) {
    int counts[L3_TYPE_COUNT] = { 0 };
    for (int i = 0; i < n_t; i++) counts[ts[i].type]++;
    size_t len = 0;
    buf[0] = 0;
    for (int k = 0; k < L3_TYPE_COUNT; k++)
        if (counts[k] && len < cap)
            len += (size_t)snprintf(buf + len, cap - len, "%s%d %s", len ? ", " : "", counts[k],
                                    l3_type_name((uint32_t)k));
}

int llama3_synth(const llama3_synth_options *o, llama3_synth_report *rep, llama3_error *err) {
    const char *type_arg = o->type, *vocab_path = o->vocab_path;
    const uint64_t seed = o->seed;
    const synth_shape *sh = NULL;
    for (size_t i = 0; o->shape && i < sizeof SHAPES / sizeof SHAPES[0]; i++)
        if (!strcmp(SHAPES[i].name, o->shape)) sh = &SHAPES[i];
    if (!sh)
        return l3_fail(err, LLAMA3_ERR_ARG, "unknown shape '%s' (expected llama3.2-1b, llama3.2-3b, llama3-8b or tiny)",
                       o->shape ? o->shape : "");

    l3_qplan plan;
    if (!type_arg || l3_qplan_parse(type_arg, &plan)) {
        char names[512];
        l3_qplan_names(names, sizeof names);
        return l3_fail(err, LLAMA3_ERR_ARG, "unknown type '%s' (this build can write: %s)", type_arg ? type_arg : "",
                       names);
    }
    plan.n_layers = sh->n_layers;
    plan.has_output = !sh->tied;
    llama3_args args;
    shape_args(sh, &args);

    /* The tensors of the tensor table, in llama.cpp's converter order: each block's matrices,
     * then its norms. */
    const int hd = sh->dim / sh->n_heads, L = sh->n_layers;
    int n_t = 0, cap = 4 + L3_TENSOR_COUNT * L;
    synth_tensor *ts = calloc((size_t)cap, sizeof *ts);
    if (!ts) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    add_table(&ts[n_t++], L3_TOK_EMBEDDINGS, 0, &args);
    if (sh->rope_scale > 0) {
        snprintf(ts[n_t].name, sizeof ts[n_t].name, "rope_freqs.weight");
        ts[n_t].ne[0] = hd / 2, ts[n_t].ne[1] = 1, ts[n_t].n_dims = 1;
        n_t++;
    }
    for (int l = 0; l < L; l++)
        for (int vectors = 0; vectors < 2; vectors++)
            for (int id = L3_FIRST_LAYER_TENSOR; id < L3_TENSOR_COUNT; id++)
                if (l3_tensor_is_vector(id) == vectors) add_table(&ts[n_t++], id, l, &args);
    add_table(&ts[n_t++], L3_NORM, 0, &args);
    if (!sh->tied) add_table(&ts[n_t++], L3_OUTPUT, 0, &args);

    /* Types, and check the table can make each one before spending any time. */
    uint64_t total = 0;
    for (int i = 0; i < n_t; i++) {
        ts[i].type = l3_qplan_quantizable(ts[i].name, ts[i].n_dims) ? (int)l3_qplan_type(&plan, ts[i].name, ts[i].ne[0]) : L3_F32;
        const l3_type_info *ti = l3_type_get((uint32_t)ts[i].type);
        if (!ti || !ti->from_float) {
            int rc = l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "type %s (needed for %s) is not in this build's type table yet",
                             l3_type_name((uint32_t)ts[i].type) ? l3_type_name((uint32_t)ts[i].type) : "?", ts[i].name);
            free(ts);
            return rc;
        }
        ts[i].nbytes = l3_row_bytes((uint32_t)ts[i].type, ts[i].ne[0]) * (size_t)ts[i].ne[1];
        total += ts[i].nbytes;
    }
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (pages > 0 && psz > 0 && total > (uint64_t)pages * (uint64_t)psz / 10 * 8) {
        free(ts);
        return l3_fail(err, LLAMA3_ERR_MEMORY, "the %s %s weights take %.1f GiB, more than 80%% of this machine's memory",
                       sh->name, type_arg, total / 1073741824.0);
    }
    int wrc = l3_gguf_check_writable(o->out, err);
    if (wrc) {
        free(ts);
        return wrc;
    }

    l3_gguf *vocab = NULL;
    if (vocab_path) {
        int rc = l3_gguf_open(vocab_path, &vocab, err);
        if (rc) {
            free(ts);
            return rc;
        }
        const l3_gguf_kv *toks = l3_gguf_find(vocab, "tokenizer.ggml.tokens");
        if (!toks || toks->type != GGUF_ARRAY || toks->arr_n != (uint64_t)sh->vocab) {
            rc = l3_fail(err, LLAMA3_ERR_FORMAT,
                         "%s: tokenizer.ggml.tokens must list %d tokens (the shape's vocabulary), found %llu", vocab_path,
                         sh->vocab, toks ? (unsigned long long)toks->arr_n : 0ull);
            l3_gguf_close(vocab);
            free(ts);
            return rc;
        }
    }

    double t0 = l3_time_s();
    l3_pool *pool = l3_pool_new(o->n_threads ? o->n_threads : l3_physical_cores());
    int nth = pool ? l3_pool_size(pool) : 0;
    float **row_buf = calloc((size_t)(nth ? nth : 1), sizeof *row_buf);
    int rc = 0;
    if (!pool || !row_buf) rc = l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    int64_t widest = sh->dim > sh->ffn ? sh->dim : sh->ffn;
    for (int i = 0; !rc && i < nth; i++)
        if (!(row_buf[i] = malloc((size_t)(widest + 1) * sizeof(float))))
            rc = l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");

    uint64_t done = 0;  /* bytes generated, for the progress */
    for (int i = 0; !rc && i < n_t; i++) {
        synth_tensor *t = &ts[i];
        t->data = malloc(t->nbytes);
        if (!t->data) {
            rc = l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory for %s (%zu bytes)", t->name, t->nbytes);
            break;
        }
        if (!strcmp(t->name, "rope_freqs.weight")) l3_rope_factors(&args, t->data);
        else if (t->n_dims == 1) for (int64_t k = 0; k < t->ne[0]; k++) ((float *)t->data)[k] = 1.0f;
        else {
            const l3_type_info *ti = l3_type_get((uint32_t)t->type);
            fill_job j = { seed, (uint64_t)i, t->ne[0], ti, l3_row_bytes((uint32_t)t->type, t->ne[0]), t->data, row_buf };
            l3_parallel_for(pool, t->ne[1], 16, fill_rows, &j);
        }
        done += t->nbytes;
        if (o->progress) o->progress(o->progress_data, t->name, done, total);
    }

    l3_gguf_writer *w = rc ? NULL : l3_gguf_writer_new();
    if (!rc && !w) rc = l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    if (!rc) {
        char title[128];
        snprintf(title, sizeof title, "%s synthetic (random weights, seed %llu)", sh->title, (unsigned long long)seed);
        l3_gguf_w_str(w, "general.architecture", "llama");
        l3_gguf_w_str(w, "general.type", "model");
        l3_gguf_w_str(w, "general.name", title);
        l3_gguf_w_llama_hparams(w, &args, plan.ftype);
        l3_gguf_w_u32(w, "llama.attention.key_length", (uint32_t)hd);
        l3_gguf_w_u32(w, "llama.attention.value_length", (uint32_t)hd);
        bool quantized = false;
        for (int i = 0; i < n_t; i++)
            if (l3_type_get((uint32_t)ts[i].type)->block > 1) quantized = true;
        if (quantized) l3_gguf_w_u32(w, "general.quantization_version", 2);
        if (vocab) {
            for (uint64_t k = 0; k < vocab->n_kv; k++) {
                const l3_gguf_kv *kv = &vocab->kv[k];
                if (kv->key.len > 10 && !memcmp(kv->key.p, "tokenizer.", 10)) l3_gguf_w_copy_kv(w, kv);
            }
        } else if (placeholder_vocab(w, sh->vocab)) {
            rc = l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
        }
        for (int i = 0; i < n_t; i++)
            l3_gguf_w_tensor(w, ts[i].name, (uint32_t)ts[i].type, (uint32_t)ts[i].n_dims, ts[i].ne, ts[i].data,
                             ts[i].nbytes);
        double t1 = l3_time_s();
        if (!rc) rc = l3_gguf_write(w, o->out, err);
        if (!rc && rep) {
            *rep = (llama3_synth_report){ .title = sh->title, .n_tensors = n_t, .weight_bytes = total,
                                          .generate_s = t1 - t0, .write_s = l3_time_s() - t1, .n_threads = nth };
            type_counts(ts, n_t, rep->types, sizeof rep->types);
        }
    }
    l3_gguf_writer_free(w);
    l3_gguf_close(vocab);
    for (int i = 0; i < n_t; i++) free(ts[i].data);
    for (int i = 0; row_buf && i < nth; i++) free(row_buf[i]);
    free(row_buf);
    l3_pool_free(pool);
    free(ts);
    return rc;
}
