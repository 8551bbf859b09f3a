//! AVX2 kernels for the 256-weight super-block formats against Q8_K activations: Q2_K,
//! Q3_K, Q4_K, Q5_K, Q6_K and IQ4_XS. Quants become bytes 32 at a time, `maddubs` multiplies
//! them with the activation bytes into i16 pairs, `madd` applies the group scales, and each
//! super-block's integer sum is scaled once. Offsets (Q3_K's 4, Q6_K's 32) and mins (Q2_K,
//! Q4_K, Q5_K) come from the activation block's group sums. The AVX-512 VNNI path uses
//! these too (their scales sit between the byte products and the sum).

use std::arch::x86_64::{
    __m256, __m256i, _mm256_add_epi32, _mm256_and_si256, _mm256_broadcastsi128_si256,
    _mm256_cvtepi32_ps, _mm256_fmadd_ps, _mm256_madd_epi16, _mm256_maddubs_epi16, _mm256_or_si256,
    _mm256_set1_epi16, _mm256_set1_epi8, _mm256_set1_ps, _mm256_set_m128i, _mm256_setzero_ps,
    _mm256_setzero_si256, _mm256_shuffle_epi8, _mm256_sign_epi8, _mm256_slli_epi16,
    _mm256_srli_epi16, _mm_loadu_si128, _mm_set1_epi16,
};

use super::scalar::iq4_xs_scale;
use super::x86::{common, f16, hsum, load32, load32_at, nibbles_at, split, tiled};
use super::{store, DotFn, Tile};
use crate::dtype::GgmlType;
use crate::quants::blocks::{
    cast_blocks, BlockIQ4XS, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K,
};
use crate::quants::{q3k_scales, KVALUES_IQ4NL};

/// Group scales `a` (bytes 0..16 of a product) and `b` (bytes 16..32) as i16 lanes.
#[target_feature(enable = "avx2")]
#[inline]
fn scales2(a: i16, b: i16) -> __m256i {
    _mm256_set_m128i(_mm_set1_epi16(b), _mm_set1_epi16(a))
}

/// `Σ w * y` of 32 unsigned weight bytes and the 32 activation bytes `y[at..]`, times the i16 scales `s`
/// (one per 16 bytes or shared), as eight i32 lanes.
#[target_feature(enable = "avx2")]
#[inline]
fn scaled(w: __m256i, y: &[i8], at: usize, s: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(w, load32_at(y, at)), s)
}

/// `Σ_g m[g] * bsums[g]` over the sixteen group sums of a Q8_K block.
#[inline]
fn bsum_dot(a: &BlockQ8K, m: impl Fn(usize) -> i32) -> i32 {
    a.bsums
        .iter()
        .enumerate()
        .map(|(g, b)| m(g) * i32::from(b.get()))
        .sum()
}

/// Eight scales and eight mins of Q4_K/Q5_K from their 12 packed bytes.
pub(super) fn k4_scales(p: &[u8; 12]) -> ([u8; 8], [u8; 8]) {
    let u = |i: usize| u32::from_le_bytes([p[4 * i], p[4 * i + 1], p[4 * i + 2], p[4 * i + 3]]);
    let (u0, u1, u2) = (u(0), u(1), u(2));
    let sc0 = u0 & 0x3f3f_3f3f;
    let sc1 = (u2 & 0x0f0f_0f0f) | (((u0 >> 6) & 0x0303_0303) << 4);
    let m0 = u1 & 0x3f3f_3f3f;
    let m1 = ((u2 >> 4) & 0x0f0f_0f0f) | (((u1 >> 6) & 0x0303_0303) << 4);
    let join = |a: u32, b: u32| {
        let (a, b) = (a.to_le_bytes(), b.to_le_bytes());
        [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]]
    };
    (join(sc0, sc1), join(m0, m1))
}

/// The tiled kernel loop shared by every type: for each super-block `w` and activation
/// row `c`, `block` gives the integer sum (i32 lanes) and the f32 terms outside it; the
/// result is `Σ d(w) * d(a) * sum + terms`. Expands inside each `target_feature` kernel.
macro_rules! superblocks {
    ($row:ident, $acts:ident, |$w:ident, $a:ident, $c:ident| $block:block) => {{
        let n = common($row, &$acts);
        let mut acc: [__m256; C] = [_mm256_setzero_ps(); C];
        let mut terms = [0f32; C];
        for (i, $w) in $row[..n].iter().enumerate() {
            let d = f16($w.d);
            for $c in 0..C {
                let $a = &$acts[$c][i];
                let (sum, t): (__m256i, f32) = $block;
                let s = _mm256_set1_ps(d * $a.d.get());
                acc[$c] = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(sum), acc[$c]);
                terms[$c] += t * $a.d.get();
            }
        }
        std::array::from_fn(|c| hsum(acc[c]) + terms[c])
    }};
}

#[target_feature(enable = "avx2,fma,f16c")]
fn q2_k<const C: usize>(row: &[BlockQ2K], acts: [&[BlockQ8K]; C]) -> [f32; C] {
    let m3 = _mm256_set1_epi8(3);
    superblocks!(row, acts, |w, a, c| {
        let mut sum = _mm256_setzero_si256();
        for h in 0..2 {
            let mut q = load32_at(&w.qs, 32 * h);
            for j in 0..4 {
                let g = 8 * h + 2 * j;
                let s = scales2(i16::from(w.scales[g] & 15), i16::from(w.scales[g + 1] & 15));
                sum = _mm256_add_epi32(
                    sum,
                    scaled(_mm256_and_si256(q, m3), &a.qs, 32 * (4 * h + j), s),
                );
                q = _mm256_srli_epi16(q, 2);
            }
        }
        let mins = bsum_dot(a, |g| i32::from(w.scales[g] >> 4));
        (sum, -f16(w.dmin) * mins as f32)
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
fn q3_k<const C: usize>(row: &[BlockQ3K], acts: [&[BlockQ8K]; C]) -> [f32; C] {
    let (m3, m4) = (_mm256_set1_epi8(3), _mm256_set1_epi8(4));
    superblocks!(row, acts, |w, a, c| {
        let sc = q3k_scales(&w.scales);
        let mut hm = load32(&w.hmask);
        let mut sum = _mm256_setzero_si256();
        for h in 0..2 {
            let mut q = load32_at(&w.qs, 32 * h);
            for j in 0..4 {
                let g = 8 * h + 2 * j;
                let high = _mm256_and_si256(_mm256_slli_epi16(hm, 2), m4);
                let levels = _mm256_or_si256(_mm256_and_si256(q, m3), high);
                let s = scales2(i16::from(sc[g]), i16::from(sc[g + 1]));
                sum = _mm256_add_epi32(sum, scaled(levels, &a.qs, 32 * (4 * h + j), s));
                q = _mm256_srli_epi16(q, 2);
                hm = _mm256_srli_epi16(hm, 1);
            }
        }
        // Levels are stored plus 4: take 4 * scale * (group sum) back out.
        let offset = bsum_dot(a, |g| 4 * i32::from(sc[g]));
        (sum, -f16(w.d) * offset as f32)
    })
}

/// The Q4_K/Q5_K super-block sum: nibbles (plus fifth bits from `qh` for Q5_K) of each
/// group of 32 times its scale; the mins' term.
#[target_feature(enable = "avx2")]
#[inline]
fn affine_k(
    scales: &[u8; 12],
    qs: &[u8; 128],
    qh: Option<&[u8; 32]>,
    dmin: f32,
    a: &BlockQ8K,
) -> (__m256i, f32) {
    let (sc, mn) = k4_scales(scales);
    let m4 = _mm256_set1_epi8(0x0f);
    let one = _mm256_set1_epi8(1);
    let mut hb = qh.map(|h| load32(h));
    let mut sum = _mm256_setzero_si256();
    for j in 0..4 {
        let q = load32_at(qs, 32 * j);
        let mut lo = _mm256_and_si256(q, m4);
        let mut hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if let Some(h) = hb {
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(h, one), 4));
            let h1 = _mm256_and_si256(_mm256_srli_epi16(h, 1), one);
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(h1, 4));
            hb = Some(_mm256_srli_epi16(h, 2));
        }
        let s_lo = _mm256_set1_epi16(i16::from(sc[2 * j]));
        let s_hi = _mm256_set1_epi16(i16::from(sc[2 * j + 1]));
        sum = _mm256_add_epi32(sum, scaled(lo, &a.qs, 64 * j, s_lo));
        sum = _mm256_add_epi32(sum, scaled(hi, &a.qs, 64 * j + 32, s_hi));
    }
    let mins = bsum_dot(a, |g| i32::from(mn[g / 2]));
    (sum, -dmin * mins as f32)
}

#[target_feature(enable = "avx2,fma,f16c")]
fn q4_k<const C: usize>(row: &[BlockQ4K], acts: [&[BlockQ8K]; C]) -> [f32; C] {
    superblocks!(row, acts, |w, a, c| {
        affine_k(&w.scales, &w.qs, None, f16(w.dmin), a)
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
fn q5_k<const C: usize>(row: &[BlockQ5K], acts: [&[BlockQ8K]; C]) -> [f32; C] {
    superblocks!(row, acts, |w, a, c| {
        affine_k(&w.scales, &w.qs, Some(&w.qh), f16(w.dmin), a)
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
fn q6_k<const C: usize>(row: &[BlockQ6K], acts: [&[BlockQ8K]; C]) -> [f32; C] {
    let (m4, m30) = (_mm256_set1_epi8(0x0f), _mm256_set1_epi8(0x30));
    superblocks!(row, acts, |w, a, c| {
        let sc = |g: usize| i16::from(w.scales[g]);
        let mut sum = _mm256_setzero_si256();
        for h in 0..2 {
            let (lo, hi) = (load32_at(&w.ql, 64 * h), load32_at(&w.ql, 64 * h + 32));
            let bits = load32_at(&w.qh, 32 * h);
            let levels = [
                _mm256_or_si256(
                    _mm256_and_si256(lo, m4),
                    _mm256_and_si256(_mm256_slli_epi16(bits, 4), m30),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(hi, m4),
                    _mm256_and_si256(_mm256_slli_epi16(bits, 2), m30),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(lo, 4), m4),
                    _mm256_and_si256(bits, m30),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(hi, 4), m4),
                    _mm256_and_si256(_mm256_srli_epi16(bits, 2), m30),
                ),
            ];
            for (j, l) in levels.into_iter().enumerate() {
                let g = 8 * h + 2 * j;
                sum = _mm256_add_epi32(
                    sum,
                    scaled(l, &a.qs, 32 * (4 * h + j), scales2(sc(g), sc(g + 1))),
                );
            }
        }
        // Levels are stored plus 32: take 32 * scale * (group sum) back out.
        let offset = bsum_dot(a, |g| 32 * i32::from(w.scales[g]));
        (sum, -f16(w.d) * offset as f32)
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
fn iq4_xs<const C: usize>(row: &[BlockIQ4XS], acts: [&[BlockQ8K]; C]) -> [f32; C] {
    // SAFETY: the table holds the 16 bytes the unaligned load reads.
    let table =
        _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(KVALUES_IQ4NL.as_ptr().cast()) });
    superblocks!(row, acts, |w, a, c| {
        let mut sum = _mm256_setzero_si256();
        for j in 0..8 {
            let q = _mm256_shuffle_epi8(table, nibbles_at(&w.qs, 16 * j));
            let s = _mm256_set1_epi16(iq4_xs_scale(w, j) as i16);
            let p = _mm256_maddubs_epi16(
                _mm256_sign_epi8(q, q),
                _mm256_sign_epi8(load32_at(&a.qs, 32 * j), q),
            );
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, s));
        }
        (sum, 0.0)
    })
}

/// The dot entry points, one per type: each loops over the tile's weight rows inside code
/// compiled for AVX2.
macro_rules! entry {
    ($name:ident, $kernel:ident, $block:ty) => {
        fn $name(tile: &Tile<'_>, out: &mut [f32], ostride: usize) {
            #[target_feature(enable = "avx2,fma,f16c")]
            fn rows<const C: usize>(
                tile: &Tile<'_>,
                acts: [&[BlockQ8K]; C],
                out: &mut [f32],
                ostride: usize,
            ) {
                for (r, row) in tile.rows().enumerate() {
                    let w = cast_blocks::<$block>(row).unwrap_or_default();
                    store(out, r * ostride, &$kernel::<C>(w, acts));
                }
            }
            // SAFETY: `kernel` hands this function out only after `Isa::supported` confirmed
            // AVX2, FMA and F16C.
            unsafe {
                tiled!(tile.n_acts, |C| rows::<C>(
                    tile,
                    split::<BlockQ8K, C>(tile),
                    out,
                    ostride
                ))
            }
        }
    };
}

entry!(q2_k_dot, q2_k, BlockQ2K);
entry!(q3_k_dot, q3_k, BlockQ3K);
entry!(q4_k_dot, q4_k, BlockQ4K);
entry!(q5_k_dot, q5_k, BlockQ5K);
entry!(q6_k_dot, q6_k, BlockQ6K);
entry!(iq4_xs_dot, iq4_xs, BlockIQ4XS);

/// The AVX2 kernel for `ty`; the caller checked the CPU.
pub(super) fn kernel(ty: GgmlType) -> Option<DotFn> {
    use GgmlType as T;
    Some(match ty {
        T::Q2_K => q2_k_dot,
        T::Q3_K => q3_k_dot,
        T::Q4_K => q4_k_dot,
        T::Q5_K => q5_k_dot,
        T::Q6_K => q6_k_dot,
        T::IQ4_XS => iq4_xs_dot,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn packed_k4_scales_unpack_like_the_reference() {
        for seed in 0..64u32 {
            let p: [u8; 12] = std::array::from_fn(|i| {
                (seed.wrapping_mul(2654435761) >> (i % 24)) as u8 ^ (i as u8).wrapping_mul(37)
            });
            let (sc, mn) = super::k4_scales(&p);
            for j in 0..8 {
                assert_eq!(
                    (sc[j], mn[j]),
                    crate::quants::scale_min_k4(j, &p),
                    "seed {seed} group {j}"
                );
            }
        }
    }
}
