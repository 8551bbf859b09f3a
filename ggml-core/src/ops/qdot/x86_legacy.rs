//! SIMD kernels for the 32-weight block formats: Q4_0, Q5_0, Q8_0, IQ4_NL and MXFP4 against
//! Q8_0 activations (weights as signed bytes), Q4_1 and Q5_1 against Q8_1 (unsigned bytes
//! plus the min times the activation block's sum). Each weight block is unpacked once and
//! dotted with up to four activation rows. The AVX2 and the AVX-512 VNNI versions share
//! their code; only the byte product differs (`maddubs`+`madd` or `vpdpbusd`).

use std::arch::x86_64::{
    __m256, __m256i, _mm256_and_si256, _mm256_broadcastsi128_si256, _mm256_cvtepi32_ps,
    _mm256_fmadd_ps, _mm256_or_si256, _mm256_set1_epi8, _mm256_set1_ps, _mm256_setzero_ps,
    _mm256_shuffle_epi8, _mm256_sign_epi8, _mm256_sub_epi8, _mm_loadu_si128,
};

use super::x86::{bit_bytes, f16, load32, nibbles, split, tiled};
use super::{store, DotFn, Tile};
use crate::dtype::GgmlType;
use crate::quants::blocks::{
    cast_blocks, BlockIQ4NL, BlockMXFP4, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0,
    BlockQ8_1, RawBlock,
};
use crate::quants::{e8m0_to_f32_half, KVALUES_IQ4NL, KVALUES_MXFP4};

/// A block whose weights are `d * q` with `q` a signed byte (dotted with Q8_0).
trait Signed: RawBlock {
    /// The 32 weights as signed bytes and the block scale.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    unsafe fn unpack(&self) -> (__m256i, f32);
}

/// A block whose weights are `d * q + m` with `q` an unsigned byte below 32 (dotted with
/// Q8_1).
trait Affine: RawBlock {
    /// The 32 weights as unsigned bytes, the scale and the min.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    unsafe fn unpack(&self) -> (__m256i, f32, f32);
}

/// The 16 entries of a 4-bit lookup table in both halves of a vector.
#[target_feature(enable = "avx2")]
#[inline]
fn table(t: &[i8; 16]) -> __m256i {
    // SAFETY: `t` holds the 16 bytes the unaligned load reads.
    _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(t.as_ptr().cast()) })
}

/// Nibbles plus the fifth bits of a Q5 block (`0..32`).
#[target_feature(enable = "avx2")]
#[inline]
fn five_bits(qs: &[u8; 16], qh: [u8; 4]) -> __m256i {
    let high = _mm256_and_si256(bit_bytes(u32::from_le_bytes(qh)), _mm256_set1_epi8(0x10));
    _mm256_or_si256(nibbles(qs), high)
}

impl Signed for BlockQ4_0 {
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    unsafe fn unpack(&self) -> (__m256i, f32) {
        (
            _mm256_sub_epi8(nibbles(&self.qs), _mm256_set1_epi8(8)),
            f16(self.d),
        )
    }
}

impl Signed for BlockQ5_0 {
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    unsafe fn unpack(&self) -> (__m256i, f32) {
        let q = five_bits(&self.qs, self.qh);
        (_mm256_sub_epi8(q, _mm256_set1_epi8(16)), f16(self.d))
    }
}

impl Signed for BlockQ8_0 {
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    unsafe fn unpack(&self) -> (__m256i, f32) {
        (load32(&self.qs), f16(self.d))
    }
}

impl Signed for BlockIQ4NL {
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    unsafe fn unpack(&self) -> (__m256i, f32) {
        let q = _mm256_shuffle_epi8(table(&KVALUES_IQ4NL), nibbles(&self.qs));
        (q, f16(self.d))
    }
}

impl Signed for BlockMXFP4 {
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    unsafe fn unpack(&self) -> (__m256i, f32) {
        let q = _mm256_shuffle_epi8(table(&KVALUES_MXFP4), nibbles(&self.qs));
        (q, e8m0_to_f32_half(self.e))
    }
}

impl Affine for BlockQ4_1 {
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    unsafe fn unpack(&self) -> (__m256i, f32, f32) {
        (nibbles(&self.qs), f16(self.d), f16(self.m))
    }
}

impl Affine for BlockQ5_1 {
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    unsafe fn unpack(&self) -> (__m256i, f32, f32) {
        (five_bits(&self.qs, self.qh), f16(self.d), f16(self.m))
    }
}

/// The tiled kernels for one instruction set: `$dot(u, s)` sums products of unsigned and
/// signed bytes four at a time into i32 lanes.
macro_rules! isa_kernels {
    ($isa:ident, $features:literal, $dot:path) => {
        mod $isa {
            use super::*;
            use crate::ops::qdot::x86::{common, hsum};

            /// `row · acts[c]` for signed-byte weights and Q8_0 activations.
            #[target_feature(enable = $features)]
            pub(super) fn signed<W: Signed, const C: usize>(
                row: &[W],
                acts: [&[BlockQ8_0]; C],
            ) -> [f32; C] {
                let n = common(row, &acts);
                let mut acc: [__m256; C] = [_mm256_setzero_ps(); C];
                for (i, w) in row[..n].iter().enumerate() {
                    // SAFETY: this function is compiled for a superset of AVX2, FMA, F16C.
                    let (q, d) = unsafe { w.unpack() };
                    let abs = _mm256_sign_epi8(q, q);
                    for c in 0..C {
                        let a = &acts[c][i];
                        let p = $dot(abs, _mm256_sign_epi8(load32(&a.qs), q));
                        let s = _mm256_set1_ps(d * f16(a.d));
                        acc[c] = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(p), acc[c]);
                    }
                }
                std::array::from_fn(|c| hsum(acc[c]))
            }

            /// `row · acts[c]` for unsigned-byte weights with a min and Q8_1 activations.
            #[target_feature(enable = $features)]
            pub(super) fn affine<W: Affine, const C: usize>(
                row: &[W],
                acts: [&[BlockQ8_1]; C],
            ) -> [f32; C] {
                let n = common(row, &acts);
                let mut acc: [__m256; C] = [_mm256_setzero_ps(); C];
                let mut mins = [0f32; C];
                for (i, w) in row[..n].iter().enumerate() {
                    // SAFETY: this function is compiled for a superset of AVX2, FMA, F16C.
                    let (q, d, m) = unsafe { w.unpack() };
                    for c in 0..C {
                        let a = &acts[c][i];
                        let p = $dot(q, load32(&a.qs));
                        let s = _mm256_set1_ps(d * f16(a.d));
                        acc[c] = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(p), acc[c]);
                        mins[c] += m * f16(a.s);
                    }
                }
                std::array::from_fn(|c| hsum(acc[c]) + mins[c])
            }
        }
    };
}

isa_kernels!(avx2, "avx2,fma,f16c", super::super::x86::dot_us8);
isa_kernels!(
    vnni,
    "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni",
    super::dot_vnni
);

/// `Σ u[4i..4i+4] * s[4i..4i+4]` as eight i32 lanes with one `vpdpbusd`.
// AVX-512 intrinsics are stable since Rust 1.89; the workspace's declared minimum is older
// and the rest of the crate already needs 1.86 (safe `target_feature` functions); CI
// builds with current stable.
#[allow(clippy::incompatible_msrv)]
#[target_feature(enable = "avx512vnni,avx512vl")]
#[inline]
fn dot_vnni(u: __m256i, s: __m256i) -> __m256i {
    std::arch::x86_64::_mm256_dpbusd_epi32(std::arch::x86_64::_mm256_setzero_si256(), u, s)
}

/// The dot entry points, one per (kernel family, instruction set): each loops over the
/// tile's weight rows inside code compiled for the instruction set.
macro_rules! entry {
    ($name:ident, $isa:ident :: $kernel:ident, $bound:ident, $act:ty, $features:literal) => {
        fn $name<W: $bound>(tile: &Tile<'_>, out: &mut [f32], ostride: usize) {
            #[target_feature(enable = $features)]
            fn rows<W: $bound, const C: usize>(
                tile: &Tile<'_>,
                acts: [&[$act]; C],
                out: &mut [f32],
                ostride: usize,
            ) {
                for (r, row) in tile.rows().enumerate() {
                    let w = cast_blocks::<W>(row).unwrap_or_default();
                    store(out, r * ostride, &$isa::$kernel::<W, C>(w, acts));
                }
            }
            // SAFETY: `kernel` hands this function out only after `Isa::supported` confirmed
            // the instruction set of `$isa`.
            unsafe {
                tiled!(tile.n_acts, |C| rows::<W, C>(
                    tile,
                    split::<$act, C>(tile),
                    out,
                    ostride
                ))
            }
        }
    };
}

entry!(
    signed_avx2,
    avx2::signed,
    Signed,
    BlockQ8_0,
    "avx2,fma,f16c"
);
entry!(
    affine_avx2,
    avx2::affine,
    Affine,
    BlockQ8_1,
    "avx2,fma,f16c"
);
entry!(
    signed_vnni,
    vnni::signed,
    Signed,
    BlockQ8_0,
    "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"
);
entry!(
    affine_vnni,
    vnni::affine,
    Affine,
    BlockQ8_1,
    "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"
);

/// The kernel for `ty` (`vnni`: the AVX-512 VNNI version; the caller checked the CPU).
pub(super) fn kernel(ty: GgmlType, vnni: bool) -> Option<DotFn> {
    use GgmlType as T;
    Some(match (ty, vnni) {
        (T::Q4_0, false) => signed_avx2::<BlockQ4_0>,
        (T::Q5_0, false) => signed_avx2::<BlockQ5_0>,
        (T::Q8_0, false) => signed_avx2::<BlockQ8_0>,
        (T::IQ4_NL, false) => signed_avx2::<BlockIQ4NL>,
        (T::MXFP4, false) => signed_avx2::<BlockMXFP4>,
        (T::Q4_1, false) => affine_avx2::<BlockQ4_1>,
        (T::Q5_1, false) => affine_avx2::<BlockQ5_1>,
        (T::Q4_0, true) => signed_vnni::<BlockQ4_0>,
        (T::Q5_0, true) => signed_vnni::<BlockQ5_0>,
        (T::Q8_0, true) => signed_vnni::<BlockQ8_0>,
        (T::IQ4_NL, true) => signed_vnni::<BlockIQ4NL>,
        (T::MXFP4, true) => signed_vnni::<BlockMXFP4>,
        (T::Q4_1, true) => affine_vnni::<BlockQ4_1>,
        (T::Q5_1, true) => affine_vnni::<BlockQ5_1>,
        _ => return None,
    })
}
