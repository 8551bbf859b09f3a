//! `cargo xtask build-kernels --arch gfx908,gfx90a,sm_90`: compiles every kernel module
//! ahead of time with `hipcc --genco` (AMD) or `nvcc --cubin` (NVIDIA, where nvcc exists)
//! into `kernels/prebuilt/<arch>/`, which the `kernels` crate embeds on its next build.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use kernels::prebuilt::{object_path, PREBUILT_DIR_ENV};
use kernels::{GpuArch, ModuleId, ModuleSource, Vendor};

const USAGE: &str =
    "usage: cargo xtask build-kernels --arch gfx908,gfx90a,gfx1030[,sm_90,...] [--out DIR]";

/// Parses the task's arguments and compiles every module for every target asked for.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut archs = Vec::new();
    let mut out = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--arch" => {
                let list = it
                    .next()
                    .with_context(|| format!("--arch needs a value\n{USAGE}"))?;
                for name in list.split(',').filter(|n| !n.is_empty()) {
                    archs.push(GpuArch::parse(name)?);
                }
            }
            "--out" => {
                out = Some(PathBuf::from(
                    it.next()
                        .with_context(|| format!("--out needs a value\n{USAGE}"))?,
                ));
            }
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    if archs.is_empty() {
        bail!("no target given\n{USAGE}");
    }
    let out = match out.or_else(|| std::env::var_os(PREBUILT_DIR_ENV).map(PathBuf::from)) {
        Some(dir) => dir,
        None => workspace_root()?.join("kernels").join("prebuilt"),
    };
    let work = std::env::temp_dir().join(format!("rocmforge-build-kernels-{}", std::process::id()));
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let result = build_all(&archs, &out, &work);
    // Best effort: the sources written for the compiler are scratch.
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn build_all(archs: &[GpuArch], out: &Path, work: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut built = 0;
    for arch in archs {
        let Some(compiler) = Compiler::for_vendor(arch.vendor())? else {
            eprintln!("build-kernels: nvcc not found; skipping {arch} (NVIDIA targets are then compiled by NVRTC at run time)");
            continue;
        };
        for module in ModuleId::ALL {
            let source = ModuleSource::new(module, arch);
            let input = work.join(format!("{}-{}.hip", arch.base(), module.name()));
            std::fs::write(&input, &source.text)
                .with_context(|| format!("writing {}", input.display()))?;
            let object = object_path(out, arch, module);
            let dir = object.parent().context("object path has a parent")?;
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            compiler.compile(arch, &source, &input, &object)?;
            let hash_file = object.with_extension("hash");
            std::fs::write(&hash_file, &source.hash)
                .with_context(|| format!("writing {}", hash_file.display()))?;
            built += 1;
        }
        eprintln!(
            "build-kernels: {arch}: {} modules with {}",
            ModuleId::ALL.len(),
            compiler.program.display()
        );
    }
    eprintln!(
        "build-kernels: {built} code objects in {} ({:.1?}); the next build of `kernels` embeds them",
        out.display(),
        started.elapsed()
    );
    Ok(())
}

/// An ahead-of-time compiler: hipcc for AMD, nvcc for NVIDIA.
struct Compiler {
    vendor: Vendor,
    program: PathBuf,
}

impl Compiler {
    /// hipcc (required for AMD targets) or nvcc (NVIDIA; `None` when it is not installed).
    fn for_vendor(vendor: Vendor) -> anyhow::Result<Option<Self>> {
        let (name, roots) = match vendor {
            Vendor::Amd => ("hipcc", ["ROCM_PATH", "HIP_PATH"]),
            Vendor::Nvidia => ("nvcc", ["CUDA_PATH", "CUDA_HOME"]),
        };
        let fallback = match vendor {
            Vendor::Amd => "/opt/rocm",
            Vendor::Nvidia => "/usr/local/cuda",
        };
        let mut candidates: Vec<PathBuf> = roots
            .iter()
            .filter_map(std::env::var_os)
            .map(|root| PathBuf::from(root).join("bin").join(name))
            .collect();
        if let Some(path) = std::env::var_os("PATH") {
            candidates.extend(std::env::split_paths(&path).map(|dir| dir.join(name)));
        }
        candidates.push(Path::new(fallback).join("bin").join(name));
        match candidates.into_iter().find(|p| p.is_file()) {
            Some(program) => Ok(Some(Self { vendor, program })),
            None if vendor == Vendor::Nvidia => Ok(None),
            None => bail!(
                "hipcc not found (looked in $ROCM_PATH/bin, $HIP_PATH/bin, PATH, /opt/rocm/bin); \
                 install it (Debian: apt-get install hipcc libamdhip64-dev rocm-device-libs)"
            ),
        }
    }

    fn compile(
        &self,
        arch: &GpuArch,
        source: &ModuleSource,
        input: &Path,
        object: &Path,
    ) -> anyhow::Result<()> {
        let mut cmd = Command::new(&self.program);
        match self.vendor {
            // hipcc switches to its NVIDIA mode when it finds nvcc; these are AMD targets.
            Vendor::Amd => cmd
                .env("HIP_PLATFORM", "amd")
                .args(["--genco", &format!("--offload-arch={}", arch.base())]),
            Vendor::Nvidia => cmd.args(["--cubin", &format!("-arch={}", arch.base()), "-x", "cu"]),
        };
        cmd.arg("-O3")
            .args(&source.defines)
            .arg(input)
            .arg("-o")
            .arg(object);
        let output = cmd
            .output()
            .with_context(|| format!("starting {}", self.program.display()))?;
        if !output.status.success() {
            bail!(
                "{} failed for {} on {arch} ({}):\n{}{}",
                self.program.display(),
                source.file_name(),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }
}

/// The workspace root: the parent of this crate's manifest directory.
fn workspace_root() -> anyhow::Result<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .context("xtask's manifest directory has a parent")
}
