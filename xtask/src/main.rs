//! Developer tasks run as `cargo xtask <task>`; each task lives in its own module.

mod build_kernels;
mod ci;
mod device_bundle;
mod fetch_models;
mod fuzz;
#[path = "../../ggml-core/src/model_dir.rs"]
mod model_dir;
mod tidy;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  build-kernels   compile every kernel ahead of time: --arch gfx908,gfx90a,gfx1030[,sm_90,...]
  ci              run everything CI runs (format, lint, tests, AMD kernel builds)
  device-bundle   rocmforge + GPU test executables + run.sh in device-bundle/ for a GPU machine
  fetch-models    put the test models into the model cache (ROCMFORGE_MODELS), SHA-256 checked
  fuzz            build the fuzz targets (libFuzzer, stable Rust): build | run TARGET SECONDS | ci
  tidy            check ARCHITECTURE.md's invariants over the source (layering, dependencies, panics, ...)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((task, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::FAILURE;
    };
    let result: anyhow::Result<()> = match task.as_str() {
        "build-kernels" => build_kernels::run(rest),
        "ci" => ci::run(),
        "device-bundle" => device_bundle::run(rest),
        "fetch-models" => fetch_models::run(rest),
        "tidy" => tidy::run(rest),
        "fuzz" => fuzz::run(rest),
        _ => {
            eprintln!("unknown task `{task}`\n\n{USAGE}");
            let _ = rest;
            return ExitCode::FAILURE;
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
