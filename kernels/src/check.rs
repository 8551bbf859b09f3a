//! Every registered kernel run on the GPU against its CPU reference: the table that
//! `rocmforge doctor` prints and the GPU tests assert on.

use std::time::{Duration, Instant};

use hip_runtime::{DeviceBuffer, DeviceRepr, Stream};

use crate::check_quant::{check_quantize_q8_1, check_weight_kernel, QuantReference};
use crate::error::KernelError;
use crate::launch::REDUCE_PARTIALS;
use crate::loader::Kernels;
use crate::reference as cpu;
use crate::registry::KernelId;

/// Turns 16-bit float patterns back into f32 values.
type Widen = fn(&[u16]) -> Vec<f32>;

/// Elements of the f32 checks: not a multiple of any block size, more than one grid-stride
/// pass of the largest grid.
const N: usize = (1 << 20) + 37;

/// The result of one kernel's check.
#[derive(Clone, Debug)]
pub struct KernelCheck {
    /// The kernel.
    pub kernel: KernelId,
    /// Elements processed.
    pub elements: usize,
    /// Largest absolute difference from the CPU reference.
    pub max_abs_error: f64,
    /// Largest difference allowed.
    pub tolerance: f64,
    /// Wall time of the GPU run (upload, launch, download).
    pub elapsed: Duration,
}

impl KernelCheck {
    /// Whether the kernel agreed with its reference.
    pub fn passed(&self) -> bool {
        self.max_abs_error <= self.tolerance
    }
}

/// Runs `kernel` on `stream` with deterministic inputs and compares with the CPU. The
/// per-weight-type kernels need `quant`, the block (de)quantizers of the layer above.
pub fn check_kernel(
    kernels: &Kernels,
    stream: &Stream,
    kernel: KernelId,
    quant: Option<&dyn QuantReference>,
) -> Result<KernelCheck, KernelError> {
    let started = Instant::now();
    let (elements, max_abs_error, tolerance) = match kernel {
        KernelId::QuantizeQ8_1 => check_quantize_q8_1(kernels, stream)?,
        KernelId::GetRows(_) | KernelId::DequantF16(_) | KernelId::MatVec(_) => {
            let quant = quant.ok_or_else(|| KernelError::Shape {
                kernel,
                detail: "checking it needs the CPU block codecs (ggml-core)".into(),
            })?;
            check_weight_kernel(kernels, stream, kernel, quant)?
        }
        KernelId::FillF32 => {
            let mut y = DeviceBuffer::<f32>::zeroed(stream, N)?;
            kernels.fill_f32(&mut y.as_slice_mut(), 1.25)?;
            (N, cpu::max_abs_diff(&y.to_vec()?, &vec![1.25; N]), 0.0)
        }
        KernelId::CopyF32 => {
            let x = cpu::test_f32(N, 1);
            let (dx, mut dy) = (upload(stream, &x)?, DeviceBuffer::<f32>::zeroed(stream, N)?);
            kernels.copy_f32(&dx.as_slice(), &mut dy.as_slice_mut())?;
            (N, cpu::max_abs_diff(&dy.to_vec()?, &x), 0.0)
        }
        KernelId::AddF32 => {
            let (x, y) = (cpu::test_f32(N, 2), cpu::test_f32(N, 3));
            let (dx, dy) = (upload(stream, &x)?, upload(stream, &y)?);
            let mut dz = DeviceBuffer::<f32>::zeroed(stream, N)?;
            kernels.add_f32(&dx.as_slice(), &dy.as_slice(), &mut dz.as_slice_mut())?;
            (N, cpu::max_abs_diff(&dz.to_vec()?, &cpu::add(&x, &y)), 0.0)
        }
        KernelId::ScaleF32 => {
            let x = cpu::test_f32(N, 4);
            let (dx, mut dy) = (upload(stream, &x)?, DeviceBuffer::<f32>::zeroed(stream, N)?);
            kernels.scale_f32(&dx.as_slice(), &mut dy.as_slice_mut(), -3.5)?;
            (
                N,
                cpu::max_abs_diff(&dy.to_vec()?, &cpu::scale(&x, -3.5)),
                0.0,
            )
        }
        KernelId::F16ToF32 | KernelId::Bf16ToF32 => {
            // Every 16-bit pattern: zeros, subnormals, infinities and NaNs included.
            let x: Vec<u16> = (0..=u16::MAX).collect();
            let (dx, mut dy) = (
                upload(stream, &x)?,
                DeviceBuffer::<f32>::zeroed(stream, x.len())?,
            );
            let want = if kernel == KernelId::F16ToF32 {
                kernels.f16_to_f32(&dx.as_slice(), &mut dy.as_slice_mut())?;
                cpu::f16_to_f32(&x)
            } else {
                kernels.bf16_to_f32(&dx.as_slice(), &mut dy.as_slice_mut())?;
                cpu::bf16_to_f32(&x)
            };
            (x.len(), cpu::max_abs_diff(&dy.to_vec()?, &want), 0.0)
        }
        KernelId::F32ToF16 | KernelId::F32ToBf16 => {
            let x = wide_range_f32();
            let (dx, mut dy) = (
                upload(stream, &x)?,
                DeviceBuffer::<u16>::zeroed(stream, x.len())?,
            );
            let (want, back): (Vec<u16>, Widen) = if kernel == KernelId::F32ToF16 {
                kernels.f32_to_f16(&dx.as_slice(), &mut dy.as_slice_mut())?;
                (cpu::f32_to_f16(&x), cpu::f16_to_f32)
            } else {
                kernels.f32_to_bf16(&dx.as_slice(), &mut dy.as_slice_mut())?;
                (cpu::f32_to_bf16(&x), cpu::bf16_to_f32)
            };
            // Compared as the values the bit patterns stand for (any NaN equals any NaN).
            (
                x.len(),
                cpu::max_abs_diff(&back(&dy.to_vec()?), &back(&want)),
                0.0,
            )
        }
        KernelId::SumF32 => {
            let x = cpu::test_f32(N, 5);
            let dx = upload(stream, &x)?;
            let mut partials = DeviceBuffer::<f32>::zeroed(stream, REDUCE_PARTIALS)?;
            let mut out = DeviceBuffer::<f32>::zeroed(stream, 1)?;
            kernels.sum_f32(
                &dx.as_slice(),
                &mut partials.as_slice_mut(),
                &mut out.as_slice_mut(),
            )?;
            let got = f64::from(out.to_vec()?[0]);
            let magnitude: f64 = x.iter().map(|v| f64::from(v.abs())).sum();
            (N, (got - cpu::sum_f32(&x)).abs(), 1e-6 * magnitude)
        }
        KernelId::SumI32 => {
            let x: Vec<i32> = cpu::test_i8(N, 6).into_iter().map(i32::from).collect();
            let dx = upload(stream, &x)?;
            let mut partials = DeviceBuffer::<i32>::zeroed(stream, REDUCE_PARTIALS)?;
            let mut out = DeviceBuffer::<i32>::zeroed(stream, 1)?;
            kernels.sum_i32(
                &dx.as_slice(),
                &mut partials.as_slice_mut(),
                &mut out.as_slice_mut(),
            )?;
            let diff = i64::from(out.to_vec()?[0]) - i64::from(cpu::sum_i32(&x));
            (N, diff.unsigned_abs() as f64, 0.0)
        }
        KernelId::DotI8 => {
            // Small enough that no partial sum can overflow 32 bits.
            let len = (1 << 16) + 4 * 37;
            let (a, b) = (cpu::test_i8(len, 7), cpu::test_i8(len, 8));
            let (da, db) = (upload(stream, &a)?, upload(stream, &b)?);
            let mut partials = DeviceBuffer::<i32>::zeroed(stream, REDUCE_PARTIALS)?;
            let mut out = DeviceBuffer::<i32>::zeroed(stream, 1)?;
            kernels.dot_i8(
                &da.as_slice(),
                &db.as_slice(),
                &mut partials.as_slice_mut(),
                &mut out.as_slice_mut(),
            )?;
            let diff = i64::from(out.to_vec()?[0]) - i64::from(cpu::dot_i8(&a, &b));
            (len, diff.unsigned_abs() as f64, 0.0)
        }
        KernelId::AddRowF32
        | KernelId::MulRowF32
        | KernelId::SoftcapF32
        | KernelId::CopyRowsF32
        | KernelId::Spin
        | KernelId::RmsNormF32
        | KernelId::AddRmsNormF32
        | KernelId::RopeF32
        | KernelId::StoreKvF16
        | KernelId::StoreKvF32
        | KernelId::RopeStoreKvF16
        | KernelId::SwigluF32
        | KernelId::GegluF32
        | KernelId::AttnF16
        | KernelId::AttnCombine
        | KernelId::ArgmaxF32
        | KernelId::SampleF32 => crate::check_ops::check(kernels, stream, kernel)?,
    };
    Ok(KernelCheck {
        kernel,
        elements,
        max_abs_error,
        tolerance,
        elapsed: started.elapsed(),
    })
}

/// Every registered kernel checked in registry order; each entry is the check or why it
/// could not run. Without `quant` the per-weight-type kernels are left out.
pub fn check_all(
    kernels: &Kernels,
    stream: &Stream,
    quant: Option<&dyn QuantReference>,
) -> Vec<(KernelId, Result<KernelCheck, KernelError>)> {
    KernelId::ALL
        .into_iter()
        .filter(|k| quant.is_some() || !k.per_weight_type())
        .map(|k| (k, check_kernel(kernels, stream, k, quant)))
        .collect()
}

pub(crate) fn upload<T: DeviceRepr>(
    stream: &Stream,
    data: &[T],
) -> Result<DeviceBuffer<T>, KernelError> {
    Ok(DeviceBuffer::from_host(stream, data)?)
}

/// f32 inputs spanning every binade a 16-bit format meets (underflow to zero, subnormals,
/// normals, overflow to infinity), exact rounding ties, and the special values.
fn wide_range_f32() -> Vec<f32> {
    let mut x: Vec<f32> = cpu::test_f32(1 << 16, 9)
        .into_iter()
        .enumerate()
        .map(|(i, v)| v * 2f32.powi((i % 300) as i32 - 150))
        .collect();
    // Halfway between two f16 (1 + 2^-11) and two bf16 (1 + 2^-8) values.
    x.extend([
        1.0 + 2f32.powi(-11),
        1.0 + 3.0 * 2f32.powi(-11),
        1.0 + 2f32.powi(-8),
    ]);
    x.extend([
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MAX,
        f32::MIN_POSITIVE,
    ]);
    x.extend([65504.0, 65520.0, -65536.0, 5.96e-8, 2.98e-8]);
    x
}
