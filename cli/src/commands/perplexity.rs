//! `rocmforge perplexity -m MODEL -f TEXT [-c N] [-b N]`: perplexity of a model on a text file,
//! by llama.cpp's method (chunks of `-c` tokens, second half scored), with a progress bar and
//! llama.cpp's `Final estimate: PPL = X +/- Y` line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use model::perplexity::{perplexity, PerplexityOptions};
use model::with_model;

use super::run::ModelArgs;

/// Arguments of `rocmforge perplexity`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// The text file to score.
    #[arg(short = 'f', long = "file")]
    file: PathBuf,
    /// Tokens per forward call (default: the chunk length).
    #[arg(short = 'b', long = "batch-size")]
    batch_size: Option<usize>,
    /// Score only the first N chunks.
    #[arg(long = "chunks")]
    chunks: Option<usize>,
}

/// Chunk length when `-c` is not given (llama.cpp's perplexity default).
const DEFAULT_CHUNK: usize = 512;

/// Runs `perplexity`.
pub fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let n_ctx = *args.model.ctx_size.get_or_insert(DEFAULT_CHUNK);
    let loaded = args.model.load()?;
    let opts = PerplexityOptions {
        n_ctx,
        n_batch: args.batch_size.unwrap_or(n_ctx).max(1),
        max_chunks: args.chunks,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} chunk {pos}/{len} [{bar:30}] {elapsed} (eta {eta}) {msg}",
        )
        .context("progress style")?
        .progress_chars("=> "),
    );
    let mut progress = |done: usize, total: usize, ppl: f64| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        bar.set_message(format!("PPL {ppl:.4}"));
    };
    let result = with_model!(&loaded.model, m => perplexity(
        m,
        &loaded.tokenizer,
        &text,
        opts,
        &mut progress,
    ));
    bar.finish_and_clear();
    let r = result?;
    eprintln!(
        "{} tokens, {} chunks of {n_ctx}, {} scored",
        r.tokens, r.chunks, r.scored
    );
    println!("Final estimate: PPL = {:.4} +/- {:.5}", r.ppl, r.stderr);
    Ok(ExitCode::SUCCESS)
}
