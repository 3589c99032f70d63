/* The reference kernel set: plain C from the type table, what every faster set is tested
 * against. */
#include "kernels/kernels.h"

static float dot_f32(const float *a, const float *b, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void axpy_f32(float a, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static float dot_f16_f32(const uint16_t *a, const float *b, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += l3_f16_to_f32(a[i]) * b[i];
    return s;
}

static void axpy_f16(float a, const uint16_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * l3_f16_to_f32(x[i]);
}

static void gemm_f32(const float *w, int64_t ldw, int nw, const float *x, int64_t ldx, int nx,
                     float *y, int64_t ldy, int64_t n) {
    for (int j = 0; j < nx; j++)
        for (int i = 0; i < nw; i++) y[j * ldy + i] += dot_f32(w + i * ldw, x + j * ldx, n);
}

void l3_kernels_init_scalar(l3_kernel_set *k) {
    k->isa = "scalar";
    for (int t = 0; t < L3_TYPE_COUNT; t++) {
        const l3_type_info *ti = l3_type_get((uint32_t)t);
        k->dot[t] = ti ? ti->dot_f32 : NULL;
        k->to_float[t] = ti ? ti->to_float : NULL;
    }
    k->dot_f32 = dot_f32;
    k->axpy_f32 = axpy_f32;
    k->dot_f16_f32 = dot_f16_f32;
    k->axpy_f16 = axpy_f16;
    k->gemm_f32 = gemm_f32;
}
