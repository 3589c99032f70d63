/* The ops of model.py in double precision (op_reference.h). */
#include "op_reference.h"

#include <math.h>

void ref_rmsnorm(double *out, const float *x, const float *w, int n, float eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    double r = 1.0 / sqrt(ss / n + (double)eps);
    for (int i = 0; i < n; i++) out[i] = x[i] * r * w[i];
}

void ref_matmul(double *Y, const float *X, const float *W, int T, int rows, int cols) {
    for (int t = 0; t < T; t++)
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int c = 0; c < cols; c++) s += (double)X[(int64_t)t * cols + c] * W[(int64_t)r * cols + c];
            Y[(int64_t)t * rows + r] = s;
        }
}

void ref_rope(double *out, const float *x, int n_heads, int head_dim, int pos, const float *freqs, int half) {
    const int h2 = head_dim / 2;
    for (int h = 0; h < n_heads; h++)
        for (int i = 0; i < h2; i++) {
            const int a = h * head_dim + (half ? i : 2 * i), b = h * head_dim + (half ? i + h2 : 2 * i + 1);
            const double angle = (double)((float)pos * freqs[i]), c = cos(angle), s = sin(angle);
            out[a] = x[a] * c - x[b] * s;
            out[b] = x[a] * s + x[b] * c;
        }
}

void ref_attention_head(double *out, const double *q, const double *k, const double *v, int64_t kst, int np, int hd) {
    double scores[4096], mx = -INFINITY, sum = 0;
    for (int p = 0; p < np; p++) {
        double s = 0;
        for (int e = 0; e < hd; e++) s += q[e] * k[p * kst + e];
        scores[p] = s / sqrt((double)hd);
        if (scores[p] > mx) mx = scores[p];
    }
    for (int p = 0; p < np; p++) sum += scores[p] = exp(scores[p] - mx);
    for (int e = 0; e < hd; e++) {
        double o = 0;
        for (int p = 0; p < np; p++) o += scores[p] / sum * v[p * kst + e];
        out[e] = o;
    }
}

double ref_swiglu(float h1, float h3) { return (double)h1 / (1.0 + exp(-(double)h1)) * h3; }

double rel_l2(const float *got, const double *want, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) return INFINITY;
        num += (got[i] - want[i]) * (got[i] - want[i]);
        den += want[i] * want[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}
