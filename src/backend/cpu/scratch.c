/* The CPU backend's buffers (scratch.h), sized for max_rows rows and the matmul planner's
 * panels. */
#include "backend/cpu/scratch.h"

#include <stdlib.h>
#include <string.h>
#include "backend/cpu/matmul.h"
#include "util.h"

int l3_scratch_init(l3_scratch *s, const llama3_args *a, int max_rows, int n_ctx, int n_threads) {
    memset(s, 0, sizeof *s);
    s->max_rows = max_rows;
    s->n_threads = n_threads;
    size_t R = (size_t)max_rows, kv_dim = (size_t)a->n_kv_heads * a->head_dim;
    s->x = l3_alloc_lines(R * a->dim * sizeof(float));
    s->xb = l3_alloc_lines(R * a->dim * sizeof(float));
    s->q = l3_alloc_lines(R * a->dim * sizeof(float));
    s->k = l3_alloc_lines(R * kv_dim * sizeof(float));
    s->v = l3_alloc_lines(R * kv_dim * sizeof(float));
    s->att = l3_alloc_lines(R * a->dim * sizeof(float));
    s->h1 = l3_alloc_lines(R * a->hidden_dim * sizeof(float));
    s->h3 = l3_alloc_lines(R * a->hidden_dim * sizeof(float));
    s->rope_cs = malloc(R * a->head_dim * sizeof(float));
    s->row_buf = calloc((size_t)n_threads, sizeof *s->row_buf);
    s->scores = calloc((size_t)n_threads, sizeof *s->scores);
    s->panel8 = calloc((size_t)n_threads, sizeof *s->panel8);
    s->out_one_level = malloc(R);
    if (!s->x || !s->xb || !s->q || !s->k || !s->v || !s->att || !s->h1 || !s->h3 || !s->rope_cs || !s->row_buf || !s->scores ||
        !s->panel8 || !s->out_one_level)
        return -1;
    int widest = a->dim > a->hidden_dim ? a->dim : a->hidden_dim;
    s->xq = l3_alloc_lines(2 * R * ((size_t)widest + MM_Q8_ROW_PAD));
    s->xq2 = s->xq ? s->xq + R * ((size_t)widest + MM_Q8_ROW_PAD) : NULL;
    s->xd = malloc(R * (size_t)widest / 32 * sizeof(float) + sizeof(float));
    s->xs = malloc(R * (size_t)widest / 16 * sizeof(float) + sizeof(float));
    const size_t R16 = (R + 15) / 16 * 16;
    s->xd16 = calloc(R16 * (size_t)widest / 32, sizeof(float));
    s->xs16 = calloc(R16 * (size_t)widest / 16, sizeof(float));
    s->x_bf16 = l3_alloc_lines(2 * (size_t)widest * sizeof(uint16_t));
    if (!s->xq || !s->xq2 || !s->xd || !s->xs || !s->xd16 || !s->xs16 || !s->x_bf16) return -1;
    if (n_ctx >= L3_ATT_SPLIT_MIN) {
        s->split_of = malloc(R * sizeof *s->split_of);
        s->split_rows = malloc(R * sizeof *s->split_rows);
        s->att_part = l3_alloc_lines(L3_ATT_PART_FLOATS(a) * sizeof(float));
        if (!s->split_of || !s->split_rows || !s->att_part) return -1;
    }
    for (int i = 0; i < n_threads; i++)
        if (!(s->panel8[i] = l3_alloc_lines(MM_PANEL8_BYTES(widest)))) return -1;
    if (widest < MM_PANEL) widest = MM_PANEL;  /* row_buf also holds the prefill weight panel */
    for (int i = 0; i < n_threads; i++) {
        s->row_buf[i] = l3_alloc_lines((size_t)widest * sizeof(float));
        s->scores[i] = l3_alloc_lines((size_t)n_ctx * (size_t)(a->n_heads / a->n_kv_heads) * sizeof(float));
        if (!s->row_buf[i] || !s->scores[i]) return -1;
    }
    return 0;
}

void l3_scratch_free(l3_scratch *s) {
    free(s->x); free(s->xb); free(s->q); free(s->k); free(s->v); free(s->att); free(s->h1); free(s->h3); free(s->rope_cs);
    for (int i = 0; s->row_buf && i < s->n_threads; i++) free(s->row_buf[i]);
    for (int i = 0; s->scores && i < s->n_threads; i++) free(s->scores[i]);
    for (int i = 0; s->panel8 && i < s->n_threads; i++) free(s->panel8[i]);
    free(s->panel8);
    free(s->out_one_level);
    free(s->x_bf16);
    free(s->xq); free(s->xd); free(s->xs); free(s->xd16); free(s->xs16);
    free(s->split_of); free(s->split_rows); free(s->att_part);
    free(s->row_buf);
    free(s->scores);
    memset(s, 0, sizeof *s);
}

size_t l3_scratch_size(const llama3_args *a, int max_rows, int n_ctx, int n_threads) {
    size_t R = (size_t)max_rows, kv_dim = (size_t)a->n_kv_heads * a->head_dim;
    size_t widest = (size_t)(a->dim > a->hidden_dim ? a->dim : a->hidden_dim), w8 = widest;
    if (widest < MM_PANEL) widest = MM_PANEL;
    return sizeof(float) * (R * (4 * (size_t)a->dim + 2 * kv_dim + 2 * (size_t)a->hidden_dim + (size_t)a->head_dim) +
                            (size_t)n_threads * (widest + (size_t)n_ctx * (size_t)(a->n_heads / a->n_kv_heads))) +
           R * w8 * (64 + sizeof(float) * 3) / 32 + (R + 15) / 16 * 16 * w8 * sizeof(float) * 3 / 32 /* xd16, xs16 */ +
           (size_t)n_threads * MM_PANEL8_BYTES(w8) + R /* out_one_level */ +
           2 * w8 * sizeof(uint16_t) /* x_bf16 */ +
           (n_ctx >= L3_ATT_SPLIT_MIN ? 2 * R * sizeof(int) + L3_ATT_PART_FLOATS(a) * sizeof(float) : 0);
}

size_t l3_scratch_bytes(const l3_scratch *s, const llama3_args *a, int n_ctx) {
    return l3_scratch_size(a, s->max_rows, n_ctx, s->n_threads);
}
