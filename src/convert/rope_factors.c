/* rope_freqs.weight for Llama 3.1 scaling, with the formula of llama.cpp's
 * convert_hf_to_gguf.py: llama.cpp divides each base frequency by factor[i] at run time, so
 * factor = 1 for high frequencies (wavelength < original_ctx / high_freq_factor), `factor`
 * for low ones (wavelength > original_ctx / low_freq_factor) and the inverse of model.py's
 * smooth blend in between. Evaluated in double and rounded once to float32: that reproduces
 * the reference GGUF files bit for bit (a float32 evaluation differs in the last bit of a
 * few entries). */
#include "convert/convert.h"

#include <math.h>

void l3_rope_factors(const llama3_args *a, float *out) {
    int dim = a->head_dim;
    double factor = a->rope_scale_factor, lo = a->rope_low_freq_factor, hi = a->rope_high_freq_factor;
    double old_ctx = a->rope_original_ctx;
    double low_wavelen = old_ctx / lo, high_wavelen = old_ctx / hi;
    for (int i = 0; i < dim / 2; i++) {
        double freq = 1.0 / pow((double)a->rope_theta, (double)(2 * i) / dim);
        double wavelen = 2 * M_PI / freq;
        double f;
        if (wavelen < high_wavelen) f = 1.0;
        else if (wavelen > low_wavelen) f = factor;
        else {
            double smooth = (old_ctx / wavelen - lo) / (hi - lo);
            f = 1.0 / ((1.0 - smooth) / factor + smooth);
        }
        out[i] = (float)f;
    }
}
