//! Raw HIP C ABI: `repr(C)` types, error codes and function tables loaded at run time.
//!
//! On AMD the tables come from `libamdhip64`; on NVIDIA each HIP entry point is forwarded
//! to its CUDA driver twin in `libcuda.so.1` with `CUresult` mapped to `hipError_t`. The
//! run-time compilers (hiprtc / NVRTC) and the BLAS GEMM entry points (hipBLAS / cuBLAS)
//! have tables of their own. Nothing here links against a GPU library at build time, and
//! loading returns a [`LoadError`] that lists what was tried; nothing panics. This is the
//! only crate of the workspace that declares `extern "C"` items.

mod amd;
mod blas;
mod cuda;
mod driver;
mod error;
mod loader;
pub mod props;
mod rtc;
mod select;
mod types;

pub use amd::{hip_candidates, AmdDriver, AmdFns};
pub use blas::{blas_candidates, Blas, BlasDataType, BlasFns, BlasHandle, BlasOp, BlasStatus};
pub use cuda::{cuda_candidates, CudaDriver, CudaFns};
pub use driver::Driver;
pub use error::{hipError_t, HipResult, LoadError};
pub use rtc::{hiprtc_candidates, nvrtc_candidates, Rtc, RtcFns, RtcProgram, RtcResult};
pub use select::{
    hiprtc_required, open_driver, open_driver_with, open_platform, require_device, PlatformChoice,
    AMD_KFD_NODE, PLATFORM_ENV, REQUIRE_HIPRTC_ENV,
};
pub use types::*;

use std::fmt;

/// A GPU platform ROCmForge can drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Platform {
    /// AMD GPUs through HIP (`libamdhip64`).
    Amd,
    /// NVIDIA GPUs through the CUDA driver (`libcuda.so.1`).
    Nvidia,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Platform::Amd => "AMD (HIP)",
            Platform::Nvidia => "NVIDIA (CUDA driver)",
        })
    }
}
