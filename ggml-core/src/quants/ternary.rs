//! The ternary formats TQ1_0 (1.6875 bits: five trits per byte as a fixed-point base-3
//! fraction) and TQ2_0 (2 bits per trit), 256 weights `d * t` with t in {-1, 0, 1}.

use super::blocks::{BlockTQ1_0, BlockTQ2_0, F16Le};
use super::{BlockFormat, BlockQuantize};
use crate::dtype::{GgmlType, QK_K};

/// Powers of three that shift trit `n` of a packed byte to the top.
const POW3: [u8; 5] = [1, 3, 9, 27, 81];

/// The scale `amax` and its inverse (0 for an all-zero block).
fn ternary_scale(x: &[f32]) -> (f32, f32) {
    let d = x.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
    (d, if d != 0.0 { 1.0 / d } else { 0.0 })
}

/// The trit of `v` as 0, 1 or 2 (`lroundf(v * id) + 1`); out-of-range inputs wrap as
/// ggml's byte arithmetic does.
#[inline]
fn trit(v: f32, id: f32) -> u8 {
    ((v * id).round() as i32).wrapping_add(1) as u8
}

/// Trit `n` (0 = most significant) of a packed TQ1_0 byte, as -1, 0 or 1.
#[inline]
fn unpack_trit(byte: u8, n: usize) -> i8 {
    let q = byte.wrapping_mul(POW3[n]);
    ((u16::from(q) * 3) >> 8) as i8 - 1
}

/// Packs trits (most significant first) into a byte holding `ceil(value * 256 / 243)`;
/// a group of four is first shifted up one trit.
fn pack_trits(trits: impl Iterator<Item = u8>, count: usize) -> u8 {
    let mut q = trits.fold(0u8, |q, t| q.wrapping_mul(3).wrapping_add(t));
    if count == 4 {
        q = q.wrapping_mul(3);
    }
    (u16::from(q) * 256).div_ceil(243) as u8
}

/// Where TQ1_0 weight `i` lives: (byte index into `qs ++ qh`, trit position).
/// Weights 0..160 span bytes 0..32 five times, 160..240 bytes 32..48, 240..256 the four
/// `qh` bytes four times.
#[inline]
fn tq1_position(i: usize) -> (usize, usize) {
    match i {
        0..160 => (i % 32, i / 32),
        160..240 => (32 + (i - 160) % 16, (i - 160) / 16),
        _ => (48 + (i - 240) % 4, (i - 240) / 4),
    }
}

impl BlockFormat for BlockTQ1_0 {
    const TYPE: GgmlType = GgmlType::TQ1_0;
    const ELEMS: usize = QK_K;

    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (i, y) in out.iter_mut().enumerate() {
            let (byte, n) = tq1_position(i);
            let packed = if byte < 48 {
                self.qs[byte]
            } else {
                self.qh[byte - 48]
            };
            *y = d * f32::from(unpack_trit(packed, n));
        }
    }
}

impl BlockQuantize for BlockTQ1_0 {
    fn quantize(x: &[f32]) -> Self {
        let (d, id) = ternary_scale(x);
        let mut block = BlockTQ1_0 {
            qs: [0; 48],
            qh: [0; 4],
            d: F16Le::from_f32(d),
        };
        for (m, q) in block.qs[..32].iter_mut().enumerate() {
            *q = pack_trits((0..5).map(|n| trit(x[m + 32 * n], id)), 5);
        }
        for (m, q) in block.qs[32..].iter_mut().enumerate() {
            *q = pack_trits((0..5).map(|n| trit(x[160 + m + 16 * n], id)), 5);
        }
        for (j, q) in block.qh.iter_mut().enumerate() {
            *q = pack_trits((0..4).map(|n| trit(x[240 + j + 4 * n], id)), 4);
        }
        block
    }
}

impl BlockFormat for BlockTQ2_0 {
    const TYPE: GgmlType = GgmlType::TQ2_0;
    const ELEMS: usize = QK_K;

    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (i, y) in out.iter_mut().enumerate() {
            // Each 128 weights share 32 bytes; weight 32 * n + m of them is crumb n of
            // byte m.
            let byte = self.qs[(i / 128) * 32 + i % 32];
            let q = (byte >> (2 * ((i % 128) / 32))) & 3;
            *y = d * f32::from(q as i8 - 1);
        }
    }
}

impl BlockQuantize for BlockTQ2_0 {
    fn quantize(x: &[f32]) -> Self {
        let (d, id) = ternary_scale(x);
        let mut qs = [0u8; QK_K / 4];
        for (b, q) in qs.iter_mut().enumerate() {
            let base = (b / 32) * 128 + b % 32;
            for n in 0..4 {
                *q |= (trit(x[base + 32 * n], id) & 3) << (2 * n);
            }
        }
        BlockTQ2_0 {
            qs,
            d: F16Le::from_f32(d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tq1_round_trips_every_trit_pattern() {
        let x: Vec<f32> = (0..QK_K)
            .map(|i| ((i * 7 + i / 3) % 3) as f32 - 1.0)
            .collect();
        let b = BlockTQ1_0::quantize(&x);
        let mut out = vec![0f32; QK_K];
        b.dequantize(&mut out);
        assert_eq!(out, x);
    }

    #[test]
    fn tq2_round_trips() {
        let x: Vec<f32> = (0..QK_K)
            .map(|i| 2.0 * (((i * 5) % 3) as f32 - 1.0))
            .collect();
        let b = BlockTQ2_0::quantize(&x);
        let mut out = vec![0f32; QK_K];
        b.dequantize(&mut out);
        assert_eq!(out, x);
    }
}
