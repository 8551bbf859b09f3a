// convert.hip: conversions between f32 and the 16-bit float formats (f16, bf16).
#include "rocmforge.hip.h"

// y[i] = f32(x[i]) for IEEE half x
RF_KERNEL void rf_f16_to_f32(const rf_u16* __restrict__ x, float* __restrict__ y, rf_u32 n) {
    for (rf_u32 i = rf_global_id(); i < n; i += rf_grid_stride()) {
        y[i] = rf_half_to_float(x[i]);
    }
}

// y[i] = f16(x[i]), rounded to nearest even
RF_KERNEL void rf_f32_to_f16(const float* __restrict__ x, rf_u16* __restrict__ y, rf_u32 n) {
    for (rf_u32 i = rf_global_id(); i < n; i += rf_grid_stride()) {
        y[i] = rf_float_to_half(x[i]);
    }
}

// y[i] = f32(x[i]) for bfloat16 x
RF_KERNEL void rf_bf16_to_f32(const rf_u16* __restrict__ x, float* __restrict__ y, rf_u32 n) {
    for (rf_u32 i = rf_global_id(); i < n; i += rf_grid_stride()) {
        y[i] = rf_bf16_to_float(x[i]);
    }
}

// y[i] = bf16(x[i]), rounded to nearest even
RF_KERNEL void rf_f32_to_bf16(const float* __restrict__ x, rf_u16* __restrict__ y, rf_u32 n) {
    for (rf_u32 i = rf_global_id(); i < n; i += rf_grid_stride()) {
        y[i] = rf_float_to_bf16(x[i]);
    }
}
