//! `rocmforge doctor`: what GPU support this machine has — platform, libraries, devices,
//! whether kernels compile and load, every registered kernel against its CPU reference —
//! and a check that the CPU backend computes correctly.

use std::process::ExitCode;
use std::time::Instant;

use ggml_core::quants::device::ScalarReference;
use hip_ffi::{AmdDriver, CudaDriver, Driver, Platform, Rtc};
use hip_runtime::{Device, Hip, Stream};
use kernels::check::check_all;
use kernels::code::Compiler;
use kernels::jit::RuntimeCompiler;
use kernels::{DiskCache, GpuArch, KernelId, Kernels, ModuleId, ModuleSource};
use serde::Serialize;

use crate::format::{self, Align, Table};

mod cpu_check;

use cpu_check::{cpu_check, CpuCheck};

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
    /// Why no GPU is used, when none is.
    no_gpu: Option<String>,
    devices: Vec<DeviceReport>,
    kernel_cache: Option<String>,
    embedded_targets: Vec<&'static str>,
    cpu: CpuCheck,
}

/// One GPU and how its kernels fared.
#[derive(Serialize)]
struct DeviceReport {
    ordinal: usize,
    name: String,
    arch: String,
    total_memory: usize,
    free_memory: Option<usize>,
    warp_size: u32,
    compute_units: u32,
    /// Whether the run-time compiler builds a module for this device (even when embedded
    /// objects make it unnecessary today): the compiler and the time, or the error.
    jit: Result<String, String>,
    modules: Vec<ModuleRow>,
    kernels: Vec<KernelRow>,
    error: Option<String>,
}

/// How one kernel module was obtained and loaded.
#[derive(Serialize)]
struct ModuleRow {
    module: String,
    origin: Option<&'static str>,
    millis: f64,
    bytes: usize,
    error: Option<String>,
}

/// One kernel run against its CPU reference.
#[derive(Serialize)]
struct KernelRow {
    kernel: &'static str,
    elements: usize,
    max_abs_error: f64,
    tolerance: f64,
    millis: f64,
    passed: bool,
    error: Option<String>,
}

impl Report {
    /// Every kernel of every device passed and at least one device exists.
    fn gpu_ok(&self) -> bool {
        !self.devices.is_empty()
            && self.devices.iter().all(|d| {
                d.error.is_none()
                    && d.jit.is_ok()
                    && d.modules.iter().all(|m| m.error.is_none())
                    && d.kernels.iter().all(|k| k.passed)
            })
    }
}

/// One GPU library: where it was found and its version, or why it was not.
#[derive(Serialize)]
struct Library {
    name: &'static str,
    path: Option<String>,
    version: Option<String>,
    /// A GPU runtime (not a compiler).
    #[serde(skip)]
    runtime: bool,
    /// For runtimes: how many devices they report, or why none.
    devices: Option<String>,
    error: Option<String>,
}

/// Runs `doctor`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let libraries = libraries();
    let cache = DiskCache::from_env();
    let (no_gpu, devices) = match Hip::open() {
        Ok(hip) => (
            None,
            hip.devices()
                .iter()
                .map(|d| device_report(d, cache.clone()))
                .collect(),
        ),
        Err(e) => (Some(no_gpu_line(&libraries, &e.to_string())), Vec::new()),
    };
    let report = Report {
        os: std::env::consts::OS,
        cpu_arch: std::env::consts::ARCH,
        platform_choice: std::env::var(hip_ffi::PLATFORM_ENV).ok(),
        libraries,
        no_gpu,
        devices,
        kernel_cache: cache.map(|c| c.dir().display().to_string()),
        embedded_targets: kernels::prebuilt::targets(),
        cpu: cpu_check(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    let gpu_failed = if report.no_gpu.is_some() {
        args.require_gpu
    } else {
        !report.gpu_ok()
    };
    let ok = report.cpu.passed && !gpu_failed;
    if !args.json {
        println!(
            "\nresult: {}",
            match (ok, report.no_gpu.is_some()) {
                (true, false) => "OK: the GPU and the CPU backend work",
                (true, true) => "OK: no GPU; the CPU backend works",
                (false, true) if args.require_gpu => "FAILED: --require-gpu and no GPU found",
                (false, _) => "FAILED (see above)",
            }
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The plain one-line answer when no GPU is usable: what each platform said, briefly.
fn no_gpu_line(libraries: &[Library], error: &str) -> String {
    let said: Vec<String> = libraries
        .iter()
        .filter(|lib| lib.runtime)
        .map(|lib| match &lib.devices {
            Some(devices) => format!("{}: {devices}", lib.name),
            None => format!("{}: not installed", lib.name),
        })
        .collect();
    if said.is_empty() {
        format!("no GPU ({error}); using the CPU backend")
    } else {
        format!("no GPU ({}); using the CPU backend", said.join("; "))
    }
}

/// One device: its description, its kernel modules loaded, every kernel checked.
fn device_report(device: &Device, cache: Option<DiskCache>) -> DeviceReport {
    let info = device.info();
    let mut report = DeviceReport {
        ordinal: info.ordinal,
        name: info.name.clone(),
        arch: info.arch_full.clone(),
        total_memory: info.total_memory,
        free_memory: device.memory_info().ok().map(|(free, _)| free),
        warp_size: info.warp_size,
        compute_units: info.compute_units,
        jit: Err("not tried".into()),
        modules: Vec::new(),
        kernels: Vec::new(),
        error: None,
    };
    let kernels = match Kernels::with_options(device, cache, kernels::Embedded::Use) {
        Ok(k) => k,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    report.jit = jit_check(kernels.arch());
    for module in ModuleId::ALL {
        report.modules.push(match kernels.load(module) {
            Ok(load) => ModuleRow {
                module: module.to_string(),
                origin: Some(load.origin.name()),
                millis: load.elapsed.as_secs_f64() * 1e3,
                bytes: load.bytes,
                error: None,
            },
            Err(e) => ModuleRow {
                module: module.to_string(),
                origin: None,
                millis: 0.0,
                bytes: 0,
                error: Some(e.to_string()),
            },
        });
    }
    let stream = match Stream::new(device) {
        Ok(s) => s,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    report.kernels = check_all(&kernels, &stream, Some(&ScalarReference))
        .into_iter()
        .map(|(kernel, result)| kernel_row(kernel, result))
        .collect();
    report
}

/// Compiles one module with the run-time compiler for `arch`.
fn jit_check(arch: &GpuArch) -> Result<String, String> {
    let compiler = RuntimeCompiler::load(arch.vendor()).map_err(|e| e.to_string())?;
    let source = ModuleSource::new(ModuleId::Elementwise, arch);
    let started = Instant::now();
    let code = compiler.compile(&source, arch).map_err(|e| e.to_string())?;
    Ok(format!(
        "{} built {} ({}) in {:.1} ms",
        compiler.describe(),
        source.file_name(),
        format::bytes(code.len() as u64),
        started.elapsed().as_secs_f64() * 1e3
    ))
}

fn kernel_row(
    kernel: KernelId,
    result: Result<kernels::check::KernelCheck, kernels::KernelError>,
) -> KernelRow {
    match result {
        Ok(check) => KernelRow {
            kernel: kernel.symbol(),
            elements: check.elements,
            max_abs_error: check.max_abs_error,
            tolerance: check.tolerance,
            millis: check.elapsed.as_secs_f64() * 1e3,
            passed: check.passed(),
            error: None,
        },
        Err(e) => KernelRow {
            kernel: kernel.symbol(),
            elements: 0,
            max_abs_error: f64::NAN,
            tolerance: 0.0,
            millis: 0.0,
            passed: false,
            error: Some(e.to_string()),
        },
    }
}

/// The HIP runtime, the CUDA driver and both run-time compilers, each probed on its own.
fn libraries() -> Vec<Library> {
    let driver = |name, loaded: Result<Box<dyn Driver>, hip_ffi::LoadError>| match loaded {
        Ok(d) => Library {
            name,
            path: Some(d.library_path().to_owned()),
            version: Some(driver_version(d.as_ref())),
            runtime: true,
            devices: Some(device_count(d.as_ref())),
            error: None,
        },
        Err(e) => Library {
            name,
            path: None,
            version: None,
            runtime: true,
            devices: None,
            error: Some(e.to_string()),
        },
    };
    let rtc = |name, platform| match Rtc::load(platform) {
        Ok(r) => Library {
            name,
            path: Some(r.library_path().to_owned()),
            version: r.version().map(|(major, minor)| format!("{major}.{minor}")),
            runtime: false,
            devices: None,
            error: None,
        },
        Err(e) => Library {
            name,
            path: None,
            version: None,
            runtime: false,
            devices: None,
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

/// `1 device`, or why there are none (`0 devices (init: hipErrorNoDevice (100))`).
fn device_count(driver: &dyn Driver) -> String {
    let count = driver
        .init()
        .map_err(|code| format!("init: {code}"))
        .and_then(|()| {
            driver
                .device_count()
                .map_err(|code| format!("device count: {code}"))
        });
    match count {
        Ok(1) => "1 device".into(),
        Ok(n) => format!("{n} devices"),
        Err(why) => format!("0 devices ({why})"),
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
        ("DEVICES", Align::Left),
        ("PATH", Align::Left),
    ]);
    for lib in &report.libraries {
        table.row(vec![
            lib.name.to_owned(),
            lib.version.clone().unwrap_or_else(|| "-".into()),
            lib.devices.clone().unwrap_or_else(|| "-".into()),
            lib.path.clone().unwrap_or_else(|| "not found".into()),
        ]);
    }
    print!("{}", table.render(2));
    for lib in &report.libraries {
        if let Some(error) = &lib.error {
            println!("  {}: {error}", lib.name);
        }
    }
    match &report.no_gpu {
        Some(line) => println!("\n{line}"),
        None => print_devices(report),
    }
    let cpu = &report.cpu;
    println!(
        "\nCPU backend: {} (mul_mat {}×{} of {} against the scalar reference on {} threads, \
         max error {:.1e}, {:.1} ms){}",
        if cpu.passed { "works" } else { "FAILED" },
        cpu.rows,
        cpu.cols,
        cpu.types.join("/"),
        cpu.threads,
        cpu.max_abs_error,
        cpu.millis,
        cpu.error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default()
    );
}

fn print_devices(report: &Report) {
    println!(
        "\nkernel cache: {}; embedded code objects: {}",
        report
            .kernel_cache
            .as_deref()
            .unwrap_or("none (no home directory)"),
        if report.embedded_targets.is_empty() {
            "none".to_owned()
        } else {
            report.embedded_targets.join(", ")
        }
    );
    for d in &report.devices {
        println!(
            "\ndevice {}: {} ({}), {} ({} free), warp {}, {} compute units",
            d.ordinal,
            d.name,
            d.arch,
            format::bytes(d.total_memory as u64),
            d.free_memory
                .map(|f| format::bytes(f as u64))
                .unwrap_or_else(|| "?".into()),
            d.warp_size,
            d.compute_units
        );
        if let Some(e) = &d.error {
            println!("  error: {e}");
        }
        match &d.jit {
            Ok(line) => println!("  run-time compiler: {line}"),
            Err(e) => println!("  run-time compiler: FAILED: {e}"),
        }
        let mut modules = Table::new(&[
            ("MODULE", Align::Left),
            ("FROM", Align::Left),
            ("TIME", Align::Right),
            ("SIZE", Align::Right),
        ]);
        for m in &d.modules {
            modules.row(vec![
                m.module.clone(),
                m.origin.unwrap_or("FAILED").to_owned(),
                format!("{:.1} ms", m.millis),
                format::bytes(m.bytes as u64),
            ]);
        }
        print!("{}", modules.render(2));
        for m in d.modules.iter().filter(|m| m.error.is_some()) {
            println!("  {}: {}", m.module, m.error.as_deref().unwrap_or_default());
        }
        let mut kernels = Table::new(&[
            ("KERNEL", Align::Left),
            ("ELEMENTS", Align::Right),
            ("MAX ERROR", Align::Right),
            ("TOLERANCE", Align::Right),
            ("TIME", Align::Right),
            ("RESULT", Align::Left),
        ]);
        for k in &d.kernels {
            kernels.row(vec![
                k.kernel.to_owned(),
                k.elements.to_string(),
                format!("{:.2e}", k.max_abs_error),
                format!("{:.1e}", k.tolerance),
                format!("{:.1} ms", k.millis),
                if k.passed { "ok" } else { "FAILED" }.to_owned(),
            ]);
        }
        println!();
        print!("{}", kernels.render(2));
        for k in d.kernels.iter().filter(|k| k.error.is_some()) {
            println!("  {}: {}", k.kernel, k.error.as_deref().unwrap_or_default());
        }
    }
}
