//! The subcommands, one module each; `run` dispatches to them.

use std::process::ExitCode;

use clap::Subcommand;

mod bench;
mod chat;
mod doctor;
mod info;
mod list;
mod perplexity;
mod pull;
mod quantize;
mod run;
mod serve;
mod tokenize;

/// Every subcommand of `rocmforge`.
#[derive(Subcommand)]
pub enum Command {
    /// Show what a GGUF file holds: metadata, hyperparameters, tensors, totals.
    Info(info::Args),
    /// Download a GGUF model from the Hugging Face hub into the model cache.
    Pull(pull::Args),
    /// Convert a GGUF file to a quantization mix (Q4_K_M, Q8_0, ...).
    Quantize(quantize::Args),
    /// List the models in the model cache.
    List,
    /// Check the GPU platform, libraries, devices and kernels, and the CPU backend.
    Doctor(doctor::Args),
    /// Print the tokens the model's tokenizer makes of a text.
    Tokenize(tokenize::Args),
    /// Generate text from a prompt (only the text on stdout, timings on stderr).
    Run(run::Args),
    /// Chat with a model interactively (/reset, /exit; Ctrl-C stops an answer).
    Chat(chat::Args),
    /// Serve the OpenAI API (chat and text completions, streamed or not) with continuous
    /// batching.
    Serve(serve::Args),
    /// Measure prompt and generation speed (llama-bench style), beside the bandwidth bound.
    Bench(bench::Args),
    /// Measure a model's perplexity on a text file, as llama.cpp's perplexity tool does.
    Perplexity(perplexity::Args),
}

/// Runs one subcommand; an error becomes one line on stderr and a non-zero exit.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Info(args) => info::run(args),
        Command::Pull(args) => pull::run(args),
        Command::Quantize(args) => quantize::run(args),
        Command::List => list::run(),
        Command::Doctor(args) => doctor::run(args),
        Command::Tokenize(args) => tokenize::run(args),
        Command::Run(args) => run::run(args),
        Command::Chat(args) => chat::run(args),
        Command::Perplexity(args) => perplexity::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Bench(args) => bench::run(args),
    }
}
