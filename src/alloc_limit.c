#include "alloc_limit.h"

#include "util.h"

uint64_t l3_alloc_limit(const llama3_load_options *opt) {
    return opt && opt->max_alloc_bytes ? (uint64_t)opt->max_alloc_bytes : L3_ALLOC_DEFAULT_MAX;
}

static int refuse(uint64_t bytes, uint64_t limit, const char *what, llama3_error *err) {
    return l3_fail(err, LLAMA3_ERR_MEMORY,
                   "%s: needs %llu bytes, above the allocation limit of %llu bytes (max_alloc_bytes / --max-alloc)",
                   what ? what : "allocation", (unsigned long long)bytes, (unsigned long long)limit);
}

int l3_alloc_check(uint64_t bytes, const llama3_load_options *opt, const char *what, llama3_error *err) {
    uint64_t limit = l3_alloc_limit(opt);
    /* Also refuse what size_t cannot hold (32-bit hosts). */
    if (bytes > limit || bytes > (uint64_t)SIZE_MAX) return refuse(bytes, limit, what, err);
    return 0;
}

int l3_alloc_check_array(uint64_t n, uint64_t elem_size, const llama3_load_options *opt, const char *what,
                         uint64_t *bytes, llama3_error *err) {
    uint64_t total;
    if (!l3_mul_ok(n, elem_size, &total))
        return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: %llu x %llu bytes overflows", what ? what : "allocation",
                       (unsigned long long)n, (unsigned long long)elem_size);
    int rc = l3_alloc_check(total, opt, what, err);
    if (rc == 0 && bytes) *bytes = total;
    return rc;
}

void l3_alloc_budget_init(l3_alloc_budget *b, const llama3_load_options *opt) {
    b->limit = l3_alloc_limit(opt);
    b->used = 0;
}

int l3_alloc_take(l3_alloc_budget *b, uint64_t bytes, const char *what, llama3_error *err) {
    uint64_t total;
    if (!l3_add_ok(b->used, bytes, &total) || total > b->limit || total > (uint64_t)SIZE_MAX)
        return refuse(l3_add_ok(b->used, bytes, &total) ? total : UINT64_MAX, b->limit, what, err);
    b->used = total;
    return 0;
}
