/* ModelArgs: Meta's dataclass fields, the sizes model.py derives from them, and checks. */
#include "args.h"

#include <math.h>
#include <string.h>
#include "util.h"

void l3_args_defaults(llama3_args *a) {
    memset(a, 0, sizeof *a);
    /* model.py's defaults where a format is silent. */
    a->multiple_of = 256;
    a->norm_eps = 1e-5f;
    a->rope_theta = 500000.0f;
    a->max_batch_size = 32;
    a->max_seq_len = 2048;
    a->rope_scale_factor = 8.0f;
    a->rope_low_freq_factor = 1.0f;
    a->rope_high_freq_factor = 4.0f;
    a->rope_original_ctx = 8192;
}

int l3_args_ffn_width(int dim, int multiple_of, float ffn_dim_multiplier) {
    /* FeedForward.__init__: hidden_dim = 4 * dim, then int(2 * hidden_dim / 3), then the
     * optional multiplier, then round up to multiple_of. */
    long hidden = (long)(2 * (4L * dim) / 3);
    if (ffn_dim_multiplier > 0) hidden = (long)(ffn_dim_multiplier * (double)hidden);
    if (multiple_of > 0) hidden = multiple_of * ((hidden + multiple_of - 1) / multiple_of);
    return (int)hidden;
}

int l3_args_finalize(llama3_args *a, const char *src, llama3_error *err) {
    const int LIMIT = 1 << 20;
#define CHECK_RANGE(field, lo, hi)                                                          \
    if (a->field < (lo) || a->field > (hi))                                                 \
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: %s = %d out of range [%d, %d]", src, #field, \
                       a->field, (int)(lo), (int)(hi));
    CHECK_RANGE(dim, 1, LIMIT);
    CHECK_RANGE(n_layers, 1, 4096);
    CHECK_RANGE(n_heads, 1, 4096);
    CHECK_RANGE(n_kv_heads, 1, 4096);
    CHECK_RANGE(vocab_size, 1, 1 << 24);
    CHECK_RANGE(hidden_dim, 1, 1 << 22);
    CHECK_RANGE(max_seq_len, 1, 1 << 24);
#undef CHECK_RANGE
    if (a->dim % a->n_heads != 0)
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: n_heads (%d) does not divide dim (%d)", src, a->n_heads, a->dim);
    if (a->n_heads % a->n_kv_heads != 0)
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: n_kv_heads (%d) does not divide n_heads (%d)", src,
                       a->n_kv_heads, a->n_heads);
    a->head_dim = a->dim / a->n_heads;
    if (a->head_dim % 2 != 0)
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: head_dim %d is odd; RoPE needs pairs", src, a->head_dim);
    if (!(a->norm_eps > 0 && a->norm_eps < 1))
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: norm_eps %g out of range", src, a->norm_eps);
    if (!(a->rope_theta > 1 && isfinite(a->rope_theta)))
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: rope_theta %g out of range", src, a->rope_theta);
    if (a->use_scaled_rope &&
        !(a->rope_scale_factor > 0 && a->rope_low_freq_factor > 0 &&
          a->rope_high_freq_factor > a->rope_low_freq_factor && a->rope_original_ctx > 0))
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: invalid Llama 3.1 rope scaling parameters", src);
    if (a->max_batch_size <= 0) a->max_batch_size = 1;
    return 0;
}

/* model.py precompute_freqs_cis + apply_scaling, in float32 like torch. */
void l3_rope_freqs(const llama3_args *a, const float *file_factors, float *out) {
    int half = a->head_dim / 2;
    for (int i = 0; i < half; i++) {
        float expo = (float)(2 * i) / (float)a->head_dim;
        float freq = 1.0f / powf(a->rope_theta, expo);
        if (file_factors) {
            freq = freq / file_factors[i];
        } else if (a->use_scaled_rope) {
            const double pi = 3.14159265358979323846;
            float low_wavelen = a->rope_original_ctx / a->rope_low_freq_factor;
            float high_wavelen = a->rope_original_ctx / a->rope_high_freq_factor;
            float wavelen = (float)(2 * pi / freq);
            if (wavelen < high_wavelen) {
                /* high frequency: unchanged */
            } else if (wavelen > low_wavelen) {
                freq = freq / a->rope_scale_factor;
            } else {
                float smooth = (a->rope_original_ctx / wavelen - a->rope_low_freq_factor) /
                               (a->rope_high_freq_factor - a->rope_low_freq_factor);
                freq = (1 - smooth) * freq / a->rope_scale_factor + smooth * freq;
            }
        }
        out[i] = freq;
    }
}
