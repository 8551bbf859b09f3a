//! Dequantization of the grid-based i-quants: IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S
//! (points of a fixed magnitude grid times signs and a group scale) and IQ1_S, IQ1_M
//! (points of a ternary grid plus a shift of ±1/8, times a group scale).
//!
//! Every value is computed with ggml's f32 operations in ggml's order, so the results are
//! bit-identical to `dequantize_row_iq*` and to the `gguf` Python package.

use super::blocks::{BlockIQ1M, BlockIQ1S, BlockIQ2S, BlockIQ2XS, BlockIQ2XXS};
use super::blocks::{BlockIQ3S, BlockIQ3XXS};
use super::iq_grid_tables::{IQ1S_GRID, IQ2S_GRID, IQ2XS_GRID, IQ2XXS_GRID};
use super::iq_grid_tables::{IQ3S_GRID, IQ3XXS_GRID, KSIGNS_IQ2XS};
use super::BlockFormat;
use crate::dtype::{GgmlType, QK_K};

/// The shift of the IQ1 formats (ggml's `IQ1S_DELTA`).
const IQ1_DELTA: f32 = 0.125;

/// Writes `db * point[j] * (bit j of signs set ? -1 : 1)` for the bytes of a grid point
/// (`out.len()` of them, at most 8), signs starting at bit `first_sign`.
#[inline]
fn signed_point(db: f32, point: u64, signs: u8, first_sign: usize, out: &mut [f32]) {
    let bytes = point.to_le_bytes();
    for (j, (y, &g)) in out.iter_mut().zip(&bytes).enumerate() {
        let sign = if signs & (1 << (first_sign + j)) != 0 {
            -1.0
        } else {
            1.0
        };
        *y = db * f32::from(g) * sign;
    }
}

/// The scale `d * (0.5 + s) / 4` of the IQ2 formats (`s` a 4-bit value).
#[inline]
fn iq2_scale(d: f32, s: u32) -> f32 {
    d * (0.5 + s as f32) * 0.25
}

/// The 4-bit scale of the 8 weights `8 * k..8 * k + 8` in IQ2_XS and IQ2_S: one scale
/// per 16 weights, two per byte, low nibble first.
#[inline]
fn sixteen_scale(scales: &[u8; QK_K / 32], k: usize) -> u32 {
    u32::from(scales[k / 4] >> (4 * (k / 2 % 2))) & 15
}

/// The sign byte of a 7-bit sign-pattern index (its eighth bit keeps the parity even).
#[inline]
fn ksigns(index: u32) -> u8 {
    KSIGNS_IQ2XS[(index & 127) as usize]
}

/// A little-endian u32 at `bytes[at..at + 4]`.
#[inline]
fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

impl BlockFormat for BlockIQ2XXS {
    const TYPE: GgmlType = GgmlType::IQ2_XXS;
    const ELEMS: usize = QK_K;

    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (group, y) in self.qs.chunks_exact(8).zip(out.chunks_exact_mut(32)) {
            let aux = u32_at(group, 4);
            let db = iq2_scale(d, aux >> 28);
            for (l, y) in y.chunks_exact_mut(8).enumerate() {
                let point = IQ2XXS_GRID[usize::from(group[l])];
                signed_point(db, point, ksigns(aux >> (7 * l)), 0, y);
            }
        }
    }
}

impl BlockFormat for BlockIQ2XS {
    const TYPE: GgmlType = GgmlType::IQ2_XS;
    const ELEMS: usize = QK_K;

    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (k, y) in out.chunks_exact_mut(8).enumerate() {
            // Eight weights per u16; a scale nibble per 16 weights.
            let q = u32::from(self.qs[k].get());
            let db = iq2_scale(d, sixteen_scale(&self.scales, k));
            let point = IQ2XS_GRID[(q & 511) as usize];
            signed_point(db, point, ksigns(q >> 9), 0, y);
        }
    }
}

impl BlockFormat for BlockIQ2S {
    const TYPE: GgmlType = GgmlType::IQ2_S;
    const ELEMS: usize = QK_K;

    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        let (low, signs) = self.qs.split_at(QK_K / 8);
        for (k, y) in out.chunks_exact_mut(8).enumerate() {
            let high = (usize::from(self.qh[k / 4]) >> (2 * (k % 4))) & 3;
            let db = iq2_scale(d, sixteen_scale(&self.scales, k));
            let point = IQ2S_GRID[usize::from(low[k]) | (high << 8)];
            signed_point(db, point, signs[k], 0, y);
        }
    }
}

impl BlockFormat for BlockIQ3XXS {
    const TYPE: GgmlType = GgmlType::IQ3_XXS;
    const ELEMS: usize = QK_K;

    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        let (points, scales_and_signs) = self.qs.split_at(QK_K / 4);
        for (ib, y) in out.chunks_exact_mut(32).enumerate() {
            let aux = u32_at(scales_and_signs, 4 * ib);
            let db = d * (0.5 + (aux >> 28) as f32) * 0.5;
            for (m, y) in y.chunks_exact_mut(4).enumerate() {
                // Two grid points of four weights share one sign byte.
                let point = IQ3XXS_GRID[usize::from(points[8 * ib + m])];
                let signs = ksigns(aux >> (7 * (m / 2)));
                signed_point(db, u64::from(point), signs, 4 * (m % 2), y);
            }
        }
    }
}

impl BlockFormat for BlockIQ3S {
    const TYPE: GgmlType = GgmlType::IQ3_S;
    const ELEMS: usize = QK_K;

    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (ib, y) in out.chunks_exact_mut(32).enumerate() {
            // ggml converts the odd integer scale to f32 before multiplying.
            let s = (self.scales[ib / 2] >> (4 * (ib % 2))) & 15;
            let db = d * f32::from(1 + 2 * s);
            for (m, y) in y.chunks_exact_mut(4).enumerate() {
                let high = (usize::from(self.qh[ib]) >> m) & 1;
                let point = IQ3S_GRID[usize::from(self.qs[8 * ib + m]) | (high << 8)];
                let signs = self.signs[4 * ib + m / 2];
                signed_point(db, u64::from(point), signs, 4 * (m % 2), y);
            }
        }
    }
}

/// Writes `dl * (point[j] + delta)` for the eight ternary coordinates of IQ1 grid point
/// `index` (11 bits).
#[inline]
fn shifted_point(dl: f32, index: usize, delta: f32, out: &mut [f32]) {
    let bytes = IQ1S_GRID[index].to_le_bytes();
    for (y, &g) in out.iter_mut().zip(&bytes) {
        // The grid stores -1 as the byte 0xff.
        *y = dl * (f32::from(g as i8) + delta);
    }
}

/// The shift `delta`, negative when `negative` is set.
#[inline]
fn iq1_delta(negative: bool) -> f32 {
    if negative {
        -IQ1_DELTA
    } else {
        IQ1_DELTA
    }
}

/// The IQ1 group scale `d * (2 * s + 1)` for a 3-bit `s`, converted to f32 as an integer.
#[inline]
fn iq1_scale(d: f32, s: u16) -> f32 {
    d * f32::from(2 * (s & 7) + 1)
}

impl BlockFormat for BlockIQ1S {
    const TYPE: GgmlType = GgmlType::IQ1_S;
    const ELEMS: usize = QK_K;

    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (ib, y) in out.chunks_exact_mut(32).enumerate() {
            let qh = self.qh[ib].get();
            let dl = iq1_scale(d, qh >> 12);
            let delta = iq1_delta(qh & 0x8000 != 0);
            for (l, y) in y.chunks_exact_mut(8).enumerate() {
                let index =
                    usize::from(self.qs[4 * ib + l]) | usize::from((qh >> (3 * l)) & 7) << 8;
                shifted_point(dl, index, delta, y);
            }
        }
    }
}

impl BlockIQ1M {
    /// The f16 super-block scale, reassembled from the top nibbles of `scales`.
    fn super_scale(&self) -> f32 {
        let sc = self.scales.map(|s| s.get());
        let bits =
            (sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000);
        half::f16::from_bits(bits).to_f32()
    }
}

impl BlockFormat for BlockIQ1M {
    const TYPE: GgmlType = GgmlType::IQ1_M;
    const ELEMS: usize = QK_K;

    fn dequantize(&self, out: &mut [f32]) {
        let d = self.super_scale();
        for (k, y) in out.chunks_exact_mut(8).enumerate() {
            // Eight weights per index; a 3-bit scale per 16 weights, four per u16.
            let sc = self.scales[k / 8].get() >> (3 * (k / 2 % 4));
            let dl = iq1_scale(d, sc);
            let qh = self.qh[k / 2] >> (4 * (k % 2));
            let index = usize::from(self.qs[k]) | usize::from(qh & 7) << 8;
            shifted_point(dl, index, iq1_delta(qh & 8 != 0), y);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quants::blocks::{F16Le, U16Le};

    /// The distinct coordinates of a table whose points are `width` bytes wide, and
    /// whether its points are distinct.
    fn levels_and_distinct(points: &[u64], width: usize) -> (Vec<u8>, bool) {
        let mut levels: Vec<u8> = points
            .iter()
            .flat_map(|p| p.to_le_bytes().into_iter().take(width))
            .collect();
        levels.sort_unstable();
        levels.dedup();
        let mut sorted = points.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        (levels, sorted.len() == points.len())
    }

    #[test]
    fn tables_hold_only_the_format_levels() {
        let widen = |t: &[u32]| t.iter().map(|&p| u64::from(p)).collect::<Vec<_>>();
        let cases: [(&str, Vec<u64>, usize, Vec<u8>); 6] = [
            ("iq2xxs", IQ2XXS_GRID.to_vec(), 8, vec![0x08, 0x19, 0x2b]),
            ("iq2xs", IQ2XS_GRID.to_vec(), 8, vec![0x08, 0x19, 0x2b]),
            ("iq2s", IQ2S_GRID.to_vec(), 8, vec![0x08, 0x19, 0x2b]),
            (
                "iq3xxs",
                widen(&IQ3XXS_GRID),
                4,
                vec![4, 12, 20, 28, 36, 44, 52, 62],
            ),
            (
                "iq3s",
                widen(&IQ3S_GRID),
                4,
                vec![1, 3, 5, 7, 9, 11, 13, 15],
            ),
            ("iq1s", IQ1S_GRID.to_vec(), 8, vec![0x00, 0x01, 0xff]),
        ];
        for (name, points, width, want) in cases {
            let (levels, distinct) = levels_and_distinct(&points, width);
            assert_eq!(levels, want, "{name}");
            assert!(distinct, "{name} repeats a point");
        }
        for (i, &s) in KSIGNS_IQ2XS.iter().enumerate() {
            assert_eq!(usize::from(s & 127), i);
            assert_eq!(s.count_ones() % 2, 0, "entry {i}");
        }
    }

    #[test]
    fn iq2_xxs_group_by_hand() {
        let mut block = BlockIQ2XXS {
            d: F16Le::from_f32(1.0),
            qs: [0; QK_K / 4],
        };
        // Group 0: point 1 then point 0; sign pattern 1 (weights 0 and 7 negative) for
        // the first eight; scale 3, so db = (3 + 0.5) / 4.
        block.qs[0] = 1;
        block.qs[4..8].copy_from_slice(&((3u32 << 28) | 1).to_le_bytes());
        let mut out = [0f32; QK_K];
        block.dequantize(&mut out);
        let db = 0.875f32;
        let want_first = [-43.0 * db, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, -7.0];
        assert_eq!(out[..8], want_first);
        assert!(out[8..32].iter().all(|&v| v == 8.0 * db));
        // Group 1 has scale 0: db = 1/8.
        assert!(out[32..].iter().all(|&v| v == 1.0), "{:?}", &out[32..40]);
    }

    #[test]
    fn iq1_m_scale_nibbles_and_shifts_by_hand() {
        // d = 0.5 is the f16 0x3800: nibbles 0, 0, 8, 3 in the tops of the four u16s.
        let mut block = BlockIQ1M {
            qs: [0; QK_K / 8],
            qh: [0; QK_K / 16],
            scales: [0x0002, 0, 0x8000, 0x3000].map(U16Le::new),
        };
        // Weights 0..8: point 0 (all -1) shifted down; 8..16: point 1 shifted up.
        block.qh[0] = 0x08;
        block.qs[1] = 1;
        let mut out = [0f32; QK_K];
        block.dequantize(&mut out);
        // Scale 2 for weights 0..16: dl = 0.5 * 5.
        assert!(out[..8].iter().all(|&v| v == 2.5 * -1.125));
        assert_eq!(out[8], 2.5 * 1.125);
        assert!(out[9..16].iter().all(|&v| v == 2.5 * -0.875));
        // Scale 0 elsewhere: dl = 0.5, point 0 shifted up.
        assert!(out[16..].iter().all(|&v| v == 0.5 * -0.875));
    }
}
