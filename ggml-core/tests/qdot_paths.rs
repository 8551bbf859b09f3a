//! Every integer-dot kernel path this CPU offers against the scalar reference, for every
//! weight type, and the scalar reference against f64 sums of the dequantized operands.

use ggml_core::ops::qdot::{kernel, ActFormat, Isa};
use ggml_core::quants::{dequantize_row, quantize_row};
use ggml_core::GgmlType;

const TYPES: [GgmlType; 16] = [
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::IQ4_NL,
    GgmlType::IQ4_XS,
    GgmlType::MXFP4,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::F32,
];

/// A deterministic pseudo-random sequence in [-1, 1) with occasional outliers.
fn values(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let v = (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0;
            if i % 97 == 0 {
                v * 8.0
            } else {
                v
            }
        })
        .collect()
}

/// The activation format's own element type, for dequantizing it.
fn act_type(f: ActFormat) -> GgmlType {
    match f {
        ActFormat::Q8_0 => GgmlType::Q8_0,
        ActFormat::Q8_1 => GgmlType::Q8_1,
        ActFormat::Q8K => GgmlType::Q8_K,
        ActFormat::F32 | ActFormat::F16 | ActFormat::Bf16 => GgmlType::F32,
    }
}

#[test]
fn every_path_matches_the_scalar_reference_for_every_type() {
    let isas = Isa::available();
    println!("kernel paths on this CPU: {isas:?}");
    let k = 1024;
    let n_act = 6;
    for ty in TYPES {
        let reference = kernel(Isa::Scalar, ty).unwrap_or_else(|| panic!("{ty}: no kernel"));
        let fmt = reference.act();
        let stride = fmt.row_bytes(k).unwrap();
        for seed in 0..4u64 {
            let w = values(seed, k);
            let mut row = vec![0u8; ty.bytes_for(k as u64).unwrap() as usize];
            quantize_row(ty, &w, &mut row).unwrap();
            let mut acts = vec![0u8; stride * n_act];
            for t in 0..n_act {
                let x = values(100 + seed * 10 + t as u64, k);
                assert!(fmt.quantize(&x, &mut acts[t * stride..(t + 1) * stride]));
            }
            let mut want = vec![0f32; n_act];
            reference.dot(&row, &acts, stride, &mut want);
            // The scalar kernel against f64 sums of the dequantized operands.
            let mut wd = vec![0f32; k];
            dequantize_row(ty, &row, &mut wd).unwrap();
            for t in 0..n_act {
                let mut xd = vec![0f32; k];
                dequantize_row(act_type(fmt), &acts[t * stride..(t + 1) * stride], &mut xd)
                    .unwrap();
                let exact: f64 = wd
                    .iter()
                    .zip(&xd)
                    .map(|(a, b)| f64::from(*a) * f64::from(*b))
                    .sum();
                let mag: f64 = wd
                    .iter()
                    .zip(&xd)
                    .map(|(a, b)| f64::from((a * b).abs()))
                    .sum();
                let err = (f64::from(want[t]) - exact).abs();
                // Q8_1 keeps each block's sum as an f16 (`s`), which the min multiplies.
                let tol = if fmt == ActFormat::Q8_1 { 2e-3 } else { 1e-5 };
                assert!(
                    err <= tol * mag + 1e-6,
                    "{ty} scalar seed {seed} act {t}: {} vs {exact}",
                    want[t]
                );
                for &isa in &isas {
                    let kern = kernel(isa, ty).unwrap_or_else(|| panic!("{ty}: no {isa:?} kernel"));
                    assert_eq!(kern.act(), fmt, "{ty} {isa:?}");
                    let mut got = vec![0f32; n_act];
                    kern.dot(&row, &acts, stride, &mut got);
                    let err = (f64::from(got[t]) - f64::from(want[t])).abs();
                    assert!(
                        err <= 1e-5 * mag + 1e-6,
                        "{ty} {isa:?} seed {seed} act {t}: {} vs scalar {}",
                        got[t],
                        want[t]
                    );
                }
            }
        }
    }
}

#[test]
fn unsupported_types_and_paths_have_no_kernel() {
    assert!(kernel(Isa::Scalar, GgmlType::IQ2_XXS).is_none());
    for isa in Isa::ALL {
        assert_eq!(
            kernel(isa, GgmlType::Q4_0).is_some(),
            isa.supported(),
            "{isa:?}"
        );
        assert_eq!(Isa::from_name(isa.name()), Some(isa));
    }
}
