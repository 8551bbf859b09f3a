//! Property tests of every quantizer: quantize then dequantize stays within the type's
//! error bound (normalised RMSE), and for the formats where rounding is idempotent,
//! quantizing the dequantized weights again reproduces them exactly.

use ggml_core::quants::{can_quantize, dequantize_row, quantize_row};
use ggml_core::{GgmlType, QK_K};
use proptest::prelude::*;

/// Largest normalised RMSE `sqrt(sum (x - y)^2 / sum x^2)` allowed per type on
/// roughly uniform or normal weights (about 1.3 times the worst seen over many rows;
/// uniform weights are the hard case for the 4-bit and lower formats).
const BOUNDS: &[(GgmlType, f64)] = &[
    (GgmlType::F32, 0.0),
    (GgmlType::F64, 0.0),
    (GgmlType::F16, 1e-3),
    (GgmlType::BF16, 5e-3),
    (GgmlType::Q8_0, 0.01),
    (GgmlType::Q8_1, 0.01),
    (GgmlType::Q8_K, 0.01),
    (GgmlType::Q6_K, 0.04),
    (GgmlType::Q5_0, 0.06),
    (GgmlType::Q5_1, 0.05),
    (GgmlType::Q5_K, 0.05),
    (GgmlType::Q4_0, 0.12),
    (GgmlType::Q4_1, 0.11),
    (GgmlType::Q4_K, 0.1),
    (GgmlType::IQ4_NL, 0.12),
    (GgmlType::IQ4_XS, 0.14),
    (GgmlType::MXFP4, 0.2),
    (GgmlType::Q3_K, 0.22),
    (GgmlType::Q2_K, 0.4),
];

/// Types whose ternary quantization is exact up to the f16 scale (checked on ternary
/// weights only).
const TERNARY: &[GgmlType] = &[GgmlType::TQ1_0, GgmlType::TQ2_0];

/// Types for which quantize(dequantize(quantize(x))) dequantizes to the same weights.
/// (Not Q8_K: its f32 scale `max / -127` does not survive `1 / (-127 / max)` exactly.)
const STABLE: &[GgmlType] = &[
    GgmlType::F32,
    GgmlType::F64,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q8_0,
    GgmlType::Q8_1,
    GgmlType::Q4_0,
    GgmlType::Q5_0,
    GgmlType::TQ1_0,
    GgmlType::TQ2_0,
    GgmlType::MXFP4,
];

fn round_trip(ty: GgmlType, x: &[f32]) -> Vec<f32> {
    let mut q = vec![0u8; ty.bytes_for(x.len() as u64).unwrap() as usize];
    quantize_row(ty, x, &mut q).unwrap();
    let mut y = vec![0f32; x.len()];
    dequantize_row(ty, &q, &mut y).unwrap();
    y
}

fn nrmse(x: &[f32], y: &[f32]) -> f64 {
    let err: f64 = x
        .iter()
        .zip(y)
        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
        .sum();
    let norm: f64 = x.iter().map(|&a| f64::from(a).powi(2)).sum();
    if norm == 0.0 {
        err.sqrt()
    } else {
        (err / norm).sqrt()
    }
}

/// Rows of 256 or 512 weights: uniform in ±1 or a sum of uniforms (near normal), with
/// occasional outliers, times a power of ten in 1e-3 ..= 1e3.
fn weights() -> impl Strategy<Value = Vec<f32>> {
    (1usize..=2, -3i32..=3, any::<bool>()).prop_flat_map(|(blocks, exp, normal)| {
        let scale = 10f32.powi(exp);
        let value = if normal {
            prop::collection::vec(-1.0f32..1.0, 3)
                .prop_map(|v| v.iter().sum::<f32>())
                .boxed()
        } else {
            (-1.0f32..1.0).boxed()
        };
        prop::collection::vec(value, blocks * QK_K)
            .prop_map(move |v| v.iter().map(|a| a * scale).collect::<Vec<_>>())
    })
}

/// Ternary rows `s * t`, t in {-1, 0, 1}, with at least one non-zero per block.
fn ternary_weights() -> impl Strategy<Value = (f32, Vec<f32>)> {
    (0.01f32..100.0, prop::collection::vec(-1i8..=1, QK_K)).prop_map(|(s, mut t)| {
        t[0] = 1;
        (s, t.iter().map(|&v| s * f32::from(v)).collect())
    })
}

#[test]
fn every_quantizer_is_covered() {
    for ty in GgmlType::all().filter(|&t| can_quantize(t)) {
        let listed = BOUNDS.iter().any(|&(t, _)| t == ty) || TERNARY.contains(&ty);
        assert!(listed, "{ty} has a quantizer but no round-trip bound");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip_error_is_bounded(x in weights()) {
        for &(ty, bound) in BOUNDS {
            let y = round_trip(ty, &x);
            let e = nrmse(&x, &y);
            prop_assert!(e <= bound, "{}: normalised RMSE {} > {}", ty, e, bound);
        }
    }

    #[test]
    fn ternary_weights_survive((scale, x) in ternary_weights()) {
        for &ty in TERNARY {
            let y = round_trip(ty, &x);
            let e = nrmse(&x, &y);
            // Only the f16 rounding of the scale is lost.
            prop_assert!(e <= 1e-3, "{}: normalised RMSE {} (scale {})", ty, e, scale);
        }
    }

    #[test]
    fn requantizing_is_stable(x in weights()) {
        for &ty in STABLE {
            let once = round_trip(ty, &x);
            let twice = round_trip(ty, &once);
            prop_assert!(once == twice, "{}: dequantized weights change on requantization", ty);
        }
    }
}
