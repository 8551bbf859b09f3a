// elementwise.hip: one-pass f32 kernels over flat arrays (fill, copy, add, scale).
#include "rocmforge.hip.h"

// y[i] = value
RF_KERNEL void rf_fill_f32(float* __restrict__ y, float value, rf_u32 n) {
    for (rf_u32 i = rf_global_id(); i < n; i += rf_grid_stride()) {
        y[i] = value;
    }
}

// y[i] = x[i]
RF_KERNEL void rf_copy_f32(const float* __restrict__ x, float* __restrict__ y, rf_u32 n) {
    for (rf_u32 i = rf_global_id(); i < n; i += rf_grid_stride()) {
        y[i] = x[i];
    }
}

// z[i] = x[i] + y[i]
RF_KERNEL void rf_add_f32(const float* __restrict__ x, const float* __restrict__ y, float* __restrict__ z,
                          rf_u32 n) {
    for (rf_u32 i = rf_global_id(); i < n; i += rf_grid_stride()) {
        z[i] = x[i] + y[i];
    }
}

// y[i] = x[i] * factor
RF_KERNEL void rf_scale_f32(const float* __restrict__ x, float* __restrict__ y, float factor, rf_u32 n) {
    for (rf_u32 i = rf_global_id(); i < n; i += rf_grid_stride()) {
        y[i] = x[i] * factor;
    }
}
