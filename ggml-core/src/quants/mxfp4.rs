//! MXFP4 (OCP microscaling): 32 e2m1 weights sharing one e8m0 power-of-two scale.

use super::blocks::{BlockMXFP4, QK32};
use super::{BlockFormat, BlockQuantize};
use crate::dtype::GgmlType;

/// The e2m1 values, doubled so they are integers (ggml's `kvalues_mxfp4`); index 8 is
/// negative zero.
pub const KVALUES_MXFP4: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// Half of the e8m0 scale `2^(e - 127)`, which undoes the doubling of [`KVALUES_MXFP4`]
/// (ggml's `GGML_E8M0_TO_FP32_HALF`): exact for every `e`, subnormal for `e < 2`.
pub fn e8m0_to_f32_half(e: u8) -> f32 {
    let bits = if e < 2 {
        0x0020_0000u32 << e
    } else {
        u32::from(e - 1) << 23
    };
    f32::from_bits(bits)
}

impl BlockFormat for BlockMXFP4 {
    const TYPE: GgmlType = GgmlType::MXFP4;
    const ELEMS: usize = QK32;

    fn dequantize(&self, out: &mut [f32]) {
        let d = e8m0_to_f32_half(self.e);
        for (j, &b) in self.qs.iter().enumerate() {
            out[j] = d * f32::from(KVALUES_MXFP4[usize::from(b & 0x0f)]);
            out[j + QK32 / 2] = d * f32::from(KVALUES_MXFP4[usize::from(b >> 4)]);
        }
    }
}

/// Index of the table entry nearest `x / d` (the first on ties).
fn best_index(x: f32, d: f32) -> u8 {
    let mut best = 0;
    let mut best_err = (f32::from(KVALUES_MXFP4[0]) * d - x).abs();
    for (i, &k) in KVALUES_MXFP4.iter().enumerate().skip(1) {
        let err = (f32::from(k) * d - x).abs();
        if err < best_err {
            best = i;
            best_err = err;
        }
    }
    best as u8
}

impl BlockQuantize for BlockMXFP4 {
    /// The shared exponent puts the largest magnitude in the top binade of e2m1
    /// (`floor(log2(amax)) - 2`); each weight takes the nearest representable value.
    /// An exponent below the e8m0 range saturates to 0.
    fn quantize(x: &[f32]) -> Self {
        let amax = x.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
        let e = if amax > 0.0 {
            (amax.log2().floor() - 2.0 + 127.0) as u8
        } else {
            0
        };
        let d = e8m0_to_f32_half(e);
        let qs =
            std::array::from_fn(|j| best_index(x[j], d) | (best_index(x[j + QK32 / 2], d) << 4));
        BlockMXFP4 { e, qs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e8m0_halves() {
        assert_eq!(e8m0_to_f32_half(127), 0.5);
        assert_eq!(e8m0_to_f32_half(128), 1.0);
        assert_eq!(e8m0_to_f32_half(1), 2f32.powi(-127));
        assert_eq!(e8m0_to_f32_half(0), 2f32.powi(-128));
    }

    #[test]
    fn representable_values_survive() {
        let x: Vec<f32> = (0..32)
            .map(|i| 0.5 * f32::from(KVALUES_MXFP4[i % 16]))
            .collect();
        let b = BlockMXFP4::quantize(&x);
        assert_eq!(b.e, 127);
        let mut out = [0f32; 32];
        b.dequantize(&mut out);
        assert_eq!(out.as_slice(), x.as_slice());
    }
}
