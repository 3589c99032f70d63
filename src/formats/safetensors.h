/* safetensors reader over a memory map (no copy of tensor data).
 * Layout: u64 little-endian header length N, N bytes of JSON, then the data section.
 * l3_st_open validates everything a consumer relies on: the header fits the file, the JSON is
 * well formed, each dtype is known, shape product x element size == the data_offsets span,
 * spans lie inside the data section and do not overlap, and no size arithmetic overflows.
 * Tensor pointers are not necessarily aligned to their element size (the data section starts
 * at 8 + N): read them with memcpy, or copy when alignment matters. */
#ifndef LLAMA3_SAFETENSORS_H
#define LLAMA3_SAFETENSORS_H

#include <stdint.h>
#include "util.h"

#define L3_ST_MAX_DIMS 8

typedef struct l3_st_tensor {
    char *name;
    char dtype[8];        /* "F32", "BF16", "I32", ... as written in the file */
    int l3type;           /* L3_F32 / L3_F16 / L3_BF16, or -1 for other dtypes */
    int elem_size;        /* bytes per element (1 for bool and 8-bit types) */
    int n_dims;
    int64_t shape[L3_ST_MAX_DIMS];
    const void *data;     /* points into the map */
    uint64_t nbytes;
} l3_st_tensor;

typedef struct l3_safetensors {
    l3_mapping map;
    l3_st_tensor *tensors;
    int n_tensors;
    char **meta_keys, **meta_vals;
    int n_meta;
} l3_safetensors;

int l3_st_open(const char *path, l3_safetensors **out, llama3_error *err);
void l3_st_close(l3_safetensors *st);
/* NULL if absent. */
const l3_st_tensor *l3_st_find(const l3_safetensors *st, const char *name);
/* A string value of __metadata__, or NULL. */
const char *l3_st_meta(const l3_safetensors *st, const char *key);
/* Number of elements of a tensor (shape product; 1 for a scalar). */
int64_t l3_st_numel(const l3_st_tensor *t);

#endif
