//! Fused dequantize-and-dot kernels for one weight row against one f32 activation row, for
//! the 32-element block formats most models store their big matrices in (Q8_0, Q4_0,
//! Q4_1). They read the quant blocks in place — no f32 copy of the row — which is what
//! bounds single-token decoding. Compiled twice: portable, and with AVX2+FMA for CPUs that
//! have it (runtime-detected). Other types go through `matmul`'s dequantize-then-dot path.

use crate::dtype::GgmlType;
use crate::quants::blocks::{cast_blocks, BlockQ4_0, BlockQ4_1, BlockQ8_0, QK32};

/// Sums eight partial sums pairwise.
#[inline(always)]
fn sum8(s: [f32; 8]) -> f32 {
    ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
}

/// `Σ w[i] * x[i]` over one 32-element block.
#[inline(always)]
fn block_dot(w: &[f32; QK32], x: &[f32]) -> f32 {
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
    block: impl Fn(&B, &[f32]) -> f32,
) -> Option<f32> {
    let blocks = cast_blocks::<B>(row)?;
    if x.len() < blocks.len() * QK32 {
        return None;
    }
    Some(
        blocks
            .iter()
            .zip(x.chunks_exact(QK32))
            .map(|(b, xs)| block(b, xs))
            .sum(),
    )
}

#[inline(always)]
fn dot_row_inline(ty: GgmlType, row: &[u8], x: &[f32]) -> Option<f32> {
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
        _ => None,
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
/// # Safety
/// The CPU must support AVX2 and FMA.
unsafe fn dot_row_avx2(ty: GgmlType, row: &[u8], x: &[f32]) -> Option<f32> {
    dot_row_inline(ty, row, x)
}

/// `row · x` for one weight row of type `ty` (whole blocks) and at least as many
/// activations; `None` when `ty` has no fused kernel or the lengths do not fit.
pub fn dot_row(ty: GgmlType, row: &[u8], x: &[f32]) -> Option<f32> {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        return unsafe { dot_row_avx2(ty, row, x) };
    }
    dot_row_inline(ty, row, x)
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
        for ty in [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1] {
            let mut bytes = vec![0u8; ty.bytes_for(k as u64).unwrap() as usize];
            crate::quants::quantize_row(ty, &w, &mut bytes).unwrap();
            let mut deq = vec![0f32; k];
            crate::quants::dequantize_row(ty, &bytes, &mut deq).unwrap();
            let want: f32 = deq.iter().zip(&x).map(|(a, b)| a * b).sum();
            let portable = dot_row_inline(ty, &bytes, &x).unwrap();
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
}
