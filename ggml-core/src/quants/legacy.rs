//! The legacy 32-weight formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and Q8_1, with ggml's
//! reference quantizers (round-to-nearest on a scale from the block's extreme values).

use super::blocks::{
    BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1, F16Le, QK32,
};
use super::{BlockFormat, BlockQuantize};
use crate::dtype::GgmlType;

const HALF: usize = QK32 / 2;

/// The value of largest magnitude (the first one on ties) and its magnitude.
fn signed_absmax(x: &[f32]) -> (f32, f32) {
    let (mut max, mut amax) = (0.0f32, 0.0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    (max, amax)
}

/// The smallest and largest values.
fn min_max(x: &[f32]) -> (f32, f32) {
    x.iter()
        .fold((f32::MAX, -f32::MAX), |(lo, hi), &v| (lo.min(v), hi.max(v)))
}

/// `1 / d`, or 0 when `d` is 0.
fn inverse(d: f32) -> f32 {
    if d != 0.0 {
        1.0 / d
    } else {
        0.0
    }
}

/// Truncates `v` towards zero into `0..=max` (ggml's `MIN(max, (int8_t)v)` for the values
/// a block produces; NaN maps to 0).
fn trunc_quant(v: f32, max: u8) -> u8 {
    (v as i32).clamp(0, i32::from(max)) as u8
}

/// Unpacks the 32 fifth bits of a Q5 block: element `j` has bit `j`.
fn fifth_bits(qh: [u8; 4]) -> u32 {
    u32::from_le_bytes(qh)
}

/// Packs 32 five-bit quants into low nibbles and the 32-bit high-bit mask.
fn pack_q5(q: &[u8; QK32]) -> ([u8; HALF], [u8; 4]) {
    let mut qs = [0u8; HALF];
    let mut qh = 0u32;
    for j in 0..HALF {
        qs[j] = (q[j] & 0x0f) | ((q[j + HALF] & 0x0f) << 4);
        qh |= u32::from(q[j] >> 4) << j;
        qh |= u32::from(q[j + HALF] >> 4) << (j + HALF);
    }
    (qs, qh.to_le_bytes())
}

/// Packs 32 nibbles: byte `j` holds element `j` low and element `j + 16` high.
fn pack_q4(q: &[u8; QK32]) -> [u8; HALF] {
    std::array::from_fn(|j| q[j] | (q[j + HALF] << 4))
}

impl BlockFormat for BlockQ4_0 {
    const TYPE: GgmlType = GgmlType::Q4_0;
    const ELEMS: usize = QK32;

    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (j, &b) in self.qs.iter().enumerate() {
            out[j] = d * f32::from((b & 0x0f) as i8 - 8);
            out[j + HALF] = d * f32::from((b >> 4) as i8 - 8);
        }
    }
}

impl BlockQuantize for BlockQ4_0 {
    fn quantize(x: &[f32]) -> Self {
        let (max, _) = signed_absmax(x);
        let d = max / -8.0;
        let id = inverse(d);
        let q = std::array::from_fn(|j| trunc_quant(x[j] * id + 8.5, 15));
        BlockQ4_0 {
            d: F16Le::from_f32(d),
            qs: pack_q4(&q),
        }
    }
}

impl BlockFormat for BlockQ4_1 {
    const TYPE: GgmlType = GgmlType::Q4_1;
    const ELEMS: usize = QK32;

    fn dequantize(&self, out: &mut [f32]) {
        let (d, m) = (self.d.to_f32(), self.m.to_f32());
        for (j, &b) in self.qs.iter().enumerate() {
            out[j] = d * f32::from(b & 0x0f) + m;
            out[j + HALF] = d * f32::from(b >> 4) + m;
        }
    }
}

impl BlockQuantize for BlockQ4_1 {
    fn quantize(x: &[f32]) -> Self {
        let (min, max) = min_max(x);
        let d = (max - min) / 15.0;
        let id = inverse(d);
        let q = std::array::from_fn(|j| trunc_quant((x[j] - min) * id + 0.5, 15));
        BlockQ4_1 {
            d: F16Le::from_f32(d),
            m: F16Le::from_f32(min),
            qs: pack_q4(&q),
        }
    }
}

impl BlockFormat for BlockQ5_0 {
    const TYPE: GgmlType = GgmlType::Q5_0;
    const ELEMS: usize = QK32;

    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        let qh = fifth_bits(self.qh);
        for (j, &b) in self.qs.iter().enumerate() {
            let lo = i32::from(b & 0x0f) | (((qh >> j) & 1) << 4) as i32;
            let hi = i32::from(b >> 4) | (((qh >> (j + HALF)) & 1) << 4) as i32;
            out[j] = d * (lo - 16) as f32;
            out[j + HALF] = d * (hi - 16) as f32;
        }
    }
}

impl BlockQuantize for BlockQ5_0 {
    fn quantize(x: &[f32]) -> Self {
        let (max, _) = signed_absmax(x);
        let d = max / -16.0;
        let id = inverse(d);
        let q = std::array::from_fn(|j| trunc_quant(x[j] * id + 16.5, 31));
        let (qs, qh) = pack_q5(&q);
        BlockQ5_0 {
            d: F16Le::from_f32(d),
            qh,
            qs,
        }
    }
}

impl BlockFormat for BlockQ5_1 {
    const TYPE: GgmlType = GgmlType::Q5_1;
    const ELEMS: usize = QK32;

    fn dequantize(&self, out: &mut [f32]) {
        let (d, m) = (self.d.to_f32(), self.m.to_f32());
        let qh = fifth_bits(self.qh);
        for (j, &b) in self.qs.iter().enumerate() {
            let lo = u32::from(b & 0x0f) | (((qh >> j) & 1) << 4);
            let hi = u32::from(b >> 4) | (((qh >> (j + HALF)) & 1) << 4);
            out[j] = d * lo as f32 + m;
            out[j + HALF] = d * hi as f32 + m;
        }
    }
}

impl BlockQuantize for BlockQ5_1 {
    fn quantize(x: &[f32]) -> Self {
        let (min, max) = min_max(x);
        let d = (max - min) / 31.0;
        let id = inverse(d);
        let q = std::array::from_fn(|j| trunc_quant((x[j] - min) * id + 0.5, 31));
        let (qs, qh) = pack_q5(&q);
        BlockQ5_1 {
            d: F16Le::from_f32(d),
            m: F16Le::from_f32(min),
            qh,
            qs,
        }
    }
}

/// Rounds `x * id` half away from zero into an i8 (ggml's `roundf`, then a cast).
fn round_i8(v: f32) -> i8 {
    v.round() as i8
}

/// Q8 scale and quants of one block: `d = amax / 127`.
fn quantize_q8(x: &[f32]) -> (f32, [i8; QK32]) {
    let (_, amax) = signed_absmax(x);
    let d = amax / 127.0;
    let id = inverse(d);
    (d, std::array::from_fn(|j| round_i8(x[j] * id)))
}

impl BlockFormat for BlockQ8_0 {
    const TYPE: GgmlType = GgmlType::Q8_0;
    const ELEMS: usize = QK32;

    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (y, &q) in out.iter_mut().zip(&self.qs) {
            *y = d * f32::from(q);
        }
    }
}

impl BlockQuantize for BlockQ8_0 {
    fn quantize(x: &[f32]) -> Self {
        let (d, qs) = quantize_q8(x);
        BlockQ8_0 {
            d: F16Le::from_f32(d),
            qs,
        }
    }
}

impl BlockFormat for BlockQ8_1 {
    const TYPE: GgmlType = GgmlType::Q8_1;
    const ELEMS: usize = QK32;

    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (y, &q) in out.iter_mut().zip(&self.qs) {
            *y = d * f32::from(q);
        }
    }
}

impl BlockQuantize for BlockQ8_1 {
    fn quantize(x: &[f32]) -> Self {
        let (d, qs) = quantize_q8(x);
        let sum: i32 = qs.iter().map(|&q| i32::from(q)).sum();
        BlockQ8_1 {
            d: F16Le::from_f32(d),
            s: F16Le::from_f32(sum as f32 * d),
            qs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_1_keeps_the_scaled_sum() {
        let x: Vec<f32> = (0..32).map(|i| i as f32 - 10.0).collect();
        let b = BlockQ8_1::quantize(&x);
        let d = b.d.to_f32();
        let sum: i32 = b.qs.iter().map(|&q| i32::from(q)).sum();
        assert_eq!(b.qs[31], 127);
        assert_eq!(b.s, F16Le::from_f32(sum as f32 * (21.0 / 127.0)));
        let mut out = [0f32; 32];
        b.dequantize(&mut out);
        assert_eq!(out[0], d * f32::from(b.qs[0]));
    }

    #[test]
    fn q5_bits_land_where_ggml_puts_them() {
        let mut q = [0u8; 32];
        q[0] = 0x1f;
        q[17] = 0x10;
        let (qs, qh) = pack_q5(&q);
        assert_eq!(qs[0], 0x0f);
        assert_eq!(qs[1], 0x00);
        assert_eq!(u32::from_le_bytes(qh), 1 | (1 << 17));
    }
}
