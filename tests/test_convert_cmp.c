/* gguf_cmp A.gguf B.gguf [--kv] [--ignore-kv KEY]... : exits 0 when both files hold the same
 * tensors in the same order (name, type, shape and every byte); --kv also compares the
 * metadata (keys, order, types, values). Prints each difference found (the first 20). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf.h"
#include "tensor_types.h"

static int diffs;
#define DIFF(...) do { if (diffs++ < 20) { printf("DIFF: "); printf(__VA_ARGS__); printf("\n"); } } while (0)

static int ignored(const l3_gguf_str *k, char **ign, int n) {
    for (int i = 0; i < n; i++)
        if (l3_gguf_str_eq(*k, ign[i])) return 1;
    return 0;
}

static int kv_equal(const l3_gguf_kv *a, const l3_gguf_kv *b) {
    if (a->type != b->type) return 0;
    if (a->type == GGUF_STRING) return a->s.len == b->s.len && !memcmp(a->s.p, b->s.p, a->s.len);
    if (a->type != GGUF_ARRAY) return a->v.u == b->v.u;
    if (a->arr_type != b->arr_type || a->arr_n != b->arr_n) return 0;
    for (uint64_t i = 0; i < a->arr_n; i++) {
        if (a->arr_type == GGUF_STRING) {
            l3_gguf_str x = l3_gguf_arr_str(a, i), y = l3_gguf_arr_str(b, i);
            if (x.len != y.len || memcmp(x.p, y.p, x.len)) return 0;
        } else if (l3_gguf_arr_int(a, i) != l3_gguf_arr_int(b, i) || l3_gguf_arr_float(a, i) != l3_gguf_arr_float(b, i)) {
            return 0;
        }
    }
    return 1;
}

static void compare_kv(const l3_gguf *a, const l3_gguf *b, char **ign, int n_ign) {
    uint64_t i = 0, j = 0;
    while (i < a->n_kv || j < b->n_kv) {
        if (i < a->n_kv && ignored(&a->kv[i].key, ign, n_ign)) { i++; continue; }
        if (j < b->n_kv && ignored(&b->kv[j].key, ign, n_ign)) { j++; continue; }
        if (i >= a->n_kv || j >= b->n_kv) {
            const l3_gguf_kv *k = i < a->n_kv ? &a->kv[i] : &b->kv[j];
            DIFF("key %.*s only in %s", (int)k->key.len, k->key.p, i < a->n_kv ? "A" : "B");
            i < a->n_kv ? i++ : j++;
            continue;
        }
        const l3_gguf_kv *x = &a->kv[i++], *y = &b->kv[j++];
        if (x->key.len != y->key.len || memcmp(x->key.p, y->key.p, x->key.len))
            DIFF("key #%llu: %.*s vs %.*s", (unsigned long long)i - 1, (int)x->key.len, x->key.p, (int)y->key.len, y->key.p);
        else if (!kv_equal(x, y))
            DIFF("key %.*s: values differ", (int)x->key.len, x->key.p);
    }
}

static void compare_tensors(const l3_gguf *a, const l3_gguf *b) {
    if (a->n_tensors != b->n_tensors)
        DIFF("%llu tensors vs %llu", (unsigned long long)a->n_tensors, (unsigned long long)b->n_tensors);
    uint64_t n = a->n_tensors < b->n_tensors ? a->n_tensors : b->n_tensors;
    for (uint64_t i = 0; i < n; i++) {
        const l3_gguf_tensor *x = &a->tensors[i], *y = &b->tensors[i];
        int nl = (int)x->name.len;
        if (x->name.len != y->name.len || memcmp(x->name.p, y->name.p, x->name.len)) {
            DIFF("tensor #%llu: %.*s vs %.*s", (unsigned long long)i, nl, x->name.p, (int)y->name.len, y->name.p);
            continue;
        }
        if (x->type != y->type) {
            DIFF("%.*s: type %s vs %s", nl, x->name.p, l3_type_name(x->type), l3_type_name(y->type));
            continue;
        }
        if (x->n_dims != y->n_dims || memcmp(x->ne, y->ne, sizeof x->ne)) {
            DIFF("%.*s: shape differs", nl, x->name.p);
            continue;
        }
        if (x->nbytes != y->nbytes || memcmp(x->data, y->data, x->nbytes)) {
            uint64_t k = 0;
            const uint8_t *p = x->data, *q = y->data;
            for (uint64_t m = 0; m < x->nbytes && m < y->nbytes; m++) k += p[m] != q[m];
            DIFF("%.*s (%s): %llu of %llu bytes differ", nl, x->name.p, l3_type_name(x->type), (unsigned long long)k,
                 (unsigned long long)x->nbytes);
        }
    }
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: gguf_cmp A.gguf B.gguf [--kv] [--ignore-kv KEY]...\n"); return 2; }
    int kv = 0, n_ign = 0;
    char **ign = calloc((size_t)argc, sizeof *ign);
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--kv")) kv = 1;
        else if (!strcmp(argv[i], "--ignore-kv") && i + 1 < argc) ign[n_ign++] = argv[++i];
        else { fprintf(stderr, "gguf_cmp: unknown option %s\n", argv[i]); return 2; }
    }
    l3_gguf *a, *b;
    llama3_error err;
    if (l3_gguf_open(argv[1], &a, &err)) { fprintf(stderr, "gguf_cmp: %s\n", err.msg); return 2; }
    if (l3_gguf_open(argv[2], &b, &err)) { fprintf(stderr, "gguf_cmp: %s\n", err.msg); l3_gguf_close(a); return 2; }
    compare_tensors(a, b);
    if (kv) compare_kv(a, b, ign, n_ign);
    printf("%s: %s vs %s: %llu tensors%s, %d difference(s)\n", diffs ? "FAIL" : "ok", argv[1], argv[2],
           (unsigned long long)a->n_tensors, kv ? " and metadata" : "", diffs);
    l3_gguf_close(a);
    l3_gguf_close(b);
    free(ign);
    return diffs ? 1 : 0;
}
