//! `rocmforge run`: generate text from a prompt, as llama.cpp's `llama-cli -no-cnv` does —
//! only the generated text on stdout, flushed per token, and a timing line on stderr. Also
//! holds the model and sampling options that `chat` and `perplexity` share.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use model::chat_template::{ChatMessage, ChatTemplate};
use model::device::{DeviceChoice, Placed};
use model::generate::{GenerateOptions, GenerationStats, Session};
use model::sampler::SamplerConfig;
use model::tokenizer::Tokenizer;
use model::{with_model, AnyModel, KvType, LoadOptions, Model};

use attention::AttentionBackend;

use crate::format;

/// Default context length when `-c` is not given (capped at the model's training length).
const DEFAULT_CTX: usize = 4096;

/// Which model to load and how (shared by `run`, `chat`, `perplexity`).
#[derive(clap::Args, Debug)]
pub struct ModelArgs {
    /// The model: a GGUF file, `smollm2`, `gemma3-270m`, or a pulled USER/REPO[:QUANT].
    #[arg(short = 'm', long = "model", default_value = "smollm2")]
    pub model: String,
    /// Context length in tokens (default: 4096 or the model's training length if smaller).
    #[arg(short = 'c', long = "ctx-size")]
    pub ctx_size: Option<usize>,
    /// CPU threads (default: one per core).
    #[arg(short = 't', long = "threads", default_value_t = 0)]
    pub threads: usize,
    /// KV cache element type: f16 or f32.
    #[arg(long = "cache-type", default_value = "f16")]
    pub cache_type: KvType,
    /// Print the load summary (architecture, tensors, memory) on stderr.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Where to run: auto (the GPU when one is usable, else the CPU), gpu or cpu.
    #[arg(long = "device", default_value = "auto")]
    pub device: DeviceChoice,
}

/// A loaded model with its tokenizer.
pub struct Loaded {
    /// Where it came from.
    pub path: PathBuf,
    /// The model, on the CPU or a GPU.
    pub model: AnyModel,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
}

impl ModelArgs {
    /// Resolves `-m`, loads the model and its tokenizer, and prints the summary if asked.
    pub fn load(&self) -> anyhow::Result<Loaded> {
        let path = model::cache::resolve(&self.model)?;
        let opts = LoadOptions {
            n_ctx: Some(self.ctx_size.unwrap_or(DEFAULT_CTX)),
            threads: self.threads,
            kv_type: self.cache_type,
            ..LoadOptions::default()
        };
        let t = std::time::Instant::now();
        let bar = crate::gpu_load::upload_bar(&path);
        let progress = bar
            .as_ref()
            .map(|b| crate::gpu_load::upload_progress(b.clone()));
        let placed = model::device::load(&path, &opts, self.device, progress);
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        let Placed { model, fallback } = placed
            .map_err(crate::gpu_load::explain_load_error)
            .with_context(|| path.display().to_string())?;
        if let Some(why) = fallback {
            eprintln!("note: {why}");
        }
        let tokenizer = Tokenizer::from_gguf(model.gguf())
            .with_context(|| format!("{}: tokenizer", path.display()))?;
        if self.verbose {
            with_model!(&model, m => print_summary(&path, m, &tokenizer, self.cache_type, t.elapsed()));
        }
        Ok(Loaded {
            path,
            model,
            tokenizer,
        })
    }
}

fn print_summary<B: AttentionBackend>(
    path: &std::path::Path,
    model: &Model<B>,
    tokenizer: &Tokenizer,
    kv_type: KvType,
    took: std::time::Duration,
) {
    let c = model.config();
    let kv_elem = match kv_type {
        KvType::F16 => 2,
        KvType::F32 => 4,
    };
    let kv_bytes = c
        .kv_cache_bytes(model.n_ctx(), kv_elem)
        .unwrap_or(usize::MAX);
    let file = model.gguf();
    eprintln!(
        "model: {} ({})",
        path.display(),
        c.name.as_deref().unwrap_or("unnamed")
    );
    eprintln!(
        "architecture: {}, {} layers, {} embd, {} heads ({} kv), ff {}, vocab {} ({:?})",
        c.arch,
        c.n_layer,
        c.n_embd,
        c.n_head,
        c.n_head_kv,
        c.n_ff,
        c.n_vocab,
        tokenizer.kind()
    );
    eprintln!(
        "tensors: {}, weights {} on {}, context {} (trained {}), KV cache {} ({kv_type:?}), loaded in {:.2}s",
        file.tensors().len(),
        format::bytes(model.weight_bytes() as u64),
        model.backend_name(),
        model.n_ctx(),
        c.n_ctx_train,
        format::bytes(kv_bytes as u64),
        took.as_secs_f64()
    );
}

/// Sampling and stopping options, with llama.cpp's names and defaults.
#[derive(clap::Args, Debug)]
pub struct SamplingArgs {
    /// Tokens to generate (-1: until end of generation or a full context).
    #[arg(short = 'n', long = "n-predict", default_value_t = -1, allow_negative_numbers = true)]
    pub n_predict: i64,
    /// Temperature (0: greedy).
    #[arg(long = "temp", default_value_t = 0.8)]
    pub temp: f32,
    /// Top-k sampling (0: off).
    #[arg(long = "top-k", default_value_t = 40)]
    pub top_k: usize,
    /// Top-p (nucleus) sampling (1.0: off).
    #[arg(long = "top-p", default_value_t = 0.95)]
    pub top_p: f32,
    /// Min-p sampling (0: off).
    #[arg(long = "min-p", default_value_t = 0.05)]
    pub min_p: f32,
    /// Locally typical sampling (1.0: off).
    #[arg(long = "typical", default_value_t = 1.0)]
    pub typical: f32,
    /// Tokens the penalties look back over (-1: the whole context, 0: off).
    #[arg(
        long = "repeat-last-n",
        default_value_t = 64,
        allow_negative_numbers = true
    )]
    pub repeat_last_n: i64,
    /// Repetition penalty (1.0: off).
    #[arg(long = "repeat-penalty", default_value_t = 1.0)]
    pub repeat_penalty: f32,
    /// Frequency penalty (0: off).
    #[arg(
        long = "frequency-penalty",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub frequency_penalty: f32,
    /// Presence penalty (0: off).
    #[arg(
        long = "presence-penalty",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub presence_penalty: f32,
    /// Logit bias, TOKEN_ID(+|-)BIAS, e.g. `15043+1` or `15043-inf`; repeatable.
    #[arg(short = 'l', long = "logit-bias", value_parser = parse_logit_bias)]
    pub logit_bias: Vec<(u32, f32)>,
    /// Random seed (-1: random).
    #[arg(short = 's', long = "seed", default_value_t = -1, allow_negative_numbers = true)]
    pub seed: i64,
    /// Stop when the text contains this string (repeatable).
    #[arg(short = 'r', long = "reverse-prompt")]
    pub stop: Vec<String>,
    /// Keep generating past end-of-generation tokens.
    #[arg(long = "ignore-eos")]
    pub ignore_eos: bool,
}

/// `TOKEN_ID(+|-)BIAS`: the id is the leading digits, the bias every float form after them
/// (`15043+1`, `7-0.5`, `3+1e3`, `3-1.5e-3`, `2-inf`, `2+Infinity`).
fn parse_logit_bias(s: &str) -> Result<(u32, f32), String> {
    let at = s
        .find(|c: char| !c.is_ascii_digit())
        .filter(|&i| i > 0 && matches!(s.as_bytes()[i], b'+' | b'-'))
        .ok_or_else(|| format!("`{s}` is not TOKEN_ID(+|-)BIAS"))?;
    let token = s[..at]
        .parse::<u32>()
        .map_err(|e| format!("token id in `{s}`: {e}"))?;
    let bias = s[at..]
        .parse::<f32>()
        .map_err(|e| format!("bias in `{s}`: {e}"))?;
    Ok((token, bias))
}

impl SamplingArgs {
    /// The sampler configuration; `n_ctx` resolves `--repeat-last-n -1`.
    pub fn sampler(&self, n_ctx: usize) -> SamplerConfig {
        SamplerConfig {
            temperature: self.temp,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            typical_p: self.typical,
            repeat_last_n: usize::try_from(self.repeat_last_n).unwrap_or(n_ctx),
            repeat_penalty: self.repeat_penalty,
            frequency_penalty: self.frequency_penalty,
            presence_penalty: self.presence_penalty,
            logit_bias: self.logit_bias.clone(),
            seed: u64::try_from(self.seed).ok(),
            min_keep: 1,
        }
    }

    /// Token limit and stop conditions.
    pub fn generate_options(&self) -> GenerateOptions {
        GenerateOptions {
            max_tokens: usize::try_from(self.n_predict).ok(),
            stop: self.stop.clone(),
            special: false,
            ignore_eog: self.ignore_eos,
        }
    }
}

/// Arguments of `rocmforge run`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// The prompt; control tokens written in it (`<|im_start|>`) are parsed, as llama.cpp does.
    #[arg(short = 'p', long = "prompt")]
    prompt: String,
    /// Wrap the prompt as a user message in the model's chat template.
    #[arg(long)]
    chat: bool,
    /// System message for --chat.
    #[arg(long = "system", requires = "chat")]
    system: Option<String>,
    #[command(flatten)]
    sampling: SamplingArgs,
}

/// Runs `run`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let loaded = args.model.load()?;
    with_model!(&loaded.model, m => generate(m, &loaded.tokenizer, &args))
}

/// `run` on the model's backend.
fn generate<B: AttentionBackend>(
    model: &Model<B>,
    tokenizer: &Tokenizer,
    args: &Args,
) -> anyhow::Result<ExitCode> {
    let sampler = args.sampling.sampler(model.n_ctx());
    let mut session = Session::new(model, tokenizer, 0, sampler)?;
    let prompt = if args.chat {
        let template = ChatTemplate::from_gguf(model.gguf(), tokenizer)?;
        let mut messages = Vec::new();
        if let Some(system) = &args.system {
            messages.push(ChatMessage::new("system", system.as_str()));
        }
        messages.push(ChatMessage::new("user", args.prompt.as_str()));
        let text = template.render(&messages, true)?;
        session.tokenize(template.strip_leading_bos(&text), true)?
    } else {
        session.tokenize(&args.prompt, true)?
    };
    let stats = stream_to_stdout(
        &mut session,
        &prompt,
        &args.sampling.generate_options(),
        None,
        |_| {},
    )?;
    // On its own line in a terminal, whatever the generated text ended with.
    eprintln!("\n{}", timing_line(&stats));
    Ok(ExitCode::SUCCESS)
}

/// Generates into stdout, flushing per piece of text and also handing each piece to
/// `collect`; a closed stdout ends generation.
pub fn stream_to_stdout<B: AttentionBackend>(
    session: &mut Session<'_, B>,
    prompt: &[u32],
    opts: &GenerateOptions,
    cancel: Option<&std::sync::atomic::AtomicBool>,
    mut collect: impl FnMut(&str),
) -> anyhow::Result<GenerationStats> {
    let mut out = std::io::stdout().lock();
    let mut write_error = None;
    let stats = session.generate(prompt, opts, cancel, |text| {
        collect(text);
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                write_error = Some(e);
                ControlFlow::Break(())
            }
        }
    })?;
    if let Some(e) = write_error {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e).context("writing to stdout");
        }
    }
    Ok(stats)
}

/// `prompt: N tokens, X tok/s | generation: M tokens, Y tok/s`.
pub fn timing_line(s: &GenerationStats) -> String {
    format!(
        "prompt: {} tokens, {:.2} tok/s | generation: {} tokens, {:.2} tok/s",
        s.prompt_evaluated,
        s.prompt_tokens_per_second(),
        s.generated_tokens,
        s.generation_tokens_per_second()
    )
}

#[cfg(test)]
mod tests {
    use super::parse_logit_bias;

    #[test]
    fn logit_bias_parses_like_llama_cpp() {
        assert_eq!(parse_logit_bias("15043+1"), Ok((15043, 1.0)));
        assert_eq!(parse_logit_bias("7-0.5"), Ok((7, -0.5)));
        assert_eq!(parse_logit_bias("2-inf"), Ok((2, f32::NEG_INFINITY)));
        assert!(parse_logit_bias("abc+1").is_err());
        assert!(parse_logit_bias("+1").is_err());
        assert!(parse_logit_bias("12").is_err());
        assert_eq!(parse_logit_bias("3+1e3"), Ok((3, 1000.0)));
        assert_eq!(parse_logit_bias("3-1.5e-3"), Ok((3, -1.5e-3)));
        assert_eq!(parse_logit_bias("3+2E+2"), Ok((3, 200.0)));
        assert_eq!(parse_logit_bias("4+inf"), Ok((4, f32::INFINITY)));
        assert_eq!(parse_logit_bias("4+Infinity"), Ok((4, f32::INFINITY)));
        assert_eq!(parse_logit_bias("5+.5"), Ok((5, 0.5)));
        assert!(parse_logit_bias("5*2").is_err());
    }
}
