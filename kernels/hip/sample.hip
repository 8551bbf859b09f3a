// sample.hip: token choice on the device, so only token ids cross to the host: greedy
// argmax per logits row, and the sampling chain of the CPU sampler (llama.cpp's order:
// top-k, top-p, min-p, temperature, seeded draw) for one row per sequence.
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

// ---- the sampling chain --------------------------------------------------------------

// Candidates the sorted path holds (top-k beyond this, or no top-k with top-p, work on
// the best RF_SAMPLE_CAP tokens and hand the row to the host if the cut falls past them).
#define RF_SAMPLE_CAP 2048
// Threads per row of rf_sample_f32 (the launcher's block size).
#define RF_SAMPLE_THREADS 1024
// The id that asks the host to sample the row itself (candidates beyond RF_SAMPLE_CAP, or
// nothing to sample).
#define RF_SAMPLE_HOST 0xffffffffu

// Per-launch parameters (mirrors the launcher's SampleArgs).
struct rf_sample {
    float temperature; // > 0 (<= 0: greedy)
    float top_p;       // 1: off
    float min_p;       // 0: off
    rf_u32 top_k;      // 0: off
    rf_u32 min_keep;   // >= 1
    rf_u32 n_vocab;
};

// A logit with NaN read as -inf (the host sampler refuses NaN rows; here they lose).
RF_DEVICE float rf_logit(const float* row, rf_u32 i) {
    const float v = row[i];
    return v != v ? __int_as_float(0xff800000) : v;
}

// An unsigned key that orders like the float.
RF_DEVICE rf_u32 rf_order_key(float f) {
    const rf_u32 u = __float_as_uint(f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// SplitMix64's finaliser.
RF_DEVICE unsigned long long rf_mix64(unsigned long long z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// The uniform number in [0, 1) of draw `step` of a sequence seeded `seed` (53 bits;
// kernels::sample_uniform computes the same on the host).
RF_DEVICE double rf_uniform(unsigned long long seed, rf_u32 step) {
    const unsigned long long z = rf_mix64(rf_mix64(seed) + (unsigned long long)step * 0x9e3779b97f4a7c15ull);
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

// Block-wide exclusive prefix sum of one value per thread (blockDim.x == RF_SAMPLE_THREADS);
// `total` receives the sum. Deterministic: a fixed Hillis-Steele order.
template <typename T> RF_DEVICE T rf_block_scan(T v, T* buf, T* total) {
    const rf_u32 tid = threadIdx.x;
    buf[tid] = v;
    __syncthreads();
    for (rf_u32 off = 1; off < blockDim.x; off <<= 1) {
        const T add = tid >= off ? buf[tid - off] : T(0);
        __syncthreads();
        buf[tid] += add;
        __syncthreads();
    }
    const T incl = buf[tid];
    *total = buf[blockDim.x - 1];
    __syncthreads();
    return incl - v;
}

// Candidate a comes before b: larger logit, then lower id.
RF_DEVICE bool rf_before(float la, rf_u32 ia, float lb, rf_u32 ib) {
    return la > lb || (la == lb && ia < ib);
}

// One row per block: ids[r] = a token drawn from logits row r through the chain, with the
// uniform number of (seeds[r], steps[r]). RF_SAMPLE_HOST when the row needs the host.
RF_KERNEL void rf_sample_f32(const float* __restrict__ logits, rf_u32* __restrict__ ids,
                             const unsigned long long* __restrict__ seeds, const rf_u32* __restrict__ steps,
                             rf_sample p) {
    __shared__ float cl[RF_SAMPLE_CAP];
    __shared__ rf_u32 ci[RF_SAMPLE_CAP];
    __shared__ rf_u32 hist[256];
    __shared__ double dbuf[RF_SAMPLE_THREADS];
    __shared__ rf_u32 ubuf[RF_SAMPLE_THREADS];
    __shared__ rf_u32 sel_prefix;
    __shared__ rf_u32 sel_left;
    __shared__ rf_u32 result;
    const rf_u32 tid = threadIdx.x;
    const rf_u32 n = p.n_vocab;
    const float* row = logits + (size_t)blockIdx.x * n;
    const float neg_inf = __int_as_float(0xff800000);

    // The best token: greedy's answer and the chain's maximum.
    float best = neg_inf;
    rf_u32 best_i = 0xffffffffu;
    for (rf_u32 k = tid; k < n; k += blockDim.x) {
        rf_best(best, best_i, rf_logit(row, k), k);
    }
    rf_block_best(best, best_i);
    if (best == neg_inf) {
        if (tid == 0) {
            ids[blockIdx.x] = RF_SAMPLE_HOST;
        }
        return;
    }
    if (p.temperature <= 0.0f) {
        if (tid == 0) {
            ids[blockIdx.x] = best_i;
        }
        return;
    }
    const float mx = best;
    const double u = rf_uniform(seeds[blockIdx.x], steps[blockIdx.x]);
    // Temperature divides the logits, as the CPU does (not a multiply by the inverse).
    const float t = p.temperature;
    const rf_u32 min_keep = p.min_keep > 0 ? p.min_keep : 1;
    const float minp_thr = p.min_p > 0.0f ? mx + logf(p.min_p) : neg_inf;
    // Each thread's contiguous run of ids (id-ordered passes).
    const rf_u32 seg = (n + blockDim.x - 1) / blockDim.x;
    const rf_u32 lo = tid * seg < n ? tid * seg : n;
    const rf_u32 hi = lo + seg < n ? lo + seg : n;

    // No top-k and no top-p: the CPU keeps id order and draws over the min-p survivors,
    // unless fewer than min_keep survive (then the best min_keep, sorted: below).
    rf_u32 k_sel = 0;
    if (p.top_k == 0 && p.top_p >= 1.0f) {
        rf_u32 cnt = 0;
        double mass = 0.0;
        for (rf_u32 k = lo; k < hi; ++k) {
            const float l = rf_logit(row, k);
            if (l >= minp_thr) {
                cnt += 1;
                mass += (double)expf(l / t - mx / t);
            }
        }
        rf_u32 cnt_total;
        rf_block_scan(cnt, ubuf, &cnt_total);
        if (cnt_total >= min_keep || p.min_p <= 0.0f) {
            double total;
            const double before = rf_block_scan(mass, dbuf, &total);
            const double target = u * total;
            if (tid == 0) {
                result = RF_SAMPLE_HOST;
            }
            __syncthreads();
            if (target >= before && target < before + mass) {
                double cum = before;
                for (rf_u32 k = lo; k < hi; ++k) {
                    const float l = rf_logit(row, k);
                    if (l >= minp_thr) {
                        cum += (double)expf(l / t - mx / t);
                        if (target < cum) {
                            result = k;
                            break;
                        }
                    }
                }
            }
            __syncthreads();
            if (tid == 0) {
                // Rounding left the target at the very top: the CPU takes the last token
                // with mass; the best token is the safe stand-in only when it is the sole one.
                ids[blockIdx.x] = result != RF_SAMPLE_HOST ? result : (cnt_total == 1 ? best_i : RF_SAMPLE_HOST);
            }
            return;
        }
        k_sel = min_keep;
    }

    // The sorted path: the best k tokens (ties: lower ids) gathered, then sorted.
    bool truncated = false;
    rf_u32 k = k_sel;
    if (k == 0) {
        k = p.top_k > 0 ? (p.top_k > min_keep ? p.top_k : min_keep) : n;
    }
    if (k > n) {
        k = n;
    }
    if (k > RF_SAMPLE_CAP) {
        k = RF_SAMPLE_CAP;
        truncated = true;
    }
    // Radix select of the k-th largest key, 8 bits at a time (integer counts: exact).
    if (tid == 0) {
        sel_prefix = 0;
        sel_left = k;
    }
    rf_u32 mask = 0;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (rf_u32 b = tid; b < 256; b += blockDim.x) {
            hist[b] = 0;
        }
        __syncthreads();
        const rf_u32 prefix = sel_prefix;
        for (rf_u32 i = tid; i < n; i += blockDim.x) {
            const rf_u32 key = rf_order_key(rf_logit(row, i));
            if ((key & mask) == prefix) {
                atomicAdd(&hist[(key >> shift) & 255u], 1u);
            }
        }
        __syncthreads();
        if (tid == 0) {
            rf_u32 left = sel_left;
            for (int b = 255; b >= 0; --b) {
                if (hist[b] >= left) {
                    sel_prefix = prefix | ((rf_u32)b << shift);
                    break;
                }
                left -= hist[b];
            }
            sel_left = left;
        }
        mask |= 255u << shift;
        __syncthreads();
    }
    const rf_u32 thr = sel_prefix;
    const rf_u32 take_eq = sel_left;
    // Ordered gather: every key above the threshold, and the first take_eq equal to it.
    rf_u32 n_gt = 0;
    rf_u32 n_eq = 0;
    for (rf_u32 i = lo; i < hi; ++i) {
        const rf_u32 key = rf_order_key(rf_logit(row, i));
        n_gt += key > thr;
        n_eq += key == thr;
    }
    rf_u32 gt_total;
    rf_u32 eq_total;
    rf_u32 gt_at = rf_block_scan(n_gt, ubuf, &gt_total);
    rf_u32 eq_at = rf_block_scan(n_eq, ubuf, &eq_total);
    for (rf_u32 i = lo; i < hi; ++i) {
        const float l = rf_logit(row, i);
        const rf_u32 key = rf_order_key(l);
        if (key > thr) {
            cl[gt_at] = l;
            ci[gt_at] = i;
            gt_at += 1;
        } else if (key == thr) {
            if (eq_at < take_eq) {
                cl[gt_total + eq_at] = l;
                ci[gt_total + eq_at] = i;
            }
            eq_at += 1;
        }
    }
    // Pad to a power of two and sort (bitonic) into the CPU's order.
    rf_u32 size = 1;
    while (size < k) {
        size <<= 1;
    }
    for (rf_u32 i = k + tid; i < size; i += blockDim.x) {
        cl[i] = neg_inf;
        ci[i] = 0xffffffffu;
    }
    __syncthreads();
    for (rf_u32 w = 2; w <= size; w <<= 1) {
        for (rf_u32 j = w >> 1; j > 0; j >>= 1) {
            for (rf_u32 i = tid; i < size; i += blockDim.x) {
                const rf_u32 o = i ^ j;
                if (o > i) {
                    const bool first_half = (i & w) == 0;
                    const bool swap = first_half ? rf_before(cl[o], ci[o], cl[i], ci[i])
                                                 : rf_before(cl[i], ci[i], cl[o], ci[o]);
                    if (swap) {
                        const float tl = cl[i];
                        const rf_u32 ti = ci[i];
                        cl[i] = cl[o];
                        ci[i] = ci[o];
                        cl[o] = tl;
                        ci[o] = ti;
                    }
                }
            }
            __syncthreads();
        }
    }
    // Softmax normaliser of the kept set for top-p: the k held, or the whole row when no
    // top-k (or one beyond the cap) keeps everything.
    double z = 0.0;
    const rf_u32 k_wanted = p.top_k > min_keep ? p.top_k : min_keep;
    const bool whole_row = k_sel == 0 && (p.top_k == 0 || k_wanted >= n);
    if (p.top_p < 1.0f && truncated && !whole_row) {
        // top-p normalises over a top-k set larger than the candidates held.
        if (tid == 0) {
            ids[blockIdx.x] = RF_SAMPLE_HOST;
        }
        return;
    }
    if (p.top_p < 1.0f && k_sel == 0) {
        double part = 0.0;
        if (whole_row) {
            for (rf_u32 i = lo; i < hi; ++i) {
                part += (double)expf(rf_logit(row, i) - mx);
            }
        } else {
            for (rf_u32 i = tid; i < k; i += blockDim.x) {
                part += (double)expf(cl[i] - mx);
            }
        }
        rf_block_scan(part, dbuf, &z);
    }
    if (tid == 0) {
        rf_u32 len = k;
        bool cut = !truncated;
        if (p.top_p < 1.0f && k_sel == 0) {
            // The smallest prefix reaching top_p, at least min_keep long.
            const float inv = (float)(1.0 / z);
            float cum = 0.0f;
            for (rf_u32 i = 0; i < k; ++i) {
                cum += expf(cl[i] - mx) * inv;
                if (cum >= p.top_p && i + 1 >= min_keep) {
                    len = i + 1;
                    cut = true;
                    break;
                }
            }
        }
        if (p.min_p > 0.0f && k_sel == 0) {
            rf_u32 kept = 0;
            while (kept < len && cl[kept] >= minp_thr) {
                kept += 1;
            }
            if (kept < len) {
                cut = true;
            }
            len = kept >= min_keep ? kept : (min_keep < len ? min_keep : len);
        }
        if (truncated && (!cut || len >= k)) {
            // The survivors may run past the candidates held.
            result = RF_SAMPLE_HOST;
        } else {
            // Temperature, then the draw in the sorted order (f64 sums, as the CPU).
            double total = 0.0;
            for (rf_u32 i = 0; i < len; ++i) {
                total += (double)expf(cl[i] / t - mx / t);
            }
            const double target = u * total;
            double cum = 0.0;
            result = RF_SAMPLE_HOST;
            rf_u32 last = ci[0];
            for (rf_u32 i = 0; i < len; ++i) {
                const float w = expf(cl[i] / t - mx / t);
                if (w > 0.0f) {
                    last = ci[i];
                }
                cum += (double)w;
                if (target < cum) {
                    result = ci[i];
                    break;
                }
            }
            if (result == RF_SAMPLE_HOST) {
                result = last;
            }
        }
        ids[blockIdx.x] = result;
    }
}
