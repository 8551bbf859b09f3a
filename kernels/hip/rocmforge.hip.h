// rocmforge.hip.h: the one portability header every ROCmForge kernel includes.
//
// The same kernel source is compiled by hipcc and hiprtc (AMD) and by nvcc and NVRTC
// (NVIDIA). This header hides the differences: the warp width (a compile-time constant the
// compiler is given as -DWARP_SIZE=32|64), warp shuffles and reductions, the 4-way int8 dot
// product, and half / bfloat16 conversions. Kernels use only the rf_* names defined here.
#ifndef ROCMFORGE_HIP_H
#define ROCMFORGE_HIP_H

#ifndef WARP_SIZE
#error "WARP_SIZE must be defined by the compiler options (-DWARP_SIZE=64 on GCN/CDNA, 32 on RDNA and NVIDIA)"
#endif
#if WARP_SIZE != 32 && WARP_SIZE != 64
#error "WARP_SIZE must be 32 or 64"
#endif

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define RF_NVIDIA 1
#else
#define RF_AMD 1
#if !defined(__HIPCC_RTC__)
#include <hip/hip_runtime.h>
#endif
// The device pass knows the real wavefront width; a mismatch would silently drop lanes.
#if defined(__AMDGCN_WAVEFRONT_SIZE) && __AMDGCN_WAVEFRONT_SIZE != WARP_SIZE
#error "WARP_SIZE does not match the wavefront size of the target (__AMDGCN_WAVEFRONT_SIZE)"
#endif
#endif

#define RF_DEVICE __device__ __forceinline__
#define RF_KERNEL extern "C" __global__

// Fixed-width integer types without <stdint.h> (not available under every run-time compiler).
typedef unsigned int rf_u32;
typedef int rf_i32;
typedef unsigned short rf_u16;

// Global index of this thread and the total number of threads in a 1-D grid.
RF_DEVICE rf_u32 rf_global_id() { return blockIdx.x * blockDim.x + threadIdx.x; }
RF_DEVICE rf_u32 rf_grid_stride() { return gridDim.x * blockDim.x; }

// ---- warp shuffles and reductions -------------------------------------------------------

RF_DEVICE float rf_shfl_xor(float v, int lane_mask) {
#if defined(RF_NVIDIA)
    return __shfl_xor_sync(0xffffffffu, v, lane_mask, WARP_SIZE);
#else
    return __shfl_xor(v, lane_mask, WARP_SIZE);
#endif
}

RF_DEVICE rf_i32 rf_shfl_xor(rf_i32 v, int lane_mask) {
#if defined(RF_NVIDIA)
    return __shfl_xor_sync(0xffffffffu, v, lane_mask, WARP_SIZE);
#else
    return __shfl_xor(v, lane_mask, WARP_SIZE);
#endif
}

// Sum over all lanes of a warp; every lane receives the total.
template <typename T> RF_DEVICE T rf_warp_sum(T v) {
#pragma unroll
    for (int offset = WARP_SIZE / 2; offset > 0; offset >>= 1) {
        v += rf_shfl_xor(v, offset);
    }
    return v;
}

// Sum over all threads of a block (blockDim.x a multiple of WARP_SIZE, at most 1024).
// `scratch` is shared memory of WARP_SIZE elements. Thread 0 receives the total.
template <typename T> RF_DEVICE T rf_block_sum(T v, T* scratch) {
    const rf_u32 lane = threadIdx.x % WARP_SIZE;
    const rf_u32 warp = threadIdx.x / WARP_SIZE;
    const rf_u32 warps = blockDim.x / WARP_SIZE;
    v = rf_warp_sum(v);
    if (lane == 0) {
        scratch[warp] = v;
    }
    __syncthreads();
    if (warp == 0) {
        v = lane < warps ? scratch[lane] : T(0);
        v = rf_warp_sum(v);
    }
    return v;
}

// ---- 4-way int8 dot product ---------------------------------------------------------------

// a and b each hold four signed 8-bit values; returns c + sum(a[i] * b[i]).
RF_DEVICE rf_i32 rf_dot4_i8(rf_i32 a, rf_i32 b, rf_i32 c) {
#if defined(RF_NVIDIA)
#if __CUDA_ARCH__ >= 610
    return __dp4a(a, b, c);
#else
#define RF_DOT4_PORTABLE 1
#endif
#elif defined(__gfx906__) || defined(__gfx908__) || defined(__gfx90a__) || defined(__gfx940__) || \
    defined(__gfx941__) || defined(__gfx942__) || defined(__gfx950__) || defined(__gfx1011__) ||   \
    defined(__gfx1012__) || defined(__gfx1030__) || defined(__gfx1031__) || defined(__gfx1032__) || \
    defined(__gfx1033__) || defined(__gfx1034__) || defined(__gfx1035__) || defined(__gfx1036__)
    return __builtin_amdgcn_sdot4(a, b, c, false);
#elif defined(__gfx1100__) || defined(__gfx1101__) || defined(__gfx1102__) || defined(__gfx1103__) || \
    defined(__gfx1150__) || defined(__gfx1151__) || defined(__gfx1200__) || defined(__gfx1201__)
    return __builtin_amdgcn_sudot4(true, a, true, b, c, false);
#else
#define RF_DOT4_PORTABLE 1
#endif
#if defined(RF_DOT4_PORTABLE)
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const rf_i32 ai = (rf_i32)(signed char)((a >> (8 * i)) & 0xff);
        const rf_i32 bi = (rf_i32)(signed char)((b >> (8 * i)) & 0xff);
        c += ai * bi;
    }
    return c;
#endif
}

// ---- half and bfloat16 (as raw 16-bit patterns, no vendor header needed) ------------------

RF_DEVICE float rf_half_to_float(rf_u16 h) {
#if defined(RF_NVIDIA)
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
#else
    return (float)__builtin_bit_cast(_Float16, h);
#endif
}

RF_DEVICE rf_u16 rf_float_to_half(float f) {
#if defined(RF_NVIDIA)
    rf_u16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
#else
    return __builtin_bit_cast(rf_u16, (_Float16)f);
#endif
}

RF_DEVICE float rf_bf16_to_float(rf_u16 b) { return __uint_as_float(((rf_u32)b) << 16); }

// Round to nearest, ties to even; NaN stays NaN (quietened).
RF_DEVICE rf_u16 rf_float_to_bf16(float f) {
    rf_u32 u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        return (rf_u16)((u >> 16) | 0x40u);
    }
    u += 0x7fffu + ((u >> 16) & 1u);
    return (rf_u16)(u >> 16);
}

#endif // ROCMFORGE_HIP_H
