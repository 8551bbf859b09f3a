//! GPU kernels as a library: HIP C++ sources, the registry that compiles them, typed launchers.
//!
//! Sources live in `kernels/hip/` (one op family per file, one portability header). For the
//! device that is present a module comes from, in order: a code object embedded at build time
//! by `cargo xtask build-kernels` that matches the target and the source, the on-disk cache,
//! or run-time compilation (hiprtc on AMD, NVRTC on NVIDIA), whose result is cached.

pub mod arch;
pub mod cache;
pub mod check;
mod check_ops;
pub mod check_quant;
pub mod code;
pub mod error;
pub mod jit;
pub mod launch;
pub mod launch_attention;
pub mod launch_elementwise;
pub mod launch_norm;
pub mod launch_quant;
pub mod launch_rope;
pub mod launch_sample;
pub mod loader;
pub mod prebuilt;
pub mod profile;
pub mod reference;
pub mod registry;
pub mod source;
pub mod weight;

pub use arch::{GpuArch, HipVersion, Vendor};
pub use cache::DiskCache;
pub use code::{Embedded, Origin};
pub use error::KernelError;
pub use launch_attention::{attention_decode_scratch_len, AttnShape, AttnStep, KV_BLOCK_SIZE};
pub use launch_quant::{Glu, MatVecInput, WeightMatrix};
pub use launch_rope::RopeConsts;
pub use launch_sample::{sample_uniform, SampleParams, SAMPLE_CAP, SAMPLE_ON_HOST};
pub use loader::{Kernels, ModuleLoad};
pub use profile::KernelTime;
pub use registry::{KernelId, ModuleId};
pub use source::ModuleSource;
pub use weight::WeightType;
