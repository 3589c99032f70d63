/* GGUF v2/v3 reader over a memory map (no copy of tensor data), and a writer. */
#ifndef LLAMA3_GGUF_H
#define LLAMA3_GGUF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "util.h"

typedef enum l3_gguf_vtype {
    GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4, GGUF_I32 = 5,
    GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_U64 = 10,
    GGUF_I64 = 11, GGUF_F64 = 12, GGUF_VTYPE_COUNT
} l3_gguf_vtype;

/* Bytes of one fixed-size value type (0 for strings, arrays and unknown types). */
size_t l3_gguf_scalar_size(uint32_t type);

/* A string inside the map: not NUL-terminated. */
typedef struct l3_gguf_str { const char *p; uint64_t len; } l3_gguf_str;

typedef struct l3_gguf_kv {
    l3_gguf_str key;
    uint32_t type;        /* l3_gguf_vtype */
    /* scalars */
    union { uint64_t u; int64_t i; double f; } v;
    l3_gguf_str s;        /* GGUF_STRING */
    /* arrays: element type, count, and where the elements start in the map.
     * Fixed-size elements are contiguous (little-endian); strings are length-prefixed, use
     * l3_gguf_arr_str() which indexes them through a table built at open time. */
    uint32_t arr_type;
    uint64_t arr_n;
    const uint8_t *arr_data;
    l3_gguf_str *arr_strs;  /* owned, for string arrays */
} l3_gguf_kv;

typedef struct l3_gguf_tensor {
    l3_gguf_str name;
    uint32_t n_dims;
    int64_t ne[4];        /* ne[0] = contiguous dimension (columns) */
    uint32_t type;
    uint64_t offset;      /* relative to the data section */
    const void *data;     /* resolved pointer into the map */
    uint64_t nbytes;
} l3_gguf_tensor;

typedef struct l3_gguf {
    l3_mapping map;
    uint32_t version;
    uint64_t n_kv, n_tensors;
    l3_gguf_kv *kv;
    l3_gguf_tensor *tensors;
    uint64_t alignment;
    uint64_t data_offset;
} l3_gguf;

/* Opens and validates the whole header: every key, every tensor's type, shape, offset and
 * size against the file; keys and tensor names are unique and no two tensors' data overlap.
 * Errors name the file and the offending key or tensor. */
int l3_gguf_open(const char *path, l3_gguf **out, llama3_error *err);
void l3_gguf_close(l3_gguf *g);

const l3_gguf_kv *l3_gguf_find(const l3_gguf *g, const char *key);
const l3_gguf_tensor *l3_gguf_find_tensor(const l3_gguf *g, const char *name);
bool l3_gguf_str_eq(l3_gguf_str s, const char *z);

/* Typed getters: 0 ok; LLAMA3_ERR_FORMAT if missing (when required) or of a wrong type.
 * Integer getters accept any integer type that fits; float getters accept f32/f64. */
int l3_gguf_get_u32(const l3_gguf *g, const char *key, bool required, uint32_t *out, llama3_error *err);
int l3_gguf_get_f32(const l3_gguf *g, const char *key, bool required, float *out, llama3_error *err);
int l3_gguf_get_bool(const l3_gguf *g, const char *key, bool required, bool *out, llama3_error *err);
/* malloc'd NUL-terminated copy (embedded NULs refused). */
int l3_gguf_get_str(const l3_gguf *g, const char *key, bool required, char **out, llama3_error *err);

/* Array element access (caller checks arr_type and index < arr_n). */
l3_gguf_str l3_gguf_arr_str(const l3_gguf_kv *kv, uint64_t i);
int64_t l3_gguf_arr_int(const l3_gguf_kv *kv, uint64_t i);
double l3_gguf_arr_float(const l3_gguf_kv *kv, uint64_t i);

/* ---- writer: collects keys and tensors, then writes a GGUF v3 file --------------------- */
typedef struct l3_gguf_writer l3_gguf_writer;
l3_gguf_writer *l3_gguf_writer_new(void);
void l3_gguf_writer_free(l3_gguf_writer *w);
void l3_gguf_w_u32(l3_gguf_writer *w, const char *key, uint32_t v);
void l3_gguf_w_i32(l3_gguf_writer *w, const char *key, int32_t v);
void l3_gguf_w_f32(l3_gguf_writer *w, const char *key, float v);
void l3_gguf_w_bool(l3_gguf_writer *w, const char *key, bool v);
void l3_gguf_w_str(l3_gguf_writer *w, const char *key, const char *v);
/* Array of strings (copied) / of fixed-size scalars (copied, elem type given). */
void l3_gguf_w_arr_str(l3_gguf_writer *w, const char *key, const char *const *v, const size_t *lens, uint64_t n);
void l3_gguf_w_arr(l3_gguf_writer *w, const char *key, uint32_t elem_type, const void *v, uint64_t n);
/* Copy a key (any type) from an open file. */
void l3_gguf_w_copy_kv(l3_gguf_writer *w, const l3_gguf_kv *kv);
/* Tensor: ne as in GGUF (ne[0] contiguous). data is not copied: it must live until write. */
void l3_gguf_w_tensor(l3_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                      const int64_t *ne, const void *data, uint64_t nbytes);
int l3_gguf_write(l3_gguf_writer *w, const char *path, llama3_error *err);
/* Creates (and removes) the temporary file l3_gguf_write would write for path: a long job
 * (convert, quantize, synth) calls it first, to fail at once rather than after the work. */
int l3_gguf_check_writable(const char *path, llama3_error *err);

#endif
