//! `KernelError`: everything that can go wrong finding, compiling, loading or launching a
//! kernel, with the kernel, module, target or argument it concerns.

use std::path::PathBuf;

use crate::code::Origin;
use crate::registry::{KernelId, ModuleId};

/// An error from the `kernels` crate.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// A target name that is neither `gfx…` nor `sm_XY`.
    #[error("`{name}` is not a GPU target (expected gfx… such as gfx90a, or sm_XY such as sm_90)")]
    BadArch {
        /// The name as given.
        name: String,
    },
    /// The loaded HIP runtime is too old to compile for the device (its hiprtc would abort).
    #[error(
        "this ROCm ({runtime}) cannot compile for {arch}; install ROCm ≥ {needed} or use the CPU backend"
    )]
    ArchTooNewForRuntime {
        /// The AMD target asked for.
        arch: String,
        /// The loaded runtime's version.
        runtime: String,
        /// The first ROCm release that knows the target.
        needed: String,
    },
    /// The device runs a different warp width than kernels for its target are built for.
    #[error("device {ordinal} ({arch}) reports warp size {device}, but kernels for {arch} are built for {expected}")]
    WarpSize {
        /// The device ordinal.
        ordinal: usize,
        /// Its target.
        arch: String,
        /// The warp size the device reports.
        device: u32,
        /// The warp size the kernels are compiled for.
        expected: u32,
    },
    /// The run-time compiler rejected a module; `log` is its full output.
    #[error("compiling {module} for {arch} with {compiler} failed ({status}):\n{log}")]
    Compile {
        /// The module that failed.
        module: ModuleId,
        /// The target it was compiled for.
        arch: String,
        /// The compiler and its version.
        compiler: String,
        /// The compiler's status message.
        status: String,
        /// The compiler's complete log.
        log: String,
    },
    /// A module's code object does not contain a kernel the registry says it should.
    #[error("kernel {kernel} is missing from {module} ({origin} code object): {source}")]
    MissingKernel {
        /// The kernel looked up.
        kernel: KernelId,
        /// Its module.
        module: ModuleId,
        /// Where the code object came from.
        origin: Origin,
        /// The runtime's error.
        source: hip_runtime::Error,
    },
    /// A HIP runtime call (allocation, copy, module load, launch) failed.
    #[error(transparent)]
    Runtime(#[from] hip_runtime::Error),
    /// The kernel cache could not be written.
    #[error("kernel cache {}: {source}", path.display())]
    Cache {
        /// The entry or directory concerned.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A launcher's buffers do not have the lengths the kernel needs.
    #[error("{kernel}: argument `{arg}` has {actual} elements, needs {expected}")]
    Length {
        /// The kernel being launched.
        kernel: KernelId,
        /// The argument at fault.
        arg: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// A launcher's buffer is not aligned as the kernel reads it.
    #[error("{kernel}: argument `{arg}` at {address:#x} is not aligned to {align} bytes")]
    Alignment {
        /// The kernel being launched.
        kernel: KernelId,
        /// The argument at fault.
        arg: &'static str,
        /// The device address.
        address: usize,
        /// The required alignment.
        align: usize,
    },
    /// Launch parameters no kernel can run with (odd rotary dimensions, heads that do not
    /// divide, a tile that does not fit shared memory).
    #[error("{kernel}: {detail}")]
    Shape {
        /// The kernel.
        kernel: KernelId,
        /// What is wrong.
        detail: String,
    },
    /// More elements than a kernel's 32-bit index can address.
    #[error("{kernel}: {len} elements exceed the kernel's 32-bit index")]
    TooLong {
        /// The kernel being launched.
        kernel: KernelId,
        /// The element count asked for.
        len: usize,
    },
}
