//! Developer tasks run as `cargo xtask <task>`; each task lives in its own module.

mod ci;
mod fetch_models;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  ci              run everything CI runs (format, lint, tests, AMD kernel builds)
  fetch-models    put the test models into the model cache (ROCMFORGE_MODELS), SHA-256 checked";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((task, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::FAILURE;
    };
    let result: anyhow::Result<()> = match task.as_str() {
        "ci" => ci::run(),
        "fetch-models" => fetch_models::run(rest),
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
