//! The subcommands, one module each; `run` dispatches to them.

use std::process::ExitCode;

use clap::Subcommand;

/// Every subcommand of `rocmforge`.
#[derive(Subcommand)]
pub enum Command {
    /// Print the version and exit.
    Version,
}

/// Runs one subcommand; an error becomes one line on stderr and a non-zero exit.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Version => {
            println!("rocmforge {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
    }
}
