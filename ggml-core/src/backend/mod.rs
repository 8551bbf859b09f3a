//! The backend contract the forward pass is written against: f32 activation buffers,
//! weights resident on the backend, a per-micro-batch step input uploaded once per step,
//! explicit step boundaries (so a device backend can capture a step and replay it), the
//! primitive op set and composite ops with default implementations a device backend may
//! fuse. The CPU backend implements it; the HIP backend implements the same trait over
//! device buffers.

pub mod cpu;
pub mod hip;
pub mod step;

pub use cpu::CpuBackend;
pub use step::{StepInput, StepLimits, StepShape};

use std::sync::Arc;

use crate::ops::{GluKind, OpError, RopeParams};
use crate::tensor::Tensor;

/// Why a backend call failed: the one error type of [`Backend`] and of the attention
/// backends built on it.
#[derive(Debug, thiserror::Error, Clone)]
pub enum BackendError {
    /// The op itself rejected its operands.
    #[error(transparent)]
    Op(#[from] OpError),
    /// A buffer is smaller than the op needs.
    #[error("{op}: buffer holds {have} elements, needs {need}")]
    BufferTooSmall {
        /// The op.
        op: &'static str,
        /// Elements the op needs.
        need: usize,
        /// Elements the buffer holds.
        have: usize,
    },
    /// Operands that do not fit together (heads, slots, layers, step arrays).
    #[error("{op}: {detail}")]
    Invalid {
        /// The op.
        op: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The backend could not be set up (thread pool, device).
    #[error("backend setup: {0}")]
    Setup(String),
    /// The device failed a call (launch, copy, allocation, out of memory).
    #[error("{op}: {source}")]
    Device {
        /// The backend op that issued the call.
        op: &'static str,
        /// The runtime's or kernel launcher's error.
        source: Arc<kernels::KernelError>,
    },
}

impl BackendError {
    /// Whether the device ran out of memory.
    pub fn is_out_of_memory(&self) -> bool {
        match self {
            BackendError::Device { source, .. } => match source.as_ref() {
                kernels::KernelError::Runtime(hip_runtime::Error::Hip(e)) => {
                    e.name.contains("OutOfMemory") || e.name.contains("OUT_OF_MEMORY")
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// Where no GPU runtime or device could be opened, why, in a few words.
    pub fn no_gpu_reason(&self) -> Option<String> {
        match self {
            BackendError::Device { source, .. } => match source.as_ref() {
                kernels::KernelError::Runtime(hip_runtime::Error::Load(e)) => Some(e.brief()),
                _ => None,
            },
            _ => None,
        }
    }

    /// A device error raised while running `op`.
    pub fn device(op: &'static str, e: impl Into<kernels::KernelError>) -> BackendError {
        BackendError::Device {
            op,
            source: Arc::new(e.into()),
        }
    }
}

/// A compute backend. Activations live in `Buffer`s laid out row-major (`rows × cols`);
/// ops act on the first `rows` rows so buffers sized once (when a context is created, for
/// the largest micro-batch) serve every smaller batch without allocating.
///
/// A forward step runs as: [`upload_step`](Self::upload_step), then either
/// [`replay_step`](Self::replay_step) (which returns `true` when the backend re-ran a
/// captured step of the same shape) or [`begin_step`](Self::begin_step), the ops,
/// [`end_step`](Self::end_step); then [`read`](Self::read) or [`argmax`](Self::argmax) of
/// the logits. Between `begin_step` and `end_step` an op may not read device values on the
/// host, and nothing is allocated.
pub trait Backend: Send + Sync {
    /// f32 activation storage on the backend.
    type Buffer: Send;
    /// A weight matrix resident on the backend (quantized blocks as stored in the file).
    type Matrix: Send + Sync;
    /// A small f32 vector resident on the backend (norm weights, biases, rope factors).
    type Vector: Send + Sync;
    /// A step input resident on the backend, in buffers of fixed size.
    type Step: Send;

    /// Short name for logs ("cpu", "hip").
    fn name(&self) -> &'static str;
    /// The most tokens one step should take (larger batches are split into micro-batches
    /// of this size); buffers are sized for it when a context is made.
    fn max_step_tokens(&self) -> usize {
        DEFAULT_STEP_TOKENS
    }
    /// A zeroed buffer of `len` f32 elements.
    fn alloc(&self, len: usize) -> Result<Self::Buffer, BackendError>;
    /// Makes `t` usable as a matrix operand (zero-copy where the backend can).
    fn load_matrix(&self, t: &Tensor) -> Result<Self::Matrix, BackendError>;
    /// Makes `t` usable as an f32 vector operand (dequantizing it).
    fn load_vector(&self, t: &Tensor) -> Result<Self::Vector, BackendError>;
    /// Copies `data` into the start of `buf`.
    fn write(&self, buf: &mut Self::Buffer, data: &[f32]) -> Result<(), BackendError>;
    /// Copies `out.len()` elements starting at `offset` of `buf` into `out` (waits for the
    /// work queued before it).
    fn read(&self, buf: &Self::Buffer, offset: usize, out: &mut [f32]) -> Result<(), BackendError>;

    /// Step buffers able to hold any step within `limits`.
    fn alloc_step(&self, limits: StepLimits) -> Result<Self::Step, BackendError>;
    /// Copies `input` into `step` (one upload per step).
    fn upload_step(&self, step: &mut Self::Step, input: &StepInput) -> Result<(), BackendError>;
    /// Re-runs the ops of a step captured earlier under `key` with the same `shape`, reading
    /// the step input just uploaded. Returns `false` when there is nothing to replay; the
    /// caller then runs the ops between [`begin_step`](Self::begin_step) and
    /// [`end_step`](Self::end_step).
    fn replay_step(&self, key: u64, shape: StepShape) -> Result<bool, BackendError> {
        let _ = (key, shape);
        Ok(false)
    }
    /// Marks the start of a step's ops; `key` names the context whose buffers they use.
    fn begin_step(&self, key: u64, shape: StepShape) -> Result<(), BackendError> {
        let _ = (key, shape);
        Ok(())
    }
    /// Marks the end of a step's ops (a capturing backend runs what it captured).
    fn end_step(&self) -> Result<(), BackendError> {
        Ok(())
    }
    /// `out[i] = dequantized row tokens[i] of table` for the step's tokens.
    fn get_rows(
        &self,
        table: &Self::Matrix,
        step: &Self::Step,
        n_tokens: usize,
        out: &mut Self::Buffer,
    ) -> Result<(), BackendError>;
    /// `dst[..len] = src[..len]`.
    fn copy(
        &self,
        src: &Self::Buffer,
        dst: &mut Self::Buffer,
        len: usize,
    ) -> Result<(), BackendError>;
    /// `out[i] = src[out_rows[i]]` for the step's output rows, rows of `cols` f32 elements.
    fn copy_out_rows(
        &self,
        src: &Self::Buffer,
        step: &Self::Step,
        n_out: usize,
        cols: usize,
        out: &mut Self::Buffer,
    ) -> Result<(), BackendError>;
    /// `out[t] = w · x[t]` for `m` rows: `out` is `m × n_rows(w)`, `x` is `m × row_len(w)`.
    fn mul_mat(
        &self,
        w: &Self::Matrix,
        x: &Self::Buffer,
        m: usize,
        out: &mut Self::Buffer,
    ) -> Result<(), BackendError>;
    /// RMS norm over `rows` rows of `dim`, times `weight` when given, in place.
    fn rms_norm(
        &self,
        x: &mut Self::Buffer,
        rows: usize,
        dim: usize,
        eps: f32,
        weight: Option<&Self::Vector>,
    ) -> Result<(), BackendError>;
    /// Rope in place on `x` laid out `[n_tokens][n_head][head_dim]`, at the step's positions.
    #[allow(clippy::too_many_arguments)]
    fn rope(
        &self,
        x: &mut Self::Buffer,
        step: &Self::Step,
        n_tokens: usize,
        n_head: usize,
        head_dim: usize,
        params: &RopeParams,
        freq_factors: Option<&Self::Vector>,
    ) -> Result<(), BackendError>;
    /// `gate = act(gate) * up` over the first `len` elements.
    fn glu(
        &self,
        kind: GluKind,
        gate: &mut Self::Buffer,
        up: &Self::Buffer,
        len: usize,
    ) -> Result<(), BackendError>;
    /// `dst += src` over the first `len` elements.
    fn add(
        &self,
        dst: &mut Self::Buffer,
        src: &Self::Buffer,
        len: usize,
    ) -> Result<(), BackendError>;
    /// `dst[r] += v` for the first `rows` rows of `v.len()` elements.
    fn add_row(
        &self,
        dst: &mut Self::Buffer,
        v: &Self::Vector,
        rows: usize,
    ) -> Result<(), BackendError>;
    /// `dst[r] *= v` for the first `rows` rows of `v.len()` elements.
    fn mul_row(
        &self,
        dst: &mut Self::Buffer,
        v: &Self::Vector,
        rows: usize,
    ) -> Result<(), BackendError>;
    /// `x *= s` over the first `len` elements.
    fn scale(&self, x: &mut Self::Buffer, len: usize, s: f32) -> Result<(), BackendError>;
    /// `x = cap * tanh(x / cap)` over the first `len` elements.
    fn softcap(&self, x: &mut Self::Buffer, len: usize, cap: f32) -> Result<(), BackendError>;

    /// The index of the largest element of each of the first `rows` rows of `n_cols`
    /// (the lowest index among equals): greedy sampling without reading the logits back.
    fn argmax(
        &self,
        logits: &Self::Buffer,
        rows: usize,
        n_cols: usize,
        out: &mut [u32],
    ) -> Result<(), BackendError> {
        ensure("argmax", rows, out.len())?;
        let mut row = vec![0.0f32; n_cols];
        for (r, o) in out.iter_mut().take(rows).enumerate() {
            self.read(logits, r * n_cols, &mut row)?;
            *o = argmax_row(&row);
        }
        Ok(())
    }

    // ---- composite ops: default implementations from the primitives; a device backend
    // may fuse them. ---------------------------------------------------------------------

    /// The three attention projections of `m` rows of `x`.
    #[allow(clippy::too_many_arguments)]
    fn qkv(
        &self,
        w: [&Self::Matrix; 3],
        x: &Self::Buffer,
        m: usize,
        q: &mut Self::Buffer,
        k: &mut Self::Buffer,
        v: &mut Self::Buffer,
    ) -> Result<(), BackendError> {
        self.mul_mat(w[0], x, m, q)?;
        self.mul_mat(w[1], x, m, k)?;
        self.mul_mat(w[2], x, m, v)
    }

    /// `gate = act(w_gate · x) * (w_up · x)` for `m` rows; `up` is scratch.
    #[allow(clippy::too_many_arguments)]
    fn ffn_glu(
        &self,
        kind: GluKind,
        w_gate: &Self::Matrix,
        w_up: &Self::Matrix,
        x: &Self::Buffer,
        m: usize,
        n_ff: usize,
        gate: &mut Self::Buffer,
        up: &mut Self::Buffer,
    ) -> Result<(), BackendError> {
        self.mul_mat(w_gate, x, m, gate)?;
        self.mul_mat(w_up, x, m, up)?;
        self.glu(kind, gate, up, m * n_ff)
    }

    /// `xn = rms_norm(x) * weight` over `rows` rows of `dim`, leaving `x` unchanged.
    fn norm_into(
        &self,
        x: &Self::Buffer,
        xn: &mut Self::Buffer,
        rows: usize,
        dim: usize,
        eps: f32,
        weight: &Self::Vector,
    ) -> Result<(), BackendError> {
        self.copy(x, xn, rows * dim)?;
        self.rms_norm(xn, rows, dim, eps, Some(weight))
    }

    /// The residual step between blocks: `x += y`, then `xn = rms_norm(x) * weight`.
    #[allow(clippy::too_many_arguments)]
    fn add_norm(
        &self,
        x: &mut Self::Buffer,
        y: &Self::Buffer,
        xn: &mut Self::Buffer,
        rows: usize,
        dim: usize,
        eps: f32,
        weight: &Self::Vector,
    ) -> Result<(), BackendError> {
        self.add(x, y, rows * dim)?;
        self.norm_into(x, xn, rows, dim, eps, weight)
    }
}

/// [`Backend::max_step_tokens`] unless a backend says otherwise.
pub const DEFAULT_STEP_TOKENS: usize = 128;

/// The index of the largest value (the lowest among equals; NaN never wins).
pub fn argmax_row(row: &[f32]) -> u32 {
    let mut best = 0usize;
    let mut max = f32::NEG_INFINITY;
    for (i, &v) in row.iter().enumerate() {
        if v > max {
            max = v;
            best = i;
        }
    }
    best as u32
}

/// Checks that a buffer of `have` elements can hold `need`.
pub(crate) fn ensure(op: &'static str, need: usize, have: usize) -> Result<(), BackendError> {
    if need > have {
        Err(BackendError::BufferTooSmall { op, need, have })
    } else {
        Ok(())
    }
}
