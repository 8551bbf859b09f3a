//! `doctor`'s CPU check (the only check on a machine without a GPU, as in CI): a 64 × 256
//! matrix × vector product on the CPU backend's threads and SIMD kernels, for F32 weights
//! and for Q4_0, Q4_K and Q8_0 ones, against the scalar reference: the weights as
//! `ggml_core::quants` dequantizes them, dotted in f64.

use std::time::Instant;

use ggml_core::backend::cpu::CpuBackend;
use ggml_core::ops::matmul::mul_mat_t;
use ggml_core::quants::{dequantize_row, quantize_row};
use ggml_core::{GgmlType, Tensor};
use serde::Serialize;

const ROWS: usize = 64;
const COLS: usize = 256;

/// The weight types checked.
const TYPES: [GgmlType; 4] = [
    GgmlType::F32,
    GgmlType::Q4_0,
    GgmlType::Q4_K,
    GgmlType::Q8_0,
];

/// Largest absolute error allowed against the f64 reference (sums of 256 products of
/// values below 1, in f32).
const TOLERANCE: f64 = 1e-4;

/// The CPU backend's check: small matrix products against an f64 reference.
#[derive(Serialize)]
pub struct CpuCheck {
    pub threads: usize,
    pub rows: usize,
    pub cols: usize,
    /// The weight types multiplied, each against its scalar reference.
    pub types: Vec<&'static str>,
    /// The largest error over every type.
    pub max_abs_error: f64,
    pub millis: f64,
    pub passed: bool,
    pub error: Option<String>,
}

/// Runs the products of every type in [`TYPES`].
pub fn cpu_check() -> CpuCheck {
    let started = Instant::now();
    let result = CpuBackend::new(0)
        .map_err(|e| e.to_string())
        .and_then(|backend| {
            let mut worst = 0.0f64;
            for ty in TYPES {
                worst = worst.max(check_type(&backend, ty)?);
            }
            Ok((backend.threads(), worst))
        });
    let millis = started.elapsed().as_secs_f64() * 1e3;
    let (threads, max_abs_error, error) = match result {
        Ok((threads, worst)) => (threads, worst, None),
        Err(e) => (0, f64::INFINITY, Some(e)),
    };
    CpuCheck {
        threads,
        rows: ROWS,
        cols: COLS,
        types: TYPES.iter().map(|t| t.name()).collect(),
        max_abs_error,
        millis,
        passed: error.is_none() && max_abs_error < TOLERANCE,
        error,
    }
}

/// The largest error of one product with `ty` weights.
fn check_type(backend: &CpuBackend, ty: GgmlType) -> Result<f64, String> {
    let values = kernels::reference::test_f32(ROWS * COLS, 1);
    let x = kernels::reference::test_f32(COLS, 2);
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", ty.name());
    let tensor = if ty == GgmlType::F32 {
        Tensor::from_f32("doctor.w", vec![COLS, ROWS], &values).map_err(|e| fail(&e))?
    } else {
        let row_bytes = ty.bytes_for(COLS as u64).ok_or_else(|| fail(&"row size"))? as usize;
        let mut bytes = vec![0u8; row_bytes * ROWS];
        for (src, dst) in values
            .chunks_exact(COLS)
            .zip(bytes.chunks_exact_mut(row_bytes))
        {
            quantize_row(ty, src, dst).map_err(|e| fail(&e))?;
        }
        Tensor::from_bytes("doctor.w", ty, vec![COLS, ROWS], bytes).map_err(|e| fail(&e))?
    };
    let mut row = vec![0.0f32; COLS];
    let mut want = Vec::with_capacity(ROWS);
    for r in 0..ROWS {
        let data = tensor.row(r).ok_or_else(|| fail(&"row out of range"))?;
        dequantize_row(ty, data, &mut row).map_err(|e| fail(&e))?;
        want.push(
            row.iter()
                .zip(&x)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum::<f64>(),
        );
    }
    let mut got = vec![0.0f32; ROWS];
    backend
        .install(|| mul_mat_t(&tensor, &x, 1, &mut got))
        .map_err(|e| fail(&e))?;
    Ok(got
        .iter()
        .zip(&want)
        .map(|(&g, &w)| (f64::from(g) - w).abs())
        .fold(0.0, f64::max))
}
