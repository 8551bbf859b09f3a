//! Vendor BLAS GEMM (hipBLAS / cuBLAS) bound to one stream, so that BLAS work is ordered
//! with the kernels around it; operand sizes are checked before the call.

use std::ffi::c_void;
use std::sync::OnceLock;

use hip_ffi::{hipError_t, BlasDataType, BlasOp, DevicePtr, Platform};

use crate::error::{Error, HipError, Result};
use crate::memory::{DeviceSlice, DeviceSliceMut};
use crate::stream::Stream;

/// A column-major GEMM: `C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C`, repeated
/// `batch` times at the given element strides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gemm {
    /// Transposition of A.
    pub trans_a: BlasOp,
    /// Transposition of B.
    pub trans_b: BlasOp,
    /// Rows of C.
    pub m: usize,
    /// Columns of C.
    pub n: usize,
    /// Inner dimension.
    pub k: usize,
    /// Leading dimension of A as stored.
    pub lda: usize,
    /// Leading dimension of B as stored.
    pub ldb: usize,
    /// Leading dimension of C.
    pub ldc: usize,
    /// Elements between consecutive A matrices.
    pub stride_a: usize,
    /// Elements between consecutive B matrices.
    pub stride_b: usize,
    /// Elements between consecutive C matrices.
    pub stride_c: usize,
    /// Number of products.
    pub batch: usize,
}

impl Gemm {
    /// A single product of densely stored matrices.
    pub fn dense(trans_a: BlasOp, trans_b: BlasOp, m: usize, n: usize, k: usize) -> Gemm {
        let (lda, ldb) = (
            if trans_a == BlasOp::N { m } else { k },
            if trans_b == BlasOp::N { k } else { n },
        );
        Gemm {
            trans_a,
            trans_b,
            m,
            n,
            k,
            lda,
            ldb,
            ldc: m,
            stride_a: 0,
            stride_b: 0,
            stride_c: 0,
            batch: 1,
        }
    }

    /// Elements each operand must hold: `(A, B, C)`; errors name the bad dimension.
    pub fn required_lengths(&self) -> Result<(usize, usize, usize)> {
        let bad = |what: String| Error::Blas {
            op: "gemm",
            status: -1,
            context: what,
        };
        let (a_rows, a_cols) = match self.trans_a {
            BlasOp::N => (self.m, self.k),
            BlasOp::T => (self.k, self.m),
        };
        let (b_rows, b_cols) = match self.trans_b {
            BlasOp::N => (self.k, self.n),
            BlasOp::T => (self.n, self.k),
        };
        let need = |name: &str, rows: usize, cols: usize, ld: usize, stride: usize| {
            if ld < rows.max(1) {
                return Err(bad(format!(
                    "leading dimension of {name} is {ld}, below its {rows} rows"
                )));
            }
            let one = if rows == 0 || cols == 0 {
                0
            } else {
                ld * (cols - 1) + rows
            };
            Ok(stride * self.batch.saturating_sub(1) + one)
        };
        Ok((
            need("A", a_rows, a_cols, self.lda, self.stride_a)?,
            need("B", b_rows, b_cols, self.ldb, self.stride_b)?,
            need("C", self.m, self.n, self.ldc, self.stride_c)?,
        ))
    }
}

/// A BLAS handle whose work runs on one stream.
pub struct BlasHandle {
    blas: &'static hip_ffi::Blas,
    handle: hip_ffi::BlasHandle,
    stream: Stream,
}

// SAFETY: the handle is only used through `&self` methods that make its device current;
// hipBLAS / cuBLAS handles may move between threads.
unsafe impl Send for BlasHandle {}

fn library(platform: Platform) -> Result<&'static hip_ffi::Blas> {
    static AMD: OnceLock<std::result::Result<hip_ffi::Blas, String>> = OnceLock::new();
    static NVIDIA: OnceLock<std::result::Result<hip_ffi::Blas, String>> = OnceLock::new();
    let cell = match platform {
        Platform::Amd => &AMD,
        Platform::Nvidia => &NVIDIA,
    };
    cell.get_or_init(|| hip_ffi::Blas::load(platform).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|reason| Error::BlasUnavailable {
            reason: reason.clone(),
        })
}

fn dim(name: &'static str, v: usize) -> Result<i32> {
    i32::try_from(v).map_err(|_| Error::Blas {
        op: "gemm",
        status: -1,
        context: format!("{name} = {v} exceeds the BLAS 32-bit range"),
    })
}

impl BlasHandle {
    /// Creates a handle whose work is queued on `stream`; without the vendor library this
    /// fails with [`Error::BlasUnavailable`] saying what was tried.
    pub fn new(stream: &Stream) -> Result<BlasHandle> {
        let blas = library(stream.device().info().platform)?;
        stream.make_current()?;
        let mut handle: hip_ffi::BlasHandle = std::ptr::null_mut();
        // SAFETY: the out-pointer is a live local; the device is current.
        let status = unsafe { (blas.fns().create)(&mut handle) };
        check("create", status, String::new)?;
        let out = BlasHandle {
            blas,
            handle,
            stream: stream.clone(),
        };
        // SAFETY: both handles are live.
        let status = unsafe { (blas.fns().set_stream)(handle, stream.raw()) };
        check("set stream", status, String::new)?;
        Ok(out)
    }

    /// The library in use.
    pub fn library_path(&self) -> &str {
        self.blas.library_path()
    }

    /// The stream BLAS work is queued on.
    pub fn stream(&self) -> &Stream {
        &self.stream
    }

    /// Single-precision strided batched GEMM, queued on the handle's stream; the slices
    /// must hold what `gemm` addresses.
    pub fn sgemm_strided_batched(
        &self,
        gemm: &Gemm,
        alpha: f32,
        a: &DeviceSlice<'_, f32>,
        b: &DeviceSlice<'_, f32>,
        beta: f32,
        c: &mut DeviceSliceMut<'_, f32>,
    ) -> Result<()> {
        let (na, nb, nc) = gemm.required_lengths()?;
        for (name, need, have) in [("A", na, a.len()), ("B", nb, b.len()), ("C", nc, c.len())] {
            if have < need {
                return Err(Error::Blas {
                    op: "sgemm_strided_batched",
                    status: -1,
                    context: format!("{name} holds {have} elements, the GEMM reads {need}"),
                });
            }
        }
        for s in [a.stream(), b.stream()] {
            self.stream
                .same_device("sgemm_strided_batched", s.device())?;
        }
        self.stream.make_current()?;
        let f = self.blas.fns().sgemm_strided_batched;
        let stride = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        // SAFETY: the operand sizes were checked above against the shape; all device
        // pointers are on the handle's device, which is current.
        let status = unsafe {
            f(
                self.handle,
                self.blas.op_code(gemm.trans_a),
                self.blas.op_code(gemm.trans_b),
                dim("m", gemm.m)?,
                dim("n", gemm.n)?,
                dim("k", gemm.k)?,
                &alpha,
                a.device_ptr() as *const f32,
                dim("lda", gemm.lda)?,
                stride(gemm.stride_a),
                b.device_ptr() as *const f32,
                dim("ldb", gemm.ldb)?,
                stride(gemm.stride_b),
                &beta,
                c.device_ptr() as *mut f32,
                dim("ldc", gemm.ldc)?,
                stride(gemm.stride_c),
                dim("batch", gemm.batch)?,
            )
        };
        check("sgemm_strided_batched", status, || format!("{gemm:?}"))
    }

    /// `C = A · B` (single product, shapes as in `gemm`) with IEEE half operands `a`, `b`
    /// (bit patterns) and an f32 result, accumulated in f32; sizes and devices checked.
    pub fn gemm_f16_f32(
        &self,
        gemm: &Gemm,
        a: &DeviceSlice<'_, u16>,
        b: &DeviceSlice<'_, u16>,
        c: &mut DeviceSliceMut<'_, f32>,
    ) -> Result<()> {
        let one = Gemm { batch: 1, ..*gemm };
        let (na, nb, nc) = one.required_lengths()?;
        for (name, need, have) in [("A", na, a.len()), ("B", nb, b.len()), ("C", nc, c.len())] {
            if have < need {
                return Err(Error::Blas {
                    op: "gemm_f16_f32",
                    status: -1,
                    context: format!("{name} holds {have} elements, the GEMM reads {need}"),
                });
            }
        }
        for s in [a.stream(), b.stream(), c.as_slice().stream()] {
            self.stream.same_device("gemm_f16_f32", s.device())?;
        }
        // SAFETY: the three operands hold what `one` addresses (checked above), with the
        // element types named, on the handle's device.
        unsafe {
            self.gemm_ex(
                &one,
                1.0,
                (a.device_ptr(), BlasDataType::F16),
                (b.device_ptr(), BlasDataType::F16),
                0.0,
                (c.device_ptr(), BlasDataType::F32),
            )
        }
    }

    /// Mixed-precision GEMM (`GemmEx`) with 32-bit accumulation; `alpha`/`beta` are f32.
    ///
    /// # Safety
    /// `a`, `b` and `c` must address matrices of the given types and shape (a single
    /// product: `gemm.batch` is ignored) on the handle's device.
    pub unsafe fn gemm_ex(
        &self,
        gemm: &Gemm,
        alpha: f32,
        a: (DevicePtr, BlasDataType),
        b: (DevicePtr, BlasDataType),
        beta: f32,
        c: (DevicePtr, BlasDataType),
    ) -> Result<()> {
        let f = self
            .blas
            .fns()
            .gemm_ex
            .ok_or_else(|| Error::BlasUnavailable {
                reason: format!(
                    "{} has no usable GemmEx entry point",
                    self.blas.library_path()
                ),
            })?;
        self.stream.make_current()?;
        let b_ = self.blas;
        // SAFETY: the caller guarantees the operands; scalars are f32 as the 32F compute
        // type requires.
        let status = unsafe {
            f(
                self.handle,
                b_.op_code(gemm.trans_a),
                b_.op_code(gemm.trans_b),
                dim("m", gemm.m)?,
                dim("n", gemm.n)?,
                dim("k", gemm.k)?,
                &alpha as *const f32 as *const c_void,
                a.0 as *const c_void,
                b_.data_type_code(a.1),
                dim("lda", gemm.lda)?,
                b.0 as *const c_void,
                b_.data_type_code(b.1),
                dim("ldb", gemm.ldb)?,
                &beta as *const f32 as *const c_void,
                c.0 as *mut c_void,
                b_.data_type_code(c.1),
                dim("ldc", gemm.ldc)?,
                b_.compute_32f_code(),
                b_.default_algo_code(),
            )
        };
        check("gemm_ex", status, || format!("{gemm:?}"))
    }
}

fn check(op: &'static str, status: i32, context: impl FnOnce() -> String) -> Result<()> {
    if status == 0 {
        Ok(())
    } else {
        Err(Error::Blas {
            op,
            status,
            context: context(),
        })
    }
}

impl Drop for BlasHandle {
    fn drop(&mut self) {
        let device = self.stream.device();
        let (blas, handle) = (self.blas, self.handle);
        let mut status = 0;
        device
            .hip()
            .release(device.ordinal(), "BLAS destroy", String::new, |_| {
                // SAFETY: the handle is owned by `self` and unused after this.
                status = unsafe { (blas.fns().destroy)(handle) };
                Ok(())
            });
        if status != 0 {
            device.hip().defer(HipError {
                op: "BLAS destroy",
                code: hipError_t::hipErrorUnknown,
                name: format!("BLAS status {status}"),
                context: blas.library_path().to_string(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_lengths_follow_shape_and_transposition() {
        let g = Gemm::dense(BlasOp::N, BlasOp::N, 4, 3, 2);
        assert_eq!(g.required_lengths().unwrap(), (8, 6, 12));
        let g = Gemm::dense(BlasOp::T, BlasOp::N, 4, 3, 2);
        assert_eq!((g.lda, g.ldb), (2, 2));
        assert_eq!(g.required_lengths().unwrap(), (8, 6, 12));
        let batched = Gemm {
            stride_a: 8,
            stride_b: 6,
            stride_c: 12,
            batch: 5,
            ..Gemm::dense(BlasOp::N, BlasOp::N, 4, 3, 2)
        };
        assert_eq!(batched.required_lengths().unwrap(), (40, 30, 60));
        let bad = Gemm {
            lda: 3,
            ..Gemm::dense(BlasOp::N, BlasOp::N, 4, 3, 2)
        };
        let msg = bad.required_lengths().unwrap_err().to_string();
        assert!(
            msg.contains("leading dimension of A is 3, below its 4 rows"),
            "{msg}"
        );
    }
}
