// attention.hip: causal attention over the paged f16 KV cache with GQA, sliding windows,
// logit soft-capping and an online softmax. One kernel serves prefill and decode:
//   - a block takes `q_tokens` consecutive tokens of the micro-batch and one KV head, so
//     every K/V tile it stages in shared memory serves q_tokens x (n_head / n_kv_head)
//     queries (prefill tiling, GQA sharing);
//   - gridDim.x > 1 splits each token's keys into chunks of `chunk_keys` (flash-decoding):
//     each chunk writes a partial (max, sum, unnormalised accumulator) and
//     rf_attn_combine merges them, so long contexts fill the GPU even for one token.
// Positions, the token -> block-table-row map and the block tables are read from device
// buffers; device indices out of range are masked, never followed.
#include "rocmforge.hip.h"

// Cache slots per KV block (the block tables' granularity) and keys per shared-memory tile.
#define RF_KV_BLOCK 16

// Per-launch constants (mirrors the launcher's AttnArgs: same order, 4-byte fields).
struct rf_attn {
    rf_u32 n_head;     // query heads
    rf_u32 n_kv_head;  // KV heads (n_head is a multiple)
    rf_u32 dk;         // key / query head dimension
    rf_u32 dv;         // value / output head dimension
    rf_u32 max_blocks; // block-table row length
    rf_u32 n_rows;     // block-table rows
    rf_u32 n_slots;    // cache slots
    rf_u32 m;          // tokens in the micro-batch
    rf_u32 q_tokens;   // consecutive tokens per block
    rf_u32 chunk_keys; // keys per split (a multiple of RF_KV_BLOCK; used when gridDim.x > 1;
                       // the last split also takes every key after its start)
    rf_u32 window;     // sliding window (0: none)
    float scale;       // multiplier of q.k
    float softcap;     // tanh soft-capping of the scaled scores (0: none)
};

RF_DEVICE float rf_neg_inf() { return __int_as_float(0xff800000); }

// Grid: (splits, n_kv_head, ceil(m / q_tokens)); blockDim.x a multiple of WARP_SIZE.
// Dynamic shared memory: see the launcher (attn_shared_bytes).
RF_KERNEL void rf_attn_f16(const float* __restrict__ q, const rf_u16* __restrict__ kc, const rf_u16* __restrict__ vc,
                           const rf_u32* __restrict__ tables, const rf_u32* __restrict__ tok_row,
                           const rf_i32* __restrict__ pos, float* __restrict__ out, float* __restrict__ part,
                           rf_attn a) {
    extern __shared__ float rf_smem[];
    const rf_u32 group = a.n_head / a.n_kv_head;
    const rf_u32 nq = a.q_tokens * group;
    const rf_u32 kh = blockIdx.y;
    const rf_u32 tok0 = blockIdx.z * a.q_tokens;
    const rf_u32 tid = threadIdx.x;
    const bool split = gridDim.x > 1;

    float* qs = rf_smem;                        // [nq][dk]
    float* acc = qs + nq * a.dk;                // [nq][dv]
    float* sc = acc + nq * a.dv;                // [nq][RF_KV_BLOCK] scores, then weights
    float* qmax = sc + nq * RF_KV_BLOCK;        // [nq] running max
    float* qsum = qmax + nq;                    // [nq] running sum
    float* qalpha = qsum + nq;                  // [nq] rescale of the current tile
    rf_i32* qfirst = (rf_i32*)(qalpha + nq);    // [nq] first key position
    rf_i32* qlast = qfirst + nq;                // [nq] last key position (< first: none left)
    rf_u32* qrow = (rf_u32*)(qlast + nq);       // [nq] block-table row
    rf_u16* ks = (rf_u16*)(qrow + nq);          // [RF_KV_BLOCK][dk]
    rf_u16* vs = ks + RF_KV_BLOCK * a.dk;       // [RF_KV_BLOCK][dv]
    __shared__ rf_u32 pass_row;
    __shared__ rf_i32 pass_lo;
    __shared__ rf_i32 pass_hi;

    // Each query: its token, head, row and key range (within this block's chunk).
    for (rf_u32 qi = tid; qi < nq; qi += blockDim.x) {
        const rf_u32 t = tok0 + qi / group;
        rf_i32 first = 0;
        rf_i32 last = -1;
        rf_u32 row = 0;
        if (t < a.m) {
            row = tok_row[t];
            const rf_i32 p = pos[t];
            if (row < a.n_rows && p >= 0) {
                last = p;
                if (a.window > 0 && (rf_i32)a.window <= p) {
                    first = p - (rf_i32)a.window + 1;
                }
                if (split) {
                    const rf_i32 lo = (rf_i32)(blockIdx.x * a.chunk_keys);
                    // The last chunk takes every later key, whatever max_keys was assumed.
                    const rf_i32 hi = blockIdx.x + 1 == gridDim.x ? 0x7fffffff : lo + (rf_i32)a.chunk_keys - 1;
                    first = first > lo ? first : lo;
                    last = last < hi ? last : hi;
                }
            }
        }
        qfirst[qi] = first;
        qlast[qi] = last;
        qrow[qi] = row;
        qmax[qi] = rf_neg_inf();
        qsum[qi] = 0.0f;
    }
    for (rf_u32 i = tid; i < nq * a.dk; i += blockDim.x) {
        const rf_u32 qi = i / a.dk;
        const rf_u32 t = tok0 + qi / group;
        const rf_u32 h = kh * group + qi % group;
        qs[i] = t < a.m ? q[((size_t)t * a.n_head + h) * a.dk + i % a.dk] : 0.0f;
    }
    for (rf_u32 i = tid; i < nq * a.dv; i += blockDim.x) {
        acc[i] = 0.0f;
    }
    __syncthreads();

    // Lanes cooperating on one score: a power of two dividing the warp.
    const rf_u32 dots = nq * RF_KV_BLOCK;
    rf_u32 lanes = 1;
    while (lanes < WARP_SIZE && dots * lanes * 2 <= blockDim.x) {
        lanes *= 2;
    }
    const rf_u32 kv_stride_k = a.n_kv_head * a.dk;
    const rf_u32 kv_stride_v = a.n_kv_head * a.dv;

    // One pass per distinct block-table row among this block's queries (one in practice).
    for (;;) {
        if (tid == 0) {
            pass_row = 0xffffffffu;
            pass_lo = 0x7fffffff;
            pass_hi = -1;
            for (rf_u32 qi = 0; qi < nq; ++qi) {
                if (qlast[qi] < qfirst[qi]) {
                    continue;
                }
                if (pass_row == 0xffffffffu) {
                    pass_row = qrow[qi];
                }
                if (qrow[qi] == pass_row) {
                    pass_lo = qfirst[qi] < pass_lo ? qfirst[qi] : pass_lo;
                    pass_hi = qlast[qi] > pass_hi ? qlast[qi] : pass_hi;
                }
            }
        }
        __syncthreads();
        const rf_u32 row = pass_row;
        if (row == 0xffffffffu) {
            break;
        }
        const rf_i32 lo = pass_lo;
        const rf_i32 hi = pass_hi;
        for (rf_i32 kt0 = lo - lo % RF_KV_BLOCK; kt0 <= hi; kt0 += RF_KV_BLOCK) {
            const rf_u32 b = (rf_u32)kt0 / RF_KV_BLOCK;
            const rf_u32 blk = b < a.max_blocks ? tables[(size_t)row * a.max_blocks + b] : 0xffffffffu;
            // Block ids whose slots fall outside the cache leave the tile masked.
            const bool tile_ok = blk < a.n_slots / RF_KV_BLOCK;
            if (tile_ok) {
                const size_t slot0 = (size_t)blk * RF_KV_BLOCK;
                for (rf_u32 i = tid; i < RF_KV_BLOCK * a.dk; i += blockDim.x) {
                    const rf_u32 j = i / a.dk;
                    ks[i] = kc[(slot0 + j) * kv_stride_k + (size_t)kh * a.dk + i % a.dk];
                }
                for (rf_u32 i = tid; i < RF_KV_BLOCK * a.dv; i += blockDim.x) {
                    const rf_u32 j = i / a.dv;
                    vs[i] = vc[(slot0 + j) * kv_stride_v + (size_t)kh * a.dv + i % a.dv];
                }
            }
            __syncthreads();
            // Scores: `lanes` threads per (query, key), reduced with shuffles.
            for (rf_u32 base = 0; base < dots * lanes; base += blockDim.x) {
                const rf_u32 idx = base + tid;
                const rf_u32 dot = idx / lanes;
                const rf_u32 sub = idx % lanes;
                bool valid = false;
                float s = 0.0f;
                if (dot < dots) {
                    const rf_u32 qi = dot / RF_KV_BLOCK;
                    const rf_u32 j = dot % RF_KV_BLOCK;
                    const rf_i32 kp = kt0 + (rf_i32)j;
                    valid = tile_ok && qrow[qi] == row && kp >= qfirst[qi] && kp <= qlast[qi];
                    if (valid) {
                        const float* qv = qs + qi * a.dk;
                        const rf_u16* kv = ks + j * a.dk;
                        for (rf_u32 d = sub; d < a.dk; d += lanes) {
                            s += qv[d] * rf_half_to_float(kv[d]);
                        }
                    }
                }
                for (rf_u32 off = lanes / 2; off > 0; off /= 2) {
                    s += rf_shfl_xor(s, (int)off);
                }
                if (dot < dots && sub == 0) {
                    float v = rf_neg_inf();
                    if (valid) {
                        v = s * a.scale;
                        if (a.softcap != 0.0f) {
                            v = a.softcap * tanhf(v / a.softcap);
                        }
                    }
                    sc[dot] = v;
                }
            }
            __syncthreads();
            // Online softmax: new running max, rescale factor, weights of this tile.
            for (rf_u32 qi = tid; qi < nq; qi += blockDim.x) {
                float* srow = sc + qi * RF_KV_BLOCK;
                float tmax = rf_neg_inf();
                for (rf_u32 j = 0; j < RF_KV_BLOCK; ++j) {
                    tmax = fmaxf(tmax, srow[j]);
                }
                const float old = qmax[qi];
                const float mx = fmaxf(old, tmax);
                float alpha = 1.0f;
                float tsum = 0.0f;
                if (mx != rf_neg_inf()) {
                    alpha = old == rf_neg_inf() ? 0.0f : expf(old - mx);
                    for (rf_u32 j = 0; j < RF_KV_BLOCK; ++j) {
                        const float w = srow[j] == rf_neg_inf() ? 0.0f : expf(srow[j] - mx);
                        srow[j] = w;
                        tsum += w;
                    }
                } else {
                    for (rf_u32 j = 0; j < RF_KV_BLOCK; ++j) {
                        srow[j] = 0.0f;
                    }
                }
                qmax[qi] = mx;
                qsum[qi] = qsum[qi] * alpha + tsum;
                qalpha[qi] = alpha;
            }
            __syncthreads();
            if (tile_ok) {
                for (rf_u32 i = tid; i < nq * a.dv; i += blockDim.x) {
                    const rf_u32 qi = i / a.dv;
                    const rf_u32 d = i % a.dv;
                    const float* w = sc + qi * RF_KV_BLOCK;
                    float v = acc[i] * qalpha[qi];
                    for (rf_u32 j = 0; j < RF_KV_BLOCK; ++j) {
                        v += w[j] * rf_half_to_float(vs[j * a.dv + d]);
                    }
                    acc[i] = v;
                }
            }
            __syncthreads();
        }
        // This row's queries are done.
        for (rf_u32 qi = tid; qi < nq; qi += blockDim.x) {
            if (qrow[qi] == row) {
                qlast[qi] = qfirst[qi] - 1;
            }
        }
        __syncthreads();
    }

    for (rf_u32 i = tid; i < nq * a.dv; i += blockDim.x) {
        const rf_u32 qi = i / a.dv;
        const rf_u32 t = tok0 + qi / group;
        if (t >= a.m) {
            continue;
        }
        const rf_u32 h = kh * group + qi % group;
        const size_t th = (size_t)t * a.n_head + h;
        if (split) {
            const size_t pi = th * gridDim.x + blockIdx.x;
            part[(size_t)a.m * a.n_head * gridDim.x * 2 + pi * a.dv + i % a.dv] = acc[i];
            if (i % a.dv == 0) {
                part[pi * 2] = qmax[qi];
                part[pi * 2 + 1] = qsum[qi];
            }
        } else {
            const float l = qsum[qi];
            out[th * a.dv + i % a.dv] = l > 0.0f ? acc[i] / l : 0.0f;
        }
    }
}

// Merges the n_chunks partials of rf_attn_f16's split launch into out[m][n_head][dv].
// part: (max, sum) pairs [m][n_head][n_chunks], then accumulators [m][n_head][n_chunks][dv].
// Grid: (n_head, m).
RF_KERNEL void rf_attn_combine(const float* __restrict__ part, float* __restrict__ out, rf_u32 n_head, rf_u32 dv,
                               rf_u32 n_chunks, rf_u32 m) {
    const size_t th = (size_t)blockIdx.y * n_head + blockIdx.x;
    const float* ml = part + th * n_chunks * 2;
    const float* accs = part + (size_t)m * n_head * n_chunks * 2 + th * n_chunks * dv;
    float mx = rf_neg_inf();
    for (rf_u32 c = 0; c < n_chunks; ++c) {
        mx = fmaxf(mx, ml[2 * c]);
    }
    float total = 0.0f;
    for (rf_u32 c = 0; c < n_chunks; ++c) {
        if (ml[2 * c] != rf_neg_inf()) {
            total += ml[2 * c + 1] * expf(ml[2 * c] - mx);
        }
    }
    for (rf_u32 d = threadIdx.x; d < dv; d += blockDim.x) {
        float v = 0.0f;
        for (rf_u32 c = 0; c < n_chunks; ++c) {
            if (ml[2 * c] != rf_neg_inf()) {
                v += accs[(size_t)c * dv + d] * expf(ml[2 * c] - mx);
            }
        }
        out[th * dv + d] = total > 0.0f ? v / total : 0.0f;
    }
}
