//! Fused dequantize-and-dot kernels for one weight row against one f32 activation row, for
//! the 32-element block formats most models store their big matrices in (Q8_0, Q4_0,
//! Q4_1, Q5_0). They read the quant blocks in place — no f32 copy of the row — which is what
//! bounds single-token decoding. Compiled twice: portable, and with AVX2+FMA for CPUs that
//! have it (runtime-detected). Other types go through `matmul`'s dequantize-then-dot path.

use crate::dtype::GgmlType;
use crate::quants::blocks::{cast_blocks, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ8_0, QK32};

/// Sums eight partial sums pairwise.
#[inline(always)]
fn sum8(s: [f32; 8]) -> f32 {
    ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
}

/// `Σ w[i] * x[i]` over one 32-element block.
#[inline(always)]
fn block_dot(w: &[f32; QK32], x: &[f32; QK32]) -> f32 {
    let mut s = [0f32; 8];
    for c in 0..QK32 / 8 {
        for i in 0..8 {
            s[i] += w[c * 8 + i] * x[c * 8 + i];
        }
    }
    sum8(s)
}

/// The 32 nibbles of a 4-bit block (low nibbles are elements 0..16, high ones 16..32),
/// offset by `bias`.
#[inline(always)]
fn nibbles(qs: &[u8; QK32 / 2], bias: f32) -> [f32; QK32] {
    let mut w = [0f32; QK32];
    for i in 0..QK32 / 2 {
        w[i] = f32::from(qs[i] & 0x0f) + bias;
        w[i + QK32 / 2] = f32::from(qs[i] >> 4) + bias;
    }
    w
}

/// The row kernel for blocks of type `B`, given the per-block dot.
#[inline(always)]
fn row_dot<B: crate::quants::blocks::RawBlock>(
    row: &[u8],
    x: &[f32],
    block: impl Fn(&B, &[f32; QK32]) -> f32,
) -> Option<f32> {
    let blocks = cast_blocks::<B>(row)?;
    if x.len() < blocks.len() * QK32 {
        return None;
    }
    Some(
        blocks
            .iter()
            .zip(x.chunks_exact(QK32))
            .map(|(b, xs)| block(b, xs.try_into().unwrap_or(&[0.0; QK32])))
            .sum(),
    )
}

/// The portable kernels (the reference the AVX2 ones are checked against).
fn dot_row_portable(ty: GgmlType, row: &[u8], x: &[f32]) -> Option<f32> {
    match ty {
        GgmlType::Q8_0 => row_dot(row, x, |b: &BlockQ8_0, xs| {
            let mut w = [0f32; QK32];
            for (w, &q) in w.iter_mut().zip(&b.qs) {
                *w = f32::from(q);
            }
            b.d.to_f32() * block_dot(&w, xs)
        }),
        GgmlType::Q4_0 => row_dot(row, x, |b: &BlockQ4_0, xs| {
            b.d.to_f32() * block_dot(&nibbles(&b.qs, -8.0), xs)
        }),
        GgmlType::Q4_1 => row_dot(row, x, |b: &BlockQ4_1, xs| {
            let w = nibbles(&b.qs, 0.0);
            let sum_x = block_dot(&[1.0; QK32], xs);
            b.d.to_f32() * block_dot(&w, xs) + b.m.to_f32() * sum_x
        }),
        GgmlType::Q5_0 => row_dot(row, x, |b: &BlockQ5_0, xs| {
            // Bit j of `qh` is the fifth bit of element j.
            let qh = u32::from_le_bytes(b.qh);
            let mut w = nibbles(&b.qs, -16.0);
            for (j, w) in w.iter_mut().enumerate() {
                *w += ((qh >> j) & 1) as f32 * 16.0;
            }
            b.d.to_f32() * block_dot(&w, xs)
        }),
        _ => None,
    }
}

/// AVX2/FMA/F16C block kernels: weights widened to f32 eight lanes at a time.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        __m128i, __m256, _mm256_add_ps, _mm256_cvtepi32_ps, _mm256_cvtepi8_epi32, _mm256_fmadd_ps,
        _mm256_loadu_ps, _mm256_mul_ps, _mm256_set1_ps, _mm256_setzero_ps, _mm256_storeu_ps,
        _mm_and_si128, _mm_cmpeq_epi8, _mm_cvtph_ps, _mm_cvtsi32_si128, _mm_cvtss_f32,
        _mm_loadu_si128, _mm_or_si128, _mm_set1_epi16, _mm_set1_epi8, _mm_setr_epi8,
        _mm_shuffle_epi8, _mm_srli_epi16, _mm_srli_si128, _mm_sub_epi8,
    };

    use super::{cast_blocks, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ8_0, GgmlType, QK32};
    use crate::quants::blocks::{F16Le, RawBlock};

    /// A block's 32 weights as f32 (elements 0..8, 8..16, 16..24, 24..32), its scale and,
    /// for Q4_1, its minimum, each broadcast to eight lanes.
    pub(super) struct Wblock {
        w: [__m256; 4],
        d: __m256,
        m: Option<__m256>,
    }

    /// Widens two 16-byte vectors of signed bytes (elements 0..16 and 16..32) to f32.
    #[target_feature(enable = "avx2")]
    fn widen(lo: __m128i, hi: __m128i) -> [__m256; 4] {
        [
            _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)),
            _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))),
            _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)),
            _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))),
        ]
    }

    /// A block from its byte weights and f16 scale (and min).
    #[target_feature(enable = "avx2,f16c")]
    fn wblock(lo: __m128i, hi: __m128i, d: F16Le, m: Option<F16Le>) -> Wblock {
        Wblock {
            w: widen(lo, hi),
            d: _mm256_set1_ps(half(d)),
            m: m.map(|m| _mm256_set1_ps(half(m))),
        }
    }

    /// `acc + block · x` as eight lane sums. Every activation row goes through exactly these
    /// operations in this order, however many rows share the block: the results do not
    /// depend on the batch.
    #[target_feature(enable = "avx2,fma")]
    fn add_block(b: &Wblock, x: &[f32; QK32], acc: __m256) -> __m256 {
        let p = x.as_ptr();
        // SAFETY: `x` holds 32 floats; the loads read 8 at offsets 0, 8, 16 and 24.
        let dot = unsafe {
            let s = _mm256_mul_ps(b.w[0], _mm256_loadu_ps(p));
            let s = _mm256_fmadd_ps(b.w[1], _mm256_loadu_ps(p.add(8)), s);
            let s = _mm256_fmadd_ps(b.w[2], _mm256_loadu_ps(p.add(16)), s);
            _mm256_fmadd_ps(b.w[3], _mm256_loadu_ps(p.add(24)), s)
        };
        let acc = _mm256_fmadd_ps(b.d, dot, acc);
        match b.m {
            Some(m) => _mm256_fmadd_ps(m, sum_x(x), acc),
            None => acc,
        }
    }

    /// A 4-bit block's weights (low nibbles 0..16, high nibbles 16..32) minus `bias`.
    #[target_feature(enable = "avx2")]
    fn nibbles(qs: &[u8; QK32 / 2], bias: i8) -> (__m128i, __m128i) {
        // SAFETY: `qs` holds exactly the 16 bytes the unaligned load reads.
        let b = unsafe { _mm_loadu_si128(qs.as_ptr().cast()) };
        let mask = _mm_set1_epi8(0x0f);
        let bias = _mm_set1_epi8(bias);
        let lo = _mm_sub_epi8(_mm_and_si128(b, mask), bias);
        let hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(b, 4), mask), bias);
        (lo, hi)
    }

    /// Bytes `0x10` where bit `j` of `bits` is set, `0` elsewhere (byte `j` for bit `j`).
    #[target_feature(enable = "avx2")]
    fn fifth_bits(bits: u16) -> __m128i {
        let v = _mm_set1_epi16(bits as i16);
        // Bytes 0..8 take the low byte of `bits`, bytes 8..16 the high byte.
        let spread = _mm_shuffle_epi8(
            v,
            _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
        );
        let sel = _mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
        let set = _mm_cmpeq_epi8(_mm_and_si128(spread, sel), sel);
        _mm_and_si128(set, _mm_set1_epi8(0x10))
    }

    /// The 32 signed bytes of a Q8_0 block as two 16-byte vectors.
    #[target_feature(enable = "avx2")]
    fn bytes32(qs: &[i8; QK32]) -> (__m128i, __m128i) {
        let p = qs.as_ptr().cast::<__m128i>();
        // SAFETY: `qs` holds 32 bytes; the unaligned loads read 16 at offsets 0 and 16.
        unsafe { (_mm_loadu_si128(p), _mm_loadu_si128(p.add(1))) }
    }

    /// The sum of 32 activations as eight lane sums.
    #[target_feature(enable = "avx2")]
    fn sum_x(x: &[f32; QK32]) -> __m256 {
        let p = x.as_ptr();
        // SAFETY: `x` holds 32 floats; the loads read 8 at offsets 0, 8, 16 and 24.
        unsafe {
            let a = _mm256_add_ps(_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)));
            let b = _mm256_add_ps(_mm256_loadu_ps(p.add(16)), _mm256_loadu_ps(p.add(24)));
            _mm256_add_ps(a, b)
        }
    }

    #[target_feature(enable = "f16c")]
    fn half(h: F16Le) -> f32 {
        let bits = i32::from(u16::from_le_bytes(h.0));
        _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits)))
    }

    #[target_feature(enable = "avx2")]
    fn hsum(v: __m256) -> f32 {
        let mut l = [0f32; 8];
        // SAFETY: `l` holds the 8 floats the unaligned store writes.
        unsafe { _mm256_storeu_ps(l.as_mut_ptr(), v) };
        ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
    }

    /// One row of blocks `B` against `T` activation rows, one f32x8 accumulator each:
    /// `decode` reads a block once for all of them, `add` adds it to one accumulator, `sum`
    /// reduces an accumulator.
    #[inline(always)]
    fn rows<B: RawBlock, const T: usize>(
        row: &[u8],
        xs: [&[f32]; T],
        zero: __m256,
        decode: impl Fn(&B) -> Wblock,
        add: impl Fn(&Wblock, &[f32; QK32], __m256) -> __m256,
        sum: impl Fn(__m256) -> f32,
    ) -> Option<[f32; T]> {
        let blocks = cast_blocks::<B>(row)?;
        let n = blocks.len() * QK32;
        if xs.iter().any(|x| x.len() < n) {
            return None;
        }
        let mut acc = [zero; T];
        for (i, b) in blocks.iter().enumerate() {
            let w = decode(b);
            for (a, x) in acc.iter_mut().zip(&xs) {
                *a = add(&w, x[i * QK32..(i + 1) * QK32].try_into().ok()?, *a);
            }
        }
        Some(acc.map(sum))
    }

    /// `row · x` for each of `T` activation rows, for Q8_0, Q4_0, Q4_1 and Q5_0 rows.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn dot_rows<const T: usize>(
        ty: GgmlType,
        row: &[u8],
        xs: [&[f32]; T],
    ) -> Option<[f32; T]> {
        let zero = _mm256_setzero_ps();
        let add = |b: &Wblock, x: &[f32; QK32], acc| add_block(b, x, acc);
        let sum = |v| hsum(v);
        match ty {
            GgmlType::Q8_0 => rows(
                row,
                xs,
                zero,
                |b: &BlockQ8_0| {
                    let (lo, hi) = bytes32(&b.qs);
                    wblock(lo, hi, b.d, None)
                },
                add,
                sum,
            ),
            GgmlType::Q4_0 => rows(
                row,
                xs,
                zero,
                |b: &BlockQ4_0| {
                    let (lo, hi) = nibbles(&b.qs, 8);
                    wblock(lo, hi, b.d, None)
                },
                add,
                sum,
            ),
            GgmlType::Q5_0 => rows(
                row,
                xs,
                zero,
                |b: &BlockQ5_0| {
                    let (lo, hi) = nibbles(&b.qs, 0);
                    let qh = u32::from_le_bytes(b.qh);
                    let sixteen = _mm_set1_epi8(16);
                    let lo = _mm_sub_epi8(_mm_or_si128(lo, fifth_bits(qh as u16)), sixteen);
                    let hi = _mm_sub_epi8(_mm_or_si128(hi, fifth_bits((qh >> 16) as u16)), sixteen);
                    wblock(lo, hi, b.d, None)
                },
                add,
                sum,
            ),
            GgmlType::Q4_1 => rows(
                row,
                xs,
                zero,
                |b: &BlockQ4_1| {
                    let (lo, hi) = nibbles(&b.qs, 0);
                    wblock(lo, hi, b.d, Some(b.m))
                },
                add,
                sum,
            ),
            _ => None,
        }
    }
}

/// Whether `ty` has a fused row kernel ([`dot_row`], [`dot_rows`]).
pub fn has_kernel(ty: GgmlType) -> bool {
    matches!(
        ty,
        GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q5_0
    )
}

/// `row · xs[t]` for `T` activation rows at once (the block is decoded once for all), each
/// result bit-identical to [`dot_row`] of that row alone; `None` as for [`dot_row`].
pub fn dot_rows<const T: usize>(ty: GgmlType, row: &[u8], xs: [&[f32]; T]) -> Option<[f32; T]> {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
        && std::is_x86_feature_detected!("f16c")
    {
        // SAFETY: the CPU supports AVX2, FMA and F16C, checked just above.
        return unsafe { avx2::dot_rows(ty, row, xs) };
    }
    let mut out = [0f32; T];
    for (o, x) in out.iter_mut().zip(xs) {
        *o = dot_row_portable(ty, row, x)?;
    }
    Some(out)
}

/// `row · x` for one weight row of type `ty` (whole blocks) and at least as many
/// activations; `None` when `ty` has no fused kernel or the lengths do not fit.
pub fn dot_row(ty: GgmlType, row: &[u8], x: &[f32]) -> Option<f32> {
    dot_rows(ty, row, [x]).map(|[v]| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fused_rows_match_dequantize_then_dot() {
        let k = 96;
        let w: Vec<f32> = (0..k)
            .map(|i| ((i * 37 % 29) as f32 - 14.0) / 7.0)
            .collect();
        let x: Vec<f32> = (0..k).map(|i| ((i * 11 % 17) as f32 - 8.0) / 5.0).collect();
        for ty in [
            GgmlType::Q8_0,
            GgmlType::Q4_0,
            GgmlType::Q4_1,
            GgmlType::Q5_0,
        ] {
            let mut bytes = vec![0u8; ty.bytes_for(k as u64).unwrap() as usize];
            crate::quants::quantize_row(ty, &w, &mut bytes).unwrap();
            let mut deq = vec![0f32; k];
            crate::quants::dequantize_row(ty, &bytes, &mut deq).unwrap();
            let want: f32 = deq.iter().zip(&x).map(|(a, b)| a * b).sum();
            let portable = dot_row_portable(ty, &bytes, &x).unwrap();
            let dispatched = dot_row(ty, &bytes, &x).unwrap();
            for got in [portable, dispatched] {
                assert!((got - want).abs() < 1e-3, "{ty}: {got} vs {want}");
            }
        }
        assert_eq!(dot_row(GgmlType::Q4_K, &[0; 144], &[0.0; 256]), None);
        assert_eq!(
            dot_row(GgmlType::Q8_0, &[0; 34], &[0.0; 31]),
            None,
            "too few activations"
        );
    }

    #[test]
    fn several_rows_at_once_are_bit_identical_to_one_at_a_time() {
        let k = 128;
        let w: Vec<f32> = (0..k)
            .map(|i| ((i * 29 % 31) as f32 - 15.0) / 9.0)
            .collect();
        let xs: Vec<Vec<f32>> = (0..4)
            .map(|t| {
                (0..k)
                    .map(|i| ((i * 13 + t * 7) % 19) as f32 / 3.0 - 3.1)
                    .collect()
            })
            .collect();
        for ty in [
            GgmlType::Q8_0,
            GgmlType::Q4_0,
            GgmlType::Q4_1,
            GgmlType::Q5_0,
        ] {
            let mut bytes = vec![0u8; ty.bytes_for(k as u64).unwrap() as usize];
            crate::quants::quantize_row(ty, &w, &mut bytes).unwrap();
            let four = dot_rows(ty, &bytes, [&xs[0], &xs[1], &xs[2], &xs[3]]).unwrap();
            for (t, x) in xs.iter().enumerate() {
                let one = dot_row(ty, &bytes, x).unwrap();
                assert_eq!(four[t].to_bits(), one.to_bits(), "{ty} row {t}");
                let portable = dot_row_portable(ty, &bytes, x).unwrap();
                assert!((one - portable).abs() < 1e-3, "{ty}: {one} vs {portable}");
            }
        }
        assert!(has_kernel(GgmlType::Q4_1) && !has_kernel(GgmlType::Q6_K));
    }
}
