//! x86-64 building blocks of the SIMD dot kernels: feature detection, loads of block fields,
//! nibble and bit expansion, byte products and horizontal sums (AVX2, FMA, F16C).

use std::arch::x86_64::{
    __m256, __m256i, _mm256_and_si256, _mm256_castps256_ps128, _mm256_cmpeq_epi8,
    _mm256_extractf128_ps, _mm256_loadu_si256, _mm256_madd_epi16, _mm256_maddubs_epi16,
    _mm256_set1_epi16, _mm256_set1_epi32, _mm256_set1_epi64x, _mm256_set1_epi8, _mm256_set_m128i,
    _mm256_setr_epi8, _mm256_setzero_si256, _mm256_shuffle_epi8, _mm_add_ps, _mm_add_ss,
    _mm_cvtph_ps, _mm_cvtsi32_si128, _mm_cvtss_f32, _mm_loadu_si128, _mm_movehl_ps, _mm_shuffle_ps,
    _mm_srli_epi16,
};

use super::Tile;
use crate::quants::blocks::{cast_blocks, F16Le, RawBlock};

/// Whether the CPU has AVX2, FMA and F16C.
pub(super) fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
        && std::is_x86_feature_detected!("f16c")
}

/// Whether the CPU has AVX-512 VNNI with 256-bit encodings (VL).
pub(super) fn has_vnni() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("avx512vnni")
}

/// 32 bytes as a vector.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn load32<T: RawBlock>(b: &[T; 32]) -> __m256i {
    const { assert!(size_of::<T>() == 1) };
    // SAFETY: `b` holds 32 one-byte values; the load is unaligned.
    unsafe { _mm256_loadu_si256(b.as_ptr().cast()) }
}

/// The 32 bytes of `b` from `at` (zeros where `b` is shorter).
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn load32_at<T: RawBlock>(b: &[T], at: usize) -> __m256i {
    const { assert!(size_of::<T>() == 1) };
    match b.get(at..at + 32) {
        // SAFETY: the slice holds the 32 one-byte values the unaligned load reads.
        Some(s) => unsafe { _mm256_loadu_si256(s.as_ptr().cast()) },
        None => _mm256_setzero_si256(),
    }
}

/// [`nibbles`] of the 16 bytes of `qs` from `at` (zeros where `qs` is shorter).
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn nibbles_at(qs: &[u8], at: usize) -> __m256i {
    match qs
        .get(at..at + 16)
        .and_then(|s| <&[u8; 16]>::try_from(s).ok())
    {
        Some(q) => nibbles(q),
        None => _mm256_setzero_si256(),
    }
}

/// The 32 nibbles of 16 bytes: low nibbles in bytes 0..16, high nibbles in 16..32 (the
/// element order of Q4_0-style blocks).
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn nibbles(qs: &[u8; 16]) -> __m256i {
    // SAFETY: `qs` holds the 16 bytes the unaligned load reads.
    let b = unsafe { _mm_loadu_si128(qs.as_ptr().cast()) };
    _mm256_and_si256(
        _mm256_set_m128i(_mm_srli_epi16(b, 4), b),
        _mm256_set1_epi8(0x0f),
    )
}

/// Byte `j` is `0xff` where bit `j` of `bits` is set, `0` elsewhere.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn bit_bytes(bits: u32) -> __m256i {
    let v = _mm256_set1_epi32(bits as i32);
    let spread = _mm256_shuffle_epi8(
        v,
        _mm256_setr_epi8(
            0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3,
            3, 3, 3,
        ),
    );
    let sel = _mm256_set1_epi64x(0x8040_2010_0804_0201_u64 as i64);
    _mm256_cmpeq_epi8(_mm256_and_si256(spread, sel), sel)
}

/// `Σ u[4i..4i+4] * s[4i..4i+4]` as eight i32 lanes: unsigned bytes times signed bytes
/// (pairs summed in i16, which cannot saturate when `u < 128` or `|s| < 128`).
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn dot_us8(u: __m256i, s: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
}

/// An f16 scale as f32.
#[target_feature(enable = "f16c")]
#[inline]
pub(super) fn f16(h: F16Le) -> f32 {
    let bits = i32::from(u16::from_le_bytes(h.0));
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits)))
}

/// The sum of eight f32 lanes.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
}

/// The `C` activation rows of `tile` as blocks of `A`.
#[inline]
pub(super) fn split<'a, A: RawBlock, const C: usize>(tile: &Tile<'a>) -> [&'a [A]; C] {
    std::array::from_fn(|t| cast_blocks(tile.act(t)).unwrap_or_default())
}

/// Blocks every activation row has: `row` cut to the shortest of them.
#[inline]
pub(super) fn common<W, A, const C: usize>(row: &[W], acts: &[&[A]; C]) -> usize {
    acts.iter().fold(row.len(), |n, a| n.min(a.len()))
}

/// Runs `$call` with the const `$c` set to `$n` (1..=4, the activation rows of a tile).
macro_rules! tiled {
    ($n:expr, |$c:ident| $call:expr) => {
        match $n {
            1 => {
                const $c: usize = 1;
                $call
            }
            2 => {
                const $c: usize = 2;
                $call
            }
            3 => {
                const $c: usize = 3;
                $call
            }
            4 => {
                const $c: usize = 4;
                $call
            }
            _ => {}
        }
    };
}
pub(super) use tiled;
