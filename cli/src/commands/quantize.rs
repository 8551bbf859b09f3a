//! `rocmforge quantize IN OUT TYPE [--threads N]`: converts a GGUF file to a llama.cpp-style
//! quantization mix (the work is `ggml_core::quantize_file`), with a progress bar and a
//! summary.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use ggml_core::quantize_file::{self, Mix, QuantizeFileError, Summary};
use ggml_core::GgmlType;

use crate::commands::info;
use crate::format::{self, Align, Table};

/// Arguments of `rocmforge quantize`.
#[derive(clap::Args)]
pub struct Args {
    /// The source GGUF file (F32/F16/BF16, or already quantized: it is dequantized first).
    pub input: PathBuf,
    /// The GGUF file to write.
    pub output: PathBuf,
    /// The mix: F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K_M, Q4_K_S, Q4_K_M, Q5_K_M, Q6_K.
    #[arg(value_name = "TYPE")]
    pub mix: String,
    /// Worker threads (default: all cores).
    #[arg(long, short = 't')]
    pub threads: Option<usize>,
}

/// Runs `quantize`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Some(mix) = Mix::from_name(&args.mix) else {
        let names: Vec<&str> = Mix::all().map(Mix::name).collect();
        bail!(
            "unknown quantization type `{}`; choose one of {}",
            args.mix,
            names.join(", ")
        );
    };
    let threads = match args.threads {
        Some(0) => bail!("--threads must be at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    quantize_file::check_distinct(&args.input, &args.output)?;
    let src = info::open(&args.input)?;
    let plan = quantize_file::plan(&src, mix)?;
    let requant: BTreeMap<GgmlType, usize> =
        plan.iter()
            .filter(|t| t.is_requantized())
            .fold(BTreeMap::new(), |mut m, t| {
                *m.entry(t.from).or_default() += 1;
                m
            });
    if !requant.is_empty() {
        let types: Vec<String> = requant.iter().map(|(t, n)| format!("{n} {t}")).collect();
        eprintln!(
            "note: {} is already quantized: {} tensors ({}) are dequantized to F32 first and \
             re-encoded, which adds error to the original quantization",
            args.input.display(),
            requant.values().sum::<usize>(),
            types.join(", ")
        );
    }

    // Ctrl-C stops after the current tensor; the partial output is removed and OUT is untouched.
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupted);
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("installing the Ctrl-C handler")?;
    let bar = format::byte_bar(0, "quantizing");
    let summary = quantize_file::quantize_file(&src, &args.output, mix, threads, &mut |p| {
        bar.set_length(p.bytes_total);
        bar.set_position(p.bytes_done);
        bar.set_message(format!(
            "[{}/{}] {}",
            p.index + 1,
            p.n_tensors,
            p.tensor.name
        ));
        if interrupted.load(Ordering::SeqCst) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    bar.finish_and_clear();
    if let Err(QuantizeFileError::Cancelled) = summary {
        eprintln!(
            "quantize: interrupted; {} was not written",
            args.output.display()
        );
        return Ok(ExitCode::from(130));
    }
    let summary = summary.with_context(|| format!("quantizing {}", args.input.display()))?;
    print!("{}", report(&args, threads, &summary));
    Ok(ExitCode::SUCCESS)
}

/// The summary: sizes and bits per weight before and after, and the output's types.
fn report(args: &Args, threads: usize, s: &Summary) -> String {
    let bpw = |bytes: u64| {
        if s.parameters == 0 {
            0.0
        } else {
            bytes as f64 * 8.0 / s.parameters as f64
        }
    };
    let mut out = format!(
        "{} -> {} as {} (general.file_type {}) in {:.1} s with {threads} threads\n\n",
        args.input.display(),
        args.output.display(),
        s.mix,
        s.mix.file_type(),
        s.elapsed.as_secs_f64()
    );
    let mut sizes = Table::new(&[
        ("", Align::Left),
        ("FILE SIZE", Align::Right),
        ("TENSOR BYTES", Align::Right),
        ("BITS/WEIGHT", Align::Right),
    ]);
    for (name, file, tensors) in [
        ("before", s.file_size_in, s.bytes_in),
        ("after", s.file_size_out, s.bytes_out),
    ] {
        sizes.row(vec![
            name.to_string(),
            format::bytes(file),
            format::bytes(tensors),
            format!("{:.2}", bpw(tensors)),
        ]);
    }
    out.push_str(&sizes.render(2));

    let mut by_type: BTreeMap<GgmlType, (usize, usize, usize)> = BTreeMap::new();
    for t in &s.tensors {
        let e = by_type.entry(t.to).or_default();
        e.0 += 1;
        e.1 += usize::from(t.is_copy());
        e.2 += usize::from(t.fallback);
    }
    out.push('\n');
    let mut types = Table::new(&[
        ("OUTPUT TYPE", Align::Left),
        ("TENSORS", Align::Right),
        ("COPIED", Align::Right),
        ("FALLBACK", Align::Right),
    ]);
    for (ty, (n, copied, fallback)) in &by_type {
        types.row(vec![
            ty.name().to_string(),
            n.to_string(),
            copied.to_string(),
            fallback.to_string(),
        ]);
    }
    out.push_str(&types.render(2));
    if s.fallbacks() > 0 {
        out.push_str(&format!(
            "\n  {} tensors have rows that are not whole blocks of their preferred type and \
             took a compatible one (FALLBACK)\n",
            s.fallbacks()
        ));
    }
    if s.requantized() > 0 {
        out.push_str(&format!(
            "  {} tensors were dequantized from an already quantized source\n",
            s.requantized()
        ));
    }
    out
}
