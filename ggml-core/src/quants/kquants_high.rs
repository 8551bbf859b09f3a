//! The 4-, 5-, 6- and 8-bit k-quants: Q4_K and Q5_K (8 groups of 32, 6-bit scales and
//! mins), Q6_K (16 groups of 16, 8-bit scales) and Q8_K (one f32 scale, group sums).

use super::blocks::{BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K, F16Le, F32Le, I16Le};
use super::scale_search::{
    make_qkx2_quants, make_qx_quants, nearest_int, signed_absmax, Qkx2Search, GROUP_MAX_EPS,
};
use super::{BlockFormat, BlockQuantize};
use crate::dtype::{GgmlType, QK_K};

/// Scale and min of group `j` (0..8) from the 12 packed bytes of Q4_K/Q5_K (ggml's
/// `get_scale_min_k4`).
pub(crate) fn scale_min_k4(j: usize, q: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// Packs eight scales and eight mins in `0..64` (the inverse of [`scale_min_k4`]).
fn pack_scale_min_k4(scales: &[u8; 8], mins: &[u8; 8]) -> [u8; 12] {
    let mut q = [0u8; 12];
    for j in 0..8 {
        let (ls, lm) = (scales[j], mins[j]);
        if j < 4 {
            q[j] = ls;
            q[j + 4] = lm;
        } else {
            q[j + 4] = (ls & 0x0f) | ((lm & 0x0f) << 4);
            q[j - 4] |= (ls >> 4) << 6;
            q[j] |= (lm >> 4) << 6;
        }
    }
    q
}

/// What the Q4_K and Q5_K quantizers share: per-group asymmetric searches, 6-bit scales
/// and mins under two f16 super-scales, then levels re-quantized against those.
struct AffineK {
    d: F16Le,
    dmin: F16Le,
    scales: [u8; 12],
    levels: [u8; QK_K],
}

fn quantize_affine_k(x: &[f32], search: &Qkx2Search) -> AffineK {
    let mut levels = [0u8; QK_K];
    let mut scales = [0f32; QK_K / 32];
    let mut mins = [0f32; QK_K / 32];
    let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
    for j in 0..QK_K / 32 {
        let xg = &x[32 * j..32 * j + 32];
        let sum_x2: f32 = xg.iter().fold(0.0, |acc, &v| acc + v * v);
        let av_x = (sum_x2 / 32.0).sqrt();
        let weights: [f32; 32] = std::array::from_fn(|l| av_x + xg[l].abs());
        let (scale, min) = make_qkx2_quants(search, xg, &weights, &mut levels[32 * j..][..32]);
        scales[j] = scale;
        mins[j] = min;
        if scale > max_scale {
            max_scale = scale;
        }
        if min > max_min {
            max_min = min;
        }
    }
    let inv_scale = if max_scale > 0.0 {
        63.0 / max_scale
    } else {
        0.0
    };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let ls: [u8; 8] = std::array::from_fn(|j| (nearest_int(inv_scale * scales[j]) as u8).min(63));
    let lm: [u8; 8] = std::array::from_fn(|j| (nearest_int(inv_min * mins[j]) as u8).min(63));
    let packed = pack_scale_min_k4(&ls, &lm);
    let d = F16Le::from_f32(max_scale / 63.0);
    let dmin = F16Le::from_f32(max_min / 63.0);

    for j in 0..QK_K / 32 {
        let (sc, m) = scale_min_k4(j, &packed);
        let dj = d.to_f32() * f32::from(sc);
        if dj == 0.0 {
            continue;
        }
        let dm = dmin.to_f32() * f32::from(m);
        for k in 32 * j..32 * j + 32 {
            levels[k] = nearest_int((x[k] + dm) / dj).clamp(0, search.nmax) as u8;
        }
    }
    AffineK {
        d,
        dmin,
        scales: packed,
        levels,
    }
}

/// Writes `d * sc * q - dmin * m` for the eight groups of 32; `q(i)` is weight `i`'s level.
fn dequantize_affine_k(
    d: F16Le,
    dmin: F16Le,
    scales: &[u8; 12],
    out: &mut [f32],
    q: impl Fn(usize) -> u8,
) {
    let (d, dmin) = (d.to_f32(), dmin.to_f32());
    for (j, group) in out.chunks_exact_mut(32).enumerate() {
        let (sc, m) = scale_min_k4(j, scales);
        let (dl, ml) = (d * f32::from(sc), dmin * f32::from(m));
        for (l, y) in group.iter_mut().enumerate() {
            *y = dl * f32::from(q(32 * j + l)) - ml;
        }
    }
}

/// The nibble of weight `i` in Q4_K/Q5_K `qs`: each 64 weights share 32 bytes, the first
/// 32 in the low nibbles.
#[inline]
pub(crate) fn nibble_k(qs: &[u8; QK_K / 2], i: usize) -> u8 {
    let byte = qs[(i / 64) * 32 + i % 32];
    if i % 64 < 32 {
        byte & 0x0f
    } else {
        byte >> 4
    }
}

/// Packs 256 levels' low nibbles (the inverse of [`nibble_k`]).
fn pack_nibbles_k(levels: &[u8; QK_K]) -> [u8; QK_K / 2] {
    std::array::from_fn(|b| {
        let base = (b / 32) * 64 + b % 32;
        (levels[base] & 0x0f) | ((levels[base + 32] & 0x0f) << 4)
    })
}

impl BlockFormat for BlockQ4K {
    const TYPE: GgmlType = GgmlType::Q4_K;
    const ELEMS: usize = QK_K;

    fn dequantize(&self, out: &mut [f32]) {
        dequantize_affine_k(self.d, self.dmin, &self.scales, out, |i| {
            nibble_k(&self.qs, i)
        });
    }
}

impl BlockQuantize for BlockQ4K {
    fn quantize(x: &[f32]) -> Self {
        let search = Qkx2Search {
            nmax: 15,
            rmin: -1.0,
            rdelta: 0.1,
            nstep: 20,
            use_mad: false,
        };
        let q = quantize_affine_k(x, &search);
        BlockQ4K {
            d: q.d,
            dmin: q.dmin,
            scales: q.scales,
            qs: pack_nibbles_k(&q.levels),
        }
    }
}

impl BlockFormat for BlockQ5K {
    const TYPE: GgmlType = GgmlType::Q5_K;
    const ELEMS: usize = QK_K;

    fn dequantize(&self, out: &mut [f32]) {
        dequantize_affine_k(self.d, self.dmin, &self.scales, out, |i| {
            let high = (self.qh[i % 32] >> (i / 32)) & 1;
            nibble_k(&self.qs, i) | (high << 4)
        });
    }
}

impl BlockQuantize for BlockQ5K {
    fn quantize(x: &[f32]) -> Self {
        let search = Qkx2Search {
            nmax: 31,
            rmin: -0.5,
            rdelta: 0.1,
            nstep: 15,
            use_mad: false,
        };
        let q = quantize_affine_k(x, &search);
        let mut qh = [0u8; QK_K / 8];
        for (i, &l) in q.levels.iter().enumerate() {
            qh[i % 32] |= (l >> 4) << (i / 32);
        }
        BlockQ5K {
            d: q.d,
            dmin: q.dmin,
            scales: q.scales,
            qh,
            qs: pack_nibbles_k(&q.levels),
        }
    }
}

/// The 6-bit level of Q6_K weight `i`: in each half (128 weights) weight `l + 32 * k`
/// takes nibble `k / 2` of `ql[l + 32 * (k % 2)]` and bits `2k..2k+2` of `qh[l]`.
#[inline]
pub(crate) fn q6k_level(ql: &[u8; QK_K / 2], qh: &[u8; QK_K / 4], i: usize) -> u8 {
    let (half, within) = (i / 128, i % 128);
    let (k, l) = (within / 32, within % 32);
    let low_byte = ql[half * 64 + l + 32 * (k % 2)];
    let low = if k < 2 {
        low_byte & 0x0f
    } else {
        low_byte >> 4
    };
    let high = (qh[half * 32 + l] >> (2 * k)) & 3;
    low | (high << 4)
}

impl BlockFormat for BlockQ6K {
    const TYPE: GgmlType = GgmlType::Q6_K;
    const ELEMS: usize = QK_K;

    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (g, group) in out.chunks_exact_mut(16).enumerate() {
            let dl = d * f32::from(self.scales[g]);
            for (k, y) in group.iter_mut().enumerate() {
                let q = q6k_level(&self.ql, &self.qh, 16 * g + k) as i8 - 32;
                *y = dl * f32::from(q);
            }
        }
    }
}

impl BlockQuantize for BlockQ6K {
    fn quantize(x: &[f32]) -> Self {
        let mut levels = [0u8; QK_K];
        let mut scales = [0f32; QK_K / 16];
        let (mut max_scale, mut max_abs_scale) = (0.0f32, 0.0f32);
        for g in 0..QK_K / 16 {
            scales[g] = make_qx_quants(32, &x[16 * g..16 * g + 16], &mut levels[16 * g..][..16]);
            if scales[g].abs() > max_abs_scale {
                max_abs_scale = scales[g].abs();
                max_scale = scales[g];
            }
        }
        let mut block = BlockQ6K {
            ql: [0; QK_K / 2],
            qh: [0; QK_K / 4],
            scales: [0; QK_K / 16],
            d: F16Le::from_f32(0.0),
        };
        if max_abs_scale < GROUP_MAX_EPS {
            return block;
        }
        let iscale = -128.0 / max_scale;
        block.d = F16Le::from_f32(1.0 / iscale);
        for (s, &scale) in block.scales.iter_mut().zip(&scales) {
            // ggml stores MIN(127, l) in an int8_t.
            *s = nearest_int(iscale * scale).min(127) as i8;
        }
        for g in 0..QK_K / 16 {
            let d = block.d.to_f32() * f32::from(block.scales[g]);
            if d == 0.0 {
                continue;
            }
            for k in 16 * g..16 * g + 16 {
                levels[k] = (nearest_int(x[k] / d).clamp(-32, 31) + 32) as u8;
            }
        }
        for (i, &l) in levels.iter().enumerate() {
            let (half, within) = (i / 128, i % 128);
            let (k, j) = (within / 32, within % 32);
            block.ql[half * 64 + j + 32 * (k % 2)] |= (l & 0x0f) << (4 * (k / 2));
            block.qh[half * 32 + j] |= (l >> 4) << (2 * k);
        }
        block
    }
}

impl BlockFormat for BlockQ8K {
    const TYPE: GgmlType = GgmlType::Q8_K;
    const ELEMS: usize = QK_K;

    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.get();
        for (y, &q) in out.iter_mut().zip(&self.qs) {
            *y = d * f32::from(q);
        }
    }
}

impl BlockQuantize for BlockQ8K {
    fn quantize(x: &[f32]) -> Self {
        let mut block = BlockQ8K {
            d: F32Le::new(0.0),
            qs: [0; QK_K],
            bsums: [I16Le::new(0); QK_K / 16],
        };
        let (max, amax) = signed_absmax(x);
        if amax == 0.0 {
            return block;
        }
        // -127 rather than -128 keeps every quant symmetric, as ggml does for IQ2 dot
        // products.
        let iscale = -127.0 / max;
        for (q, &v) in block.qs.iter_mut().zip(x) {
            *q = nearest_int(iscale * v).min(127) as i8;
        }
        for (sum, group) in block.bsums.iter_mut().zip(block.qs.chunks_exact(16)) {
            *sum = I16Le::new(group.iter().map(|&q| i16::from(q)).sum());
        }
        block.d = F32Le::new(1.0 / iscale);
        block
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k4_scales_round_trip() {
        let s: [u8; 8] = std::array::from_fn(|j| (j as u8 * 9 + 1) % 64);
        let m: [u8; 8] = std::array::from_fn(|j| (j as u8 * 13 + 60) % 64);
        let packed = pack_scale_min_k4(&s, &m);
        for j in 0..8 {
            assert_eq!(scale_min_k4(j, &packed), (s[j], m[j]));
        }
    }

    #[test]
    fn q8k_sums_and_scale() {
        let x: Vec<f32> = (0..QK_K).map(|i| (i as f32 - 100.0) / 8.0).collect();
        let b = BlockQ8K::quantize(&x);
        // The scale carries the sign of the largest weight, which maps to -127.
        assert_eq!(b.d.get(), 1.0 / (-127.0 / (155.0 / 8.0)));
        assert_eq!(b.qs[255], -127);
        let sum0: i16 = b.qs[..16].iter().map(|&q| i16::from(q)).sum();
        assert_eq!(b.bsums[0].get(), sum0);
        let mut out = vec![0f32; QK_K];
        b.dequantize(&mut out);
        assert_eq!(out[255], b.d.get() * -127.0);
    }
}
