// reduce.hip: reductions built on the header's warp and block sums (wave32 and wave64).
#include "rocmforge.hip.h"

// Sums the x[i] this block visits (grid-stride) into partial[blockIdx.x].
template <typename T> RF_DEVICE void rf_sum_blocks(const T* __restrict__ x, T* __restrict__ partial, rf_u32 n) {
    __shared__ T scratch[WARP_SIZE];
    T acc = T(0);
    for (rf_u32 i = rf_global_id(); i < n; i += rf_grid_stride()) {
        acc += x[i];
    }
    acc = rf_block_sum(acc, scratch);
    if (threadIdx.x == 0) {
        partial[blockIdx.x] = acc;
    }
}

// partial[blockIdx.x] = sum of the x[i] this block visits. Launched with many blocks and then
// once more with one block over the partials, the sum is deterministic.
// blockDim.x must be a multiple of WARP_SIZE and at most 1024.
RF_KERNEL void rf_sum_f32(const float* __restrict__ x, float* __restrict__ partial, rf_u32 n) {
    rf_sum_blocks(x, partial, n);
}

// The same for 32-bit integers (the second pass of rf_dot_i8).
RF_KERNEL void rf_sum_i32(const rf_i32* __restrict__ x, rf_i32* __restrict__ partial, rf_u32 n) {
    rf_sum_blocks(x, partial, n);
}

// partial[blockIdx.x] = sum over this block's words of the 4-way int8 dot products a[i]·b[i]
// (each 32-bit word packs four signed bytes). Same launch rules as rf_sum_f32.
RF_KERNEL void rf_dot_i8(const rf_i32* __restrict__ a, const rf_i32* __restrict__ b, rf_i32* __restrict__ partial,
                         rf_u32 n_words) {
    __shared__ rf_i32 scratch[WARP_SIZE];
    rf_i32 acc = 0;
    for (rf_u32 i = rf_global_id(); i < n_words; i += rf_grid_stride()) {
        acc = rf_dot4_i8(a[i], b[i], acc);
    }
    acc = rf_block_sum(acc, scratch);
    if (threadIdx.x == 0) {
        partial[blockIdx.x] = acc;
    }
}
