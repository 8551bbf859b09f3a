//! GPU tests of the kernel pipeline: every kernel against its CPU reference, every symbol
//! resolvable, the disk cache, compile errors and argument checks. Without a GPU each test
//! prints that it was skipped; `ROCMFORGE_REQUIRE_GPU=1` makes that a failure.

use std::time::{Duration, Instant};

use hip_runtime::testing::gpu_or_skip;
use hip_runtime::{DeviceBuffer, Stream};
use kernels::check::check_all;
use kernels::code::Compiler;
use kernels::jit::RuntimeCompiler;
use kernels::launch::REDUCE_PARTIALS;
use kernels::{
    DiskCache, Embedded, KernelError, KernelId, Kernels, ModuleId, ModuleSource, Origin,
};

/// The first device's kernels with a private, empty cache.
fn kernels_with_fresh_cache(hip: &hip_runtime::Hip) -> (Kernels, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let device = hip.device(0).unwrap();
    let kernels =
        Kernels::with_options(&device, Some(DiskCache::at(dir.path())), Embedded::Use).unwrap();
    (kernels, dir)
}

#[test]
fn every_kernel_matches_its_cpu_reference() {
    let Some(hip) = gpu_or_skip() else { return };
    let (kernels, _dir) = kernels_with_fresh_cache(&hip);
    let stream = Stream::new(kernels.device()).unwrap();
    println!("{} ({})", kernels.device().info(), kernels.arch());
    let mut failed = Vec::new();
    for (kernel, result) in check_all(&kernels, &stream, None) {
        match result {
            Ok(check) => {
                println!(
                    "{kernel:<16} {:>8} elements  max error {:.3e} (tolerance {:.1e})  {:.1?}  {}",
                    check.elements,
                    check.max_abs_error,
                    check.tolerance,
                    check.elapsed,
                    if check.passed() { "ok" } else { "FAILED" }
                );
                if !check.passed() {
                    failed.push(kernel);
                }
            }
            Err(e) => {
                println!("{kernel:<16} error: {e}");
                failed.push(kernel);
            }
        }
    }
    assert!(
        failed.is_empty(),
        "kernels disagreeing with the CPU: {failed:?}"
    );
}

#[test]
fn every_symbol_of_every_module_resolves() {
    let Some(hip) = gpu_or_skip() else { return };
    let (kernels, _dir) = kernels_with_fresh_cache(&hip);
    for module in ModuleId::ALL {
        let load = kernels.load(module).unwrap_or_else(|e| panic!("{e}"));
        println!(
            "{module}: {} ({} bytes, {:.1?})",
            load.origin, load.bytes, load.elapsed
        );
        for kernel in module.kernels() {
            kernels.kernel(kernel).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn a_second_load_comes_from_the_disk_cache() {
    let Some(hip) = gpu_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let device = hip.device(0).unwrap();
    let load_all = |expected: Origin| -> Duration {
        let cache = Some(DiskCache::at(dir.path()));
        let kernels = Kernels::with_options(&device, cache, Embedded::Ignore).unwrap();
        let started = Instant::now();
        for module in ModuleId::ALL {
            let load = kernels.load(module).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(load.origin, expected, "{module}");
        }
        started.elapsed()
    };
    let compiled = load_all(Origin::Compiled);
    let cached = load_all(Origin::Cache);
    println!(
        "{} modules for {}: compiled and loaded in {compiled:.1?}, loaded from the disk cache in {cached:.1?}",
        ModuleId::ALL.len(),
        device.info().arch_full
    );
}

#[test]
fn a_source_that_does_not_compile_gives_the_whole_log_and_work_goes_on() {
    let Some(hip) = gpu_or_skip() else { return };
    let (kernels, _dir) = kernels_with_fresh_cache(&hip);
    let compiler = RuntimeCompiler::load(kernels.arch().vendor()).unwrap();
    let mut source = ModuleSource::new(ModuleId::Elementwise, kernels.arch());
    source.text.push_str(
        "\nRF_KERNEL void rf_broken(float* y) { y[0] = undeclared_first; }\n\
         RF_KERNEL void rf_broken2(float* y) { y[0] = undeclared_second; }\n",
    );
    let err = compiler
        .compile(&source, kernels.arch())
        .expect_err("broken source");
    let text = err.to_string();
    println!("{text}");
    assert!(matches!(err, KernelError::Compile { .. }), "{text}");
    assert!(
        text.contains("undeclared_first") && text.contains("undeclared_second"),
        "{text}"
    );
    // The process and the device still work.
    let stream = Stream::new(kernels.device()).unwrap();
    let mut y = DeviceBuffer::<f32>::zeroed(&stream, 1000).unwrap();
    kernels.fill_f32(&mut y.as_slice_mut(), 2.0).unwrap();
    assert!(y.to_vec().unwrap().iter().all(|&v| v == 2.0));
}

#[test]
fn launchers_reject_bad_arguments_and_work_goes_on() {
    let Some(hip) = gpu_or_skip() else { return };
    let (kernels, _dir) = kernels_with_fresh_cache(&hip);
    let stream = Stream::new(kernels.device()).unwrap();
    let x = DeviceBuffer::<f32>::zeroed(&stream, 100).unwrap();
    let mut y = DeviceBuffer::<f32>::zeroed(&stream, 99).unwrap();
    let err = kernels
        .copy_f32(&x.as_slice(), &mut y.as_slice_mut())
        .unwrap_err();
    assert!(
        matches!(
            err,
            KernelError::Length {
                kernel: KernelId::CopyF32,
                ..
            }
        ),
        "{err}"
    );

    let bytes = DeviceBuffer::<i8>::zeroed(&stream, 68).unwrap();
    let mut partials = DeviceBuffer::<i32>::zeroed(&stream, REDUCE_PARTIALS).unwrap();
    let mut out = DeviceBuffer::<i32>::zeroed(&stream, 1).unwrap();
    let a = bytes.slice(0..64).unwrap();
    let misaligned = bytes.slice(1..65).unwrap();
    let err = kernels
        .dot_i8(
            &a,
            &misaligned,
            &mut partials.as_slice_mut(),
            &mut out.as_slice_mut(),
        )
        .unwrap_err();
    assert!(
        matches!(err, KernelError::Alignment { arg: "b", .. }),
        "{err}"
    );
    let mut short = DeviceBuffer::<i32>::zeroed(&stream, 8).unwrap();
    let err = kernels
        .dot_i8(&a, &a, &mut short.as_slice_mut(), &mut out.as_slice_mut())
        .unwrap_err();
    assert!(
        matches!(
            err,
            KernelError::Length {
                arg: "partials",
                ..
            }
        ),
        "{err}"
    );

    kernels
        .dot_i8(
            &a,
            &a,
            &mut partials.as_slice_mut(),
            &mut out.as_slice_mut(),
        )
        .unwrap();
    assert_eq!(out.to_vec().unwrap(), [0]);
}
