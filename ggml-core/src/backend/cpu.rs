//! The CPU backend: host `Vec<f32>` buffers, weights borrowed zero-copy from their tensor
//! bytes, matrix products on a spinning pool (`ops::pool`, `ops::qmatmul`: 8-bit activations
//! by default, f32 as the reference), other ops from `crate::ops` on a private rayon pool.

use std::sync::Mutex;

use super::{argmax_row, ensure, Backend, BackendError, StepInput, StepLimits};
use crate::ops::pool::Pool;
use crate::ops::qmatmul::{self, Numerics};
use crate::ops::{elementwise, matmul, qdot, rope, GluKind, RopeParams};
use crate::tensor::Tensor;

/// The CPU backend.
pub struct CpuBackend {
    pool: rayon::ThreadPool,
    /// The spinning pool matrix products run on.
    workers: Pool,
    numerics: Numerics,
    /// Quantized activation rows of the current product.
    acts: Mutex<Vec<u8>>,
    /// Weight-row-major product of a batched `mul_mat`, transposed into the output after.
    /// Grows to the largest batch seen; single-row products never touch it.
    scratch: Mutex<Vec<f32>>,
}

impl std::fmt::Debug for CpuBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuBackend")
            .field("threads", &self.pool.current_num_threads())
            .finish()
    }
}

impl CpuBackend {
    /// A backend running on `threads` threads (0: one per physical core) with the default
    /// (llama.cpp-like, 8-bit activation) numerics.
    pub fn new(threads: usize) -> Result<CpuBackend, BackendError> {
        CpuBackend::with_numerics(threads, Numerics::default())
    }

    /// A backend running on `threads` threads (0: one per physical core) computing matrix
    /// products with `numerics`.
    pub fn with_numerics(threads: usize, numerics: Numerics) -> Result<CpuBackend, BackendError> {
        let workers = Pool::new(threads).map_err(|e| BackendError::Setup(e.to_string()))?;
        let threads = workers.threads();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("rocmforge-cpu-{i}"))
            .build()
            .map_err(|e| BackendError::Setup(e.to_string()))?;
        Ok(CpuBackend {
            pool,
            workers,
            numerics,
            acts: Mutex::new(Vec::new()),
            scratch: Mutex::new(Vec::new()),
        })
    }

    /// Threads in the backend's pool.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Runs `f` inside the backend's thread pool (for ops built outside this crate).
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }
}

/// Locks a scratch buffer; a poisoned lock only means another op panicked mid-write, and
/// every op overwrites the part it reads.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Backend for CpuBackend {
    type Buffer = Vec<f32>;
    type Matrix = Tensor;
    type Vector = Vec<f32>;
    type Step = StepInput;

    fn name(&self) -> &'static str {
        "cpu"
    }

    fn alloc(&self, len: usize) -> Result<Vec<f32>, BackendError> {
        Ok(vec![0.0; len])
    }

    fn load_matrix(&self, t: &Tensor) -> Result<Tensor, BackendError> {
        Ok(t.clone())
    }

    fn load_vector(&self, t: &Tensor) -> Result<Vec<f32>, BackendError> {
        let mut v = vec![0.0; t.n_elements()];
        matmul::dequantize(t.ty(), t.data(), &mut v)?;
        Ok(v)
    }

    fn write(&self, buf: &mut Vec<f32>, data: &[f32]) -> Result<(), BackendError> {
        ensure("write", data.len(), buf.len())?;
        buf[..data.len()].copy_from_slice(data);
        Ok(())
    }

    fn read(&self, buf: &Vec<f32>, offset: usize, out: &mut [f32]) -> Result<(), BackendError> {
        ensure("read", offset + out.len(), buf.len())?;
        out.copy_from_slice(&buf[offset..offset + out.len()]);
        Ok(())
    }

    fn alloc_step(&self, limits: StepLimits) -> Result<StepInput, BackendError> {
        Ok(StepInput::with_limits(limits))
    }

    fn upload_step(&self, step: &mut StepInput, input: &StepInput) -> Result<(), BackendError> {
        input.validate()?;
        step.clone_from(input);
        Ok(())
    }

    fn get_rows(
        &self,
        table: &Tensor,
        step: &StepInput,
        n_tokens: usize,
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        let ids = step_slice("get_rows", &step.tokens, n_tokens)?;
        self.pool.install(|| matmul::get_rows(table, ids, out))?;
        Ok(())
    }

    fn copy(&self, src: &Vec<f32>, dst: &mut Vec<f32>, len: usize) -> Result<(), BackendError> {
        ensure("copy", len, src.len().min(dst.len()))?;
        dst[..len].copy_from_slice(&src[..len]);
        Ok(())
    }

    fn copy_out_rows(
        &self,
        src: &Vec<f32>,
        step: &StepInput,
        n_out: usize,
        cols: usize,
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        let rows = step_slice("copy_out_rows", &step.out_rows, n_out)?;
        ensure("copy_rows", rows.len() * cols, out.len())?;
        for (dst, &r) in out.chunks_exact_mut(cols).zip(rows) {
            let start = r as usize * cols;
            ensure("copy_rows", start + cols, src.len())?;
            dst.copy_from_slice(&src[start..start + cols]);
        }
        Ok(())
    }

    fn mul_mat(
        &self,
        w: &Tensor,
        x: &Vec<f32>,
        m: usize,
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        let (k, n) = (w.row_len(), w.n_rows());
        ensure("mul_mat", m * n, out.len())?;
        ensure("mul_mat input", m * k, x.len())?;
        let xr = &x[..m * k];
        let kern = match self.numerics {
            Numerics::Q8 => qdot::kernel(qdot::active_isa(), w.ty()),
            Numerics::F32 => None,
        };
        if let Some(kern) = kern {
            let mut acts = lock(&self.acts);
            if m == 1 {
                qmatmul::mul_mat_q(&self.workers, kern, w, xr, 1, out, &mut acts)?;
                return Ok(());
            }
            let mut scratch = lock(&self.scratch);
            if scratch.len() < m * n {
                scratch.resize(m * n, 0.0);
            }
            qmatmul::mul_mat_q(&self.workers, kern, w, xr, m, &mut scratch, &mut acts)?;
            matmul::transpose(&scratch[..m * n], n, m, &mut out[..m * n]);
            return Ok(());
        }
        if m == 1 {
            self.pool.install(|| matmul::mul_mat_t(w, xr, 1, out))?;
            return Ok(());
        }
        let mut scratch = lock(&self.scratch);
        if scratch.len() < m * n {
            scratch.resize(m * n, 0.0);
        }
        let product: &mut [f32] = &mut scratch;
        self.pool.install(|| matmul::mul_mat_t(w, xr, m, product))?;
        matmul::transpose(&scratch[..m * n], n, m, &mut out[..m * n]);
        Ok(())
    }

    fn rms_norm(
        &self,
        x: &mut Vec<f32>,
        rows: usize,
        dim: usize,
        eps: f32,
        weight: Option<&Vec<f32>>,
    ) -> Result<(), BackendError> {
        ensure("rms_norm", rows * dim, x.len())?;
        if let Some(w) = weight {
            ensure("rms_norm weight", dim, w.len())?;
        }
        elementwise::rms_norm(&mut x[..rows * dim], dim, eps, weight.map(|w| &w[..dim]));
        Ok(())
    }

    fn rope(
        &self,
        x: &mut Vec<f32>,
        step: &StepInput,
        n_tokens: usize,
        n_head: usize,
        head_dim: usize,
        params: &RopeParams,
        freq_factors: Option<&Vec<f32>>,
    ) -> Result<(), BackendError> {
        let positions = step_slice("rope", &step.positions, n_tokens)?;
        let len = positions.len() * n_head * head_dim;
        ensure("rope", len, x.len())?;
        if params.n_dims > head_dim || params.n_dims % 2 != 0 {
            return Err(crate::ops::OpError::Shape {
                op: "rope",
                tensor: String::new(),
                detail: format!("n_dims {} with head_dim {head_dim}", params.n_dims),
            }
            .into());
        }
        if let Some(f) = freq_factors {
            ensure("rope freq_factors", params.n_dims / 2, f.len())?;
        }
        let ff = freq_factors.map(|f| f.as_slice());
        rope::rope(&mut x[..len], n_head, head_dim, positions, params, ff);
        Ok(())
    }

    fn glu(
        &self,
        kind: GluKind,
        gate: &mut Vec<f32>,
        up: &Vec<f32>,
        len: usize,
    ) -> Result<(), BackendError> {
        ensure("glu", len, gate.len().min(up.len()))?;
        elementwise::glu(kind, &mut gate[..len], &up[..len]);
        Ok(())
    }

    fn add(&self, dst: &mut Vec<f32>, src: &Vec<f32>, len: usize) -> Result<(), BackendError> {
        ensure("add", len, dst.len().min(src.len()))?;
        elementwise::add(&mut dst[..len], &src[..len]);
        Ok(())
    }

    fn add_row(&self, dst: &mut Vec<f32>, v: &Vec<f32>, rows: usize) -> Result<(), BackendError> {
        ensure("add_row", rows * v.len(), dst.len())?;
        elementwise::add_row(&mut dst[..rows * v.len()], v);
        Ok(())
    }

    fn mul_row(&self, dst: &mut Vec<f32>, v: &Vec<f32>, rows: usize) -> Result<(), BackendError> {
        ensure("mul_row", rows * v.len(), dst.len())?;
        elementwise::mul_row(&mut dst[..rows * v.len()], v);
        Ok(())
    }

    fn scale(&self, x: &mut Vec<f32>, len: usize, s: f32) -> Result<(), BackendError> {
        ensure("scale", len, x.len())?;
        elementwise::scale(&mut x[..len], s);
        Ok(())
    }

    fn softcap(&self, x: &mut Vec<f32>, len: usize, cap: f32) -> Result<(), BackendError> {
        ensure("softcap", len, x.len())?;
        elementwise::softcap(&mut x[..len], cap);
        Ok(())
    }

    fn argmax(
        &self,
        logits: &Vec<f32>,
        rows: usize,
        n_cols: usize,
        out: &mut [u32],
    ) -> Result<(), BackendError> {
        ensure("argmax", rows, out.len())?;
        ensure("argmax logits", rows * n_cols, logits.len())?;
        for (o, row) in out
            .iter_mut()
            .zip(logits.chunks_exact(n_cols.max(1)).take(rows))
        {
            *o = argmax_row(row);
        }
        Ok(())
    }
}

/// The first `n` entries of a step array, or an error when the step holds fewer.
fn step_slice<'s, T>(op: &'static str, v: &'s [T], n: usize) -> Result<&'s [T], BackendError> {
    v.get(..n).ok_or(BackendError::BufferTooSmall {
        op,
        need: n,
        have: v.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_mul_mat_equals_row_by_row() {
        let be = CpuBackend::new(2).unwrap();
        let wv: Vec<f32> = (0..64 * 7).map(|i| (i % 9) as f32 - 4.0).collect();
        let w = be
            .load_matrix(&Tensor::from_f32("w", vec![64, 7], &wv).unwrap())
            .unwrap();
        let x: Vec<f32> = (0..64 * 3).map(|i| (i % 5) as f32 * 0.5).collect();
        let mut out = be.alloc(21).unwrap();
        be.mul_mat(&w, &x, 3, &mut out).unwrap();
        for t in 0..3 {
            let mut one = be.alloc(7).unwrap();
            be.mul_mat(&w, &x[t * 64..].to_vec(), 1, &mut one).unwrap();
            assert_eq!(&out[t * 7..t * 7 + 7], &one[..]);
        }
        let mut small = be.alloc(20).unwrap();
        assert!(matches!(
            be.mul_mat(&w, &x, 3, &mut small),
            Err(BackendError::BufferTooSmall { need: 21, .. })
        ));
    }
}
