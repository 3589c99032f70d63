/* The loader's allocation cap (llama3_load_options.max_alloc_bytes).
 *
 * Model files are untrusted: a few bytes of header can ask for gigabytes (a huge dimension,
 * a shard merge, a copy of a misaligned tensor). Every allocation whose size is derived from
 * file data, and that is not already bounded by the file's own size, goes through
 * l3_alloc_check() (one allocation) or an l3_alloc_budget (a running total for one load),
 * which refuse with LLAMA3_ERR_MEMORY and a one-line message naming what was being
 * allocated, instead of letting malloc fail late, the OOM killer strike, or a size wrap. */
#ifndef LLAMA3_ALLOC_LIMIT_H
#define LLAMA3_ALLOC_LIMIT_H

#include <stdint.h>
#include "llama3.h"

/* Used when opt is NULL or opt->max_alloc_bytes is 0 (as documented in llama3.h). */
#define L3_ALLOC_DEFAULT_MAX ((uint64_t)64 << 30)

/* The cap in force for these options. */
uint64_t l3_alloc_limit(const llama3_load_options *opt);

/* 0 when `bytes` may be allocated under the cap, else LLAMA3_ERR_MEMORY with err naming
 * `what` (e.g. "tok_embeddings copy"). */
int l3_alloc_check(uint64_t bytes, const llama3_load_options *opt, const char *what, llama3_error *err);

/* Same for n elements of elem_size bytes; an overflowing product is refused too.
 * *bytes (may be NULL) receives the product on success. */
int l3_alloc_check_array(uint64_t n, uint64_t elem_size, const llama3_load_options *opt, const char *what,
                         uint64_t *bytes, llama3_error *err);

/* A running total for one load: l3_alloc_take() adds `bytes` and refuses once the total would
 * pass the cap (nothing is added then). */
typedef struct l3_alloc_budget {
    uint64_t limit, used;
} l3_alloc_budget;

void l3_alloc_budget_init(l3_alloc_budget *b, const llama3_load_options *opt);
int l3_alloc_take(l3_alloc_budget *b, uint64_t bytes, const char *what, llama3_error *err);

#endif
