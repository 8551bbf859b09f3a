//! The `rocmforge` binary: parses the command line and hands each subcommand to its module.

#![forbid(unsafe_code)]

mod commands;
mod format;
mod gpu_load;

use std::process::ExitCode;

use clap::Parser;

/// Run large language models from GGUF files on AMD and NVIDIA GPUs and on the CPU.
#[derive(Parser)]
#[command(name = "rocmforge", version, about)]
struct Cli {
    #[command(subcommand)]
    command: commands::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs one line per request by default; other commands only warnings.
    let default = match cli.command {
        commands::Command::Serve(_) => "warn,cli=info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ROCMFORGE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .with_writer(std::io::stderr)
        .init();
    match commands::run(cli.command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
