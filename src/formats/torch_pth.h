/* PyTorch checkpoints (torch.save's zip format) holding a state dict of tensors.
 * The pickle in <prefix>/data.pkl is interpreted by a small machine that knows only the
 * opcodes and the few globals a state dict needs (tensor rebuild, OrderedDict, typed storages);
 * anything else is refused with an error naming it, never executed. Tensor data stays in the
 * memory map (<prefix>/data/<key> entries, stored uncompressed), except tensors whose address
 * is not aligned to their element size, which are copied into buffers owned by the l3_pth. */
#ifndef LLAMA3_TORCH_PTH_H
#define LLAMA3_TORCH_PTH_H

#include <stdint.h>
#include "util.h"

#define L3_PTH_MAX_DIMS 8

typedef struct l3_pth_tensor {
    char *name;
    int l3type;              /* L3_F32 / L3_F16 / L3_BF16 */
    int elem_size;
    int n_dims;
    int64_t shape[L3_PTH_MAX_DIMS];
    const void *data;        /* contiguous, row-major */
    uint64_t nbytes;
} l3_pth_tensor;

typedef struct l3_pth {
    l3_mapping map;
    l3_pth_tensor *tensors;
    int n_tensors;
    void **owned;            /* copies of misaligned tensors */
    int n_owned;
} l3_pth;

int l3_pth_open(const char *path, l3_pth **out, llama3_error *err);
void l3_pth_close(l3_pth *p);
const l3_pth_tensor *l3_pth_find(const l3_pth *p, const char *name);

/* The pickle interpreter alone, on a buffer, resolving storages through the zip `z` whose
 * entries live under `prefix` (exposed for tests). */
struct l3_zip;
int l3_pth_parse_pickle(l3_pth *p, const uint8_t *pkl, uint64_t len, const struct l3_zip *z,
                        const char *prefix, llama3_error *err);

#endif
