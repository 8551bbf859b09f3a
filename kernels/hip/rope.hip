// rope.hip: rotary position embedding (ggml's NORM and NEOX pairings, linear and YaRN
// scaling, per-pair frequency factors, partial rotation) and the KV-cache stores, one of
// them fused with the rotation of K. Positions and cache slots are read from device
// buffers, so a captured graph stays valid as they change. gridDim.y is the token index.
#include "rocmforge.hip.h"

// Per-launch constants, computed on the host from ggml's rope parameters (mirrors
// kernels::RopeConsts: same field order, 4-byte fields, no padding).
struct rf_rope {
    float theta_scale; // freq_base^(-2/n_dims)
    float freq_scale;  // position interpolation factor
    float ext_factor;  // YaRN extrapolation mix (0: no YaRN)
    float mscale;      // attn_factor, times YaRN's magnitude correction when ext_factor != 0
    float corr_lo;     // YaRN correction range of pair indices
    float corr_hi;
    rf_u32 n_dims;     // rotated dimensions (even, <= head_dim)
    rf_u32 neox;       // 1: pairs (i, i + n_dims/2); 0: pairs (2i, 2i + 1)
};

// cos and sin (times mscale) of pair j's angle at position pos; ff may be null.
RF_DEVICE void rf_rope_cos_sin(const rf_rope& p, const float* ff, float pos, rf_u32 j, float* c, float* s) {
    // The angle as a repeated product, rounded step by step exactly as the CPU reference.
    float theta = pos;
    for (rf_u32 k = 0; k < j; ++k) {
        theta *= p.theta_scale;
    }
    if (ff) {
        theta = theta / ff[j];
    }
    const float interp = p.freq_scale * theta;
    float angle = interp;
    if (p.ext_factor != 0.0f) {
        const float y = ((float)j - p.corr_lo) / fmaxf(0.001f, p.corr_hi - p.corr_lo);
        const float mix = (1.0f - fminf(fmaxf(y, 0.0f), 1.0f)) * p.ext_factor;
        angle = interp * (1.0f - mix) + theta * mix;
    }
    *c = cosf(angle) * p.mscale;
    *s = sinf(angle) * p.mscale;
}

// The two elements of pair j within a head.
RF_DEVICE void rf_rope_pair(const rf_rope& p, rf_u32 j, rf_u32* a, rf_u32* b) {
    *a = p.neox ? j : 2 * j;
    *b = p.neox ? j + p.n_dims / 2 : 2 * j + 1;
}

// Rope in place on x laid out [token][n_head][head_dim]; token t at position pos[t].
// One thread per rotated pair; ff (n_dims/2 factors dividing each pair's angle) may be null.
RF_KERNEL void rf_rope_f32(float* __restrict__ x, const rf_i32* __restrict__ pos, const float* __restrict__ ff,
                           rf_u32 n_head, rf_u32 head_dim, rf_rope p) {
    const rf_u32 half = p.n_dims / 2;
    const rf_u32 t = blockIdx.y;
    const float position = (float)pos[t];
    for (rf_u32 i = rf_global_id(); i < n_head * half; i += rf_grid_stride()) {
        const rf_u32 head = i / half;
        const rf_u32 j = i % half;
        float c, s;
        rf_rope_cos_sin(p, ff, position, j, &c, &s);
        rf_u32 a, b;
        rf_rope_pair(p, j, &a, &b);
        float* h = x + ((size_t)t * n_head + head) * head_dim;
        const float x0 = h[a];
        const float x1 = h[b];
        h[a] = x0 * c - x1 * s;
        h[b] = x0 * s + x1 * c;
    }
}

// Cache element conversions.
RF_DEVICE void rf_put(rf_u16* dst, float v) { *dst = rf_float_to_half(v); }
RF_DEVICE void rf_put(float* dst, float v) { *dst = v; }

// Writes token t's K and V rows (kw = n_kv_head*dk and vw = n_kv_head*dv elements) to
// cache slot slots[t]; slots at or past n_slots are skipped.
template <typename T>
RF_DEVICE void rf_store_kv(const float* __restrict__ k, const float* __restrict__ v, const rf_u32* __restrict__ slots,
                           T* __restrict__ kc, T* __restrict__ vc, rf_u32 kw, rf_u32 vw, rf_u32 n_slots) {
    const rf_u32 t = blockIdx.y;
    const rf_u32 slot = slots[t];
    if (slot >= n_slots) {
        return;
    }
    for (rf_u32 i = rf_global_id(); i < kw + vw; i += rf_grid_stride()) {
        if (i < kw) {
            rf_put(kc + (size_t)slot * kw + i, k[(size_t)t * kw + i]);
        } else {
            rf_put(vc + (size_t)slot * vw + (i - kw), v[(size_t)t * vw + (i - kw)]);
        }
    }
}

// KV store into an f16 cache.
RF_KERNEL void rf_store_kv_f16(const float* __restrict__ k, const float* __restrict__ v,
                               const rf_u32* __restrict__ slots, rf_u16* __restrict__ kc, rf_u16* __restrict__ vc,
                               rf_u32 kw, rf_u32 vw, rf_u32 n_slots) {
    rf_store_kv(k, v, slots, kc, vc, kw, vw, n_slots);
}

// KV store into an f32 cache.
RF_KERNEL void rf_store_kv_f32(const float* __restrict__ k, const float* __restrict__ v,
                               const rf_u32* __restrict__ slots, float* __restrict__ kc, float* __restrict__ vc,
                               rf_u32 kw, rf_u32 vw, rf_u32 n_slots) {
    rf_store_kv(k, v, slots, kc, vc, kw, vw, n_slots);
}

// Rope on K (not written back) fused with the f16 KV store: token t's rotated K row and
// its V row go to cache slot slots[t] (skipped at or past n_slots).
RF_KERNEL void rf_rope_store_kv_f16(const float* __restrict__ k, const float* __restrict__ v,
                                    const rf_i32* __restrict__ pos, const rf_u32* __restrict__ slots,
                                    const float* __restrict__ ff, rf_u16* __restrict__ kc, rf_u16* __restrict__ vc,
                                    rf_u32 n_kv_head, rf_u32 dk, rf_u32 dv, rf_u32 n_slots, rf_rope p) {
    const rf_u32 t = blockIdx.y;
    const rf_u32 slot = slots[t];
    if (slot >= n_slots) {
        return;
    }
    const rf_u32 kw = n_kv_head * dk;
    const rf_u32 vw = n_kv_head * dv;
    const float position = (float)pos[t];
    const rf_u32 half = p.n_dims / 2;
    for (rf_u32 i = rf_global_id(); i < kw + vw; i += rf_grid_stride()) {
        if (i >= kw) {
            vc[(size_t)slot * vw + (i - kw)] = rf_float_to_half(v[(size_t)t * vw + (i - kw)]);
            continue;
        }
        const float* head = k + (size_t)t * kw + (i / dk) * dk;
        const rf_u32 d = i % dk;
        float out = head[d];
        if (d < p.n_dims) {
            const rf_u32 j = p.neox ? d % half : d / 2;
            rf_u32 a, b;
            rf_rope_pair(p, j, &a, &b);
            float c, s;
            rf_rope_cos_sin(p, ff, position, j, &c, &s);
            out = d == a ? head[a] * c - head[b] * s : head[a] * s + head[b] * c;
        }
        kc[(size_t)slot * kw + i] = rf_float_to_half(out);
    }
}
