/* Re-encoding one weight matrix into another type, optionally permuting rows per head. */
#ifndef LLAMA3_CONVERT_MATRIX_ENCODE_H
#define LLAMA3_CONVERT_MATRIX_ENCODE_H

#include <stdint.h>
#include "util.h"

/* Holds the output buffers until the writer has written them. */
typedef struct l3_bufs { void **p; int n, cap; } l3_bufs;
void *l3_bufs_alloc(l3_bufs *b, size_t n);
void l3_bufs_free(l3_bufs *b);

/* rows x cols of src_type at src -> dst_type into a new buffer of *nbytes bytes kept in bufs.
 * heads > 0: undo transformers' q/k permutation (rotate-half rows -> Meta's interleaved pairs)
 * within each of `heads` groups of rows. Returns NULL with err set on failure. */
void *l3_encode_matrix(l3_bufs *bufs, const void *src, uint32_t src_type, int64_t rows, int64_t cols,
                       uint32_t dst_type, int heads, size_t *nbytes, const char *name, llama3_error *err);

#endif
