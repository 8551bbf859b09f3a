//! Safe HIP: devices, streams, events, device buffers, modules and kernels, graphs.
//!
//! Built on the raw tables of `hip-ffi`, the same code drives AMD GPUs through HIP and
//! NVIDIA GPUs through the CUDA driver. A [`Hip`] is the loaded platform; a [`Device`] is
//! made current on whichever thread uses it; a [`DeviceBuffer`] holds its [`Stream`] and
//! the stream its device, so memory is freed on the right device and stream. `Drop` never
//! panics: a failed release is recorded and reported by the next call. Failed runtime
//! calls are [`HipError`]s naming the call, the status and what was being done.

mod alloc;
mod blas;
mod device;
mod error;
#[cfg(test)]
mod fake;
mod graph;
mod memory;
mod module;
mod rtc;
mod runtime;
mod stream;
pub mod testing;
#[cfg(test)]
mod tests;
mod upload;

pub use alloc::{size_class, AllocStats, CachingAllocator};
pub use blas::{BlasHandle, Gemm};
pub use device::{Device, DeviceInfo};
pub use error::{Error, HipError, Result};
pub use graph::{Graph, GraphExec};
pub use hip_ffi::{hipError_t, BlasDataType, BlasOp, DevicePtr, Dim3, Platform, PlatformChoice};
pub use memory::{
    format_bytes, DeviceBuffer, DeviceRepr, DeviceSlice, DeviceSliceMut, PinnedBuffer,
};
pub use module::{DevPtr, Kernel, KernelArgs, KernelParam, LaunchConfig, Module, MAX_KERNEL_ARGS};
pub use rtc::Compiler;
pub use runtime::Hip;
pub use stream::{Event, Stream};
pub use upload::Uploader;
