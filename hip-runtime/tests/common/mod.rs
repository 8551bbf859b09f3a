//! Shared pieces of the GPU tests: a tiny kernel source compiled for the device present.

#![allow(dead_code)]

use hip_runtime::{Compiler, Device, Module};

/// Kernels used by the tests; plain C++ that hiprtc and NVRTC both take (C linkage, so
/// the names are unmangled).
pub const SOURCE: &str = "
#define KERNEL extern \"C\" __global__ void
KERNEL fill(float* out, float value, unsigned n) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = value;
}
KERNEL add_one(float* data, unsigned n) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) data[i] += 1.0f;
}
KERNEL axpy(float* y, const float* x, float a, unsigned n) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] += a * x[i];
}
";

/// Compiles [`SOURCE`] for `device` and loads it.
pub fn test_module(device: &Device) -> Module {
    let compiler = Compiler::global(device.info().platform).expect("run-time compiler");
    let code = compiler
        .compile("runtime_tests.hip", SOURCE, &device.info().arch, &[])
        .unwrap_or_else(|e| panic!("{e}"));
    Module::load(device, "runtime_tests", &code).expect("module load")
}
