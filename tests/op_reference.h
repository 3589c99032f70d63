/* Plain reference implementations of the backend ops (backend/backend.h), in double
 * precision, straight from Meta's model.py: what every backend's ops are held to by the op
 * harness (test_backend_ops.c). Weights come in dequantized by the type table's scalar
 * to_float, so a weight type is exercised by the backend alone. */
#ifndef LLAMA3_OP_REFERENCE_H
#define LLAMA3_OP_REFERENCE_H

#include <stdint.h>

/* out[n] = x / sqrt(mean(x^2) + eps) * w */
void ref_rmsnorm(double *out, const float *x, const float *w, int n, float eps);
/* Y[t][r] = sum_c X[t][c] * W[r][c] */
void ref_matmul(double *Y, const float *X, const float *W, int T, int rows, int cols);
/* apply_rotary_emb on one row of n_heads heads at position pos: pairs (2i, 2i+1), or
 * (i, i + head_dim/2) with half != 0 (Hugging Face's rotate-half order) */
void ref_rope(double *out, const float *x, int n_heads, int head_dim, int pos, const float *freqs, int half);
/* One query head against np cached positions: softmax(q . k_p / sqrt(hd)) . v_p, the keys and
 * values rows kst floats apart. */
void ref_attention_head(double *out, const double *q, const double *k, const double *v, int64_t kst, int np, int hd);
/* h1 * sigmoid(h1) * h3 */
double ref_swiglu(float h1, float h3);

/* Relative L2 error ||got - want|| / ||want|| (NaN or inf in got: +inf). */
double rel_l2(const float *got, const double *want, int64_t n);

#endif
