/* The forward pass, in Meta's names (model.py's Transformer.forward). Prefill and decode are
 * the same code with many rows or one; a batch of sequences is rows with their own position
 * and KV slot. Every step is an op of the session's backend (backend/backend.h), so this text
 * is the same for every device. With N processes (model parallelism, Meta's fairscale split)
 * each computes its slice of every layer: the partial products of the row-parallel layers (wo,
 * w2) and of the vocabulary-parallel embedding are summed across processes (all_reduce), and
 * the logits, one slice of the vocabulary each, are gathered on rank 0. */
#include "forward.h"

#include <string.h>
#include "dist/dist.h"

/* Rank 0's logits [n_out x vocab] from every rank's columns [n_out x part] (rank order). */
static void gather_logits(l3_backend_session *s, const l3_pass *p, float *logits) {
    const int n = l3_dist_size(s->dist);
    const int64_t part = s->model->w->args.vocab_size, vocab = part * n;
    l3_dist_gather(s->dist, s->part_logits, (size_t)p->n_out * part * sizeof(float), s->gathered);
    if (l3_dist_rank(s->dist) != 0 || !logits) return;
    for (int r = 0; r < n; r++)
        for (int i = 0; i < p->n_out; i++)
            memcpy(logits + i * vocab + r * part, s->gathered + ((int64_t)r * p->n_out + i) * part, (size_t)part * sizeof(float));
}

int l3_forward(l3_backend_session *s, const l3_pass *p, float *logits, llama3_error *err) {
    const l3_backend *be = s->be;
    const llama3_args *a = &s->model->w->args;

    be->begin(s, p);                                        /* freqs_cis and mask for these rows */
    be->embed(s, L3_ACT_X);                                 /* h = tok_embeddings(tokens) */
    be->all_reduce(s, L3_ACT_X);                            /* (VocabParallelEmbedding) */
    for (int l = 0; l < a->n_layers; l++) {
        /* h = x + attention(attention_norm(x)) */
        be->rmsnorm(s, L3_ACT_XB, L3_ACT_X, L3_ATTENTION_NORM, l);
        be->matmul(s, L3_WQ, l, L3_ACT_XB, L3_ACT_Q);       /* xq = wq(x) */
        be->matmul(s, L3_WK, l, L3_ACT_XB, L3_ACT_K);       /* xk = wk(x) */
        be->matmul(s, L3_WV, l, L3_ACT_XB, L3_ACT_V);       /* xv = wv(x) */
        be->rope_and_store(s, l);                           /* apply_rotary_emb; cache_k, cache_v */
        be->attention(s, l);                                /* softmax(q k^T / sqrt(d) + mask) v */
        be->matmul(s, L3_WO, l, L3_ACT_ATT, L3_ACT_XB);     /* wo(output) */
        be->all_reduce(s, L3_ACT_XB);                       /* (RowParallelLinear) */
        be->add(s, L3_ACT_X, L3_ACT_XB);

        /* out = h + feed_forward(ffn_norm(h)), feed_forward = w2(silu(w1(x)) * w3(x)) */
        be->rmsnorm(s, L3_ACT_XB, L3_ACT_X, L3_FFN_NORM, l);
        be->matmul(s, L3_W1, l, L3_ACT_XB, L3_ACT_H1);
        be->matmul(s, L3_W3, l, L3_ACT_XB, L3_ACT_H3);
        be->swiglu(s, L3_ACT_H1, L3_ACT_H3);
        be->matmul(s, L3_W2, l, L3_ACT_H1, L3_ACT_XB);
        be->all_reduce(s, L3_ACT_XB);                       /* (RowParallelLinear) */
        be->add(s, L3_ACT_X, L3_ACT_XB);
    }
    /* output(norm(h)), rows asked for (ColumnParallelLinear: a slice of the vocabulary each) */
    if (l3_dist_size(s->dist) == 1) return be->output(s, L3_ACT_X, logits, err);
    int rc = be->output(s, L3_ACT_X, s->part_logits, err);
    if (rc == 0 && p->n_out > 0) gather_logits(s, p, logits);
    return rc;
}
