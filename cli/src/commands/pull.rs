//! `rocmforge pull USER/REPO[:QUANT|/FILE.gguf]`: downloads a GGUF file from the Hugging
//! Face hub into the model cache, with a progress bar.

use std::process::ExitCode;

use anyhow::Context;
use model::cache::{self, HubSpec};
use model::hub::HubClient;

use crate::format;

/// Arguments of `rocmforge pull`.
#[derive(clap::Args)]
pub struct Args {
    /// `USER/REPO:QUANT` (e.g. `bartowski/SmolLM2-135M-Instruct-GGUF:Q4_K_M`),
    /// `USER/REPO/FILE.gguf`, or `USER/REPO` when the repository has one GGUF file.
    /// `HF_TOKEN` is sent when set; `HF_ENDPOINT` replaces https://huggingface.co.
    pub model: String,
}

/// Runs `pull`: prints the path of the downloaded (or already present) file.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let spec = HubSpec::parse(&args.model).with_context(|| {
        format!(
            "`{}` is not a hub model name: use USER/REPO:QUANT, USER/REPO/FILE.gguf or USER/REPO",
            args.model
        )
    })?;
    let dir = cache::models_dir()?;
    let client = HubClient::from_env();
    let bar = format::byte_bar(0, &spec.repo_id());
    let path = client.pull(&spec, &dir, &mut |p| {
        bar.set_length(p.total);
        bar.set_position(p.done);
    });
    bar.finish_and_clear();
    let (path, verified) = path?;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "pulled {} ({}), {verified}; use it with -m {}",
        spec.repo_id(),
        format::bytes(size),
        args.model
    );
    println!("{}", path.display());
    Ok(ExitCode::SUCCESS)
}
