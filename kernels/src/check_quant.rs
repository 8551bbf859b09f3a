//! Doctor checks of the quantized-weight kernels: q8_1 activation quantization against its
//! defining bound, and get_rows, dequantize and matrix x vector for every weight type
//! against a CPU reference that the caller supplies ([`QuantReference`]: ggml-core's scalar
//! block codecs; `kernels` sits below ggml-core and holds no decoder of its own).

use half::f16;
use hip_runtime::{DeviceBuffer, Stream};

use crate::check::upload;
use crate::error::KernelError;
use crate::launch_quant::{q8_1_bytes, Glu, MatVecInput, WeightMatrix};
use crate::loader::Kernels;
use crate::reference as cpu;
use crate::registry::KernelId;
use crate::weight::WeightType;

/// The CPU block codecs the per-weight-type checks compare with.
pub trait QuantReference {
    /// Encodes `x` (whole blocks) as `ty` into `out` (exactly its bytes).
    fn quantize(&self, ty: WeightType, x: &[f32], out: &mut [u8]) -> Result<(), String>;
    /// Decodes whole blocks of `ty` from `bytes` into `out`.
    fn dequantize(&self, ty: WeightType, bytes: &[u8], out: &mut [f32]) -> Result<(), String>;
}

/// Rows and row length of the weight checks (a multiple of every block size).
const ROWS: usize = 48;
const ROW_LEN: usize = 512;
/// Activation columns of the matrix x vector check.
const COLS: usize = 3;
/// Largest matrix x vector error allowed, relative to the reference's root mean square: int8
/// activations round each value by up to 1/254 of its block's largest magnitude.
const MATVEC_TOLERANCE_Q8: f64 = 3e-2;
/// The same for f32/f16/bf16 weights with f32 activations (summation order only).
const MATVEC_TOLERANCE_PLAIN: f64 = 1e-4;

/// Splits q8_1 bytes of `m` rows of `k` into (d, s, quants) per 32 values.
fn split_q8_1(bytes: &[u8], m: usize, k: usize) -> Vec<(f32, f32, &[u8])> {
    let (quants, scales) = bytes.split_at(m * k);
    quants
        .chunks_exact(32)
        .zip(scales.chunks_exact(4))
        .map(|(q, ds)| {
            let d = f16::from_le_bytes([ds[0], ds[1]]).to_f32();
            let s = f16::from_le_bytes([ds[2], ds[3]]).to_f32();
            (d, s, q)
        })
        .collect()
}

/// q8_1 quantization: every value within half a step (plus the f16 rounding of the scale)
/// of its input, and `s` the f16 of `d · Σq`. Returns (elements, max error, tolerance) in
/// units of the block's step `d`.
pub(crate) fn check_quantize_q8_1(
    kernels: &Kernels,
    stream: &Stream,
) -> Result<(usize, f64, f64), KernelError> {
    let (m, k) = (5, 4096);
    let x = cpu::test_f32(m * k, 21);
    let dx = upload(stream, &x)?;
    let mut dy = DeviceBuffer::<u8>::zeroed(stream, q8_1_bytes(m, k))?;
    kernels.quantize_q8_1(&dx.as_slice(), k, &mut dy.as_slice_mut())?;
    let y = dy.to_vec()?;
    let mut worst = 0f64;
    for ((d, s, q), xs) in split_q8_1(&y, m, k).into_iter().zip(x.chunks_exact(32)) {
        let sum: i32 = q.iter().map(|&b| i32::from(b as i8)).sum();
        let amax = xs.iter().fold(0f32, |a, v| a.max(v.abs()));
        let exact_d = amax / 127.0;
        if f16::from_f32(exact_d).to_f32() != d || f16::from_f32(sum as f32 * exact_d).to_f32() != s
        {
            worst = f64::INFINITY;
        }
        for (&v, &b) in xs.iter().zip(q) {
            let err = (f64::from(v) - f64::from(exact_d) * f64::from(b as i8)).abs();
            worst = worst.max(err / f64::from(exact_d.max(f32::MIN_POSITIVE)));
        }
    }
    // Round to nearest: half a step, and a little for the float products.
    Ok((m * k, worst, 0.5 + 1e-4))
}

fn reference_error(kernel: KernelId, reason: String) -> KernelError {
    KernelError::Shape {
        kernel,
        detail: reason,
    }
}

/// get_rows (exact), dequantize to f16 (exact after rounding) or matrix x vector (plain and
/// fused SiLU GLU, error relative to the reference's RMS) for one weight type.
pub(crate) fn check_weight_kernel(
    kernels: &Kernels,
    stream: &Stream,
    kernel: KernelId,
    quant: &dyn QuantReference,
) -> Result<(usize, f64, f64), KernelError> {
    let ty = match kernel {
        KernelId::GetRows(ty) | KernelId::DequantF16(ty) | KernelId::MatVec(ty) => ty,
        _ => return Err(reference_error(kernel, "not a weight kernel".into())),
    };
    let bytes_len = ty
        .bytes_for(ROWS * ROW_LEN)
        .ok_or_else(|| reference_error(kernel, "row length not whole blocks".into()))?;
    let encode = |seed: u64| -> Result<(Vec<u8>, Vec<f32>), KernelError> {
        let mut bytes = vec![0u8; bytes_len];
        quant
            .quantize(ty, &cpu::test_f32(ROWS * ROW_LEN, seed), &mut bytes)
            .map_err(|e| reference_error(kernel, e))?;
        let mut values = vec![0f32; ROWS * ROW_LEN];
        quant
            .dequantize(ty, &bytes, &mut values)
            .map_err(|e| reference_error(kernel, e))?;
        Ok((bytes, values))
    };
    let (bytes, values) = encode(31)?;
    let dw = upload(stream, &bytes)?;
    let w = WeightMatrix {
        ty,
        data: dw.as_slice(),
        n_rows: ROWS,
        row_len: ROW_LEN,
    };
    match kernel {
        KernelId::GetRows(_) => {
            // Repeats, the last row, and one id past the end (a row of zeros).
            let ids: Vec<u32> = vec![3, 0, ROWS as u32 - 1, 3, ROWS as u32, 17];
            let did = upload(stream, &ids)?;
            let mut out = DeviceBuffer::<f32>::zeroed(stream, ids.len() * ROW_LEN)?;
            kernels.get_rows(&w, &did.as_slice(), &mut out.as_slice_mut())?;
            let want: Vec<f32> = ids
                .iter()
                .flat_map(|&i| match values.chunks_exact(ROW_LEN).nth(i as usize) {
                    Some(row) => row.to_vec(),
                    None => vec![0.0; ROW_LEN],
                })
                .collect();
            Ok((want.len(), cpu::max_abs_diff(&out.to_vec()?, &want), 0.0))
        }
        KernelId::DequantF16(_) => {
            let mut out = DeviceBuffer::<u16>::zeroed(stream, ROWS * ROW_LEN)?;
            kernels.dequantize_f16(&w, &mut out.as_slice_mut())?;
            let want = cpu::f16_to_f32(&cpu::f32_to_f16(&values));
            let got = cpu::f16_to_f32(&out.to_vec()?);
            Ok((want.len(), cpu::max_abs_diff(&got, &want), 0.0))
        }
        _ => {
            let (up_bytes, up_values) = encode(32)?;
            let dup = upload(stream, &up_bytes)?;
            let up = WeightMatrix {
                data: dup.as_slice(),
                ..w
            };
            let x = cpu::test_f32(COLS * ROW_LEN, 33);
            let dx = upload(stream, &x)?;
            let mut q8 = DeviceBuffer::<u8>::zeroed(stream, q8_1_bytes(COLS, ROW_LEN))?;
            let input = if ty.is_plain() {
                MatVecInput::F32(dx.as_slice())
            } else {
                kernels.quantize_q8_1(&dx.as_slice(), ROW_LEN, &mut q8.as_slice_mut())?;
                MatVecInput::Q8_1(q8.as_slice())
            };
            let mut out = DeviceBuffer::<f32>::zeroed(stream, COLS * ROWS)?;
            kernels.matvec(&w, input, COLS, &mut out.as_slice_mut())?;
            let plain = out.to_vec()?;
            kernels.matvec_glu(&w, &up, Glu::Silu, input, COLS, &mut out.as_slice_mut())?;
            let glu = out.to_vec()?;
            let dots = |m: &[f32]| -> Vec<f64> {
                (0..COLS * ROWS)
                    .map(|i| {
                        let (c, r) = (i / ROWS, i % ROWS);
                        let row = &m[r * ROW_LEN..(r + 1) * ROW_LEN];
                        let xc = &x[c * ROW_LEN..(c + 1) * ROW_LEN];
                        row.iter()
                            .zip(xc)
                            .map(|(&a, &b)| f64::from(a) * f64::from(b))
                            .sum()
                    })
                    .collect()
            };
            let (gate, upd) = (dots(&values), dots(&up_values));
            let want_glu: Vec<f64> = gate
                .iter()
                .zip(&upd)
                .map(|(&g, &u)| g / (1.0 + (-g).exp()) * u)
                .collect();
            let error = relative_max_error(&plain, &gate).max(relative_max_error(&glu, &want_glu));
            let tolerance = if ty.is_plain() {
                MATVEC_TOLERANCE_PLAIN
            } else {
                MATVEC_TOLERANCE_Q8
            };
            Ok((2 * COLS * ROWS * ROW_LEN, error, tolerance))
        }
    }
}

/// The largest |got - want| over the root mean square of `want`.
fn relative_max_error(got: &[f32], want: &[f64]) -> f64 {
    let rms = (want.iter().map(|v| v * v).sum::<f64>() / want.len().max(1) as f64).sqrt();
    let max = got
        .iter()
        .zip(want)
        .map(|(&g, &w)| (f64::from(g) - w).abs())
        .fold(
            0.0,
            |a: f64, e| if e.is_nan() { f64::INFINITY } else { a.max(e) },
        );
    max / rms.max(f64::MIN_POSITIVE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_1_bytes_split_into_blocks() {
        let mut bytes = vec![0u8; q8_1_bytes(2, 64)];
        bytes[32] = 5;
        let one = f16::from_f32(1.0).to_le_bytes();
        let n = 2 * 64;
        bytes[n + 4..n + 6].copy_from_slice(&one);
        let blocks = split_q8_1(&bytes, 2, 64);
        assert_eq!(blocks.len(), 4);
        assert_eq!((blocks[1].0, blocks[1].2[0]), (1.0, 5));
        assert_eq!(
            relative_max_error(&[1.0, -1.0], &[1.0, -1.5]),
            0.5 / 1.625f64.sqrt()
        );
        assert_eq!(relative_max_error(&[f32::NAN], &[1.0]), f64::INFINITY);
    }
}
