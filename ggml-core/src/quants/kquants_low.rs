//! The 2- and 3-bit k-quants, Q2_K and Q3_K: 256-weight super-blocks of 16 groups of 16.
//!
//! Quants are packed four to a byte: in each half of the super-block (128 weights), byte
//! `l` of its 32 holds weights `l`, `l + 32`, `l + 64` and `l + 96` at bit offsets 0, 2, 4
//! and 6.

use super::blocks::{BlockQ2K, BlockQ3K, F16Le};
use super::scale_search::{make_q3_quants, make_qkx2_quants, nearest_int, Qkx2Search};
use super::{BlockFormat, BlockQuantize};
use crate::dtype::{GgmlType, QK_K};

/// The 2-bit field of weight `i` (0..256) in a packed `qs` array.
#[inline]
pub(crate) fn crumb(qs: &[u8], i: usize) -> u8 {
    let (half, within) = (i / 128, i % 128);
    (qs[half * 32 + within % 32] >> (2 * (within / 32))) & 3
}

/// Packs 256 two-bit values (the inverse of [`crumb`]).
fn pack_crumbs(levels: &[u8; QK_K]) -> [u8; QK_K / 4] {
    let mut qs = [0u8; QK_K / 4];
    for (i, &l) in levels.iter().enumerate() {
        let (half, within) = (i / 128, i % 128);
        qs[half * 32 + within % 32] |= (l & 3) << (2 * (within / 32));
    }
    qs
}

impl BlockFormat for BlockQ2K {
    const TYPE: GgmlType = GgmlType::Q2_K;
    const ELEMS: usize = QK_K;

    fn dequantize(&self, out: &mut [f32]) {
        let (d, dmin) = (self.d.to_f32(), self.dmin.to_f32());
        for (g, group) in out.chunks_exact_mut(16).enumerate() {
            let sc = self.scales[g];
            let dl = d * f32::from(sc & 0x0f);
            let ml = dmin * f32::from(sc >> 4);
            for (k, y) in group.iter_mut().enumerate() {
                *y = dl * f32::from(crumb(&self.qs, g * 16 + k)) - ml;
            }
        }
    }
}

/// The search ggml's Q2_K uses for each group of 16 (absolute error, weights `|x|`).
const Q2K_SEARCH: Qkx2Search = Qkx2Search {
    nmax: 3,
    rmin: -0.5,
    rdelta: 0.1,
    nstep: 15,
    use_mad: true,
};

impl BlockQuantize for BlockQ2K {
    fn quantize(x: &[f32]) -> Self {
        const Q4SCALE: f32 = 15.0;
        let mut levels = [0u8; QK_K];
        let mut scales = [0f32; QK_K / 16];
        let mut mins = [0f32; QK_K / 16];
        let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
        for g in 0..QK_K / 16 {
            let xg = &x[16 * g..16 * g + 16];
            let weights: [f32; 16] = std::array::from_fn(|k| xg[k].abs());
            let (scale, min) =
                make_qkx2_quants(&Q2K_SEARCH, xg, &weights, &mut levels[16 * g..16 * g + 16]);
            scales[g] = scale;
            mins[g] = min;
            max_scale = max_scale.max(scale);
            max_min = max_min.max(min);
        }

        let mut block = BlockQ2K {
            scales: [0; QK_K / 16],
            qs: [0; QK_K / 4],
            d: F16Le::from_f32(0.0),
            dmin: F16Le::from_f32(0.0),
        };
        if max_scale > 0.0 {
            let iscale = Q4SCALE / max_scale;
            for (s, &scale) in block.scales.iter_mut().zip(&scales) {
                *s = nearest_int(iscale * scale) as u8;
            }
            block.d = F16Le::from_f32(max_scale / Q4SCALE);
        }
        if max_min > 0.0 {
            let iscale = Q4SCALE / max_min;
            for (s, &min) in block.scales.iter_mut().zip(&mins) {
                *s |= (nearest_int(iscale * min) as u8) << 4;
            }
            block.dmin = F16Le::from_f32(max_min / Q4SCALE);
        }

        // Re-quantize against the stored (rounded) scales and mins.
        let (d_all, dmin_all) = (block.d.to_f32(), block.dmin.to_f32());
        for g in 0..QK_K / 16 {
            let d = d_all * f32::from(block.scales[g] & 0x0f);
            if d == 0.0 {
                continue;
            }
            let dm = dmin_all * f32::from(block.scales[g] >> 4);
            for k in 16 * g..16 * g + 16 {
                levels[k] = nearest_int((x[k] + dm) / d).clamp(0, 3) as u8;
            }
        }
        block.qs = pack_crumbs(&levels);
        block
    }
}

/// The sixteen 6-bit scales of a Q3_K block, each minus 32.
pub(crate) fn q3k_scales(packed: &[u8; 12]) -> [i8; 16] {
    std::array::from_fn(|j| {
        let low = if j < 8 {
            packed[j] & 0x0f
        } else {
            packed[j - 8] >> 4
        };
        let high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
        (low | (high << 4)) as i8 - 32
    })
}

/// Packs sixteen scales in `0..64` (the inverse of [`q3k_scales`] before the offset).
fn pack_q3k_scales(scales: &[u8; 16]) -> [u8; 12] {
    let mut packed = [0u8; 12];
    for (j, &l) in scales.iter().enumerate() {
        if j < 8 {
            packed[j] = l & 0x0f;
        } else {
            packed[j - 8] |= (l & 0x0f) << 4;
        }
        packed[8 + j % 4] |= (l >> 4) << (2 * (j / 4));
    }
    packed
}

/// Whether the high bit of Q3_K weight `i` is set: `hmask[i % 32]`, bit `i / 32`.
#[inline]
pub(crate) fn q3k_high_bit(hmask: &[u8], i: usize) -> bool {
    hmask[i % 32] & (1 << (i / 32)) != 0
}

impl BlockFormat for BlockQ3K {
    const TYPE: GgmlType = GgmlType::Q3_K;
    const ELEMS: usize = QK_K;

    fn dequantize(&self, out: &mut [f32]) {
        let d_all = self.d.to_f32();
        let scales = q3k_scales(&self.scales);
        for (g, group) in out.chunks_exact_mut(16).enumerate() {
            let dl = d_all * f32::from(scales[g]);
            for (k, y) in group.iter_mut().enumerate() {
                let i = g * 16 + k;
                let offset = if q3k_high_bit(&self.hmask, i) { 0 } else { 4 };
                *y = dl * f32::from(crumb(&self.qs, i) as i8 - offset);
            }
        }
    }
}

impl BlockQuantize for BlockQ3K {
    fn quantize(x: &[f32]) -> Self {
        let mut levels = [0u8; QK_K];
        let mut scales = [0f32; QK_K / 16];
        let (mut max_scale, mut amax) = (0.0f32, 0.0f32);
        for g in 0..QK_K / 16 {
            scales[g] = make_q3_quants(4, &x[16 * g..16 * g + 16], &mut levels[16 * g..][..16]);
            if scales[g].abs() > amax {
                amax = scales[g].abs();
                max_scale = scales[g];
            }
        }

        let mut block = BlockQ3K {
            hmask: [0; QK_K / 8],
            qs: [0; QK_K / 4],
            scales: [0; 12],
            d: F16Le::from_f32(0.0),
        };
        if max_scale != 0.0 {
            let iscale = -32.0 / max_scale;
            let stored: [u8; 16] = std::array::from_fn(|g| {
                // ggml keeps the level in an int8_t before clamping it.
                (i32::from(nearest_int(iscale * scales[g]) as i8).clamp(-32, 31) + 32) as u8
            });
            block.scales = pack_q3k_scales(&stored);
            block.d = F16Le::from_f32(1.0 / iscale);
        }

        // Re-quantize against the stored (rounded) scales.
        let d_all = block.d.to_f32();
        let stored = q3k_scales(&block.scales);
        for (g, &sc) in stored.iter().enumerate() {
            let d = d_all * f32::from(sc);
            if d == 0.0 {
                continue;
            }
            for k in 16 * g..16 * g + 16 {
                levels[k] = (nearest_int(x[k] / d).clamp(-4, 3) + 4) as u8;
            }
        }
        for (i, l) in levels.iter_mut().enumerate() {
            if *l > 3 {
                block.hmask[i % 32] |= 1 << (i / 32);
                *l -= 4;
            }
        }
        block.qs = pack_crumbs(&levels);
        block
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q3k_scales_round_trip() {
        let scales: [u8; 16] = std::array::from_fn(|j| (j as u8 * 7 + 3) % 64);
        let unpacked = q3k_scales(&pack_q3k_scales(&scales));
        for j in 0..16 {
            assert_eq!(i32::from(unpacked[j]), i32::from(scales[j]) - 32);
        }
    }

    #[test]
    fn crumbs_round_trip() {
        let levels: [u8; QK_K] = std::array::from_fn(|i| (i * 5 % 4) as u8);
        let qs = pack_crumbs(&levels);
        for (i, &l) in levels.iter().enumerate() {
            assert_eq!(crumb(&qs, i), l);
        }
        // Weight 33 is the second crumb of byte 1 of the first half.
        assert_eq!((qs[1] >> 2) & 3, levels[33]);
    }
}
