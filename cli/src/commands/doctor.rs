//! `rocmforge doctor`: what GPU support this machine has — platform, libraries, devices,
//! whether kernels compile and load, every registered kernel against its CPU reference —
//! and a check that the CPU backend computes correctly.

use std::process::ExitCode;
use std::time::Instant;

use ggml_core::backend::cpu::CpuBackend;
use ggml_core::ops::matmul::mul_mat_t;
use ggml_core::Tensor;
use hip_ffi::{AmdDriver, CudaDriver, Driver, Platform, Rtc};
use serde::Serialize;

use crate::format::{Align, Table};

/// Options of `doctor`.
#[derive(clap::Args)]
pub struct Args {
    /// Exit non-zero unless a GPU is found and every kernel passes.
    #[arg(long)]
    require_gpu: bool,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Everything `doctor` found.
#[derive(Serialize)]
struct Report {
    os: &'static str,
    cpu_arch: &'static str,
    platform_choice: Option<String>,
    libraries: Vec<Library>,
    cpu: CpuCheck,
}

/// One GPU library: where it was found and its version, or why it was not.
#[derive(Serialize)]
struct Library {
    name: &'static str,
    path: Option<String>,
    version: Option<String>,
    error: Option<String>,
}

/// The CPU backend's check: a small matrix product against an f64 reference.
#[derive(Serialize)]
struct CpuCheck {
    threads: usize,
    rows: usize,
    cols: usize,
    max_abs_error: f64,
    millis: f64,
    passed: bool,
    error: Option<String>,
}

/// Runs `doctor`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let report = Report {
        os: std::env::consts::OS,
        cpu_arch: std::env::consts::ARCH,
        platform_choice: std::env::var(hip_ffi::PLATFORM_ENV).ok(),
        libraries: libraries(),
        cpu: cpu_check(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    let ok = report.cpu.passed;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The HIP runtime, the CUDA driver and both run-time compilers, each probed on its own.
fn libraries() -> Vec<Library> {
    let driver = |name, loaded: Result<Box<dyn Driver>, hip_ffi::LoadError>| match loaded {
        Ok(d) => Library {
            name,
            path: Some(d.library_path().to_owned()),
            version: Some(driver_version(d.as_ref())),
            error: None,
        },
        Err(e) => Library {
            name,
            path: None,
            version: None,
            error: Some(e.to_string()),
        },
    };
    let rtc = |name, platform| match Rtc::load(platform) {
        Ok(r) => Library {
            name,
            path: Some(r.library_path().to_owned()),
            version: r.version().map(|(major, minor)| format!("{major}.{minor}")),
            error: None,
        },
        Err(e) => Library {
            name,
            path: None,
            version: None,
            error: Some(e.to_string()),
        },
    };
    vec![
        driver(
            "HIP runtime (libamdhip64)",
            AmdDriver::load().map(|d| Box::new(d) as Box<dyn Driver>),
        ),
        rtc("hiprtc", Platform::Amd),
        driver(
            "CUDA driver (libcuda)",
            CudaDriver::load().map(|d| Box::new(d) as Box<dyn Driver>),
        ),
        rtc("NVRTC", Platform::Nvidia),
    ]
}

/// `5.2.21153` for HIP's `major*10^7 + minor*10^5 + patch`, `13.0` for CUDA's
/// `major*1000 + minor*10`.
fn driver_version(driver: &dyn Driver) -> String {
    match (driver.platform(), driver.runtime_version()) {
        (Platform::Amd, Ok(v)) => {
            format!("{}.{}.{}", v / 10_000_000, (v / 100_000) % 100, v % 100_000)
        }
        (Platform::Nvidia, Ok(v)) => format!("CUDA {}.{}", v / 1000, (v % 1000) / 10),
        (_, Err(code)) => format!("unknown ({code})"),
    }
}

/// Multiplies a 64 × 256 F32 matrix by a vector on the CPU backend and compares with f64.
fn cpu_check() -> CpuCheck {
    const ROWS: usize = 64;
    const COLS: usize = 256;
    let w = kernels::reference::test_f32(ROWS * COLS, 1);
    let x = kernels::reference::test_f32(COLS, 2);
    let want: Vec<f64> = w
        .chunks_exact(COLS)
        .map(|row| {
            row.iter()
                .zip(&x)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum()
        })
        .collect();
    let started = Instant::now();
    let mut got = vec![0.0f32; ROWS];
    let result = CpuBackend::new(0)
        .map_err(|e| e.to_string())
        .and_then(|backend| {
            let tensor =
                Tensor::from_f32("doctor.w", vec![COLS, ROWS], &w).map_err(|e| e.to_string())?;
            let threads = backend.threads();
            backend
                .install(|| mul_mat_t(&tensor, &x, 1, &mut got))
                .map_err(|e| e.to_string())?;
            Ok(threads)
        });
    let millis = started.elapsed().as_secs_f64() * 1e3;
    let max_abs_error = got
        .iter()
        .zip(&want)
        .map(|(&g, &w)| (f64::from(g) - w).abs())
        .fold(0.0, f64::max);
    let (threads, error) = match result {
        Ok(threads) => (threads, None),
        Err(e) => (0, Some(e)),
    };
    CpuCheck {
        threads,
        rows: ROWS,
        cols: COLS,
        max_abs_error,
        millis,
        passed: error.is_none() && max_abs_error < 1e-4,
        error,
    }
}

fn print_text(report: &Report) {
    println!("platform: {} {}", report.os, report.cpu_arch);
    if let Some(choice) = &report.platform_choice {
        println!("{}={choice}", hip_ffi::PLATFORM_ENV);
    }
    println!("\nlibraries:");
    let mut table = Table::new(&[
        ("LIBRARY", Align::Left),
        ("VERSION", Align::Left),
        ("PATH", Align::Left),
    ]);
    for lib in &report.libraries {
        table.row(vec![
            lib.name.to_owned(),
            lib.version.clone().unwrap_or_else(|| "-".into()),
            lib.path.clone().unwrap_or_else(|| "not found".into()),
        ]);
    }
    print!("{}", table.render(2));
    for lib in &report.libraries {
        if let Some(error) = &lib.error {
            println!("  {}: {error}", lib.name);
        }
    }
    let cpu = &report.cpu;
    println!(
        "\nCPU backend: {} (mul_mat {}×{} on {} threads, max error {:.1e}, {:.1} ms){}",
        if cpu.passed { "works" } else { "FAILED" },
        cpu.rows,
        cpu.cols,
        cpu.threads,
        cpu.max_abs_error,
        cpu.millis,
        cpu.error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default()
    );
}
