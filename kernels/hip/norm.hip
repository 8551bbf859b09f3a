// norm.hip: RMS normalisation over rows, alone and fused with the residual add before it.
// One block per row (gridDim.x rows); blockDim.x a multiple of WARP_SIZE, at most 1024.
#include "rocmforge.hip.h"

// The factor 1/sqrt(mean(x^2) + eps) of one row, known to every thread of the block.
RF_DEVICE float rf_rms_scale(const float* row, rf_u32 dim, float eps) {
    __shared__ float scratch[WARP_SIZE];
    __shared__ float total;
    float acc = 0.0f;
    for (rf_u32 i = threadIdx.x; i < dim; i += blockDim.x) {
        acc += row[i] * row[i];
    }
    acc = rf_block_sum(acc, scratch);
    if (threadIdx.x == 0) {
        total = acc;
    }
    __syncthreads();
    return 1.0f / sqrtf(total / (float)dim + eps);
}

// y[r] = x[r] / rms(x[r]) * w (w may be null: no weight). x and y may be the same rows.
RF_KERNEL void rf_rms_norm_f32(const float* x, float* y, const float* __restrict__ w, rf_u32 dim, float eps) {
    const float* row = x + (size_t)blockIdx.x * dim;
    float* out = y + (size_t)blockIdx.x * dim;
    const float scale = rf_rms_scale(row, dim, eps);
    for (rf_u32 i = threadIdx.x; i < dim; i += blockDim.x) {
        const float v = row[i] * scale;
        out[i] = w ? v * w[i] : v;
    }
}

// x[r] += y[r]; xn[r] = x[r] / rms(x[r]) * w (w may be null). The residual stream x is
// updated in place; xn receives the normalised copy.
RF_KERNEL void rf_add_rms_norm_f32(float* __restrict__ x, const float* __restrict__ y, float* __restrict__ xn,
                                   const float* __restrict__ w, rf_u32 dim, float eps) {
    float* row = x + (size_t)blockIdx.x * dim;
    const float* add = y + (size_t)blockIdx.x * dim;
    float* out = xn + (size_t)blockIdx.x * dim;
    // Each thread writes and later rereads only its own elements: no barrier needed
    // before the reduction, which ends with one.
    for (rf_u32 i = threadIdx.x; i < dim; i += blockDim.x) {
        row[i] += add[i];
    }
    const float scale = rf_rms_scale(row, dim, eps);
    for (rf_u32 i = threadIdx.x; i < dim; i += blockDim.x) {
        const float v = row[i] * scale;
        out[i] = w ? v * w[i] : v;
    }
}
