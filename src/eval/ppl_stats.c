/* Log-softmax, KL divergence and mean +/- standard error for the perplexity tool. */
#include <math.h>

#include "llama3_tools.h"

int llama3_log_softmax(const float *logits, float *out, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    double max = logits[best], sum = 0;
    for (int i = 0; i < n; i++) sum += exp((double)logits[i] - max);
    double lse = max + log(sum);
    for (int i = 0; i < n; i++) out[i] = (float)((double)logits[i] - lse);
    return best;
}

double llama3_mean(const llama3_mean_acc *a) { return a->n ? a->sum / (double)a->n : 0; }

double llama3_mean_err(const llama3_mean_acc *a) {
    if (a->n < 2) return 0;
    double m = a->sum / (double)a->n, var = a->sum2 / (double)a->n - m * m;
    return var > 0 ? sqrt(var / (double)(a->n - 1)) : 0;
}

double llama3_kl_div(const float *logp, const float *logq, int n) {
    double kl = 0;
    for (int i = 0; i < n; i++) {
        double lp = logp[i];
        kl += exp(lp) * (lp - (double)logq[i]);
    }
    return kl;
}
