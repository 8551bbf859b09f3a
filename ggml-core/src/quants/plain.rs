//! Plain scalar types as one-element blocks: F32, F16, BF16 and F64 (both ways) and the
//! integer types I8 … I64 (read as f32, rounding to nearest where an integer has more
//! than 24 significant bits).

use super::blocks::{Bf16Le, F16Le, F32Le, F64Le, I16Le, I32Le, I64Le};
use super::{BlockFormat, BlockQuantize};
use crate::dtype::GgmlType;

/// Implements [`BlockFormat`] for a one-element type given how to read it as f32.
macro_rules! scalar_format {
    ($($block:ty => $ty:ident, |$v:ident| $to_f32:expr;)*) => {$(
        impl BlockFormat for $block {
            const TYPE: GgmlType = GgmlType::$ty;
            const ELEMS: usize = 1;

            #[inline]
            fn dequantize(&self, out: &mut [f32]) {
                let $v = *self;
                out[0] = $to_f32;
            }
        }
    )*};
}

scalar_format! {
    F32Le => F32, |v| v.get();
    F16Le => F16, |v| v.to_f32();
    Bf16Le => BF16, |v| v.to_f32();
    F64Le => F64, |v| v.get() as f32;
    i8 => I8, |v| f32::from(v);
    I16Le => I16, |v| f32::from(v.get());
    I32Le => I32, |v| v.get() as f32;
    I64Le => I64, |v| v.get() as f32;
}

impl BlockQuantize for F32Le {
    #[inline]
    fn quantize(x: &[f32]) -> Self {
        F32Le::new(x[0])
    }
}

impl BlockQuantize for F16Le {
    #[inline]
    fn quantize(x: &[f32]) -> Self {
        F16Le::from_f32(x[0])
    }
}

impl BlockQuantize for Bf16Le {
    #[inline]
    fn quantize(x: &[f32]) -> Self {
        Bf16Le::from_f32(x[0])
    }
}

impl BlockQuantize for F64Le {
    #[inline]
    fn quantize(x: &[f32]) -> Self {
        F64Le::new(f64::from(x[0]))
    }
}

#[cfg(test)]
mod tests {
    use crate::dtype::GgmlType;
    use crate::quants::{dequantize_row, quantize_row};

    #[test]
    fn integers_and_doubles_read_as_f32() {
        let mut out = [0f32; 2];
        dequantize_row(GgmlType::I8, &[0xff, 0x05], &mut out).unwrap();
        assert_eq!(out, [-1.0, 5.0]);
        dequantize_row(GgmlType::I16, &[0x00, 0x80, 0x10, 0x00], &mut out).unwrap();
        assert_eq!(out, [-32768.0, 16.0]);
        let mut src = Vec::new();
        src.extend_from_slice(&16_777_217i32.to_le_bytes());
        src.extend_from_slice(&(-7i32).to_le_bytes());
        dequantize_row(GgmlType::I32, &src, &mut out).unwrap();
        assert_eq!(out, [16_777_216.0, -7.0]);
        let mut src = Vec::new();
        src.extend_from_slice(&(1i64 << 40).to_le_bytes());
        src.extend_from_slice(&(-3i64).to_le_bytes());
        dequantize_row(GgmlType::I64, &src, &mut out).unwrap();
        assert_eq!(out, [(1u64 << 40) as f32, -3.0]);
    }

    #[test]
    fn floats_round_trip() {
        let x = [1.5f32, -0.1, 65504.0, 1e-8];
        for ty in [GgmlType::F32, GgmlType::F64] {
            let mut bytes = vec![0u8; ty.type_size() * x.len()];
            quantize_row(ty, &x, &mut bytes).unwrap();
            let mut back = [0f32; 4];
            dequantize_row(ty, &bytes, &mut back).unwrap();
            assert_eq!(back, x, "{ty}");
        }
        let mut bytes = [0u8; 8];
        quantize_row(GgmlType::F16, &x, &mut bytes).unwrap();
        assert_eq!(&bytes[..2], &[0x00, 0x3e]);
        let mut back = [0f32; 4];
        dequantize_row(GgmlType::F16, &bytes, &mut back).unwrap();
        assert_eq!(back[..3], [1.5, -0.099975586, 65504.0]);
    }
}
