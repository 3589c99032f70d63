/* The forward pass, in Meta's names (model.py's Transformer.forward). Prefill and decode are
 * the same code with many rows or one; a batch of sequences is rows with their own position
 * and KV slot. Every step is an op of the session's backend (backend/backend.h), so this text
 * is the same for every device. */
#include "forward.h"

int l3_forward(l3_backend_session *s, const l3_pass *p, float *logits, llama3_error *err) {
    const l3_backend *be = s->be;
    const llama3_args *a = &s->model->w->args;

    be->begin(s, p);                                        /* freqs_cis and mask for these rows */
    be->embed(s, L3_ACT_X);                                 /* h = tok_embeddings(tokens) */
    for (int l = 0; l < a->n_layers; l++) {
        /* h = x + attention(attention_norm(x)) */
        be->rmsnorm(s, L3_ACT_XB, L3_ACT_X, L3_ATTENTION_NORM, l);
        be->matmul(s, L3_WQ, l, L3_ACT_XB, L3_ACT_Q);       /* xq = wq(x) */
        be->matmul(s, L3_WK, l, L3_ACT_XB, L3_ACT_K);       /* xk = wk(x) */
        be->matmul(s, L3_WV, l, L3_ACT_XB, L3_ACT_V);       /* xv = wv(x) */
        be->rope_and_store(s, l);                           /* apply_rotary_emb; cache_k, cache_v */
        be->attention(s, l);                                /* softmax(q k^T / sqrt(d) + mask) v */
        be->matmul(s, L3_WO, l, L3_ACT_ATT, L3_ACT_XB);     /* wo(output) */
        be->add(s, L3_ACT_X, L3_ACT_XB);

        /* out = h + feed_forward(ffn_norm(h)), feed_forward = w2(silu(w1(x)) * w3(x)) */
        be->rmsnorm(s, L3_ACT_XB, L3_ACT_X, L3_FFN_NORM, l);
        be->matmul(s, L3_W1, l, L3_ACT_XB, L3_ACT_H1);
        be->matmul(s, L3_W3, l, L3_ACT_XB, L3_ACT_H3);
        be->swiglu(s, L3_ACT_H1, L3_ACT_H3);
        be->matmul(s, L3_W2, l, L3_ACT_H1, L3_ACT_XB);
        be->add(s, L3_ACT_X, L3_ACT_XB);
    }
    return be->output(s, L3_ACT_X, logits, err);            /* output(norm(h)), rows asked for */
}
