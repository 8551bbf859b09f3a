//! Every kernel module through the real hiprtc — the JIT path users hit — for the AMD
//! targets CI checks, with no GPU needed; plus the old-runtime guard and full compile logs.
//!
//! Where hiprtc (`libamdhip64`) is not installed these tests print that they were skipped;
//! `ROCMFORGE_REQUIRE_HIPRTC=1` (set by CI, which installs it) makes that a failure.

use kernels::code::Compiler;
use kernels::jit::RuntimeCompiler;
use kernels::{GpuArch, HipVersion, KernelError, ModuleId, ModuleSource, Vendor};

/// The AMD targets every kernel must compile for.
const CI_TARGETS: [&str; 3] = ["gfx908", "gfx90a", "gfx1030"];

fn hiprtc_or_skip() -> Option<RuntimeCompiler> {
    match RuntimeCompiler::load(Vendor::Amd) {
        Ok(c) => Some(c),
        Err(e) if hip_ffi::hiprtc_required() => {
            panic!(
                "{}=1 but hiprtc is unusable: {e}",
                hip_ffi::REQUIRE_HIPRTC_ENV
            )
        }
        Err(e) => {
            println!("skipped: hiprtc not available ({e})");
            None
        }
    }
}

#[test]
fn every_module_compiles_for_the_ci_targets() {
    let Some(compiler) = hiprtc_or_skip() else {
        return;
    };
    for name in CI_TARGETS {
        let arch = GpuArch::parse(name).unwrap();
        for module in ModuleId::ALL {
            let source = ModuleSource::new(module, &arch);
            let started = std::time::Instant::now();
            let code = compiler
                .compile(&source, &arch)
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(
                code.starts_with(b"\x7fELF"),
                "{module} for {arch}: not an ELF code object"
            );
            for kernel in module.kernels() {
                let symbol = kernel.symbol().as_bytes();
                assert!(
                    code.windows(symbol.len()).any(|w| w == symbol),
                    "{kernel} missing from {module} for {arch}"
                );
            }
            println!(
                "{module} for {arch}: {} bytes in {:.0?} ({})",
                code.len(),
                started.elapsed(),
                compiler.identity()
            );
        }
    }
}

#[test]
fn an_unknown_target_is_refused_before_hiprtc_sees_it() {
    let Some(compiler) = hiprtc_or_skip() else {
        return;
    };
    let version = compiler
        .hip_version()
        .expect("AMD compilers know the HIP version");
    let arch = GpuArch::parse("gfx1100").unwrap();
    let source = ModuleSource::new(ModuleId::Elementwise, &arch);
    let result = compiler.compile(&source, &arch);
    if version < (HipVersion { major: 5, minor: 5 }) {
        let err = result.expect_err("ROCm < 5.5 cannot compile for gfx1100");
        assert!(
            matches!(err, KernelError::ArchTooNewForRuntime { .. }),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "this ROCm ({version}) cannot compile for gfx1100; install ROCm ≥ 5.5 or use the CPU backend"
            )
        );
        // The process is still alive and hiprtc still works.
        let ok = GpuArch::parse("gfx90a").unwrap();
        compiler
            .compile(&ModuleSource::new(ModuleId::Elementwise, &ok), &ok)
            .unwrap();
    } else {
        result.unwrap_or_else(|e| panic!("ROCm {version} should compile for gfx1100: {e}"));
    }
}

#[test]
fn a_source_that_does_not_compile_gives_the_whole_log() {
    let Some(compiler) = hiprtc_or_skip() else {
        return;
    };
    let arch = GpuArch::parse("gfx90a").unwrap();
    let mut source = ModuleSource::new(ModuleId::Elementwise, &arch);
    source.text.push_str(
        "\nRF_KERNEL void rf_broken(float* y) { y[0] = undeclared_first; }\n\
         RF_KERNEL void rf_broken2(float* y) { y[0] = undeclared_second; }\n",
    );
    let err = compiler
        .compile(&source, &arch)
        .expect_err("the source is broken");
    let text = err.to_string();
    assert!(matches!(err, KernelError::Compile { .. }), "{text}");
    assert!(
        text.contains("compiling elementwise.hip for gfx90a"),
        "{text}"
    );
    assert!(
        text.contains("undeclared_first"),
        "first error in the log: {text}"
    );
    assert!(
        text.contains("undeclared_second"),
        "second error in the log: {text}"
    );
}
