// matvec.hip: decode-time matrix x vector products for every weight type, 1 to 8 columns:
// out[c][r] = W[r] . x[c], and the fused gate/up product with the GLU
// out[c][r] = act(Wg[r] . x[c]) * (Wu[r] . x[c]).
//
// Quantized weights meet activations quantized once per matmul by rf_quantize_q8_1 into the
// split q8_1 layout (below) and are dotted with 4-way int8 products. F32/F16/BF16 weights meet
// the f32 activations directly.
//
// Mapping: one warp per weight row, the block's warps on consecutive rows. A warp stages a
// stretch of its row (RF_MV_UPL sub-blocks of 32 weights per lane) into shared memory with
// 16-byte loads (whatever the block alignment: 2-byte Q4_0 blocks load as well as Q4_K), then
// each lane decodes its sub-blocks from there and dots them with the activations, which it
// reads 16 bytes at a time. Dynamic shared memory: warps * RF_MV_STAGE_BYTES.
#include "rocmforge.hip.h"
#include "quants.hip.h"

// Split q8_1 activations of m rows of k values (k a multiple of 32): first the int8 quants,
// row-major [m][k]; then one u32 per 32 values, [m][k/32], holding f16 d (low half) and
// f16 s = d * sum(quants) (high half). The values of ggml's block_q8_1, as arrays.

// 16 bytes moved with one load.
struct alignas(16) rf_v16 {
    rf_u32 x, y, z, w;
};

// Sub-blocks of 32 weights each lane decodes per stage.
#define RF_MV_UPL 2
// Shared memory of one warp: RF_MV_UPL sub-blocks per lane of the widest type (Q8_0: 34 bytes
// per 32 weights) and the 16-byte alignment slack.
#define RF_MV_STAGE_BYTES (WARP_SIZE * RF_MV_UPL * 36 + 32)

// y = split q8_1 of x (f32 [m][k]); n = m * k. Each 32 consecutive threads own one block.
RF_KERNEL void rf_quantize_q8_1(const float* __restrict__ x, rf_u8* __restrict__ y, rf_u32 n) {
    rf_u32* ds = (rf_u32*)(y + n);
    for (rf_u32 i = rf_global_id(); i < n; i += rf_grid_stride()) {
        const float v = x[i];
        float amax = fabsf(v);
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            amax = fmaxf(amax, rf_shfl_xor(amax, o));
        }
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const rf_i32 q = (rf_i32)roundf(v * id);
        rf_i32 sum = q;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            sum += rf_shfl_xor(sum, o);
        }
        y[i] = (rf_u8)(rf_i8)q;
        if ((i & 31u) == 0) {
            ds[i / 32] = (rf_u32)rf_float_to_half(d) | ((rf_u32)rf_float_to_half((float)sum * d) << 16);
        }
    }
}

// The value table of a LUT type (unused for the others).
template <class Q> RF_DEVICE rf_i8 rf_table(int i) { return 0; }
template <> RF_DEVICE rf_i8 rf_table<rf_iq4_nl>(int i) { return rf_kvalues_iq4nl[i]; }
template <> RF_DEVICE rf_i8 rf_table<rf_iq4_xs>(int i) { return rf_kvalues_iq4nl[i]; }
template <> RF_DEVICE rf_i8 rf_table<rf_mxfp4>(int i) { return rf_kvalues_mxfp4[i]; }

// One decoded sub-block dotted with column c's 32 activations.
template <class Q>
RF_DEVICE float rf_unit_dot(const rf_unit& w, const rf_i8* __restrict__ xq, rf_u32 ds) {
    const rf_v16 x0 = ((const rf_v16*)xq)[0];
    const rf_v16 x1 = ((const rf_v16*)xq)[1];
    const rf_i32 d0 = rf_dot4_i8(w.q[3], (rf_i32)x0.w,
                                 rf_dot4_i8(w.q[2], (rf_i32)x0.z,
                                            rf_dot4_i8(w.q[1], (rf_i32)x0.y, rf_dot4_i8(w.q[0], (rf_i32)x0.x, 0))));
    const rf_i32 d1 = rf_dot4_i8(w.q[7], (rf_i32)x1.w,
                                 rf_dot4_i8(w.q[6], (rf_i32)x1.z,
                                            rf_dot4_i8(w.q[5], (rf_i32)x1.y, rf_dot4_i8(w.q[4], (rf_i32)x1.x, 0))));
    const float dx = rf_half_to_float((rf_u16)(ds & 0xffffu));
    float r = dx * (w.a0 * (float)d0 + w.a1 * (float)d1);
    if (Q::MIN32) {
        r += w.m * rf_half_to_float((rf_u16)(ds >> 16));
    }
    if (Q::MIN16) {
        const rf_i32 ones = 0x01010101;
        const rf_i32 s0 = rf_dot4_i8(ones, (rf_i32)x0.w,
                                     rf_dot4_i8(ones, (rf_i32)x0.z,
                                                rf_dot4_i8(ones, (rf_i32)x0.y, rf_dot4_i8(ones, (rf_i32)x0.x, 0))));
        const rf_i32 s1 = rf_dot4_i8(ones, (rf_i32)x1.w,
                                     rf_dot4_i8(ones, (rf_i32)x1.z,
                                                rf_dot4_i8(ones, (rf_i32)x1.y, rf_dot4_i8(ones, (rf_i32)x1.x, 0))));
        r += dx * (w.m0 * (float)s0 + w.m1 * (float)s1);
    }
    return r;
}

// acc[c] += this lane's share of row . x[c] for a quantized row of nblk blocks. Every thread
// of the block calls it (it synchronises the block); `active` is false for warps past the
// last row. `limit` is the end of the weight tensor, never read past.
template <class Q, int NC>
RF_DEVICE void rf_mv_row(const rf_u8* __restrict__ row, bool active, rf_u32 nblk, const rf_u8* limit,
                         const rf_u8* __restrict__ xa, rf_u32 k, rf_u32 ncols, rf_u8* stage, const rf_i8* lut,
                         float* acc) {
    enum { UPB = Q::QK / 32, UNITS = WARP_SIZE * RF_MV_UPL, BPS = UNITS / UPB };
    const rf_u32 lane = threadIdx.x % WARP_SIZE;
    const rf_i8* xq = (const rf_i8*)xa;
    const rf_u32* xds = (const rf_u32*)(xa + (unsigned long long)ncols * k);
    const rf_u32 units_per_col = k / 32;
    for (rf_u32 b0 = 0; b0 < nblk; b0 += BPS) {
        const rf_u32 nb = nblk - b0 < (rf_u32)BPS ? nblk - b0 : (rf_u32)BPS;
        const rf_u8* src = row + (unsigned long long)b0 * Q::BYTES;
        const rf_u32 head = (rf_u32)((unsigned long long)src & 15u);
        const rf_u8* base = src - head;
        const rf_u32 n16 = (head + nb * Q::BYTES + 15) / 16;
        __syncthreads();
        if (active) {
            for (rf_u32 c = lane; c < n16; c += WARP_SIZE) {
                const rf_u8* p = base + 16 * c;
                if (p + 16 <= limit) {
                    ((rf_v16*)stage)[c] = *(const rf_v16*)p;
                } else {
                    for (int j = 0; j < 16; ++j) {
                        stage[16 * c + j] = p + j < limit ? p[j] : 0;
                    }
                }
            }
        }
        __syncthreads();
        if (active) {
#pragma unroll
            for (int t = 0; t < RF_MV_UPL; ++t) {
                const rf_u32 u = lane + t * WARP_SIZE;
                if (u < nb * UPB) {
                    rf_unit w;
                    Q::unit(stage + head + (u / UPB) * Q::BYTES, (int)(u % UPB), lut, w);
                    const rf_u32 gu = b0 * UPB + u;
#pragma unroll
                    for (int c = 0; c < NC; ++c) {
                        if ((rf_u32)c < ncols) {
                            acc[c] += rf_unit_dot<Q>(w, xq + (unsigned long long)c * k + 32 * gu,
                                                     xds[c * units_per_col + gu]);
                        }
                    }
                }
            }
        }
    }
}

// Eight consecutive weights of a plain row from 16-byte aligned p.
RF_DEVICE void rf_load8(const rf_f32*, const rf_u8* p, float* w) {
    const rf_v16 a = ((const rf_v16*)p)[0], b = ((const rf_v16*)p)[1];
    w[0] = __uint_as_float(a.x), w[1] = __uint_as_float(a.y), w[2] = __uint_as_float(a.z), w[3] = __uint_as_float(a.w);
    w[4] = __uint_as_float(b.x), w[5] = __uint_as_float(b.y), w[6] = __uint_as_float(b.z), w[7] = __uint_as_float(b.w);
}
RF_DEVICE void rf_load8(const rf_f16*, const rf_u8* p, float* w) {
    const rf_v16 a = *(const rf_v16*)p;
    const rf_u32 v[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        w[2 * i] = rf_half_to_float((rf_u16)(v[i] & 0xffffu));
        w[2 * i + 1] = rf_half_to_float((rf_u16)(v[i] >> 16));
    }
}
RF_DEVICE void rf_load8(const rf_bf16*, const rf_u8* p, float* w) {
    const rf_v16 a = *(const rf_v16*)p;
    const rf_u32 v[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        w[2 * i] = __uint_as_float(v[i] << 16);
        w[2 * i + 1] = __uint_as_float(v[i] & 0xffff0000u);
    }
}

// acc[c] += this lane's share of row . x[c] for a plain (f32/f16/bf16) row of k weights and
// f32 activations [NC][k]. Eight weights per load when k % 8 == 0 (rows and activations are
// then 16-byte aligned), one at a time otherwise.
template <class Q, int NC>
RF_DEVICE void rf_mvf_row(const rf_u8* __restrict__ row, const float* __restrict__ x, rf_u32 k, rf_u32 ncols,
                          float* acc) {
    const rf_u32 lane = threadIdx.x % WARP_SIZE;
    if (k % 8 == 0) {
        for (rf_u32 e = 8 * lane; e < k; e += 8 * WARP_SIZE) {
            float w[8];
            rf_load8((const Q*)0, row + (unsigned long long)e * Q::BYTES, w);
#pragma unroll
            for (int c = 0; c < NC; ++c) {
                if ((rf_u32)c < ncols) {
                    const rf_v16* xc = (const rf_v16*)(x + (unsigned long long)c * k + e);
                    const rf_v16 a = xc[0], b = xc[1];
                    float s = acc[c];
                    s += w[0] * __uint_as_float(a.x) + w[1] * __uint_as_float(a.y);
                    s += w[2] * __uint_as_float(a.z) + w[3] * __uint_as_float(a.w);
                    s += w[4] * __uint_as_float(b.x) + w[5] * __uint_as_float(b.y);
                    s += w[6] * __uint_as_float(b.z) + w[7] * __uint_as_float(b.w);
                    acc[c] = s;
                }
            }
        }
    } else {
        for (rf_u32 e = lane; e < k; e += WARP_SIZE) {
            const float w = Q::value(row + (unsigned long long)e * Q::BYTES, 0);
#pragma unroll
            for (int c = 0; c < NC; ++c) {
                if ((rf_u32)c < ncols) {
                    acc[c] += w * x[(unsigned long long)c * k + e];
                }
            }
        }
    }
}

// Quantized or plain: the row dot for type Q (plain types read f32 activations).
template <class Q, int NC, bool PLAIN = (Q::QK == 1)> struct rf_mv_kind {
    RF_DEVICE static void row(const rf_u8* row, bool active, rf_u32 nblk, const rf_u8* limit, const rf_u8* xa,
                              rf_u32 k, rf_u32 ncols, rf_u8* stage, const rf_i8* lut, float* acc) {
        rf_mv_row<Q, NC>(row, active, nblk, limit, xa, k, ncols, stage, lut, acc);
    }
};
template <class Q, int NC> struct rf_mv_kind<Q, NC, true> {
    RF_DEVICE static void row(const rf_u8* row, bool active, rf_u32, const rf_u8*, const rf_u8* xa, rf_u32 k,
                              rf_u32 ncols, rf_u8*, const rf_i8*, float* acc) {
        if (active) {
            rf_mvf_row<Q, NC>(row, (const float*)xa, k, ncols, acc);
        }
    }
};

RF_DEVICE float rf_silu(float x) { return x / (1.0f + expf(-x)); }
RF_DEVICE float rf_gelu_tanh(float x) {
    return 0.5f * x * (1.0f + tanhf(0.7978846f * x * (1.0f + 0.044715f * x * x)));
}

extern __shared__ rf_v16 rf_mv_smem[];

// out[c][r] = W[r] . x[c] (up == 0), or act(W[r] . x[c]) * (up[r] . x[c]) with act SiLU
// (glu_kind 0) or GELU-tanh (1). One warp per row; NC (1 or 8) is the most columns this
// instantiation serves, ncols <= NC the columns asked for.
template <class Q, int NC>
RF_DEVICE void rf_mv(const rf_u8* __restrict__ w, const rf_u8* __restrict__ up, const rf_u8* __restrict__ xa,
                     float* __restrict__ out, rf_u32 n_rows, rf_u32 k, rf_u32 ncols, rf_u32 glu_kind) {
    __shared__ rf_i8 lut[16];
    if (Q::LUT) {
        if (threadIdx.x < 16) {
            lut[threadIdx.x] = rf_table<Q>((int)threadIdx.x);
        }
        __syncthreads();
    }
    const rf_u32 warp = threadIdx.x / WARP_SIZE;
    const rf_u32 r = blockIdx.x * (blockDim.x / WARP_SIZE) + warp;
    const bool active = r < n_rows;
    const rf_u32 nblk = k / Q::QK;
    const unsigned long long row_bytes = (unsigned long long)nblk * Q::BYTES;
    const rf_u32 rr = active ? r : 0;
    rf_u8* stage = (rf_u8*)rf_mv_smem + warp * RF_MV_STAGE_BYTES;
    float gate[NC], acc[NC];
    // Pass 0: W (the gate when up is given); pass 1: up. One copy of the row loop.
#pragma unroll 1
    for (int pass = 0; pass < (up ? 2 : 1); ++pass) {
        const rf_u8* m = pass == 0 ? w : up;
#pragma unroll
        for (int c = 0; c < NC; ++c) {
            acc[c] = 0.0f;
        }
        rf_mv_kind<Q, NC>::row(m + rr * row_bytes, active, nblk, m + n_rows * row_bytes, xa, k, ncols, stage, lut,
                               acc);
#pragma unroll
        for (int c = 0; c < NC; ++c) {
            acc[c] = rf_warp_sum(acc[c]);
            if (pass == 0) {
                gate[c] = acc[c];
            }
        }
    }
    if (active && threadIdx.x % WARP_SIZE == 0) {
#pragma unroll
        for (int c = 0; c < NC; ++c) {
            if ((rf_u32)c < ncols) {
                const float g = gate[c];
                const float v = up ? (glu_kind == 0 ? rf_silu(g) : rf_gelu_tanh(g)) * acc[c] : g;
                out[(unsigned long long)c * n_rows + r] = v;
            }
        }
    }
}

template <class Q>
RF_DEVICE void rf_mv_cols(const rf_u8* w, const rf_u8* up, const rf_u8* xa, float* out, rf_u32 n_rows, rf_u32 k,
                          rf_u32 ncols, rf_u32 glu_kind) {
    // Two instantiations keep compile times short: one column (batch-1 decode) and up to
    // eight (columns past ncols are skipped, not computed).
    if (ncols <= 1) {
        rf_mv<Q, 1>(w, up, xa, out, n_rows, k, ncols, glu_kind);
    } else {
        rf_mv<Q, 8>(w, up, xa, out, n_rows, k, ncols, glu_kind);
    }
}

// w: n_rows rows of k weights; x: split q8_1 (quantized types) or f32 [ncols][k] (plain);
// out f32 [ncols][n_rows]. up: the up-projection for the fused GLU, or null.
#define RF_MV_PARAMS                                                                                      \
    const rf_u8 *__restrict__ w, const rf_u8 *__restrict__ up, const rf_u8 *__restrict__ x,               \
        float *__restrict__ out, rf_u32 n_rows, rf_u32 k, rf_u32 ncols, rf_u32 glu_kind
#define RF_MV_ARGS w, up, x, out, n_rows, k, ncols, glu_kind

RF_KERNEL void rf_mv_f32(RF_MV_PARAMS) { rf_mv_cols<rf_f32>(RF_MV_ARGS); }
RF_KERNEL void rf_mv_f16(RF_MV_PARAMS) { rf_mv_cols<rf_f16>(RF_MV_ARGS); }
RF_KERNEL void rf_mv_bf16(RF_MV_PARAMS) { rf_mv_cols<rf_bf16>(RF_MV_ARGS); }
RF_KERNEL void rf_mv_q4_0(RF_MV_PARAMS) { rf_mv_cols<rf_q4_0>(RF_MV_ARGS); }
RF_KERNEL void rf_mv_q4_1(RF_MV_PARAMS) { rf_mv_cols<rf_q4_1>(RF_MV_ARGS); }
RF_KERNEL void rf_mv_q5_0(RF_MV_PARAMS) { rf_mv_cols<rf_q5_0>(RF_MV_ARGS); }
RF_KERNEL void rf_mv_q5_1(RF_MV_PARAMS) { rf_mv_cols<rf_q5_1>(RF_MV_ARGS); }
RF_KERNEL void rf_mv_q8_0(RF_MV_PARAMS) { rf_mv_cols<rf_q8_0>(RF_MV_ARGS); }
RF_KERNEL void rf_mv_q2_k(RF_MV_PARAMS) { rf_mv_cols<rf_q2_k>(RF_MV_ARGS); }
RF_KERNEL void rf_mv_q3_k(RF_MV_PARAMS) { rf_mv_cols<rf_q3_k>(RF_MV_ARGS); }
RF_KERNEL void rf_mv_q4_k(RF_MV_PARAMS) { rf_mv_cols<rf_q4_k>(RF_MV_ARGS); }
RF_KERNEL void rf_mv_q5_k(RF_MV_PARAMS) { rf_mv_cols<rf_q5_k>(RF_MV_ARGS); }
RF_KERNEL void rf_mv_q6_k(RF_MV_PARAMS) { rf_mv_cols<rf_q6_k>(RF_MV_ARGS); }
RF_KERNEL void rf_mv_iq4_nl(RF_MV_PARAMS) { rf_mv_cols<rf_iq4_nl>(RF_MV_ARGS); }
RF_KERNEL void rf_mv_iq4_xs(RF_MV_PARAMS) { rf_mv_cols<rf_iq4_xs>(RF_MV_ARGS); }
RF_KERNEL void rf_mv_mxfp4(RF_MV_PARAMS) { rf_mv_cols<rf_mxfp4>(RF_MV_ARGS); }
