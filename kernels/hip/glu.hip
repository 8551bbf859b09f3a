// glu.hip: gated linear units, gate = act(gate) * up, in place on the gate (SiLU and
// ggml's tanh-approximated GELU).
#include "rocmforge.hip.h"

// SiLU: x * sigmoid(x).
RF_DEVICE float rf_silu(float x) { return x / (1.0f + expf(-x)); }

// GELU, tanh approximation with ggml's constants.
RF_DEVICE float rf_gelu_tanh(float x) {
    const float sqrt_2_over_pi = 0.7978845608f;
    const float coef_a = 0.044715f;
    return 0.5f * x * (1.0f + tanhf(sqrt_2_over_pi * x * (1.0f + coef_a * x * x)));
}

// gate[i] = silu(gate[i]) * up[i]
RF_KERNEL void rf_swiglu_f32(float* __restrict__ gate, const float* __restrict__ up, rf_u32 n) {
    for (rf_u32 i = rf_global_id(); i < n; i += rf_grid_stride()) {
        gate[i] = rf_silu(gate[i]) * up[i];
    }
}

// gate[i] = gelu_tanh(gate[i]) * up[i]
RF_KERNEL void rf_geglu_f32(float* __restrict__ gate, const float* __restrict__ up, rf_u32 n) {
    for (rf_u32 i = rf_global_id(); i < n; i += rf_grid_stride()) {
        gate[i] = rf_gelu_tanh(gate[i]) * up[i];
    }
}
