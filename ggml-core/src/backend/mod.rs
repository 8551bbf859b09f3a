//! The backend interface the forward pass is written against: buffers of f32 activations,
//! weights resident on the backend, and the op set. The CPU backend implements it today;
//! a HIP backend implements the same trait over device buffers.

pub mod cpu;

pub use cpu::CpuBackend;

use crate::ops::{GluKind, OpError, RopeParams};
use crate::tensor::Tensor;

/// Why a backend call failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
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
    /// The backend could not be set up (thread pool, device).
    #[error("backend setup: {0}")]
    Setup(String),
}

/// A compute backend. Activations live in `Buffer`s laid out row-major (`rows × cols`);
/// ops act on the first `rows` rows so buffers sized once (at load, for the largest batch)
/// serve every smaller batch without allocating.
pub trait Backend: Send + Sync {
    /// f32 activation storage on the backend.
    type Buffer: Send;
    /// A weight matrix resident on the backend (quantized blocks as stored in the file).
    type Matrix: Send + Sync;
    /// A small f32 vector resident on the backend (norm weights, biases, rope factors).
    type Vector: Send + Sync;

    /// Short name for logs ("cpu").
    fn name(&self) -> &'static str;
    /// A zeroed buffer of `len` f32 elements.
    fn alloc(&self, len: usize) -> Result<Self::Buffer, BackendError>;
    /// Makes `t` usable as a matrix operand (zero-copy where the backend can).
    fn load_matrix(&self, t: &Tensor) -> Result<Self::Matrix, BackendError>;
    /// Makes `t` usable as an f32 vector operand (dequantizing it).
    fn load_vector(&self, t: &Tensor) -> Result<Self::Vector, BackendError>;
    /// Copies `data` into the start of `buf`.
    fn write(&self, buf: &mut Self::Buffer, data: &[f32]) -> Result<(), BackendError>;
    /// Copies `out.len()` elements starting at `offset` of `buf` into `out`.
    fn read(&self, buf: &Self::Buffer, offset: usize, out: &mut [f32]) -> Result<(), BackendError>;

    /// `out[i] = dequantized row ids[i] of table`.
    fn get_rows(
        &self,
        table: &Self::Matrix,
        ids: &[u32],
        out: &mut Self::Buffer,
    ) -> Result<(), BackendError>;
    /// `dst[..len] = src[..len]`.
    fn copy(
        &self,
        src: &Self::Buffer,
        dst: &mut Self::Buffer,
        len: usize,
    ) -> Result<(), BackendError>;
    /// `out[i] = src[rows[i]]` for rows of `cols` f32 elements.
    fn copy_rows(
        &self,
        src: &Self::Buffer,
        rows: &[u32],
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
    /// Rope in place on `x` laid out `[positions.len()][n_head][head_dim]`.
    fn rope(
        &self,
        x: &mut Self::Buffer,
        n_head: usize,
        head_dim: usize,
        positions: &[i32],
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
}

/// Checks that a buffer of `have` elements can hold `need`.
pub(crate) fn ensure(op: &'static str, need: usize, have: usize) -> Result<(), BackendError> {
    if need > have {
        Err(BackendError::BufferTooSmall { op, need, have })
    } else {
        Ok(())
    }
}
