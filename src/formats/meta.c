/* Meta folders: params.json + consolidated.NN.pth (one per model-parallel rank) + optional
 * tokenizer.model. One shard is used in place (memory-mapped), and so is each process's own
 * shard when as many processes as shards run the model together. Several shards are merged
 * into owned buffers along each tensor's split in the tensor table (model/tensors.h): rows
 * (dim 0) or columns (dim 1); replicated norms are taken from shard 0. RoPE layout:
 * interleaved. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc_limit.h"
#include "args.h"
#include "formats/json_config.h"
#include "formats/torch_pth.h"
#include "loader.h"
#include "model/partition.h"

#define META_MAX_SHARDS 64

typedef struct meta_ctx {
    const char *dir;
    int rank, n_procs;        /* this process among n_procs running the model together */
    l3_pth *shards[META_MAX_SHARDS];
    int n_shards;
    l3_alloc_budget budget;   /* max_alloc_bytes: merged copies and the layer table */
    l3_weights *w;
} meta_ctx;

static int meta_read_params(const char *dir, llama3_args *a, llama3_error *err) {
    char *path = l3_path_join(dir, "params.json");
    if (!path) return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", dir);
    json_t *p = NULL;
    bool scaled = false;
    l3_args_defaults(a);
    int rc;
    if ((rc = l3_json_load(path, &p, err)) ||
        (rc = l3_json_int(p, "dim", true, &a->dim, path, err)) ||
        (rc = l3_json_int(p, "n_layers", true, &a->n_layers, path, err)) ||
        (rc = l3_json_int(p, "n_heads", true, &a->n_heads, path, err)) ||
        (rc = l3_json_int(p, "vocab_size", true, &a->vocab_size, path, err)))
        goto done;
    a->n_kv_heads = a->n_heads;  /* ModelArgs: n_kv_heads None means n_heads */
    /* params.json has no max_seq_len (Meta passes it to Llama.build at run time): use the
     * trained context, 8192 for Llama 3 and 131072 with 3.1 scaling (set below). */
    a->max_seq_len = 0;
    if ((rc = l3_json_int(p, "n_kv_heads", false, &a->n_kv_heads, path, err)) ||
        (rc = l3_json_int(p, "multiple_of", false, &a->multiple_of, path, err)) ||
        (rc = l3_json_float(p, "ffn_dim_multiplier", false, &a->ffn_dim_multiplier, path, err)) ||
        (rc = l3_json_float(p, "norm_eps", false, &a->norm_eps, path, err)) ||
        (rc = l3_json_float(p, "rope_theta", false, &a->rope_theta, path, err)) ||
        (rc = l3_json_bool(p, "use_scaled_rope", false, &scaled, path, err)) ||
        (rc = l3_json_int(p, "max_seq_len", false, &a->max_seq_len, path, err)))
        goto done;
    if (a->multiple_of <= 0 || a->dim <= 0 || a->dim > (1 << 20) || a->ffn_dim_multiplier < 0 ||
        a->ffn_dim_multiplier > 64) {
        rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: dim, multiple_of or ffn_dim_multiplier out of range", path);
        goto done;
    }
    a->hidden_dim = l3_args_ffn_width(a->dim, a->multiple_of, a->ffn_dim_multiplier);
    /* Meta's apply_scaling hard-codes these; params.json only switches it on. */
    a->use_scaled_rope = scaled;
    a->rope_scale_factor = 8.0f;
    a->rope_low_freq_factor = 1.0f;
    a->rope_high_freq_factor = 4.0f;
    a->rope_original_ctx = 8192;
    if (a->max_seq_len <= 0) a->max_seq_len = scaled ? 131072 : 8192;
    rc = l3_args_finalize(a, path, err);
done:
    json_decref(p);
    free(path);
    return rc;
}

/* "consolidated.NN.pth" -> NN, or -1. */
static int meta_shard_index(const char *name) {
    const char *prefix = "consolidated.", *p = name + strlen(prefix);
    if (strncmp(name, prefix, strlen(prefix)) != 0) return -1;
    int idx = 0, digits = 0;
    for (; *p >= '0' && *p <= '9' && digits < 4; p++, digits++) idx = idx * 10 + (*p - '0');
    return digits > 0 && strcmp(p, ".pth") == 0 ? idx : -1;
}

/* 1 if the files a and b (both size bytes) hold the same bytes, 0 if not, -1 if one cannot
 * be read. Reads both from the start and stops at the first difference. */
static int meta_same_bytes(const char *a, const char *b, uint64_t size) {
    enum { CHUNK = 1 << 16 };
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    char *ba = malloc(CHUNK), *bb = malloc(CHUNK);
    int same = fa && fb && ba && bb ? 1 : -1;
    for (uint64_t at = 0; same == 1 && at < size; at += CHUNK) {
        size_t n = size - at < CHUNK ? (size_t)(size - at) : CHUNK;
        if (fread(ba, 1, n, fa) != n || fread(bb, 1, n, fb) != n) same = -1;
        else if (memcmp(ba, bb, n) != 0) same = 0;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    free(ba);
    free(bb);
    return same;
}

/* One shard given twice (a hard or symbolic link, or a byte-for-byte copy) would put rank 0's
 * slice of every split weight where rank 1's belongs, with every shape still right: refused.
 * Files are compared by inode, then size, then bytes: real shards differ within their first
 * entry (each archive's folder is named after its file), so only a copy is read through. */
static int meta_distinct_shards(const meta_ctx *c, int n, llama3_error *err) {
    struct stat st[META_MAX_SHARDS];
    char *paths[META_MAX_SHARDS] = { 0 };
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        char name[32];
        snprintf(name, sizeof name, "consolidated.%02d.pth", i);
        if (!(paths[i] = l3_path_join(c->dir, name))) rc = l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", c->dir);
        else if (stat(paths[i], &st[i]) != 0) rc = l3_fail(err, LLAMA3_ERR_IO, "%s: cannot open", paths[i]);
    }
    for (int i = 1; i < n && !rc; i++)
        for (int j = 0; j < i && !rc; j++) {
            if (st[i].st_size != st[j].st_size) continue;
            const int linked = st[i].st_dev == st[j].st_dev && st[i].st_ino == st[j].st_ino;
            const int same = linked ? 1 : meta_same_bytes(paths[i], paths[j], (uint64_t)st[i].st_size);
            if (same < 0)
                rc = l3_fail(err, LLAMA3_ERR_IO, "%s: cannot read consolidated.%02d.pth or consolidated.%02d.pth", c->dir, i, j);
            else if (same)
                rc = l3_fail(err, LLAMA3_ERR_FORMAT,
                             "%s: consolidated.%02d.pth is %s consolidated.%02d.pth: each model-parallel rank needs its own shard",
                             c->dir, i, linked ? "the same file as (a link to)" : "a byte-for-byte copy of", j);
        }
    for (int i = 0; i < n; i++) free(paths[i]);
    return rc;
}

/* The description owns shard k's mapping and any aligned copies from now on. */
static int meta_keep_shard(meta_ctx *c, int k, llama3_error *err) {
    l3_pth *p = c->shards[k];
    if (l3_weights_keep_map(c->w, &p->map)) return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", c->dir);
    while (p->n_owned > 0) {
        if (l3_weights_keep_buffer(c->w, p->owned[p->n_owned - 1]))
            return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", c->dir);
        p->n_owned--;
    }
    return 0;
}

/* n processes and a model cut into n shards: this process maps consolidated.<rank>.pth alone,
 * already its slice, without looking at the other shards (on several machines each may hold
 * only its own). The cut is read from the shard itself: its wq has n_heads * head_dim / n
 * rows. 1: own shard taken; 0: not such a folder (every shard is read and merged instead). Two
 * ranks given the same shard are told apart later, across the processes (model_load.c). */
static int meta_open_own_shard(meta_ctx *c, llama3_error *err) {
    l3_weights *w = c->w;
    char name[32], *path;
    snprintf(name, sizeof name, "consolidated.%02d.pth", c->rank);
    if (!(path = l3_path_join(c->dir, name))) return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", c->dir);
    if (!l3_file_exists(path)) { free(path); return 0; }
    l3_pth *p;
    int rc = l3_pth_open(path, &p, err);
    free(path);
    if (rc) return rc;
    const l3_pth_tensor *wq = l3_pth_find(p, "layers.0.attention.wq.weight");
    const int64_t q_rows = (int64_t)w->args.n_heads * w->args.head_dim;
    if (!wq || wq->n_dims != 2 || wq->shape[0] * c->n_procs != q_rows || q_rows % c->n_procs) {
        l3_pth_close(p);
        return 0;
    }
    if ((rc = l3_partition_check(&w->args, c->n_procs, err))) { l3_pth_close(p); return rc; }
    w->full = w->args;
    l3_partition_args(&w->full, c->n_procs, &w->args);
    w->shard_rank = c->rank, w->shard_size = c->n_procs;
    w->vocab_offset = (int64_t)w->args.vocab_size * c->rank;
    c->shards[0] = p;
    c->n_shards = 1;
    return (rc = meta_keep_shard(c, 0, err)) ? rc : 1;
}

/* Every shard, to be merged. Shards must be numbered 00 .. n-1 without gaps: a missing rank
 * would silently drop part of every split weight. */
static int meta_open_shards(meta_ctx *c, llama3_error *err) {
    int rc = c->n_procs > 1 ? meta_open_own_shard(c, err) : 0;
    if (rc) return rc == 1 ? 0 : rc;  /* own shard taken, or an error */
    DIR *d = opendir(c->dir);
    if (!d) return l3_fail(err, LLAMA3_ERR_IO, "%s: cannot list the folder", c->dir);
    char present[META_MAX_SHARDS] = {0};
    int max_idx = -1;
    for (struct dirent *e; (e = readdir(d));) {
        int idx = meta_shard_index(e->d_name);
        if (idx < 0) continue;
        if (idx >= META_MAX_SHARDS) {
            closedir(d);
            return l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "%s: %s: more than %d shards", c->dir, e->d_name,
                           META_MAX_SHARDS);
        }
        present[idx] = 1;
        if (idx > max_idx) max_idx = idx;
    }
    closedir(d);
    if (max_idx < 0) return l3_fail(err, LLAMA3_ERR_IO, "%s: no consolidated.NN.pth file", c->dir);
    for (int i = 0; i <= max_idx; i++)
        if (!present[i])
            return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: missing shard consolidated.%02d.pth (shards go up to %02d)",
                           c->dir, i, max_idx);
    if ((rc = meta_distinct_shards(c, max_idx + 1, err))) return rc;
    for (int i = 0; i <= max_idx && !rc; i++) {
        char name[32], *path;
        snprintf(name, sizeof name, "consolidated.%02d.pth", i);
        if (!(path = l3_path_join(c->dir, name))) return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", c->dir);
        rc = l3_pth_open(path, &c->shards[i], err);
        free(path);
        if (rc) break;
        c->n_shards = i + 1;
        rc = meta_keep_shard(c, i, err);
    }
    return rc;
}

static void meta_shape_str(const l3_pth_tensor *t, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < t->n_dims && n + 24 < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? "," : "", (long long)t->shape[i]);
}

static int meta_shape_error(const meta_ctx *c, const char *name, const char *got, int64_t rows,
                            int64_t cols, llama3_error *err) {
    char want[64];
    if (rows == 0) snprintf(want, sizeof want, "%lld", (long long)cols);
    else snprintf(want, sizeof want, "%lld,%lld", (long long)rows, (long long)cols);
    return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: %s: shape [%s]%s, expected [%s] from params.json%s", c->dir,
                   name, got, c->n_shards > 1 ? " after merging the shards" : "", want,
                   c->n_shards > 1 ? "" : " (a model-parallel shard missing?)");
}

/* Concatenates the shards' parts of a split weight into one owned [rows x cols] buffer. */
static int meta_merge(meta_ctx *c, const char *name, const l3_pth_tensor **parts, l3_split split,
                      int64_t rows, int64_t cols, l3_tensor *out, llama3_error *err) {
    int64_t sum = 0;
    for (int s = 0; s < c->n_shards; s++) {
        const l3_pth_tensor *t = parts[s];
        if (t->n_dims != 2 || t->l3type != parts[0]->l3type ||
            (split == L3_SPLIT_ROWS ? t->shape[1] != cols : t->shape[0] != rows)) {
            char got[96];
            meta_shape_str(t, got, sizeof got);
            return l3_fail(err, LLAMA3_ERR_FORMAT,
                           "%s: %s in consolidated.%02d.pth: shape [%s], expected [%s%lld] for a split along dim %d",
                           c->dir, name, s, got, split == L3_SPLIT_ROWS ? "n," : "", (long long)(split == L3_SPLIT_ROWS ? cols : rows),
                           split == L3_SPLIT_ROWS ? 0 : 1);
        }
        sum += t->shape[split == L3_SPLIT_ROWS ? 0 : 1];
    }
    if (sum != (split == L3_SPLIT_ROWS ? rows : cols)) {
        char got[64];
        if (split == L3_SPLIT_ROWS) snprintf(got, sizeof got, "%lld,%lld", (long long)sum, (long long)cols);
        else snprintf(got, sizeof got, "%lld,%lld", (long long)rows, (long long)sum);
        return meta_shape_error(c, name, got, rows, cols, err);
    }
    uint64_t es = (uint64_t)parts[0]->elem_size, nbytes;
    char what[200];
    snprintf(what, sizeof what, "%s: merging %s", c->dir, name);
    int rc;
    if (!l3_mul_ok((uint64_t)rows * (uint64_t)cols, es, &nbytes))
        return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: size overflows", what);
    if ((rc = l3_alloc_take(&c->budget, nbytes, what, err))) return rc;
    uint8_t *buf = malloc(nbytes ? nbytes : 1);
    if (!buf || l3_weights_keep_buffer(c->w, buf)) {
        free(buf);
        return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory merging %s", c->dir, name);
    }
    if (split == L3_SPLIT_ROWS) {
        uint64_t at = 0;
        for (int s = 0; s < c->n_shards; s++) {
            memcpy(buf + at, parts[s]->data, parts[s]->nbytes);
            at += parts[s]->nbytes;
        }
    } else {
        uint64_t at = 0;
        for (int64_t r = 0; r < rows; r++)
            for (int s = 0; s < c->n_shards; s++) {
                uint64_t row_bytes = (uint64_t)parts[s]->shape[1] * es;
                memcpy(buf + at, (const uint8_t *)parts[s]->data + (uint64_t)r * row_bytes, row_bytes);
                at += row_bytes;
            }
    }
    out->type = (uint32_t)parts[0]->l3type;
    out->rows = rows;
    out->cols = cols;
    out->data = buf;
    out->nbytes = (size_t)nbytes;
    return 0;
}

/* One weight: rows 0 means a vector of cols (replicated across shards). */
static int meta_tensor(meta_ctx *c, const char *name, int64_t rows, int64_t cols, l3_split split,
                       l3_tensor *out, llama3_error *err) {
    const l3_pth_tensor *parts[META_MAX_SHARDS];
    for (int s = 0; s < c->n_shards; s++)
        if (!(parts[s] = l3_pth_find(c->shards[s], name)))
            return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: consolidated.%02d.pth: tensor %s missing", c->dir, s, name);
    if (c->n_shards > 1 && split != L3_SPLIT_NONE)
        return meta_merge(c, name, parts, split, rows, cols, out, err);
    const l3_pth_tensor *t = parts[0];
    int ok = rows == 0 ? t->n_dims == 1 && t->shape[0] == cols
                       : t->n_dims == 2 && t->shape[0] == rows && t->shape[1] == cols;
    if (!ok) {
        char got[96];
        meta_shape_str(t, got, sizeof got);
        return meta_shape_error(c, name, got, rows, cols, err);
    }
    out->type = (uint32_t)t->l3type;
    out->rows = rows == 0 ? 1 : rows;
    out->cols = cols;
    out->data = t->data;
    out->nbytes = (size_t)t->nbytes;
    return 0;
}

/* The table's tensor id of layer l, merged along its split when there are several shards. */
static int meta_table_tensor(meta_ctx *c, l3_tensor_id id, int l, llama3_error *err) {
    const l3_tensor_desc *d = l3_tensor_table(id);
    const llama3_args *a = &c->w->args;
    char name[128];
    l3_tensor_name(id, L3_FMT_META, l, name, sizeof name);
    int64_t rows = d->rows == L3_SIZE_ONE ? 0 : l3_size_of(d->rows, a);
    return meta_tensor(c, name, rows, l3_size_of(d->cols, a), d->split, l3_weights_tensor(c->w, id, l), err);
}

static int meta_map_tensors(meta_ctx *c, llama3_error *err) {
    l3_weights *w = c->w;
    int rc;
    for (int id = 0; id < L3_FIRST_LAYER_TENSOR; id++) {
        char name[64];
        l3_tensor_name(id, L3_FMT_META, 0, name, sizeof name);
        if (l3_tensor_table(id)->tied && !l3_pth_find(c->shards[0], name)) {
            w->output = w->tok_embeddings;  /* Llama 3.2 small models tie the output to the embeddings */
            w->tied_output = 1;
        } else if ((rc = meta_table_tensor(c, id, 0, err))) {
            return rc;
        }
    }
    if ((rc = l3_weights_alloc_layers(w, &c->budget, c->dir, err))) return rc;
    for (int l = 0; l < w->args.n_layers; l++)
        for (int id = L3_FIRST_LAYER_TENSOR; id < L3_TENSOR_COUNT; id++)
            if ((rc = meta_table_tensor(c, id, l, err))) return rc;
    return 0;
}

static int meta_vocab_source(const char *dir, l3_weights *w, llama3_error *err) {
    char *p = l3_path_join(dir, "tokenizer.model");
    if (!p) return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", dir);
    if (!l3_file_exists(p)) { free(p); return 0; }
    w->vocab.kind = L3_VOCAB_FILE;
    w->vocab.path = p;
    /* Meta's tiktoken tokenizer: <|begin_of_text|> and <|end_of_text|>. */
    if (w->args.vocab_size > 128001) { w->bos_id = 128000; w->eos_id = 128001; }
    return 0;
}

int l3_load_meta(const char *dir, const llama3_load_options *opt, l3_weights *w, llama3_error *err) {
    return l3_load_meta_rank(dir, opt, 0, 1, w, err);
}

int l3_load_meta_rank(const char *dir, const llama3_load_options *opt, int rank, int n, l3_weights *w,
                      llama3_error *err) {
    w->bos_id = w->eos_id = -1;
    w->rope_layout = L3_ROPE_INTERLEAVED;
    snprintf(w->format, sizeof w->format, "meta");
    meta_ctx c = { .dir = dir, .rank = rank, .n_procs = n, .w = w };
    l3_alloc_budget_init(&c.budget, opt);
    int rc;
    if (!(rc = meta_read_params(dir, &w->args, err)) &&
        !(rc = meta_vocab_source(dir, w, err)) &&
        !(rc = meta_open_shards(&c, err)))
        rc = meta_map_tensors(&c, err);
    for (int i = 0; i < c.n_shards; i++) l3_pth_close(c.shards[i]);
    return rc;
}
