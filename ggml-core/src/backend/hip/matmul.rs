//! Products with weight matrices on the device: matrix × vector kernels reading quant
//! blocks directly (activations quantized to q8_1 once per group of up to
//! [`MAX_MATVEC_COLS`] columns) for steps of up to [`SMALL_STEP_COLS`] tokens — each group
//! reads the weights once, still less traffic than dequantizing them; for larger steps the
//! weights dequantized to f16 and one vendor GEMM (hipBLAS / cuBLAS), or the matrix ×
//! vector kernels in groups where there is no BLAS. Scratch is sized when a context is
//! made, never inside a step.

use hip_runtime::{BlasHandle, BlasOp, DeviceBuffer, Gemm, Stream};
use kernels::launch_quant::{q8_1_bytes, InputKind};
use kernels::{Kernels, MatVecInput, WeightMatrix};

use super::matrix::HipMatrix;
use crate::backend::{ensure, BackendError};
use crate::quants::device::weight_type;
use crate::tensor::Tensor;

/// Most columns (tokens) one matrix × vector launch takes.
pub(crate) const MAX_MATVEC_COLS: usize = kernels::launch_quant::MAX_MATVEC_COLS;

/// Steps of at most this many tokens use the matrix × vector kernels (in groups of
/// [`MAX_MATVEC_COLS`]); larger ones the GEMM. Reading 4-bit weights four times costs less
/// than writing and reading them back as f16 once.
pub(crate) const SMALL_STEP_COLS: usize = 32;

/// Most token ids one `argmax` returns.
pub(crate) const MAX_IDS: usize = 1024;

/// Scratch of the products, sized for the largest matrix loaded and the largest step.
#[derive(Default)]
pub(crate) struct MatmulScratch {
    /// Largest row length and row count among the matrices loaded.
    max_k: usize,
    max_elems: usize,
    /// q8_1 activations (matrix × vector of quantized weights).
    q8: Option<DeviceBuffer<u8>>,
    /// f16 activations and f16 weights (GEMM).
    x16: Option<DeviceBuffer<u16>>,
    w16: Option<DeviceBuffer<u16>>,
}

fn dev(op: &'static str) -> impl Fn(hip_runtime::Error) -> BackendError {
    move |e| BackendError::device(op, e)
}

fn kern(op: &'static str) -> impl Fn(kernels::KernelError) -> BackendError {
    move |e| BackendError::device(op, e)
}

/// Checks that the GPU has kernels for `t`'s type.
pub(crate) fn check_supported(t: &Tensor) -> Result<(), BackendError> {
    match weight_type(t.ty()) {
        Some(_) => Ok(()),
        None => Err(BackendError::Invalid {
            op: "load_matrix",
            detail: format!(
                "tensor `{}` is {}, which has no GPU kernel yet (use --device cpu)",
                t.name(),
                t.ty().name()
            ),
        }),
    }
}

impl MatmulScratch {
    /// Records a loaded matrix's size (scratch is sized from the largest).
    pub(crate) fn note_matrix(&mut self, m: &HipMatrix) {
        self.max_k = self.max_k.max(m.row_len);
        self.max_elems = self.max_elems.max(m.row_len * m.n_rows);
    }

    /// Makes the scratch hold a step of `max_tokens` tokens through every matrix loaded.
    pub(crate) fn reserve(
        &mut self,
        stream: &Stream,
        max_tokens: usize,
    ) -> Result<(), BackendError> {
        let q8_len = q8_1_bytes(max_tokens, self.max_k.next_multiple_of(32));
        grow(&mut self.q8, stream, q8_len)?;
        grow(&mut self.x16, stream, max_tokens * self.max_k)?;
        if max_tokens > SMALL_STEP_COLS {
            grow(&mut self.w16, stream, self.max_elems)?;
        }
        Ok(())
    }
}

fn grow<T: hip_runtime::DeviceRepr>(
    buf: &mut Option<DeviceBuffer<T>>,
    stream: &Stream,
    len: usize,
) -> Result<(), BackendError> {
    if buf.as_ref().is_none_or(|b| b.len() < len) {
        *buf = Some(DeviceBuffer::new(stream, len.max(1)).map_err(dev("matmul scratch"))?);
    }
    Ok(())
}

fn weights(w: &HipMatrix) -> Result<WeightMatrix<'_>, BackendError> {
    let ty = weight_type(w.ty).ok_or_else(|| BackendError::Invalid {
        op: "mul_mat",
        detail: format!("{} has no GPU kernel", w.ty.name()),
    })?;
    Ok(WeightMatrix {
        ty,
        data: w.data.as_slice(),
        n_rows: w.n_rows,
        row_len: w.row_len,
    })
}

fn scratch<'b, T: hip_runtime::DeviceRepr>(
    buf: &'b mut Option<DeviceBuffer<T>>,
    len: usize,
    op: &'static str,
) -> Result<hip_runtime::DeviceSliceMut<'b, T>, BackendError> {
    let b = buf.as_mut().ok_or(BackendError::BufferTooSmall {
        op,
        need: len,
        have: 0,
    })?;
    ensure(op, len, b.len())?;
    b.slice_mut(0..len).map_err(dev(op))
}

/// `out[i] = dequantized row ids[i] of w` for the first `n` ids.
pub(crate) fn get_rows(
    k: &Kernels,
    w: &HipMatrix,
    ids: &hip_runtime::DeviceSlice<'_, u32>,
    n: usize,
    out: &mut DeviceBuffer<f32>,
) -> Result<(), BackendError> {
    let len = n * w.row_len;
    ensure("get_rows", len, out.len())?;
    let mut o = out.slice_mut(0..len).map_err(dev("get_rows"))?;
    k.get_rows(&weights(w)?, ids, &mut o)
        .map_err(kern("get_rows"))
}

/// `out[t] = w · x[t]` for `m` rows.
pub(crate) fn mul_mat(
    k: &Kernels,
    blas: Option<&BlasHandle>,
    s: &mut MatmulScratch,
    w: &HipMatrix,
    x: &DeviceBuffer<f32>,
    m: usize,
    out: &mut DeviceBuffer<f32>,
) -> Result<(), BackendError> {
    let (n, kd) = (w.n_rows, w.row_len);
    ensure("mul_mat", m * n, out.len())?;
    ensure("mul_mat input", m * kd, x.len())?;
    if m == 0 {
        return Ok(());
    }
    match blas {
        Some(blas) if m > SMALL_STEP_COLS => gemm(k, blas, s, w, x, m, out),
        _ => groups(m).try_for_each(|cols| matvec(k, s, w, x, cols, out)),
    }
}

/// Columns `cols` (at most [`MAX_MATVEC_COLS`]) of the product through the matrix ×
/// vector kernels.
fn matvec(
    k: &Kernels,
    s: &mut MatmulScratch,
    w: &HipMatrix,
    x: &DeviceBuffer<f32>,
    cols: std::ops::Range<usize>,
    out: &mut DeviceBuffer<f32>,
) -> Result<(), BackendError> {
    let n = w.n_rows;
    let wm = weights(w)?;
    let input = matvec_input(k, &mut s.q8, &wm, x, cols.clone())?;
    let mut o = out
        .slice_mut(cols.start * n..cols.end * n)
        .map_err(dev("mul_mat"))?;
    k.matvec(&wm, input, cols.len(), &mut o)
        .map_err(kern("mul_mat"))
}

/// The whole product as one GEMM over f16 copies of the weights and activations.
// The timed closure returns the launchers' error type, large but made once per product.
#[allow(clippy::result_large_err)]
fn gemm(
    k: &Kernels,
    blas: &BlasHandle,
    s: &mut MatmulScratch,
    w: &HipMatrix,
    x: &DeviceBuffer<f32>,
    m: usize,
    out: &mut DeviceBuffer<f32>,
) -> Result<(), BackendError> {
    let (n, kd) = (w.n_rows, w.row_len);
    let mut w16 = scratch(&mut s.w16, n * kd, "mul_mat f16 weights")?;
    k.dequantize_f16(&weights(w)?, &mut w16)
        .map_err(kern("dequantize_f16"))?;
    let mut x16 = scratch(&mut s.x16, m * kd, "mul_mat f16 input")?;
    let xs = x.slice(0..m * kd).map_err(dev("mul_mat"))?;
    k.f32_to_f16(&xs, &mut x16).map_err(kern("mul_mat"))?;
    let mut o = out.slice_mut(0..m * n).map_err(dev("mul_mat"))?;
    // Row-major out[m][n] is column-major n × m: out = Wᵀ(k × n stored) · x(k × m stored).
    let g = Gemm::dense(BlasOp::T, BlasOp::N, n, m, kd);
    k.timed(w.data.stream(), "blas_gemm_f16", || {
        blas.gemm_f16_f32(&g, &w16.as_slice(), &x16.as_slice(), &mut o)
            .map_err(kernels::KernelError::from)
    })
    .map_err(kern("gemm"))
}

/// Quantizes rows `cols` of `x` (rows of `kd`) into the q8_1 scratch when `w`'s kernels
/// read q8_1, and returns the matrix × vector input for them.
fn matvec_input<'s>(
    k: &Kernels,
    q8: &'s mut Option<DeviceBuffer<u8>>,
    w: &WeightMatrix<'_>,
    x: &'s DeviceBuffer<f32>,
    cols: std::ops::Range<usize>,
) -> Result<MatVecInput<'s>, BackendError> {
    let kd = w.row_len;
    let m = cols.len();
    let xs = x
        .slice(cols.start * kd..cols.end * kd)
        .map_err(dev("mul_mat"))?;
    match MatVecInput::for_type(w.ty) {
        InputKind::F32 => Ok(MatVecInput::F32(xs)),
        InputKind::Q8_1 => {
            let len = q8_1_bytes(m, kd);
            {
                let mut q = scratch(q8, len, "mul_mat q8_1")?;
                k.quantize_q8_1(&xs, kd, &mut q)
                    .map_err(kern("quantize_q8_1"))?;
            }
            let q = q8.as_ref().ok_or(BackendError::BufferTooSmall {
                op: "mul_mat q8_1",
                need: len,
                have: 0,
            })?;
            Ok(MatVecInput::Q8_1(q.slice(0..len).map_err(dev("mul_mat"))?))
        }
    }
}

/// The column groups of a small step of `m` tokens: `0..8`, `8..16`, … (the last shorter).
fn groups(m: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..m)
        .step_by(MAX_MATVEC_COLS)
        .map(move |start| start..(start + MAX_MATVEC_COLS).min(m))
}

/// The three attention projections of `m ≤ SMALL_STEP_COLS` rows, each group of columns
/// quantized once for all three; `false` when the step is larger or the three differ in
/// input kind (then the caller runs three products).
pub(crate) fn qkv_small(
    k: &Kernels,
    s: &mut MatmulScratch,
    w: [&HipMatrix; 3],
    x: &DeviceBuffer<f32>,
    m: usize,
    outs: [&mut DeviceBuffer<f32>; 3],
) -> Result<bool, BackendError> {
    let wm = [weights(w[0])?, weights(w[1])?, weights(w[2])?];
    let kind = MatVecInput::for_type(wm[0].ty);
    let same = wm
        .iter()
        .all(|w| MatVecInput::for_type(w.ty) == kind && w.row_len == wm[0].row_len);
    if m > SMALL_STEP_COLS || !same {
        return Ok(false);
    }
    let mut outs = outs;
    for (w, out) in wm.iter().zip(outs.iter()) {
        ensure("mul_mat", m * w.n_rows, out.len())?;
    }
    for cols in groups(m) {
        let input = matvec_input(k, &mut s.q8, &wm[0], x, cols.clone())?;
        for (w, out) in wm.iter().zip(outs.iter_mut()) {
            let n = w.n_rows;
            let mut o = out
                .slice_mut(cols.start * n..cols.end * n)
                .map_err(dev("mul_mat"))?;
            k.matvec(w, input, cols.len(), &mut o)
                .map_err(kern("mul_mat"))?;
        }
    }
    Ok(true)
}

/// `gate = act(w_gate · x) * (w_up · x)` for `m ≤ SMALL_STEP_COLS` rows, one fused kernel
/// per group of columns; `false` when the step is larger or gate and up differ in type or
/// shape.
#[allow(clippy::too_many_arguments)]
pub(crate) fn glu_small(
    k: &Kernels,
    s: &mut MatmulScratch,
    glu: kernels::Glu,
    w_gate: &HipMatrix,
    w_up: &HipMatrix,
    x: &DeviceBuffer<f32>,
    m: usize,
    gate: &mut DeviceBuffer<f32>,
) -> Result<bool, BackendError> {
    let (g, u) = (weights(w_gate)?, weights(w_up)?);
    if m > SMALL_STEP_COLS || g.ty != u.ty || g.n_rows != u.n_rows || g.row_len != u.row_len {
        return Ok(false);
    }
    let n = g.n_rows;
    ensure("ffn_glu", m * n, gate.len())?;
    for cols in groups(m) {
        let input = matvec_input(k, &mut s.q8, &g, x, cols.clone())?;
        let mut o = gate
            .slice_mut(cols.start * n..cols.end * n)
            .map_err(dev("ffn_glu"))?;
        k.matvec_glu(&g, &u, glu, input, cols.len(), &mut o)
            .map_err(kern("ffn_glu"))?;
    }
    Ok(true)
}
