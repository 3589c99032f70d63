/* Tensor parallelism: the slice of the model rank r of N computes with, cut as Meta's
 * fairscale layers cut it (the tensor table's split column): rank r holds heads
 * [r*H/N, (r+1)*H/N) of wq and their columns of wo, KV heads likewise of wk and wv, rows
 * r/N of w1 and w3 and the matching columns of w2, rows r/N of the vocabulary in
 * tok_embeddings and output, and the norms whole. */
#ifndef LLAMA3_PARTITION_H
#define LLAMA3_PARTITION_H

#include "model/weights.h"

struct l3_alloc_budget;

/* 0 when n ranks can split a model of these args (n divides n_heads, n_kv_heads, the FFN width
 * and the vocabulary), else LLAMA3_ERR_ARG naming the numbers. */
int l3_partition_check(const llama3_args *a, int n, llama3_error *err);
/* The shapes one of n ranks holds: n_heads, n_kv_heads, hidden_dim and vocab_size divided by
 * n (head_dim and the rest as they are). */
void l3_partition_args(const llama3_args *full, int n, llama3_args *local);
/* local = rank's slice of w, a whole model: row slices are views into w's data; column slices
 * (wo, w2) are copied, row by row, into buffers local owns (drawn from budget), and must start
 * on a whole block of their type. local borrows w's data: free it (l3_weights_free) first. */
int l3_partition(const l3_weights *w, int rank, int n, l3_weights *local, struct l3_alloc_budget *budget,
                 llama3_error *err);

#endif
