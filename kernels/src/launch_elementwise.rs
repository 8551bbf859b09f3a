//! Launchers of the in-place and row-wise f32 ops of `elementwise.hip` and `glu.hip`.
//!
//! API (all on the first `n` elements or `rows` rows of longer buffers, in place unless
//! said otherwise): [`Kernels::add_assign_f32`] (`x += y`), [`Kernels::scale_assign_f32`]
//! (`x *= s`), [`Kernels::add_row_f32`] / [`Kernels::mul_row_f32`] (a vector broadcast over
//! rows), [`Kernels::softcap_f32`] (`x = cap * tanh(x / cap)`), [`Kernels::swiglu_f32`] /
//! [`Kernels::geglu_f32`] (`gate = act(gate) * up`), [`Kernels::copy_rows_f32`]
//! (`out[i] = src[rows[i]]`, row indices from a device buffer). No sync, no alloc.

use hip_runtime::{DeviceSlice, DeviceSliceMut, Dim3, LaunchConfig};

use crate::error::KernelError;
use crate::launch::{check_device, check_len, grid_for, grid_rows, index_len, BLOCK};
use crate::loader::Kernels;
use crate::registry::KernelId;

impl Kernels {
    /// `x[i] += y[i]` for `i < n`.
    pub fn add_assign_f32(
        &self,
        x: &mut DeviceSliceMut<'_, f32>,
        y: &DeviceSlice<'_, f32>,
        n: usize,
    ) -> Result<(), KernelError> {
        let id = KernelId::AddF32;
        self.binary_checks(id, x, y, n, n)?;
        let n32 = index_len(id, n)?;
        let stream = x.as_slice().stream();
        // SAFETY: rf_add_f32(const float* x, const float* y, float* z, unsigned n) with z = x
        // (the kernel allows it) reads and writes x[0..n) and reads y[0..n) (both checked).
        unsafe { self.launch(id, stream, grid_for(n), (x.arg(), y.arg(), x.arg(), n32)) }
    }

    /// `x[i] *= factor` for `i < n`.
    pub fn scale_assign_f32(
        &self,
        x: &mut DeviceSliceMut<'_, f32>,
        n: usize,
        factor: f32,
    ) -> Result<(), KernelError> {
        let id = KernelId::ScaleF32;
        check_len(id, "x", n, x.len(), true)?;
        let n32 = index_len(id, n)?;
        let stream = x.as_slice().stream();
        // SAFETY: rf_scale_f32(const float* x, float* y, float, unsigned n) with y = x (the
        // kernel allows it) reads and writes x[0..n) (checked).
        unsafe { self.launch(id, stream, grid_for(n), (x.arg(), x.arg(), factor, n32)) }
    }

    /// `x[r][c] += v[c]` for the first `rows` rows of `v.len()` elements.
    pub fn add_row_f32(
        &self,
        x: &mut DeviceSliceMut<'_, f32>,
        v: &DeviceSlice<'_, f32>,
        rows: usize,
    ) -> Result<(), KernelError> {
        self.row_op(KernelId::AddRowF32, x, v, rows)
    }

    /// `x[r][c] *= v[c]` for the first `rows` rows of `v.len()` elements.
    pub fn mul_row_f32(
        &self,
        x: &mut DeviceSliceMut<'_, f32>,
        v: &DeviceSlice<'_, f32>,
        rows: usize,
    ) -> Result<(), KernelError> {
        self.row_op(KernelId::MulRowF32, x, v, rows)
    }

    /// The row broadcasts: `(float* x, const float* v, unsigned cols, unsigned n)`.
    fn row_op(
        &self,
        id: KernelId,
        x: &mut DeviceSliceMut<'_, f32>,
        v: &DeviceSlice<'_, f32>,
        rows: usize,
    ) -> Result<(), KernelError> {
        let n = rows * v.len();
        self.binary_checks(id, x, v, n, v.len())?;
        if v.is_empty() {
            return Ok(());
        }
        let (cols, n32) = (index_len(id, v.len())?, index_len(id, n)?);
        let stream = x.as_slice().stream();
        // SAFETY: rf_{add,mul}_row_f32(float*, const float*, unsigned cols, unsigned n)
        // updates x[0..n) (checked) reading v[0..cols) (its whole length).
        unsafe { self.launch(id, stream, grid_for(n), (x.arg(), v.arg(), cols, n32)) }
    }

    /// `x[i] = cap * tanh(x[i] / cap)` for `i < n`.
    pub fn softcap_f32(
        &self,
        x: &mut DeviceSliceMut<'_, f32>,
        n: usize,
        cap: f32,
    ) -> Result<(), KernelError> {
        let id = KernelId::SoftcapF32;
        check_len(id, "x", n, x.len(), true)?;
        let n32 = index_len(id, n)?;
        let stream = x.as_slice().stream();
        // SAFETY: rf_softcap_f32(float*, float, unsigned n) updates x[0..n) (checked).
        unsafe { self.launch(id, stream, grid_for(n), (x.arg(), cap, n32)) }
    }

    /// `gate[i] = silu(gate[i]) * up[i]` for `i < n`.
    pub fn swiglu_f32(
        &self,
        gate: &mut DeviceSliceMut<'_, f32>,
        up: &DeviceSlice<'_, f32>,
        n: usize,
    ) -> Result<(), KernelError> {
        self.glu(KernelId::SwigluF32, gate, up, n)
    }

    /// `gate[i] = gelu_tanh(gate[i]) * up[i]` for `i < n` (ggml's tanh approximation).
    pub fn geglu_f32(
        &self,
        gate: &mut DeviceSliceMut<'_, f32>,
        up: &DeviceSlice<'_, f32>,
        n: usize,
    ) -> Result<(), KernelError> {
        self.glu(KernelId::GegluF32, gate, up, n)
    }

    /// The GLU kernels: `(float* gate, const float* up, unsigned n)`.
    fn glu(
        &self,
        id: KernelId,
        gate: &mut DeviceSliceMut<'_, f32>,
        up: &DeviceSlice<'_, f32>,
        n: usize,
    ) -> Result<(), KernelError> {
        self.binary_checks(id, gate, up, n, n)?;
        let n32 = index_len(id, n)?;
        let stream = gate.as_slice().stream();
        // SAFETY: rf_{swi,ge}glu_f32(float*, const float*, unsigned n) updates gate[0..n)
        // reading up[0..n) (both checked).
        unsafe { self.launch(id, stream, grid_for(n), (gate.arg(), up.arg(), n32)) }
    }

    /// Busy-waits on the GPU through `iters` dependent multiply-adds (a few clock ticks
    /// each), then sets `done[0] = 1`. Not timed by the profiler: it is what lets the host
    /// queue a step's launches before the GPU runs them.
    pub fn spin(&self, done: &mut DeviceSliceMut<'_, u32>, iters: u32) -> Result<(), KernelError> {
        let id = KernelId::Spin;
        check_len(id, "done", 1, done.len(), true)?;
        let stream = done.as_slice().stream();
        let config = LaunchConfig {
            grid: Dim3::x(1),
            block: Dim3::x(32),
            shared_mem_bytes: 0,
        };
        let kernel = self.kernel(id)?;
        // SAFETY: rf_spin(unsigned* done, unsigned iters) writes done[0] only (length
        // checked).
        unsafe { kernel.launch(stream, config, (done.arg(), iters)) }.map_err(KernelError::from)
    }

    /// `out[i] = src[rows[i]]` for the first `n_out` entries of `rows` (a device buffer),
    /// rows of `cols` elements; an index past `src`'s rows gives a row of zeros.
    pub fn copy_rows_f32(
        &self,
        src: &DeviceSlice<'_, f32>,
        rows: &DeviceSlice<'_, u32>,
        out: &mut DeviceSliceMut<'_, f32>,
        n_out: usize,
        cols: usize,
    ) -> Result<(), KernelError> {
        let id = KernelId::CopyRowsF32;
        check_len(id, "rows", n_out, rows.len(), true)?;
        check_len(id, "out", n_out * cols, out.len(), true)?;
        let stream = out.as_slice().stream();
        check_device(id, src, stream)?;
        check_device(id, rows, stream)?;
        if n_out == 0 || cols == 0 {
            return Ok(());
        }
        let n_src = index_len(id, src.len() / cols)?;
        index_len(id, src.len().max(out.len()))?;
        let c = index_len(id, cols)?;
        let config = grid_rows(id, cols, n_out, BLOCK)?;
        // SAFETY: rf_copy_rows_f32(const float*, const unsigned*, float*, unsigned cols,
        // unsigned n_src_rows) reads rows[0..n_out) (checked), source rows below n_src
        // (those src holds) and writes out[0..n_out*cols) (checked).
        unsafe {
            self.launch(
                id,
                stream,
                config,
                (src.arg(), rows.arg(), out.arg(), c, n_src),
            )
        }
    }

    /// An in-place op's operands: `x` holds `n`, `y` holds `need_y`, same device.
    fn binary_checks(
        &self,
        id: KernelId,
        x: &DeviceSliceMut<'_, f32>,
        y: &DeviceSlice<'_, f32>,
        n: usize,
        need_y: usize,
    ) -> Result<(), KernelError> {
        check_len(id, "x", n, x.len(), true)?;
        check_len(id, "y", need_y, y.len(), true)?;
        check_device(id, y, x.as_slice().stream())
    }
}
