//! What works on a machine without a GPU: a clear "no GPU" error from the real HIP
//! runtime, and run-time compilation with the real hiprtc (CI installs Debian's ROCm).

mod common;

use common::SOURCE;
use hip_runtime::{Compiler, Error, Hip, Platform, PlatformChoice};

/// hiprtc is required here except on an NVIDIA machine (the CUDA driver loads), which
/// need not have ROCm installed.
fn hiprtc_or_skip() -> Option<Compiler> {
    match Compiler::load(Platform::Amd) {
        Ok(c) => Some(c),
        Err(e) if hip_ffi::CudaDriver::load().is_ok() && !hip_ffi::hiprtc_required() => {
            println!("skipped: hiprtc unavailable on this NVIDIA machine ({e})");
            None
        }
        Err(e) => {
            panic!("hiprtc must be installed for this test (apt install libamdhip64-dev): {e}")
        }
    }
}

#[test]
fn forcing_amd_without_an_amd_gpu_gives_one_clear_line() {
    if let Err(e) = hip_ffi::AmdDriver::load() {
        if hip_ffi::CudaDriver::load().is_ok() && !hip_ffi::hiprtc_required() {
            println!("skipped: libamdhip64 not installed on this NVIDIA machine ({e})");
            return;
        }
        panic!("libamdhip64 must be installed for this test (apt install libamdhip64-dev): {e}");
    }
    match Hip::open_with(PlatformChoice::Only(Platform::Amd)) {
        Ok(hip) => println!("AMD GPU present ({hip:?}): nothing to check"),
        Err(e) => {
            let msg = e.to_string();
            assert!(matches!(e, Error::Load(_)), "{msg}");
            assert!(msg.starts_with("AMD (HIP): no GPU found by"), "{msg}");
            assert!(!msg.contains('\n'), "one line: {msg}");
        }
    }
}

#[test]
fn hiprtc_compiles_for_amd_architectures_without_a_gpu() {
    let Some(compiler) = hiprtc_or_skip() else {
        return;
    };
    for arch in ["gfx908", "gfx90a", "gfx1030"] {
        let code = compiler
            .compile("runtime_tests.hip", SOURCE, arch, &["-O3"])
            .unwrap_or_else(|e| panic!("{arch}: {e}"));
        assert!(code.len() > 64, "{arch}: {} bytes", code.len());
        assert_eq!(&code[..4], b"\x7fELF", "{arch}: not a code object");
        for kernel in ["fill", "add_one", "axpy"] {
            let name = kernel.as_bytes();
            assert!(
                code.windows(name.len() + 1)
                    .any(|w| &w[..name.len()] == name && w[name.len()] == 0),
                "{arch}: no symbol `{kernel}` in the code object"
            );
        }
    }
}

#[test]
fn hiprtc_errors_carry_the_full_log() {
    let Some(compiler) = hiprtc_or_skip() else {
        return;
    };
    let bad = "extern \"C\" __global__ void broken(float* out) { out[0] = undefined_name; }";
    let err = compiler
        .compile("broken.hip", bad, "gfx90a", &[])
        .expect_err("an undefined identifier must not compile");
    let msg = err.to_string();
    assert!(matches!(err, Error::Compile { .. }), "{msg}");
    assert!(msg.contains("broken.hip"), "{msg}");
    assert!(msg.contains("undefined_name"), "log missing: {msg}");
    // The compiler still works after a failure.
    compiler
        .compile("runtime_tests.hip", SOURCE, "gfx90a", &[])
        .expect("a good source after a bad one");
}
