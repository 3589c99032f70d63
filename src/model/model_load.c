/* llama3_model: a validated weights description, handed to the chosen backend, plus the
 * tokenizer. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "alloc_limit.h"
#include "dist/dist.h"
#include "formats/gguf.h"
#include "loader.h"
#include "model/model.h"
#include "model/partition.h"
#include "tokenizer/tokenizer.h"

/* Parameters and bytes of the whole model, from the tensors held (a shard's split tensors
 * count shard_size times). */
static void count(llama3_model *m, const l3_weights *w, l3_tensor_id id, int layer) {
    const l3_tensor *t = l3_weights_get(w, id, layer);
    const uint64_t times = l3_tensor_table(id)->split == L3_SPLIT_NONE ? 1 : (uint64_t)w->shard_size;
    m->n_params += (uint64_t)t->rows * (uint64_t)t->cols * times;
    m->weight_bytes += t->nbytes * times;
}

static uint64_t bytes_of(const l3_weights *w) {
    uint64_t b = 0;
    for (int id = 0; id < L3_FIRST_LAYER_TENSOR; id++)
        if (id != L3_OUTPUT || !w->tied_output) b += l3_weights_get(w, id, 0)->nbytes;
    for (int l = 0; l < w->args.n_layers; l++)
        for (int id = L3_FIRST_LAYER_TENSOR; id < L3_TENSOR_COUNT; id++) b += l3_weights_get(w, id, l)->nbytes;
    return b;
}

/* What every process must agree on: the protocol of the passes, the whole model's args, and
 * the type and shape of every tensor held (FNV-1a). */
#define L3_DIST_PROTOCOL 1
static uint64_t mix(uint64_t h, uint64_t v) {
    for (int b = 0; b < 8; b++) h = (h ^ (v >> (8 * b) & 0xff)) * 1099511628211ull;
    return h;
}

static uint64_t fingerprint(const l3_weights *w, int n) {
    const llama3_args *a = &w->full;
    const int64_t ints[] = { L3_DIST_PROTOCOL, n, a->dim, a->n_layers, a->n_heads, a->n_kv_heads, a->vocab_size,
                             a->hidden_dim, a->head_dim, a->max_seq_len, a->use_scaled_rope, w->rope_layout,
                             w->tied_output };
    const float floats[] = { a->norm_eps, a->rope_theta, a->rope_scale_factor, a->rope_low_freq_factor,
                             a->rope_high_freq_factor };
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) h = mix(h, (uint64_t)ints[i]);
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) {
        uint32_t u;
        memcpy(&u, &floats[i], sizeof u);
        h = mix(h, u);
    }
    for (int l = 0; l < w->args.n_layers; l++)
        for (int id = l ? L3_FIRST_LAYER_TENSOR : 0; id < L3_TENSOR_COUNT; id++) {
            const l3_tensor *t = l3_weights_get(w, id, l3_tensor_is_layer(id) ? l : 0);
            h = mix(mix(mix(h, t->type), (uint64_t)t->rows), (uint64_t)t->cols);
        }
    return h;
}

/* A digest of this process's slice (the first bytes of layer 0's wq): ranks that were each
 * given their own shard must hold different slices, and a shard given twice (a link or a copy
 * under another rank's name) holds the same. */
static uint64_t slice_digest(const l3_weights *w) {
    const l3_tensor *t = l3_weights_get(w, L3_WQ, 0);
    const uint8_t *b = t->data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < t->nbytes && i < 4096; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* "path: message", or the message alone when it is empty (reported by another rank) */
static void prefix(llama3_error *err, const char *path) {
    if (!err || !err->msg[0]) return;
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg);
    l3_fail(err, err->code, "%s: %s", path, msg);
}

llama3_model *llama3_model_load(const char *path, const llama3_load_options *opt, llama3_error *err) {
    const l3_backend *be;
    int device;
    if (l3_backend_find(opt ? opt->device : NULL, &be, &device, err)) return NULL;
    llama3_model *m = calloc(1, sizeof *m);
    if (!m) { l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory"); return NULL; }
    m->max_alloc = l3_alloc_limit(opt);
    m->dist = l3_dist_world();
    const int rank = l3_dist_rank(m->dist), n = l3_dist_size(m->dist);
    int rc = l3_load_weights_rank(path, opt, rank, n, &m->w, err);
    if (l3_dist_agree(m->dist, rc, "load the model", err)) { llama3_model_free(m); return NULL; }
    if (!rc && opt && opt->no_mmap) {  /* the same addresses, now backed by memory rather than the files */
        for (int i = 0; !rc && i < m->w.n_maps; i++) rc = l3_mapping_read_in(&m->w.maps[i], err);
        if (!rc && m->w.gguf_owned) rc = l3_mapping_read_in(&m->w.gguf_owned->map, err);
        if (l3_dist_agree(m->dist, rc, "read the weights into memory (--no-mmap)", err)) { llama3_model_free(m); return NULL; }
    }
    m->args = m->w.full;
    for (int id = 0; id < L3_FIRST_LAYER_TENSOR; id++)
        if (id != L3_OUTPUT || !m->w.tied_output) count(m, &m->w, id, 0);
    for (int l = 0; l < m->w.args.n_layers; l++)
        for (int id = L3_FIRST_LAYER_TENSOR; id < L3_TENSOR_COUNT; id++) count(m, &m->w, id, l);
    if (n > 1) {
        /* every process holds the same model, cut the same way */
        uint64_t mine = fingerprint(&m->w, n), first = mine;
        l3_dist_bcast(m->dist, &first, sizeof first);
        rc = first == mine ? 0
                           : l3_fail(err, LLAMA3_ERR_ARG, "rank %d: the model (its ModelArgs or tensors) or the program "
                                                          "differs from rank 0's", rank);
        if (l3_dist_agree(m->dist, rc, "match rank 0's model and program", err)) { llama3_model_free(m); return NULL; }
    }
    if (m->w.shard_size > 1) {
        uint64_t mine = slice_digest(&m->w), *all = rank == 0 ? calloc((size_t)n, sizeof *all) : NULL;
        uint64_t dummy;
        l3_dist_gather(m->dist, &mine, sizeof mine, all ? all : &dummy);
        rc = rank == 0 && !all ? l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory") : 0;
        for (int i = 1; all && i < n && !rc; i++)
            for (int j = 0; j < i && !rc; j++)
                if (all[i] == all[j])
                    rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: ranks %d and %d were given the same shard "
                                 "(consolidated.%02d.pth is a link to or a copy of consolidated.%02d.pth?): "
                                 "each rank needs its own", path, j, i, i, j);
        free(all);
        if (l3_dist_agree(m->dist, rc, "hold its own shard", err)) { llama3_model_free(m); return NULL; }
    }
    l3_alloc_budget budget;
    l3_alloc_budget_init(&budget, opt);
    m->compute = &m->w;
    if (n > 1 && m->w.shard_size == 1) {
        /* each process computes with its slice of the whole model */
        rc = l3_partition_check(&m->w.args, n, err);
        if (rc) {  /* the same numbers on every process: rank 0 reports them */
            if (rank > 0 && err) err->msg[0] = 0;
            llama3_model_free(m);
            return NULL;
        }
        rc = l3_partition(&m->w, rank, n, &m->part, &budget, err);
        if (l3_dist_agree(m->dist, rc, "cut its slice of the model", err)) { prefix(err, path); llama3_model_free(m); return NULL; }
        m->compute = &m->part;
    }
    m->rank_weight_bytes = bytes_of(m->compute);
    /* the files' mappings, where the CPU backend hands back the pages of rows it copies */
    const int keep_layout = opt && (opt->no_repack || opt->mlock || opt->no_mmap);
    l3_mapping *file_maps = keep_layout ? NULL : calloc((size_t)m->w.n_maps + 1, sizeof *file_maps);
    int n_file_maps = 0;
    for (int i = 0; file_maps && i < m->w.n_maps; i++) file_maps[n_file_maps++] = m->w.maps[i];
    if (file_maps && m->w.gguf_owned) file_maps[n_file_maps++] = m->w.gguf_owned->map;
    /* (without the list, nothing is copied: no pages could be handed back) */
    const l3_model_params mp = { device, &budget, file_maps != NULL, file_maps, n_file_maps };
    rc = be->model_new(m->compute, &mp, &m->bm, err);
    free(file_maps);
    if (l3_dist_agree(m->dist, rc, "take the model on its device", err)) {
        prefix(err, path);
        llama3_model_free(m);
        return NULL;
    }
    m->be = be;
    if (l3_tokenizer_from_source(&m->w.vocab, &m->tok, err)) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        l3_fail(err, err ? err->code : LLAMA3_ERR_FORMAT, "%s: tokenizer: %s", path, msg);
        llama3_model_free(m);
        return NULL;
    }
    if (m->tok && llama3_tokenizer_n_vocab(m->tok) > m->args.vocab_size) {
        l3_fail(err, LLAMA3_ERR_FORMAT, "%s: tokenizer has %d tokens but the model only %d", path,
                llama3_tokenizer_n_vocab(m->tok), m->args.vocab_size);
        llama3_model_free(m);
        return NULL;
    }
    if (opt && opt->mlock)
        for (int i = 0; i < m->w.n_maps; i++) mlock(m->w.maps[i].data, m->w.maps[i].size);
    if (opt && opt->mlock && m->w.gguf_owned) mlock(m->w.gguf_owned->map.data, m->w.gguf_owned->map.size);
    return m;
}

void llama3_model_free(llama3_model *m) {
    if (!m) return;
    if (m->bm) m->bm->be->model_free(m->bm);
    llama3_tokenizer_free(m->tok);
    l3_weights_free(&m->part);  /* (borrows m->w's data) */
    l3_weights_free(&m->w);
    free(m);
}

const llama3_args *llama3_model_args(const llama3_model *m) { return &m->args; }
const char *llama3_model_format(const llama3_model *m) { return m->w.format; }
const char *llama3_model_device(const llama3_model *m) { return m->be->name; }
uint64_t llama3_model_param_count(const llama3_model *m) { return m->n_params; }
uint64_t llama3_model_weight_bytes(const llama3_model *m) { return m->weight_bytes; }
uint64_t llama3_model_rank_weight_bytes(const llama3_model *m) { return m->rank_weight_bytes; }
llama3_tokenizer *llama3_model_tokenizer(const llama3_model *m) { return m->tok; }

int llama3_model_is_end_token(const llama3_model *m, int32_t id) {
    if (m->tok) return l3_tokenizer_is_end(m->tok, id);
    return m->w.eos_id >= 0 && id == m->w.eos_id;
}

int32_t llama3_model_bos(const llama3_model *m) {
    if (m->tok) {
        int32_t b = l3_tokenizer_bos(m->tok);
        if (b >= 0) return b;
    }
    return m->w.bos_id;
}
