//! `rocmforge bench`: prompt-processing and generation speed, as llama-bench measures them
//! (`-p 512 -n 128 -r 3`: pp512 and tg128, mean ± sd of 3 runs), each generation figure
//! beside the memory-bandwidth bound and the fraction reached; `--batch 1,8,32` adds
//! aggregate decoding of several sequences at once. The model is a GGUF file (`-m`) or a
//! synthetic one made on the spot (`--synthetic llama-8b:Q4_K_M`, `--save` keeps it).
//!
//! `--profile` (GPU) then runs each test once more with every kernel timed and prints the
//! GPU time per token by kernel.
//!
//! `--json` prints one record per test: model, file, size_bytes, params, backend, threads,
//! test, n_prompt, n_gen, batch, samples_ts, avg_ts, stddev_ts, and for generation tests
//! bytes_per_token, bandwidth_gbs, bound_ts, fraction_of_bound (null otherwise).

mod bandwidth;
mod measure;
mod profile;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use attention::AttentionBackend;
use ggml_core::quantize_file::Mix;
use model::device::{AnyModel, DeviceChoice, Placed};
use model::synthetic::SyntheticModel;
use model::{KvType, LoadOptions, Model};

use crate::format;
use bandwidth::{BandwidthSource, CpuMemory, GpuMemory};
use measure::Test;

/// Arguments of `rocmforge bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model: a GGUF file, `smollm2`, `gemma3-270m`, or a pulled USER/REPO[:QUANT].
    #[arg(short = 'm', long = "model", required_unless_present = "synthetic")]
    model: Option<String>,
    /// A random-weight model of a real shape in llama.cpp's type mix, SHAPE:QUANT: shapes
    /// smollm2-135m, gemma3-270m, qwen3-0.6b, llama-1b, llama-8b (NAME-tiny: a two-layer
    /// test variant); quants Q4_K_M, Q4_0, Q8_0, F16 (or any `quantize` mix).
    #[arg(long, conflicts_with = "model", value_parser = parse_synthetic)]
    synthetic: Option<SyntheticModel>,
    /// Keep the synthetic model as this GGUF file (llama.cpp loads it too).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Prompt tokens of the prompt-processing test (0: skip it).
    #[arg(short = 'p', long = "n-prompt", default_value_t = 512)]
    n_prompt: usize,
    /// Tokens generated per generation test (0: skip them).
    #[arg(short = 'n', long = "n-gen", default_value_t = 128)]
    n_gen: usize,
    /// Timed repetitions of each test.
    #[arg(short = 'r', long = "repetitions", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    reps: u64,
    /// Sequences decoded together in generation tests, comma-separated (1: plain tgN).
    #[arg(long = "batch", value_delimiter = ',', default_value = "1", value_parser = clap::value_parser!(u64).range(1..))]
    batch: Vec<u64>,
    /// Prompt tokens each sequence holds before batched generation (batches above 1).
    #[arg(long = "batch-prompt", default_value_t = 128)]
    batch_prompt: usize,
    /// CPU threads (default: one per core).
    #[arg(short = 't', long = "threads", default_value_t = 0)]
    threads: usize,
    /// Context length (default: what the tests need).
    #[arg(short = 'c', long = "ctx-size")]
    ctx_size: Option<usize>,
    /// Where to run: auto (the GPU when one is usable, else the CPU), gpu or cpu.
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// Memory bandwidth for the bound in GB/s, read + write (default: measured once and
    /// cached in ~/.cache/rocmforge/bandwidth.json).
    #[arg(long = "bandwidth")]
    bandwidth_gbs: Option<f64>,
    /// Print JSON records instead of the table.
    #[arg(long)]
    json: bool,
    /// After the tests, run each once more with every GPU kernel timed and print the GPU
    /// time per token by kernel (GPU backend only).
    #[arg(long)]
    profile: bool,
}

fn parse_synthetic(s: &str) -> Result<SyntheticModel, String> {
    s.parse()
        .map_err(|e: model::synthetic::SyntheticError| e.to_string())
}

/// What one measurement run needs besides the model.
struct Plan {
    tests: Vec<Test>,
    /// `-c`: every test's context length (default: each test's own).
    ctx_size: Option<usize>,
    reps: usize,
    file: PathBuf,
    label: Option<String>,
    threads: usize,
    bandwidth_gbs: Option<f64>,
    json: bool,
}

/// Runs `bench`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.save.is_some() && args.synthetic.is_none() {
        bail!("--save writes a synthetic model: it needs --synthetic SHAPE:QUANT");
    }
    let tests = tests(&args);
    if tests.is_empty() {
        bail!("nothing to measure: -p and -n are both 0");
    }
    let needed = tests.iter().map(Test::positions).max().unwrap_or(1);
    let n_ctx = args.ctx_size.unwrap_or(needed);
    if n_ctx < needed {
        bail!("-c {n_ctx} is too small: the tests need {needed} cache positions");
    }
    let (file, label, _temp) = model_file(&args)?;
    let threads = if args.threads > 0 {
        args.threads
    } else {
        std::thread::available_parallelism().map_or(1, usize::from)
    };
    let plan = Plan {
        tests,
        ctx_size: args.ctx_size,
        reps: args.reps as usize,
        file,
        label,
        threads,
        bandwidth_gbs: args.bandwidth_gbs,
        json: args.json,
    };
    let opts = LoadOptions {
        n_ctx: Some(n_ctx),
        threads: args.threads,
        kv_type: KvType::F16,
        ..LoadOptions::default()
    };
    let bar = crate::gpu_load::upload_bar(&plan.file);
    let progress = bar
        .as_ref()
        .map(|b| crate::gpu_load::upload_progress(b.clone()));
    let placed = model::device::load(&plan.file, &opts, args.device, progress);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let Placed { model, fallback } = placed
        .map_err(crate::gpu_load::explain_load_error)
        .with_context(|| {
            let device = format!("{:?}", args.device).to_lowercase();
            format!("--device {device}: {}", plan.file.display())
        })?;
    if let Some(why) = fallback {
        eprintln!("note: {why}");
    }
    match &model {
        AnyModel::Cpu(_) if args.profile => {
            bail!("--profile times GPU kernels: it needs the GPU backend (--device gpu)")
        }
        AnyModel::Cpu(m) => bench_model(m, &plan, &CpuMemory { threads }),
        AnyModel::Hip(m) => {
            let stream = m.backend().stream();
            let code = bench_model(m, &plan, &GpuMemory { stream })?;
            if args.profile {
                profile::print(m, &plan.tests, args.ctx_size)?;
            }
            Ok(code)
        }
    }
}

/// The tests the arguments ask for, in order: ppN, then tgN for each batch size.
fn tests(args: &Args) -> Vec<Test> {
    let mut tests = Vec::new();
    if args.n_prompt > 0 {
        tests.push(Test::Prompt { n: args.n_prompt });
    }
    if args.n_gen > 0 {
        for &b in &args.batch {
            let batch = b as usize;
            let prompt = if batch > 1 { args.batch_prompt } else { 0 };
            tests.push(Test::Generate {
                n: args.n_gen,
                batch,
                prompt,
            });
        }
    }
    tests
}

/// The GGUF file to measure and its label; a synthetic model is written first (to
/// `--save`, or to a temporary file that lives as long as the returned guard).
fn model_file(
    args: &Args,
) -> anyhow::Result<(PathBuf, Option<String>, Option<tempfile::TempPath>)> {
    let Some(synthetic) = args.synthetic else {
        let name = args.model.as_deref().unwrap_or("smollm2");
        return Ok((model::cache::resolve(name)?, None, None));
    };
    let (path, temp) = match &args.save {
        Some(path) => (path.clone(), None),
        None => {
            let temp = tempfile::Builder::new()
                .prefix("rocmforge-synthetic-")
                .suffix(".gguf")
                .tempfile()
                .context("creating a temporary file for the synthetic model")?
                .into_temp_path();
            (temp.to_path_buf(), Some(temp))
        }
    };
    let total = synthetic.tensor_bytes()?;
    let bar = format::byte_bar(total, &format!("making {synthetic}"));
    let started = std::time::Instant::now();
    let size = synthetic.write(&path, &mut |done, _| bar.set_position(done))?;
    bar.finish_and_clear();
    eprintln!(
        "synthetic {synthetic}: {} written to {} in {:.1}s",
        format::bytes(size),
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok((path, Some(format!("{synthetic} (synthetic)")), temp))
}

/// Measures `model` on backend `B` and prints the report; the bound uses the bandwidth of
/// `memory` (or `--bandwidth`).
fn bench_model<B: AttentionBackend>(
    model: &Model<B>,
    plan: &Plan,
    memory: &dyn BandwidthSource,
) -> anyhow::Result<ExitCode> {
    let file = model.gguf();
    let bandwidth = match plan.bandwidth_gbs {
        Some(gbs) if gbs > 0.0 && gbs.is_finite() => bandwidth::Bandwidth {
            bytes_per_s: gbs * 1e9,
            origin: "given",
        },
        Some(gbs) => bail!("--bandwidth {gbs}: give a positive figure in GB/s"),
        None => bandwidth::bandwidth(memory)?,
    };
    let info = report::RunInfo {
        model: plan.label.clone().unwrap_or_else(|| default_label(model)),
        file: plan.file.display().to_string(),
        size_bytes: file.tensors().iter().map(|t| t.n_bytes()).sum(),
        params: file.tensors().iter().map(|t| t.n_elements()).sum(),
        bytes_per_token: bytes_per_token(model),
        backend: model.backend_name().to_string(),
        threads: plan.threads,
        reps: plan.reps,
        bandwidth: Some(bandwidth),
    };
    let samples = measure::run_tests(model, &plan.tests, plan.reps, plan.ctx_size, &mut |t| {
        if !plan.json {
            eprintln!("running {} ({} reps)", t.name(), plan.reps);
        }
    })?;
    let records = report::records(&info, &samples);
    if plan.json {
        println!("{}", serde_json::to_string_pretty(&records)?);
    } else {
        print!("{}", report::table(&info, &records));
    }
    Ok(ExitCode::SUCCESS)
}

/// Weight bytes one decode step reads: all of them, less the token embedding when a
/// separate output head is read instead (a step reads only one embedding row).
fn bytes_per_token<B: AttentionBackend>(model: &Model<B>) -> u64 {
    let file = model.gguf();
    let embd = match (
        file.tensor("output.weight"),
        file.tensor("token_embd.weight"),
    ) {
        (Some(_), Some(e)) => e.n_bytes(),
        _ => 0,
    };
    (model.weight_bytes() as u64).saturating_sub(embd)
}

/// `llama 135M Q4_1`: architecture, parameter count and mix of a model file.
fn default_label<B: AttentionBackend>(model: &Model<B>) -> String {
    let file = model.gguf();
    let params: u64 = file.tensors().iter().map(|t| t.n_elements()).sum();
    let size = if params >= 1_000_000_000 {
        format!("{:.1}B", params as f64 / 1e9)
    } else {
        format!("{:.0}M", params as f64 / 1e6)
    };
    let mix = file
        .metadata()
        .get_opt::<u32>(ggml_core::gguf::keys::general::FILE_TYPE)
        .ok()
        .flatten()
        .and_then(Mix::from_file_type)
        .map_or_else(|| "?".to_string(), |m| m.name().to_string());
    format!("{} {size} {mix}", model.config().arch)
}
