/* Row-wise re-encoding through float32, with the reference quantizers of the type table
 * (bit-identical with ggml's quantize_row_*_ref, which llama-quantize uses). */
#include "convert/matrix_encode.h"

#include <stdlib.h>
#include <string.h>
#include "tensor_types.h"

void *l3_bufs_alloc(l3_bufs *b, size_t n) {
    if (b->n == b->cap) {
        int cap = b->cap ? b->cap * 2 : 64;
        void **p = realloc(b->p, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        b->p = p;
        b->cap = cap;
    }
    void *q = malloc(n ? n : 1);
    if (q) b->p[b->n++] = q;
    return q;
}

void l3_bufs_free(l3_bufs *b) {
    for (int i = 0; i < b->n; i++) free(b->p[i]);
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* transformers stores row h*hd + half*hd/2 + i where Meta has h*hd + 2i + half. */
static int64_t source_row(int64_t r, int64_t rows, int heads) {
    if (heads <= 0) return r;
    int64_t hd = rows / heads, h = r / hd, j = r % hd;
    return h * hd + (j % 2) * (hd / 2) + j / 2;
}

void *l3_encode_matrix(l3_bufs *bufs, const void *src, uint32_t src_type, int64_t rows, int64_t cols,
                       uint32_t dst_type, int heads, size_t *nbytes, const char *name, llama3_error *err) {
    const l3_type_info *si = l3_type_get(src_type), *di = l3_type_get(dst_type);
    if (!si || !si->to_float) {
        l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "tensor %s: cannot read type %s", name, l3_type_name(src_type));
        return NULL;
    }
    if (!di || !di->from_float) {
        l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "tensor %s: cannot write type %s", name, l3_type_name(dst_type));
        return NULL;
    }
    size_t sb = l3_row_bytes(src_type, cols), db = l3_row_bytes(dst_type, cols);
    if (!sb || !db || (heads > 0 && (rows % heads || (rows / heads) % 2))) {
        l3_fail(err, LLAMA3_ERR_FORMAT, "tensor %s: [%lld x %lld] does not fit type %s", name, (long long)rows,
                (long long)cols, l3_type_name(db ? src_type : dst_type));
        return NULL;
    }
    uint8_t *out = l3_bufs_alloc(bufs, db * (size_t)rows);
    float *row = malloc((size_t)cols * sizeof *row);
    if (!out || !row) {
        free(row);
        l3_fail(err, LLAMA3_ERR_MEMORY, "tensor %s: out of memory", name);
        return NULL;
    }
    for (int64_t r = 0; r < rows; r++) {
        si->to_float((const uint8_t *)src + sb * (size_t)source_row(r, rows, heads), row, cols);
        di->from_float(row, out + db * (size_t)r, cols);
    }
    free(row);
    *nbytes = db * (size_t)rows;
    return out;
}
