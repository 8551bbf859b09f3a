//! Scalar reference dequantization and quantization of every ggml data type, dispatched by
//! a table of block formats; the oracle that SIMD and GPU kernels are checked against.
//!
//! Dequantization is bit-exact to ggml (and to the `gguf` Python package). Quantization
//! is byte-identical to ggml's reference quantizers without an importance matrix
//! (`quantize_row_*_ref`; for IQ4_NL `quantize_iq4_nl`, whose scale search llama.cpp
//! uses when writing files).
//!
//! Each format is a block struct in [`blocks`] implementing [`BlockFormat`] (and
//! [`BlockQuantize`] where it has a quantizer); the table in this module maps a
//! [`GgmlType`] to its block format. Adding a format is one file and one table row.

pub mod blocks;
pub mod device;
mod iq4;
mod iq_grid;
mod iq_grid_tables;
mod kquants_high;
mod kquants_low;
mod legacy;
mod mxfp4;
mod plain;
mod scale_search;
mod ternary;

pub use iq4::KVALUES_IQ4NL;
/// Element accessors of the k-quant layouts, shared with the integer dot kernels.
pub(crate) use kquants_high::{nibble_k, q6k_level, scale_min_k4};
pub(crate) use kquants_low::{crumb, q3k_high_bit, q3k_scales};
pub use mxfp4::{e8m0_to_f32_half, KVALUES_MXFP4};

use blocks::{cast_blocks, cast_blocks_mut, RawBlock};

use crate::dtype::GgmlType;

/// Why a row could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantError {
    /// No dequantizer exists for the type.
    #[error("dequantizing {ty} is not supported")]
    DequantizeUnsupported {
        /// The type asked for.
        ty: GgmlType,
    },
    /// No quantizer exists for the type.
    #[error("quantizing to {ty} is not supported")]
    QuantizeUnsupported {
        /// The type asked for.
        ty: GgmlType,
    },
    /// The element count is not a whole number of blocks.
    #[error("{elements} elements are not a whole number of {ty} blocks of {block_size}")]
    PartialBlock {
        /// The type of the row.
        ty: GgmlType,
        /// Elements in the row.
        elements: usize,
        /// Elements per block of `ty`.
        block_size: usize,
    },
    /// The byte buffer does not hold exactly the blocks of the row.
    #[error("{elements} elements of {ty} take {expected} bytes, but the buffer has {actual}")]
    ByteLength {
        /// The type of the row.
        ty: GgmlType,
        /// Elements in the row.
        elements: usize,
        /// Bytes the elements take.
        expected: usize,
        /// Bytes given.
        actual: usize,
    },
}

/// A block format: a [`RawBlock`] holding `ELEMS` weights of one ggml type.
pub trait BlockFormat: RawBlock {
    /// The ggml type stored in this block.
    const TYPE: GgmlType;
    /// Weights per block.
    const ELEMS: usize;

    /// Writes the block's weights to `out` (exactly `ELEMS` long).
    fn dequantize(&self, out: &mut [f32]);
}

/// A block format with a reference quantizer.
pub trait BlockQuantize: BlockFormat {
    /// Quantizes `x` (exactly `ELEMS` long) into one block.
    fn quantize(x: &[f32]) -> Self;
}

/// Decodes whole blocks: source bytes to weights.
type DequantizeFn = fn(&[u8], &mut [f32]);

/// Encodes whole blocks: weights to bytes.
type QuantizeFn = fn(&[f32], &mut [u8]);

/// One row of the dispatch table.
struct Codec {
    ty: GgmlType,
    /// Weights per block.
    elems: usize,
    /// Bytes per block.
    block_bytes: usize,
    dequantize: DequantizeFn,
    quantize: Option<QuantizeFn>,
}

/// Dequantizes whole blocks; the caller has checked that the lengths match.
fn dequantize_blocks<B: BlockFormat>(src: &[u8], dst: &mut [f32]) {
    let blocks = cast_blocks::<B>(src).unwrap_or_default();
    for (block, out) in blocks.iter().zip(dst.chunks_exact_mut(B::ELEMS)) {
        block.dequantize(out);
    }
}

/// Quantizes whole blocks; the caller has checked that the lengths match.
fn quantize_blocks<B: BlockQuantize>(src: &[f32], dst: &mut [u8]) {
    let blocks = cast_blocks_mut::<B>(dst).unwrap_or_default();
    for (block, x) in blocks.iter_mut().zip(src.chunks_exact(B::ELEMS)) {
        *block = B::quantize(x);
    }
}

const fn dequantize_only<B: BlockFormat>() -> Codec {
    Codec {
        ty: B::TYPE,
        elems: B::ELEMS,
        block_bytes: std::mem::size_of::<B>(),
        dequantize: dequantize_blocks::<B>,
        quantize: None,
    }
}

const fn with_quantizer<B: BlockQuantize>() -> Codec {
    Codec {
        ty: B::TYPE,
        elems: B::ELEMS,
        block_bytes: std::mem::size_of::<B>(),
        dequantize: dequantize_blocks::<B>,
        quantize: Some(quantize_blocks::<B>),
    }
}

/// Every supported type and its block format.
static CODECS: &[Codec] = &[
    with_quantizer::<blocks::F32Le>(),
    with_quantizer::<blocks::F16Le>(),
    with_quantizer::<blocks::Bf16Le>(),
    with_quantizer::<blocks::F64Le>(),
    dequantize_only::<i8>(),
    dequantize_only::<blocks::I16Le>(),
    dequantize_only::<blocks::I32Le>(),
    dequantize_only::<blocks::I64Le>(),
    with_quantizer::<blocks::BlockQ4_0>(),
    with_quantizer::<blocks::BlockQ4_1>(),
    with_quantizer::<blocks::BlockQ5_0>(),
    with_quantizer::<blocks::BlockQ5_1>(),
    with_quantizer::<blocks::BlockQ8_0>(),
    with_quantizer::<blocks::BlockQ8_1>(),
    with_quantizer::<blocks::BlockQ2K>(),
    with_quantizer::<blocks::BlockQ3K>(),
    with_quantizer::<blocks::BlockQ4K>(),
    with_quantizer::<blocks::BlockQ5K>(),
    with_quantizer::<blocks::BlockQ6K>(),
    with_quantizer::<blocks::BlockQ8K>(),
    with_quantizer::<blocks::BlockIQ4NL>(),
    with_quantizer::<blocks::BlockIQ4XS>(),
    with_quantizer::<blocks::BlockMXFP4>(),
    with_quantizer::<blocks::BlockTQ1_0>(),
    with_quantizer::<blocks::BlockTQ2_0>(),
    dequantize_only::<blocks::BlockIQ2XXS>(),
    dequantize_only::<blocks::BlockIQ2XS>(),
    dequantize_only::<blocks::BlockIQ2S>(),
    dequantize_only::<blocks::BlockIQ3XXS>(),
    dequantize_only::<blocks::BlockIQ3S>(),
    dequantize_only::<blocks::BlockIQ1S>(),
    dequantize_only::<blocks::BlockIQ1M>(),
];

fn codec(ty: GgmlType) -> Option<&'static Codec> {
    CODECS.iter().find(|c| c.ty == ty)
}

impl Codec {
    /// Checks that `elements` weights take exactly `bytes` bytes.
    fn check_lengths(&self, elements: usize, bytes: usize) -> Result<(), QuantError> {
        let ty = self.ty;
        if elements % self.elems != 0 {
            return Err(QuantError::PartialBlock {
                ty,
                elements,
                block_size: self.elems,
            });
        }
        let expected = (elements / self.elems).checked_mul(self.block_bytes);
        if expected != Some(bytes) {
            return Err(QuantError::ByteLength {
                ty,
                elements,
                expected: expected.unwrap_or(usize::MAX),
                actual: bytes,
            });
        }
        Ok(())
    }
}

/// Whether [`dequantize_row`] supports `ty`.
pub fn can_dequantize(ty: GgmlType) -> bool {
    codec(ty).is_some()
}

/// Whether [`quantize_row`] supports `ty`.
pub fn can_quantize(ty: GgmlType) -> bool {
    codec(ty).is_some_and(|c| c.quantize.is_some())
}

/// Decodes `dst.len()` weights of type `ty` from `src`, which must hold exactly
/// `ty.bytes_for(dst.len())` bytes (any number of whole blocks: a row or a whole tensor).
pub fn dequantize_row(ty: GgmlType, src: &[u8], dst: &mut [f32]) -> Result<(), QuantError> {
    let codec = codec(ty).ok_or(QuantError::DequantizeUnsupported { ty })?;
    codec.check_lengths(dst.len(), src.len())?;
    (codec.dequantize)(src, dst);
    Ok(())
}

/// Encodes the weights `src` as type `ty` into `dst`, which must hold exactly
/// `ty.bytes_for(src.len())` bytes.
pub fn quantize_row(ty: GgmlType, src: &[f32], dst: &mut [u8]) -> Result<(), QuantError> {
    let codec = codec(ty).ok_or(QuantError::QuantizeUnsupported { ty })?;
    let quantize = codec
        .quantize
        .ok_or(QuantError::QuantizeUnsupported { ty })?;
    codec.check_lengths(src.len(), dst.len())?;
    quantize(src, dst);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_type_geometry() {
        let mut seen = Vec::new();
        for c in CODECS {
            assert!(!seen.contains(&c.ty), "{} is in the table twice", c.ty);
            seen.push(c.ty);
            assert_eq!(
                (c.elems, c.block_bytes),
                (c.ty.block_size(), c.ty.type_size()),
                "{}",
                c.ty
            );
        }
    }

    #[test]
    fn lengths_are_checked() {
        let mut out = [0f32; 32];
        assert_eq!(
            dequantize_row(GgmlType::Q4_0, &[0; 17], &mut out),
            Err(QuantError::ByteLength {
                ty: GgmlType::Q4_0,
                elements: 32,
                expected: 18,
                actual: 17
            })
        );
        assert_eq!(
            dequantize_row(GgmlType::Q4_0, &[0; 18], &mut out[..31]),
            Err(QuantError::PartialBlock {
                ty: GgmlType::Q4_0,
                elements: 31,
                block_size: 32
            })
        );
        let mut bytes = [0u8; 19];
        assert!(matches!(
            quantize_row(GgmlType::Q4_0, &out, &mut bytes),
            Err(QuantError::ByteLength { .. })
        ));
        assert_eq!(
            quantize_row(GgmlType::IQ2_XXS, &[0.0; 256], &mut [0; 66]),
            Err(QuantError::QuantizeUnsupported {
                ty: GgmlType::IQ2_XXS
            })
        );
        assert!(dequantize_row(GgmlType::Q4_0, &[], &mut []).is_ok());
    }

    #[test]
    fn hostile_weights_never_panic() {
        // Non-finite, subnormal and extreme weights give some blocks (as in ggml, the
        // values are unspecified) but never a panic or an overflow.
        let specials = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            -f32::MAX,
            f32::MIN_POSITIVE,
            1e-45,
            -1e-40,
            0.0,
            -0.0,
            1.0,
        ];
        let rows: Vec<Vec<f32>> = (0..specials.len())
            .map(|s| {
                (0..512)
                    .map(|i| specials[(i * (s + 1) + s) % specials.len()])
                    .collect()
            })
            .chain([vec![1e-45; 512], vec![-f32::MAX; 512], vec![f32::NAN; 512]])
            .collect();
        for codec in CODECS.iter().filter(|c| c.quantize.is_some()) {
            for x in &rows {
                let mut q = vec![0u8; x.len() / codec.elems * codec.block_bytes];
                quantize_row(codec.ty, x, &mut q).unwrap();
                let mut y = vec![0f32; x.len()];
                dequantize_row(codec.ty, &q, &mut y).unwrap();
            }
        }
    }
}
