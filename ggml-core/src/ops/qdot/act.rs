//! Activation rows in the format each weight type's dot kernel reads, as llama.cpp pairs
//! them: Q8_0 for Q4_0, Q5_0, Q8_0, IQ4_NL and MXFP4; Q8_1 (with its scaled sum) for Q4_1
//! and Q5_1; Q8_K for the k-quants and IQ4_XS; for float weights the activations stay f32,
//! rounded through f16 or bf16 when the weights are (llama.cpp converts them to the weight
//! type), stored as little-endian f32 bytes.

use half::{bf16, f16};

use crate::dtype::{GgmlType, QK_K};
use crate::quants::blocks::{
    cast_blocks_mut, BlockQ8K, BlockQ8_0, BlockQ8_1, F32Le, RawBlock, QK32,
};
use crate::quants::BlockQuantize;

/// How an activation row is stored for a dot kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActFormat {
    /// Blocks of 32 8-bit quants with an f16 scale.
    Q8_0,
    /// Q8_0 plus the block's scaled quant sum.
    Q8_1,
    /// Blocks of 256 quants, f32 scale, sums of each 16.
    Q8K,
    /// f32 values.
    F32,
    /// f32 values rounded to the nearest f16.
    F16,
    /// f32 values rounded to the nearest bf16.
    Bf16,
}

impl ActFormat {
    /// The format dot kernels for weights of `ty` read; `None` for types without one.
    pub fn for_weights(ty: GgmlType) -> Option<ActFormat> {
        use GgmlType as T;
        Some(match ty {
            T::Q4_0 | T::Q5_0 | T::Q8_0 | T::IQ4_NL | T::MXFP4 => ActFormat::Q8_0,
            T::Q4_1 | T::Q5_1 => ActFormat::Q8_1,
            T::Q2_K | T::Q3_K | T::Q4_K | T::Q5_K | T::Q6_K | T::IQ4_XS => ActFormat::Q8K,
            T::F32 => ActFormat::F32,
            T::F16 => ActFormat::F16,
            T::BF16 => ActFormat::Bf16,
            _ => return None,
        })
    }

    /// Elements per block.
    pub fn block_elems(self) -> usize {
        match self {
            ActFormat::Q8_0 | ActFormat::Q8_1 => QK32,
            ActFormat::Q8K => QK_K,
            ActFormat::F32 | ActFormat::F16 | ActFormat::Bf16 => 1,
        }
    }

    /// Bytes of one row of `k` elements; `None` when `k` is not a whole number of blocks.
    pub fn row_bytes(self, k: usize) -> Option<usize> {
        let per_block = match self {
            ActFormat::Q8_0 => size_of::<BlockQ8_0>(),
            ActFormat::Q8_1 => size_of::<BlockQ8_1>(),
            ActFormat::Q8K => size_of::<BlockQ8K>(),
            ActFormat::F32 | ActFormat::F16 | ActFormat::Bf16 => 4,
        };
        (k % self.block_elems() == 0).then(|| k / self.block_elems() * per_block)
    }

    /// Writes `x` in this format into `out` (`row_bytes(x.len())` long); `false` when the
    /// lengths do not fit.
    pub fn quantize(self, x: &[f32], out: &mut [u8]) -> bool {
        if self.row_bytes(x.len()) != Some(out.len()) {
            return false;
        }
        match self {
            ActFormat::Q8_0 => blocks::<BlockQ8_0>(x, out),
            ActFormat::Q8_1 => blocks::<BlockQ8_1>(x, out),
            ActFormat::Q8K => blocks::<BlockQ8K>(x, out),
            ActFormat::F32 => floats(x, out, |v| v),
            ActFormat::F16 => floats(x, out, |v| f16::from_f32(v).to_f32()),
            ActFormat::Bf16 => floats(x, out, |v| bf16::from_f32(v).to_f32()),
        }
    }
}

/// Quantizes whole blocks with the reference quantizer of `B`.
fn blocks<B: BlockQuantize + RawBlock>(x: &[f32], out: &mut [u8]) -> bool {
    let Some(dst) = cast_blocks_mut::<B>(out) else {
        return false;
    };
    for (b, xs) in dst.iter_mut().zip(x.chunks_exact(B::ELEMS)) {
        *b = B::quantize(xs);
    }
    true
}

/// Stores `round(x)` as little-endian f32.
fn floats(x: &[f32], out: &mut [u8], round: impl Fn(f32) -> f32) -> bool {
    let Some(dst) = cast_blocks_mut::<F32Le>(out) else {
        return false;
    };
    for (d, &v) in dst.iter_mut().zip(x) {
        *d = F32Le::new(round(v));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip_within_their_precision() {
        let x: Vec<f32> = (0..512)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 9.0)
            .collect();
        for fmt in [
            ActFormat::Q8_0,
            ActFormat::Q8_1,
            ActFormat::Q8K,
            ActFormat::F32,
            ActFormat::F16,
            ActFormat::Bf16,
        ] {
            let mut bytes = vec![0u8; fmt.row_bytes(x.len()).unwrap()];
            assert!(fmt.quantize(&x, &mut bytes));
            assert!(!fmt.quantize(&x[..100], &mut bytes), "{fmt:?} length check");
            let ty = match fmt {
                ActFormat::Q8_0 => GgmlType::Q8_0,
                ActFormat::Q8_1 => GgmlType::Q8_1,
                ActFormat::Q8K => GgmlType::Q8_K,
                _ => GgmlType::F32,
            };
            let mut back = vec![0f32; x.len()];
            crate::quants::dequantize_row(ty, &bytes, &mut back).unwrap();
            for (a, b) in x.iter().zip(&back) {
                assert!((a - b).abs() < 0.03, "{fmt:?}: {a} vs {b}");
            }
        }
        assert_eq!(ActFormat::Q8K.row_bytes(100), None);
    }
}
