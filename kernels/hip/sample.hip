// sample.hip: token choice on the device, so only token ids cross to the host: greedy
// argmax per logits row.
#include "rocmforge.hip.h"

// The better of two (value, index) candidates: larger value, then lower index; NaN never wins.
RF_DEVICE void rf_best(float& v, rf_u32& i, float ov, rf_u32 oi) {
    if (ov > v || (ov == v && oi < i)) {
        v = ov;
        i = oi;
    }
}

// Block-wide best (value, index); every thread receives it. blockDim.x a multiple of
// WARP_SIZE, at most 1024.
RF_DEVICE void rf_block_best(float& v, rf_u32& i) {
    __shared__ float sv[WARP_SIZE];
    __shared__ rf_u32 si[WARP_SIZE];
    const rf_u32 lane = threadIdx.x % WARP_SIZE;
    const rf_u32 warp = threadIdx.x / WARP_SIZE;
#pragma unroll
    for (int off = WARP_SIZE / 2; off > 0; off >>= 1) {
        rf_best(v, i, rf_shfl_xor(v, off), (rf_u32)rf_shfl_xor((rf_i32)i, off));
    }
    __syncthreads();
    if (lane == 0) {
        sv[warp] = v;
        si[warp] = i;
    }
    __syncthreads();
    const rf_u32 warps = blockDim.x / WARP_SIZE;
    v = __int_as_float(0xff800000);
    i = 0xffffffffu;
    for (rf_u32 w = 0; w < warps; ++w) {
        rf_best(v, i, sv[w], si[w]);
    }
    __syncthreads();
}

// ids[r] = the index of the largest logit of row r (ties: the lowest index; NaNs ignored;
// a row of NaNs gives 0). One block per row.
RF_KERNEL void rf_argmax_f32(const float* __restrict__ logits, rf_u32* __restrict__ ids, rf_u32 n_vocab) {
    const float* row = logits + (size_t)blockIdx.x * n_vocab;
    float v = __int_as_float(0xff800000);
    rf_u32 i = 0xffffffffu;
    for (rf_u32 k = threadIdx.x; k < n_vocab; k += blockDim.x) {
        rf_best(v, i, row[k], k);
    }
    rf_block_best(v, i);
    if (threadIdx.x == 0) {
        ids[blockIdx.x] = i == 0xffffffffu ? 0 : i;
    }
}
