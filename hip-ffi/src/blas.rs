//! BLAS GEMM tables: hipBLAS on AMD, cuBLAS on NVIDIA. Both take the same argument
//! shapes; the enum values differ and are translated here. Optional by design: without
//! the library the BLAS path is off and loading says why.

use std::ffi::c_void;

use crate::error::LoadError;
use crate::loader::{candidates, env_dirs, fn_table, open_first, Loaded};
use crate::types::hipStream_t;
use crate::Platform;

/// A `hipblasHandle_t` / `cublasHandle_t`.
pub type BlasHandle = *mut c_void;
/// `hipblasStatus_t` / `cublasStatus_t` (0 is success on both).
pub type BlasStatus = i32;

type St = BlasStatus;
type H = BlasHandle;
type V = *const c_void;

fn_table! {
    /// GEMM entry points of hipBLAS or cuBLAS.
    pub struct BlasFns {
        create = ["hipblasCreate", "cublasCreate_v2"]: fn(*mut H) -> St;
        destroy = ["hipblasDestroy", "cublasDestroy_v2"]: fn(H) -> St;
        set_stream = ["hipblasSetStream", "cublasSetStream_v2"]: fn(H, hipStream_t) -> St;
        sgemm_strided_batched = ["hipblasSgemmStridedBatched", "cublasSgemmStridedBatched"]: fn(
            H, i32, i32, i32, i32, i32,
            *const f32, *const f32, i32, i64, *const f32, i32, i64,
            *const f32, *mut f32, i32, i64, i32,
        ) -> St;
    }
    optional {
        // hipBLAS: the `hipDataType` / `hipblasComputeType_t` form (ROCm 6 names it
        // `_v2`); ROCm 5's older form is not bound, so GemmEx is off there.
        gemm_ex = ["hipblasGemmEx_v2", "cublasGemmEx"]: fn(
            H, i32, i32, i32, i32, i32,
            V, V, i32, i32, V, i32, i32,
            V, *mut c_void, i32, i32, i32, i32,
        ) -> St;
    }
}

/// Transposition of a GEMM operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlasOp {
    /// As stored (column-major).
    N,
    /// Transposed.
    T,
}

/// Element type of a `GemmEx` operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlasDataType {
    /// 32-bit float.
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    BF16,
}

/// Where each library is looked for.
pub fn blas_candidates(platform: Platform) -> Vec<String> {
    match platform {
        Platform::Amd => {
            let mut dirs = env_dirs(&["ROCM_PATH", "HIP_PATH"], &["lib"]);
            dirs.push("/opt/rocm/lib".into());
            candidates(
                &dirs,
                &[
                    "libhipblas.so",
                    "libhipblas.so.3",
                    "libhipblas.so.2",
                    "libhipblas.so.1",
                    "libhipblas.so.0",
                ],
            )
        }
        Platform::Nvidia => {
            let mut dirs = env_dirs(&["CUDA_HOME", "CUDA_PATH"], &["lib64", "lib"]);
            dirs.push("/usr/local/cuda/lib64".into());
            candidates(
                &dirs,
                &["libcublas.so.13", "libcublas.so.12", "libcublas.so"],
            )
        }
    }
}

/// A loaded hipBLAS or cuBLAS.
pub struct Blas {
    fns: BlasFns,
    lib: Loaded,
    platform: Platform,
}

impl Blas {
    /// Loads the platform's BLAS library.
    pub fn load(platform: Platform) -> Result<Self, LoadError> {
        let family = match platform {
            Platform::Amd => "hipBLAS",
            Platform::Nvidia => "cuBLAS",
        };
        let lib = open_first(family, &blas_candidates(platform))?;
        // SAFETY: `BlasFns` transcribes the hipBLAS / cuBLAS C signatures.
        let fns = unsafe { BlasFns::load(&lib)? };
        Ok(Blas { fns, lib, platform })
    }

    /// The raw entry points.
    pub fn fns(&self) -> &BlasFns {
        &self.fns
    }

    /// The file that was opened.
    pub fn library_path(&self) -> &str {
        &self.lib.path
    }

    /// The platform.
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// The library's value for an operation.
    pub fn op_code(&self, op: BlasOp) -> i32 {
        match (self.platform, op) {
            (Platform::Amd, BlasOp::N) => 111,
            (Platform::Amd, BlasOp::T) => 112,
            (Platform::Nvidia, BlasOp::N) => 0,
            (Platform::Nvidia, BlasOp::T) => 1,
        }
    }

    /// The `hipDataType` / `cudaDataType` value (the two agree).
    pub fn data_type_code(&self, t: BlasDataType) -> i32 {
        match t {
            BlasDataType::F32 => 0,
            BlasDataType::F16 => 2,
            BlasDataType::BF16 => 14,
        }
    }

    /// The compute type for 32-bit float accumulation.
    pub fn compute_32f_code(&self) -> i32 {
        match self.platform {
            Platform::Amd => 2,
            Platform::Nvidia => 68,
        }
    }

    /// The default GEMM algorithm value.
    pub fn default_algo_code(&self) -> i32 {
        match self.platform {
            Platform::Amd => 160,
            Platform::Nvidia => -1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_follow_platform() {
        assert!(blas_candidates(Platform::Nvidia)
            .iter()
            .any(|c| c == "libcublas.so.13"));
        assert!(blas_candidates(Platform::Amd)
            .iter()
            .any(|c| c == "/opt/rocm/lib/libhipblas.so"));
    }
}
