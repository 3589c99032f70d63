/* rope_freqs.weight for Llama 3.1 scaling, computed as llama.cpp's convert_hf_to_gguf.py does
 * (torch float32 arithmetic): llama.cpp divides each base frequency by factor[i] at run time,
 * so factor = 1 for high frequencies, `factor` for low ones and the inverse of model.py's
 * smooth blend in between. */
#include "convert/convert.h"

#include <math.h>

void l3_rope_factors(const llama3_args *a, float *out) {
    int dim = a->head_dim;
    float factor = a->rope_scale_factor, lo = a->rope_low_freq_factor, hi = a->rope_high_freq_factor;
    float old_ctx = (float)a->rope_original_ctx;
    float low_wavelen = old_ctx / lo, high_wavelen = old_ctx / hi;
    for (int i = 0; i < dim / 2; i++) {
        float freq = 1.0f / powf(a->rope_theta, (float)(2 * i) / (float)dim);
        float wavelen = (float)(2 * M_PI) / freq;
        if (wavelen < high_wavelen) out[i] = 1.0f;
        else if (wavelen > low_wavelen) out[i] = factor;
        else {
            float smooth = (old_ctx / wavelen - lo) / (hi - lo);
            out[i] = 1.0f / ((1.0f - smooth) / factor + smooth);
        }
    }
}
