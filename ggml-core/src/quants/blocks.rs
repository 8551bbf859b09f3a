//! Block layouts of the ggml quant formats as `repr(C)` structs of little-endian bytes,
//! each with a compile-time size check, and the one helper that views bytes as blocks.
//!
//! Every field is a byte array or a little-endian wrapper around one, so every struct has
//! alignment 1, no padding and no invalid bit patterns: any byte slice of the right length
//! is a valid slice of blocks, on any host, without copying.

use std::mem::{align_of, size_of};

use half::{bf16, f16};

use crate::dtype::QK_K;

/// A little-endian IEEE half-precision float as stored in a block (`ggml_half`).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct F16Le(pub [u8; 2]);

impl F16Le {
    /// The value widened to f32 (exact).
    #[inline]
    pub fn to_f32(self) -> f32 {
        f16::from_le_bytes(self.0).to_f32()
    }

    /// `v` rounded to half precision, to nearest with ties to even (as ggml's
    /// `GGML_FP32_TO_FP16` and numpy's `astype(float16)`).
    #[inline]
    pub fn from_f32(v: f32) -> Self {
        Self(f16::from_f32(v).to_le_bytes())
    }
}

/// A little-endian bfloat16 (`ggml_bf16_t`).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bf16Le(pub [u8; 2]);

impl Bf16Le {
    /// The value widened to f32 (exact: the bits become the high half of an f32).
    #[inline]
    pub fn to_f32(self) -> f32 {
        bf16::from_le_bytes(self.0).to_f32()
    }

    /// `v` rounded to bfloat16 as ggml does (`ggml_compute_fp32_to_bf16`): a NaN becomes a
    /// quiet NaN with its sign and high payload kept; everything else rounds to nearest
    /// with ties to even (overflowing to infinity).
    #[inline]
    pub fn from_f32(v: f32) -> Self {
        let bits = v.to_bits();
        let out = if bits & 0x7fff_ffff > 0x7f80_0000 {
            (bits >> 16) | 0x0040
        } else {
            let rounded = u64::from(bits) + 0x7fff + u64::from((bits >> 16) & 1);
            (rounded >> 16) as u32
        };
        // Truncation keeps the low 16 bits, which hold the whole bfloat16.
        Self((out as u16).to_le_bytes())
    }
}

macro_rules! le_scalar {
    ($(#[$doc:meta])* $name:ident, $ty:ty, $n:literal) => {
        $(#[$doc])*
        #[repr(transparent)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name(pub [u8; $n]);

        impl $name {
            /// The stored value.
            #[inline]
            pub fn get(self) -> $ty {
                <$ty>::from_le_bytes(self.0)
            }

            /// Stores `v`.
            #[inline]
            pub fn new(v: $ty) -> Self {
                Self(v.to_le_bytes())
            }
        }
    };
}

le_scalar!(
    /// A little-endian f32.
    F32Le, f32, 4
);
le_scalar!(
    /// A little-endian f64.
    F64Le, f64, 8
);
le_scalar!(
    /// A little-endian u16.
    U16Le, u16, 2
);
le_scalar!(
    /// A little-endian i16.
    I16Le, i16, 2
);
le_scalar!(
    /// A little-endian i32.
    I32Le, i32, 4
);
le_scalar!(
    /// A little-endian i64.
    I64Le, i64, 8
);

/// Elements per block of the legacy formats (Q4_0 … Q8_1), IQ4_NL and MXFP4.
pub const QK32: usize = 32;

/// Q4_0: 32 weights `d * (q - 8)`, q in 0..16; byte `j` holds elements `j` (low nibble)
/// and `j + 16` (high nibble).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BlockQ4_0 {
    /// Scale.
    pub d: F16Le,
    /// Nibbles.
    pub qs: [u8; QK32 / 2],
}

/// Q4_1: 32 weights `d * q + m`, q in 0..16, nibbles as in Q4_0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BlockQ4_1 {
    /// Scale.
    pub d: F16Le,
    /// Minimum.
    pub m: F16Le,
    /// Nibbles.
    pub qs: [u8; QK32 / 2],
}

/// Q5_0: 32 weights `d * (q - 16)`, q in 0..32; the fifth bit of element `j` is bit `j`
/// of `qh` (a little-endian u32).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BlockQ5_0 {
    /// Scale.
    pub d: F16Le,
    /// High bits.
    pub qh: [u8; 4],
    /// Low nibbles.
    pub qs: [u8; QK32 / 2],
}

/// Q5_1: 32 weights `d * q + m`, q in 0..32, bits as in Q5_0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BlockQ5_1 {
    /// Scale.
    pub d: F16Le,
    /// Minimum.
    pub m: F16Le,
    /// High bits.
    pub qh: [u8; 4],
    /// Low nibbles.
    pub qs: [u8; QK32 / 2],
}

/// Q8_0: 32 weights `d * q`, q an i8.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BlockQ8_0 {
    /// Scale.
    pub d: F16Le,
    /// Quants.
    pub qs: [i8; QK32],
}

/// Q8_1: 32 weights `d * q` plus `s = d * sum(q)` for integer dot products.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BlockQ8_1 {
    /// Scale.
    pub d: F16Le,
    /// `d` times the sum of the quants.
    pub s: F16Le,
    /// Quants.
    pub qs: [i8; QK32],
}

/// Q2_K: 256 weights in 16 groups of 16; group `g` is `d * (scales[g] & 15) * q -
/// dmin * (scales[g] >> 4)`, q a 2-bit value.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ2K {
    /// 4-bit scales (low nibble) and mins (high nibble).
    pub scales: [u8; QK_K / 16],
    /// 2-bit quants.
    pub qs: [u8; QK_K / 4],
    /// Super-block scale for the scales.
    pub d: F16Le,
    /// Super-block scale for the mins.
    pub dmin: F16Le,
}

/// Q3_K: 256 weights in 16 groups of 16, `d * (scale - 32) * (q - 4)`, q a 3-bit value
/// whose high bit sits in `hmask` (set means no offset), scales 6-bit.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ3K {
    /// High bits of the quants.
    pub hmask: [u8; QK_K / 8],
    /// Low 2 bits of the quants.
    pub qs: [u8; QK_K / 4],
    /// Sixteen 6-bit scales, packed.
    pub scales: [u8; 12],
    /// Super-block scale.
    pub d: F16Le,
}

/// Q4_K: 256 weights in 8 groups of 32, `d * sc * q - dmin * m`, q a nibble, sc and m
/// 6-bit values packed in `scales`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ4K {
    /// Super-block scale for the scales.
    pub d: F16Le,
    /// Super-block scale for the mins.
    pub dmin: F16Le,
    /// Eight 6-bit scales and eight 6-bit mins, packed.
    pub scales: [u8; 12],
    /// Nibbles.
    pub qs: [u8; QK_K / 2],
}

/// Q5_K: as Q4_K with a fifth bit per weight in `qh`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ5K {
    /// Super-block scale for the scales.
    pub d: F16Le,
    /// Super-block scale for the mins.
    pub dmin: F16Le,
    /// Eight 6-bit scales and eight 6-bit mins, packed.
    pub scales: [u8; 12],
    /// Fifth bits.
    pub qh: [u8; QK_K / 8],
    /// Low nibbles.
    pub qs: [u8; QK_K / 2],
}

/// Q6_K: 256 weights in 16 groups of 16, `d * scales[g] * (q - 32)`, q a 6-bit value.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ6K {
    /// Low 4 bits of the quants.
    pub ql: [u8; QK_K / 2],
    /// High 2 bits of the quants.
    pub qh: [u8; QK_K / 4],
    /// 8-bit group scales.
    pub scales: [i8; QK_K / 16],
    /// Super-block scale.
    pub d: F16Le,
}

/// Q8_K: 256 weights `d * q` (f32 scale) and the sums of each group of 16 quants; the
/// activation format of k-quant dot products.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ8K {
    /// Scale.
    pub d: F32Le,
    /// Quants.
    pub qs: [i8; QK_K],
    /// Sums of each group of 16 quants.
    pub bsums: [I16Le; QK_K / 16],
}

/// IQ4_NL: 32 weights `d * KVALUES_IQ4NL[q]`, nibbles as in Q4_0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BlockIQ4NL {
    /// Scale.
    pub d: F16Le,
    /// Nibbles indexing the non-linear table.
    pub qs: [u8; QK32 / 2],
}

/// IQ4_XS: 256 weights in 8 groups of 32 with 6-bit group scales, values from the IQ4_NL
/// table.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockIQ4XS {
    /// Super-block scale.
    pub d: F16Le,
    /// High 2 bits of the eight group scales.
    pub scales_h: U16Le,
    /// Low 4 bits of the eight group scales.
    pub scales_l: [u8; QK_K / 64],
    /// Nibbles; each 16 bytes hold one group of 32 (low nibbles first).
    pub qs: [u8; QK_K / 2],
}

/// MXFP4: 32 e2m1 weights sharing one power-of-two scale (e8m0).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BlockMXFP4 {
    /// Shared exponent, biased by 127.
    pub e: u8,
    /// e2m1 nibbles, as in Q4_0.
    pub qs: [u8; QK32 / 2],
}

/// TQ1_0: 256 ternary weights `d * (t - 1)`, five trits per byte (four in `qh`) stored
/// as a fixed-point fraction of 3^5.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockTQ1_0 {
    /// Five trits per byte.
    pub qs: [u8; (QK_K - 4 * QK_K / 64) / 5],
    /// Four trits per byte.
    pub qh: [u8; QK_K / 64],
    /// Scale.
    pub d: F16Le,
}

/// TQ2_0: 256 ternary weights `d * (q - 1)`, q a 2-bit value.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockTQ2_0 {
    /// 2-bit quants.
    pub qs: [u8; QK_K / 4],
    /// Scale.
    pub d: F16Le,
}

/// IQ2_XXS: 256 weights in 8 groups of 32. Each group is 8 little-endian bytes: four
/// grid indices (bytes 0..4, points of ggml's `iq2xxs_grid`), then a u32 holding four 7-bit sign-pattern indices (bits 0..28) and a 4-bit scale
/// (bits 28..32); group scale `d * (0.5 + s) / 4`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockIQ2XXS {
    /// Super-block scale.
    pub d: F16Le,
    /// Grid indices, signs and scales, 8 bytes per group of 32.
    pub qs: [u8; QK_K / 4],
}

/// IQ2_XS: 256 weights; each u16 of `qs` is a 9-bit grid index and a 7-bit sign-pattern
/// index for 8 weights; a 4-bit scale per 16 weights.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockIQ2XS {
    /// Super-block scale.
    pub d: F16Le,
    /// Grid and sign indices.
    pub qs: [U16Le; QK_K / 8],
    /// Two 4-bit scales per group of 32 (low nibble first).
    pub scales: [u8; QK_K / 32],
}

/// IQ2_S: 256 weights; 10-bit grid indices (low 8 bits in `qs`, high 2 in `qh`), one
/// explicit sign byte per 8 weights, a 4-bit scale per 16 weights.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockIQ2S {
    /// Super-block scale.
    pub d: F16Le,
    /// Low 8 bits of the 32 grid indices, then the 32 sign bytes.
    pub qs: [u8; QK_K / 4],
    /// High 2 bits of the grid indices, one byte per group of 32.
    pub qh: [u8; QK_K / 32],
    /// Two 4-bit scales per group of 32 (low nibble first).
    pub scales: [u8; QK_K / 32],
}

/// IQ3_XXS: 256 weights; 64 grid indices of 4 weights each, then per group of 32 a
/// little-endian u32 of four 7-bit sign-pattern indices and a 4-bit scale (bits 28..32).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockIQ3XXS {
    /// Super-block scale.
    pub d: F16Le,
    /// Grid indices (64 bytes), then scales and signs (32 bytes).
    pub qs: [u8; 3 * QK_K / 8],
}

/// IQ3_S: 256 weights; 9-bit grid indices of 4 weights (low 8 bits in `qs`, high bit in
/// `qh`), one explicit sign byte per 8 weights, a 4-bit odd scale per group of 32.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockIQ3S {
    /// Super-block scale.
    pub d: F16Le,
    /// Low 8 bits of the grid indices.
    pub qs: [u8; QK_K / 4],
    /// High bits of the grid indices, one byte per group of 32.
    pub qh: [u8; QK_K / 32],
    /// Sign bits, one byte per 8 weights.
    pub signs: [u8; QK_K / 8],
    /// Two 4-bit scales per byte, one per group of 32 (low nibble first).
    pub scales: [u8; QK_K / 64],
}

/// IQ1_S: 256 weights in 8 groups of 32, each of four 11-bit indices into the ternary
/// grid; per group a u16 holding the high index bits (3 per point), a 3-bit scale
/// (bits 12..15) and the sign of the shift `delta` (bit 15).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockIQ1S {
    /// Super-block scale.
    pub d: F16Le,
    /// Low 8 bits of the grid indices.
    pub qs: [u8; QK_K / 8],
    /// High index bits, scale and shift sign of each group of 32.
    pub qh: [U16Le; QK_K / 32],
}

/// IQ1_M: 256 weights in 16 groups of 16, each of two 11-bit indices into the ternary
/// grid with a shift sign per 8 weights and a 3-bit scale; the f16 super-block scale is
/// split into the top nibbles of the four little-endian u16s of `scales`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockIQ1M {
    /// Low 8 bits of the grid indices.
    pub qs: [u8; QK_K / 8],
    /// Per two indices: their high 3 bits and shift signs (bits 3 and 7).
    pub qh: [u8; QK_K / 16],
    /// Sixteen 3-bit scales (four per u16) and the four nibbles of the super-block scale.
    pub scales: [U16Le; QK_K / 64],
}

/// Types whose values are plain bytes and may be viewed in place of a byte slice.
///
/// # Safety
///
/// Implementors must have alignment 1, no padding, and be valid for every bit pattern
/// (they are `repr(C)`/`repr(transparent)` aggregates of `u8`, `i8` and arrays of them).
pub unsafe trait RawBlock: Copy + 'static {}

macro_rules! raw_blocks {
    ($($ty:ty = $size:expr),* $(,)?) => {$(
        const _: () = assert!(size_of::<$ty>() == $size);
        const _: () = assert!(align_of::<$ty>() == 1);
        // SAFETY: the assertions above check alignment 1 and the exact size of its
        // byte-only fields, so there is no padding; bytes are valid for every pattern.
        unsafe impl RawBlock for $ty {}
    )*};
}

raw_blocks! {
    u8 = 1,
    i8 = 1,
    F16Le = 2,
    Bf16Le = 2,
    F32Le = 4,
    F64Le = 8,
    U16Le = 2,
    I16Le = 2,
    I32Le = 4,
    I64Le = 8,
    BlockQ4_0 = 18,
    BlockQ4_1 = 20,
    BlockQ5_0 = 22,
    BlockQ5_1 = 24,
    BlockQ8_0 = 34,
    BlockQ8_1 = 36,
    BlockQ2K = 84,
    BlockQ3K = 110,
    BlockQ4K = 144,
    BlockQ5K = 176,
    BlockQ6K = 210,
    BlockQ8K = 292,
    BlockIQ4NL = 18,
    BlockIQ4XS = 136,
    BlockMXFP4 = 17,
    BlockTQ1_0 = 54,
    BlockTQ2_0 = 66,
    BlockIQ2XXS = 66,
    BlockIQ2XS = 74,
    BlockIQ2S = 82,
    BlockIQ3XXS = 98,
    BlockIQ3S = 110,
    BlockIQ1S = 50,
    BlockIQ1M = 56,
}

/// Views `bytes` as blocks, or `None` when its length is not a whole number of blocks.
pub fn cast_blocks<B: RawBlock>(bytes: &[u8]) -> Option<&[B]> {
    let size = size_of::<B>();
    if bytes.len() % size != 0 {
        return None;
    }
    // SAFETY: `B: RawBlock` has alignment 1 and accepts every bit pattern, and
    // `len * size` equals `bytes.len()`, so the new slice covers exactly the same bytes
    // with the same lifetime and mutability.
    Some(unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<B>(), bytes.len() / size) })
}

/// Views `bytes` as mutable blocks, or `None` when its length is not a whole number of
/// blocks.
pub fn cast_blocks_mut<B: RawBlock>(bytes: &mut [u8]) -> Option<&mut [B]> {
    let size = size_of::<B>();
    if bytes.len() % size != 0 {
        return None;
    }
    let len = bytes.len() / size;
    // SAFETY: as in `cast_blocks`; the exclusive borrow of `bytes` moves to the result,
    // and any value written through it is a valid byte pattern.
    Some(unsafe { std::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast::<B>(), len) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casting_checks_lengths() {
        let bytes = [0u8; 36];
        assert_eq!(cast_blocks::<BlockQ4_0>(&bytes).map(<[_]>::len), Some(2));
        assert!(cast_blocks::<BlockQ4_0>(&bytes[..35]).is_none());
        // An odd start address is fine: every block has alignment 1.
        assert_eq!(
            cast_blocks::<BlockQ8_1>(&bytes[..36]).map(<[_]>::len),
            Some(1)
        );
        assert_eq!(
            cast_blocks::<BlockMXFP4>(&bytes[1..35]).map(<[_]>::len),
            Some(2)
        );
    }

    #[test]
    fn bf16_rounding_follows_ggml() {
        assert_eq!(Bf16Le::from_f32(1.0).0, [0x80, 0x3f]);
        // 1 + 2^-8 is halfway between two bfloat16s: ties go to the even one (1.0).
        assert_eq!(
            Bf16Le::from_f32(f32::from_bits(0x3f80_8000)).0,
            [0x80, 0x3f]
        );
        assert_eq!(
            Bf16Le::from_f32(f32::from_bits(0x3f81_8000)).0,
            [0x82, 0x3f]
        );
        // A signalling NaN becomes quiet.
        assert_eq!(
            Bf16Le::from_f32(f32::from_bits(0x7f80_0001)).0,
            [0xc0, 0x7f]
        );
        assert_eq!(Bf16Le::from_f32(f32::MAX).0, [0x80, 0x7f]);
    }
}
