/* GGUF -> GGUF with the 2-D weights re-encoded, as llama-quantize does: every key is copied
 * (general.file_type set to the new type, general.quantization_version to ggml's 2), tensors
 * keep their order, names and shapes; norms and other 1-D tensors are copied untouched, and
 * so is a weight that already has the type it would get. Quantized inputs are requantized
 * from their dequantized values (llama-quantize needs --allow-requantize for that). */
#include "convert/convert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "convert/matrix_encode.h"
#include "convert/quant_plan.h"
#include "tensor_types.h"

static int n_layers_of(const l3_gguf *g) {
    uint32_t n;
    if (l3_gguf_get_u32(g, "llama.block_count", false, &n, NULL) == 0) return (int)n;
    int max = -1;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        int l;
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)(g->tensors[i].name.len < 31 ? g->tensors[i].name.len : 31),
                 g->tensors[i].name.p);
        if (sscanf(name, "blk.%d.", &l) == 1 && l > max) max = l;
    }
    return max + 1;
}

int llama3_quantize(const char *in, const char *out, const llama3_convert_options *o, llama3_error *err) {
    l3_qplan plan;
    if (!o->type || l3_qplan_parse(o->type, &plan)) {
        char names[512];
        l3_qplan_names(names, sizeof names);
        return l3_fail(err, LLAMA3_ERR_ARG, "unknown type '%s' (expected one of: %s)", o->type ? o->type : "", names);
    }
    FILE *f = fopen(in, "rb");
    if (!f) return l3_fail(err, LLAMA3_ERR_IO, "%s: cannot open", in);
    char magic[4] = { 0 };
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    if (got != 4 || memcmp(magic, "GGUF", 4))
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: not a GGUF file (convert other formats with llama3 convert)", in);
    l3_gguf *g;
    int rc = l3_gguf_check_writable(out, err);
    if (!rc) rc = l3_gguf_open(in, &g, err);
    if (rc) return rc;
    plan.n_layers = n_layers_of(g);
    plan.has_output = l3_gguf_find_tensor(g, "output.weight") != NULL;
    l3_gguf_writer *w = l3_gguf_writer_new();
    l3_bufs bufs = { 0 };
    if (!w) { rc = l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory"); goto done; }
    for (uint64_t i = 0; i < g->n_kv; i++) l3_gguf_w_copy_kv(w, &g->kv[i]);
    uint64_t done = 0, total = 0;  /* bytes of source tensors, for the progress */
    for (uint64_t i = 0; i < g->n_tensors; i++) total += g->tensors[i].nbytes;
    l3_gguf_w_u32(w, "general.file_type", plan.ftype);
    l3_gguf_w_u32(w, "general.quantization_version", 2);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const l3_gguf_tensor *t = &g->tensors[i];
        char name[256];
        if (t->name.len >= sizeof name) { rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: tensor name too long", in); goto done; }
        memcpy(name, t->name.p, t->name.len);
        name[t->name.len] = 0;
        uint32_t type = t->type;
        const void *data = t->data;
        size_t nbytes = t->nbytes;
        if (l3_qplan_quantizable(name, (int)t->n_dims)) {
            type = l3_qplan_type(&plan, name, t->ne[0]);
            if (type != t->type) {
                int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
                if (!(data = l3_encode_matrix(&bufs, t->data, t->type, rows, t->ne[0], type, 0, &nbytes, name, err))) {
                    rc = err ? err->code : LLAMA3_ERR_FORMAT;
                    goto done;
                }
            }
        }
        l3_gguf_w_tensor(w, name, type, t->n_dims, t->ne, data, nbytes);
        if (o->verbose)
            fprintf(stderr, "  %-28s %-5s -> %-5s\n", name, l3_type_name(t->type), l3_type_name(type));
        done += t->nbytes;
        if (o->progress) o->progress(o->progress_data, name, done, total);
    }
    rc = l3_gguf_write(w, out, err);
done:
    l3_gguf_writer_free(w);
    l3_bufs_free(&bufs);
    l3_gguf_close(g);
    return rc;
}
