//! Launchers of `norm.hip`: RMS norm over rows and the fused residual add + RMS norm.
//!
//! API: [`Kernels::rms_norm_f32`] (in place) and [`Kernels::rms_norm_f32_into`] normalise the
//! first `rows` rows of `dim` f32 values, times an optional weight of `dim` values;
//! [`Kernels::add_rms_norm_f32`] does `x += y; xn = rms_norm(x) * w` on the residual stream.
//! Buffers may be longer than `rows * dim` (sized for the largest batch). No sync, no alloc.

use hip_runtime::{DevPtr, DeviceSlice, DeviceSliceMut, Dim3, LaunchConfig, Stream};

use crate::error::KernelError;
use crate::launch::{check_device, check_len, index_len};
use crate::loader::Kernels;
use crate::registry::KernelId;

/// Threads per row.
const NORM_BLOCK: u32 = 256;

/// One block per row.
fn row_blocks(kernel: KernelId, rows: usize) -> Result<LaunchConfig, KernelError> {
    let rows = index_len(kernel, rows)?;
    Ok(LaunchConfig {
        grid: Dim3::x(rows.min(i32::MAX as u32)),
        block: Dim3::x(NORM_BLOCK),
        shared_mem_bytes: 0,
    })
}

/// Checks the optional weight and returns it as a kernel argument (null when absent).
fn weight_arg(
    kernel: KernelId,
    weight: Option<&DeviceSlice<'_, f32>>,
    dim: usize,
    stream: &Stream,
) -> Result<DevPtr<f32>, KernelError> {
    match weight {
        Some(w) => {
            check_len(kernel, "weight", dim, w.len(), true)?;
            check_device(kernel, w, stream)?;
            Ok(w.arg())
        }
        None => Ok(DevPtr::new(0)),
    }
}

impl Kernels {
    /// `x[r] = x[r] / rms(x[r]) * weight` for the first `rows` rows of `dim` elements.
    pub fn rms_norm_f32(
        &self,
        x: &mut DeviceSliceMut<'_, f32>,
        weight: Option<&DeviceSlice<'_, f32>>,
        rows: usize,
        dim: usize,
        eps: f32,
    ) -> Result<(), KernelError> {
        let src = DevPtr::new(x.device_ptr());
        self.rms_norm(src, x, weight, rows, dim, eps)
    }

    /// `y[r] = x[r] / rms(x[r]) * weight` for the first `rows` rows of `dim` elements.
    pub fn rms_norm_f32_into(
        &self,
        x: &DeviceSlice<'_, f32>,
        y: &mut DeviceSliceMut<'_, f32>,
        weight: Option<&DeviceSlice<'_, f32>>,
        rows: usize,
        dim: usize,
        eps: f32,
    ) -> Result<(), KernelError> {
        let id = KernelId::RmsNormF32;
        check_len(id, "x", rows * dim, x.len(), true)?;
        check_device(id, x, y.as_slice().stream())?;
        self.rms_norm(x.arg(), y, weight, rows, dim, eps)
    }

    /// The RMS norm launch from `src` (checked by the caller) into `y`.
    fn rms_norm(
        &self,
        src: DevPtr<f32>,
        y: &mut DeviceSliceMut<'_, f32>,
        weight: Option<&DeviceSlice<'_, f32>>,
        rows: usize,
        dim: usize,
        eps: f32,
    ) -> Result<(), KernelError> {
        let id = KernelId::RmsNormF32;
        check_len(id, "y", rows * dim, y.len(), true)?;
        let stream = y.as_slice().stream();
        let w = weight_arg(id, weight, dim, stream)?;
        let d = index_len(id, dim)?;
        index_len(id, rows * dim)?;
        if rows == 0 || dim == 0 {
            return Ok(());
        }
        // SAFETY: rf_rms_norm_f32(const float*, float*, const float*, unsigned, float) reads
        // and writes rows*dim elements of src and y (both checked to hold them; src may be y)
        // and dim weights (checked) or none (null).
        unsafe { self.launch(id, stream, row_blocks(id, rows)?, (src, y.arg(), w, d, eps)) }
    }

    /// `x += y; xn = rms_norm(x) * weight` over the first `rows` rows of `dim` elements.
    #[allow(clippy::too_many_arguments)]
    pub fn add_rms_norm_f32(
        &self,
        x: &mut DeviceSliceMut<'_, f32>,
        y: &DeviceSlice<'_, f32>,
        xn: &mut DeviceSliceMut<'_, f32>,
        weight: Option<&DeviceSlice<'_, f32>>,
        rows: usize,
        dim: usize,
        eps: f32,
    ) -> Result<(), KernelError> {
        let id = KernelId::AddRmsNormF32;
        let n = rows * dim;
        check_len(id, "x", n, x.len(), true)?;
        check_len(id, "y", n, y.len(), true)?;
        check_len(id, "xn", n, xn.len(), true)?;
        let stream = xn.as_slice().stream();
        check_device(id, y, stream)?;
        check_device(id, &x.as_slice(), stream)?;
        let w = weight_arg(id, weight, dim, stream)?;
        let d = index_len(id, dim)?;
        index_len(id, n)?;
        if n == 0 {
            return Ok(());
        }
        // SAFETY: rf_add_rms_norm_f32(float*, const float*, float*, const float*, unsigned,
        // float) touches rows*dim elements of x, y and xn (checked, three distinct buffers
        // by the borrows) and dim weights (checked) or none (null).
        unsafe {
            self.launch(
                id,
                stream,
                row_blocks(id, rows)?,
                (x.arg(), y.arg(), xn.arg(), w, d, eps),
            )
        }
    }
}
