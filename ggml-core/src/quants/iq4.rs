//! The non-linear 4-bit formats IQ4_NL (32-weight blocks) and IQ4_XS (256-weight
//! super-blocks with 6-bit group scales): nibbles index a fixed table of 16 levels.

use super::blocks::{BlockIQ4NL, BlockIQ4XS, F16Le, U16Le, QK32};
use super::scale_search::{best_index_int8, nearest_int, signed_absmax, GROUP_MAX_EPS};
use super::{BlockFormat, BlockQuantize};
use crate::dtype::{GgmlType, QK_K};

/// The 16 levels of IQ4_NL and IQ4_XS (ggml's `kvalues_iq4nl`).
pub const KVALUES_IQ4NL: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// How many scale nudges either way ggml's reference quantizers try.
const NTRY: i32 = 7;

/// Writes `d * KVALUES_IQ4NL[q]` for 32 weights packed as in Q4_0 (16 bytes, element
/// `j` low nibble and `j + 16` high nibble).
fn dequantize_group(d: f32, qs: &[u8], out: &mut [f32]) {
    for (j, &b) in qs.iter().enumerate() {
        out[j] = d * f32::from(KVALUES_IQ4NL[usize::from(b & 0x0f)]);
        out[j + 16] = d * f32::from(KVALUES_IQ4NL[usize::from(b >> 4)]);
    }
}

/// Packs 32 table indices into 16 bytes (the inverse of [`dequantize_group`]).
fn pack_group(levels: &[u8]) -> [u8; 16] {
    std::array::from_fn(|j| levels[j] | (levels[j + 16] << 4))
}

/// Table index of each weight at inverse scale `id`, and the fit sums `(sum w q x,
/// sum w q^2)` with weights `x^2`.
fn fit(id: f32, x: &[f32], levels: &mut [u8]) -> (f32, f32) {
    let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
    for (l, &v) in levels.iter_mut().zip(x) {
        let idx = best_index_int8(&KVALUES_IQ4NL, id * v);
        *l = idx as u8;
        let q = f32::from(KVALUES_IQ4NL[idx]);
        let w = v * v;
        sumqx += w * q * v;
        sumq2 += w * q * q;
    }
    (sumqx, sumq2)
}

/// The best scale for one group of 32 (0 for an all-zero group), its indices in
/// `levels`: fit at `-max / -127`, then try inverse scales `(t - 127) / max` for
/// `t` in `-7..=7`, keeping the best least-squares fit (ggml's
/// `quantize_row_iq4_nl_impl` without importance weights).
fn group_scale(x: &[f32], levels: &mut [u8]) -> f32 {
    let (max, amax) = signed_absmax(x);
    if amax < GROUP_MAX_EPS {
        return 0.0;
    }
    let v0 = f32::from(KVALUES_IQ4NL[0]);
    let d = -max / v0;
    let (sumqx, sumq2) = fit(1.0 / d, x, levels);
    let mut d = sumqx / sumq2;
    let mut best = d * sumqx;
    let mut trial = [0u8; QK32];
    for itry in -NTRY..=NTRY {
        let id = (itry as f32 + v0) / max;
        let (sumqx, sumq2) = fit(id, x, &mut trial);
        if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    d
}

/// Table indices of `x` at scale `d` (index of the level nearest `x / d`; nearest 0 when
/// `d` is 0).
fn levels_at(d: f32, x: &[f32], levels: &mut [u8]) {
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    for (l, &v) in levels.iter_mut().zip(x) {
        *l = best_index_int8(&KVALUES_IQ4NL, id * v) as u8;
    }
}

impl BlockFormat for BlockIQ4NL {
    const TYPE: GgmlType = GgmlType::IQ4_NL;
    const ELEMS: usize = QK32;

    fn dequantize(&self, out: &mut [f32]) {
        dequantize_group(self.d.to_f32(), &self.qs, out);
    }
}

impl BlockQuantize for BlockIQ4NL {
    fn quantize(x: &[f32]) -> Self {
        let mut levels = [0u8; QK32];
        let d = group_scale(x, &mut levels);
        // With one group the final indices come from the chosen scale itself.
        levels_at(d, x, &mut levels);
        BlockIQ4NL {
            d: F16Le::from_f32(d),
            qs: pack_group(&levels),
        }
    }
}

/// The 6-bit scale of IQ4_XS group `ib`, minus 32.
fn xs_scale(block: &BlockIQ4XS, ib: usize) -> i32 {
    let low = (block.scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f;
    let high = (block.scales_h.get() >> (2 * ib)) & 3;
    i32::from(low) | (i32::from(high) << 4)
}

impl BlockFormat for BlockIQ4XS {
    const TYPE: GgmlType = GgmlType::IQ4_XS;
    const ELEMS: usize = QK_K;

    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (ib, group) in out.chunks_exact_mut(32).enumerate() {
            let dl = d * (xs_scale(self, ib) - 32) as f32;
            dequantize_group(dl, &self.qs[16 * ib..16 * ib + 16], group);
        }
    }
}

impl BlockQuantize for BlockIQ4XS {
    fn quantize(x: &[f32]) -> Self {
        let mut levels = [0u8; QK_K];
        let mut scales = [0f32; QK_K / 32];
        let (mut max_scale, mut amax_scale) = (0.0f32, 0.0f32);
        for (ib, s) in scales.iter_mut().enumerate() {
            *s = group_scale(&x[32 * ib..32 * ib + 32], &mut levels[32 * ib..][..32]);
            if s.abs() > amax_scale {
                amax_scale = s.abs();
                max_scale = *s;
            }
        }
        let d = -max_scale / 32.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut block = BlockIQ4XS {
            d: F16Le::from_f32(d),
            scales_h: U16Le::new(0),
            scales_l: [0; QK_K / 64],
            qs: [0; QK_K / 2],
        };
        let mut scales_h = 0u16;
        for (ib, &s) in scales.iter().enumerate() {
            let l = nearest_int(id * s).clamp(-32, 31);
            // ggml re-fits against the unrounded super-scale `d`, not its f16 value.
            levels_at(
                d * l as f32,
                &x[32 * ib..32 * ib + 32],
                &mut levels[32 * ib..][..32],
            );
            let stored = (l + 32) as u8;
            block.scales_l[ib / 2] |= (stored & 0x0f) << (4 * (ib % 2));
            scales_h |= u16::from(stored >> 4) << (2 * ib);
        }
        block.scales_h = U16Le::new(scales_h);
        for (ib, chunk) in block.qs.chunks_exact_mut(16).enumerate() {
            chunk.copy_from_slice(&pack_group(&levels[32 * ib..32 * ib + 32]));
        }
        block
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_block_points_at_the_level_nearest_zero() {
        let b = BlockIQ4NL::quantize(&[0.0; 32]);
        assert_eq!(b.d.to_f32(), 0.0);
        assert!(b.qs.iter().all(|&q| q == 0x88), "{:?}", b.qs);
    }

    #[test]
    fn table_levels_are_exact() {
        // Weights that are exactly table levels times 0.5 come back exactly.
        let x: Vec<f32> = (0..32)
            .map(|i| 0.5 * f32::from(KVALUES_IQ4NL[i % 16]))
            .collect();
        let b = BlockIQ4NL::quantize(&x);
        let mut out = [0f32; 32];
        b.dequantize(&mut out);
        assert_eq!(out.as_slice(), x.as_slice());
    }
}
