//! CPU references for every registered kernel and the deterministic inputs the GPU checks
//! feed both: the oracle that `doctor` and the GPU tests compare kernels against.

use half::{bf16, f16};

/// Deterministic pseudo-random f32 values in `[-1, 1)` (a 64-bit LCG; no dependency).
pub fn test_f32(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            // The top 24 bits as a fraction in [0, 1), then mapped to [-1, 1).
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Deterministic pseudo-random signed bytes covering the whole range `-128..=127`.
pub fn test_i8(len: usize, seed: u64) -> Vec<i8> {
    test_f32(len, seed)
        .into_iter()
        .map(|x| (x * 128.0).floor().clamp(-128.0, 127.0) as i8)
        .collect()
}

/// `x + y` elementwise.
pub fn add(x: &[f32], y: &[f32]) -> Vec<f32> {
    x.iter().zip(y).map(|(a, b)| a + b).collect()
}

/// `x * factor` elementwise.
pub fn scale(x: &[f32], factor: f32) -> Vec<f32> {
    x.iter().map(|a| a * factor).collect()
}

/// IEEE half bit patterns → f32.
pub fn f16_to_f32(x: &[u16]) -> Vec<f32> {
    x.iter().map(|&h| f16::from_bits(h).to_f32()).collect()
}

/// f32 → IEEE half bit patterns (round to nearest even).
pub fn f32_to_f16(x: &[f32]) -> Vec<u16> {
    x.iter().map(|&v| f16::from_f32(v).to_bits()).collect()
}

/// bfloat16 bit patterns → f32.
pub fn bf16_to_f32(x: &[u16]) -> Vec<f32> {
    x.iter().map(|&b| bf16::from_bits(b).to_f32()).collect()
}

/// f32 → bfloat16 bit patterns (round to nearest even).
pub fn f32_to_bf16(x: &[f32]) -> Vec<u16> {
    x.iter().map(|&v| bf16::from_f32(v).to_bits()).collect()
}

/// The sum of `x`, accumulated in f64.
pub fn sum_f32(x: &[f32]) -> f64 {
    x.iter().map(|&v| f64::from(v)).sum()
}

/// The sum of `x` (wrapping, as the GPU's 32-bit adds do).
pub fn sum_i32(x: &[i32]) -> i32 {
    x.iter().fold(0i32, |acc, &v| acc.wrapping_add(v))
}

/// The dot product of two int8 vectors, accumulated in i32.
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).fold(0i32, |acc, (&x, &y)| {
        acc.wrapping_add(i32::from(x) * i32::from(y))
    })
}

/// The largest absolute difference between `got` and `want` (infinite if lengths differ or
/// a value is NaN where the other is not).
pub fn max_abs_diff(got: &[f32], want: &[f32]) -> f64 {
    if got.len() != want.len() {
        return f64::INFINITY;
    }
    got.iter()
        .zip(want)
        .map(|(&g, &w)| {
            if g.is_nan() && w.is_nan() {
                0.0
            } else if g.is_nan() || w.is_nan() {
                f64::INFINITY
            } else {
                (f64::from(g) - f64::from(w)).abs()
            }
        })
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_deterministic_and_in_range() {
        let a = test_f32(1000, 7);
        assert_eq!(a, test_f32(1000, 7));
        assert_ne!(a, test_f32(1000, 8));
        assert!(a.iter().all(|v| (-1.0..1.0).contains(v)));
        let b = test_i8(4096, 3);
        assert!(b.contains(&-128) && b.contains(&127) && b.contains(&0));
    }

    #[test]
    fn references_compute_what_they_say() {
        assert_eq!(add(&[1.0, 2.0], &[0.5, -2.0]), [1.5, 0.0]);
        assert_eq!(scale(&[1.0, -3.0], 2.0), [2.0, -6.0]);
        assert_eq!(f32_to_f16(&[1.0, -2.0]), [0x3c00, 0xc000]);
        assert_eq!(f16_to_f32(&[0x3c00, 0x7bff]), [1.0, 65504.0]);
        assert_eq!(
            f32_to_bf16(&[1.0, f32::from_bits(0x3f80_8000)]),
            [0x3f80, 0x3f80]
        );
        assert_eq!(f32_to_bf16(&[f32::from_bits(0x3f81_8000)]), [0x3f82]);
        assert_eq!(bf16_to_f32(&[0x4040]), [3.0]);
        assert_eq!(sum_f32(&[1.0, 2.0, 3.5]), 6.5);
        assert_eq!(sum_i32(&[i32::MAX, 1]), i32::MIN);
        assert_eq!(dot_i8(&[-128, 127, 3], &[-128, 127, -2]), 16384 + 16129 - 6);
        assert_eq!(max_abs_diff(&[1.0, 2.0], &[1.0, 2.5]), 0.5);
        assert_eq!(max_abs_diff(&[f32::NAN], &[1.0]), f64::INFINITY);
        assert_eq!(max_abs_diff(&[1.0], &[1.0, 2.0]), f64::INFINITY);
    }
}
