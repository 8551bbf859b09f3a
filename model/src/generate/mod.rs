//! The generation loop: prompt tokens → forward pass → sampler → streamed text, stopping at
//! an end-of-generation token, a stop string, the token limit, a full context or a cancel
//! flag. A [`Session`] keeps its KV cache between calls and reuses the longest common
//! prefix, so a chat that re-renders the whole conversation only evaluates the new part.

mod stop;

use std::cell::Cell;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use attention::AttentionBackend;

pub use stop::{StopMatcher, StopScan};

use crate::batch::Batch;
use crate::error::ModelError;
use crate::kv_cache::Context;
use crate::sampler::{Sampler, SamplerConfig, SamplerError};
use crate::tokenizer::{TokenId, Tokenizer, TokenizerError};
use crate::Model;

/// Sequence the session uses in its context.
const SEQ: u32 = 0;

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The prompt does not leave room for a single generated token.
    #[error("prompt is too long: {tokens} tokens, the context holds {n_ctx}")]
    PromptTooLong {
        /// Prompt length in tokens.
        tokens: usize,
        /// Context length.
        n_ctx: usize,
    },
    /// The prompt is empty (and the model adds no BOS).
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// The forward pass failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The sampler rejected its parameters or the logits.
    #[error(transparent)]
    Sampler(#[from] SamplerError),
    /// Tokenizing or detokenizing failed.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
}

/// What to generate.
#[derive(Debug, Clone, Default)]
pub struct GenerateOptions {
    /// Most tokens to generate; `None` until the context is full.
    pub max_tokens: Option<usize>,
    /// Generation ends when the text contains one of these; it is not emitted.
    pub stop: Vec<String>,
    /// Render control tokens (`<|im_end|>`) as their text instead of nothing.
    pub special: bool,
    /// Keep going past end-of-generation tokens.
    pub ignore_eog: bool,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The model produced an end-of-generation token (EOS, EOT, …).
    EndOfGeneration,
    /// A stop string appeared.
    StopString,
    /// `max_tokens` were generated.
    MaxTokens,
    /// The context has no room for another token.
    ContextFull,
    /// The caller asked to stop (the cancel flag or the text callback).
    Cancelled,
}

/// Counts and timings of one [`Session::generate`] call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenerationStats {
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Prompt tokens actually evaluated (the rest were already in the cache).
    pub prompt_evaluated: usize,
    /// Time spent evaluating the prompt.
    pub prompt_time: Duration,
    /// Tokens sampled (including a final end-of-generation token).
    pub generated_tokens: usize,
    /// Time spent generating, from the first sampled token to the end.
    pub generation_time: Duration,
    /// Why generation ended.
    pub stop_reason: StopReason,
}

impl GenerationStats {
    /// Prompt tokens evaluated per second.
    pub fn prompt_tokens_per_second(&self) -> f64 {
        per_second(self.prompt_evaluated, self.prompt_time)
    }

    /// Generated tokens per second.
    pub fn generation_tokens_per_second(&self) -> f64 {
        per_second(self.generated_tokens, self.generation_time)
    }
}

fn per_second(n: usize, t: Duration) -> f64 {
    let s = t.as_secs_f64();
    if s > 0.0 {
        n as f64 / s
    } else {
        0.0
    }
}

/// One conversation with a model: its context (KV cache), the tokens in it, and a sampler.
pub struct Session<'m, B: AttentionBackend> {
    model: &'m Model<B>,
    tokenizer: &'m Tokenizer,
    ctx: Context<B>,
    /// Tokens whose K/V are in the cache, in order.
    cached: Vec<TokenId>,
    sampler: Sampler,
    batch: Batch,
}

impl<'m, B: AttentionBackend> Session<'m, B> {
    /// A session with a context of `n_ctx` positions (0: the model's default).
    pub fn new(
        model: &'m Model<B>,
        tokenizer: &'m Tokenizer,
        n_ctx: usize,
        sampler: SamplerConfig,
    ) -> Result<Self, GenerateError> {
        tokenizer.check_model_vocab(model.config().n_vocab)?;
        let ctx = model.new_context(n_ctx)?;
        let sampler = Sampler::new(sampler, ctx.n_vocab())?;
        Ok(Self {
            model,
            tokenizer,
            ctx,
            cached: Vec::new(),
            sampler,
            batch: Batch::with_capacity(1),
        })
    }

    /// The context length.
    pub fn n_ctx(&self) -> usize {
        self.ctx.n_ctx()
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &'m Tokenizer {
        self.tokenizer
    }

    /// Tokenizes a prompt as llama.cpp does: BOS where the model wants it; control tokens
    /// written in the text are parsed only with `parse_special` (chat-templated prompts).
    pub fn tokenize(&self, text: &str, parse_special: bool) -> Result<Vec<TokenId>, GenerateError> {
        Ok(self.tokenizer.encode(text, true, parse_special)?)
    }

    /// Forgets the conversation: empties the cache and the sampler's penalty window.
    pub fn reset(&mut self) {
        self.ctx.clear();
        self.cached.clear();
        self.sampler.reset();
    }

    /// Generates a continuation of `prompt`, handing text to `on_text` as it is decoded
    /// (valid UTF-8, stop strings withheld); `on_text` may return `Break` to stop. `cancel`
    /// is checked before each token. The cache keeps the prompt and the generated tokens
    /// for the next call.
    pub fn generate(
        &mut self,
        prompt: &[TokenId],
        opts: &GenerateOptions,
        cancel: Option<&AtomicBool>,
        mut on_text: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<GenerationStats, GenerateError> {
        let n_ctx = self.ctx.n_ctx();
        if prompt.is_empty() {
            return Err(GenerateError::EmptyPrompt);
        }
        if prompt.len() >= n_ctx {
            return Err(GenerateError::PromptTooLong {
                tokens: prompt.len(),
                n_ctx,
            });
        }
        let t0 = Instant::now();
        let evaluated = self.prefill(prompt)?;
        let prompt_time = t0.elapsed();
        let t1 = Instant::now();

        let mut stops = StopMatcher::new(&opts.stop);
        let mut detok = self.tokenizer.stream(opts.special);
        let mut generated = 0usize;
        let stopped_by_caller = Cell::new(false);
        let mut emit = |text: &str| {
            if !stopped_by_caller.get() && on_text(text).is_break() {
                stopped_by_caller.set(true);
            }
        };
        let reason = loop {
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                break StopReason::Cancelled;
            }
            if opts.max_tokens.is_some_and(|m| generated >= m) {
                break StopReason::MaxTokens;
            }
            let token = self.sampler.sample(self.ctx.logits())?;
            self.sampler.accept(token);
            generated += 1;
            if !opts.ignore_eog && self.tokenizer.is_eog(token) {
                break StopReason::EndOfGeneration;
            }
            let text = detok.push(token)?;
            if stops.push(&text, &mut emit) == StopScan::Stopped {
                break StopReason::StopString;
            }
            if stopped_by_caller.get() {
                break StopReason::Cancelled;
            }
            if self.cached.len() >= n_ctx {
                break StopReason::ContextFull;
            }
            self.eval_one(token)?;
        };
        if !matches!(reason, StopReason::StopString | StopReason::Cancelled) {
            let rest = detok.finish();
            stops.push(&rest, &mut emit);
            stops.finish(&mut emit);
        }
        Ok(GenerationStats {
            prompt_tokens: prompt.len(),
            prompt_evaluated: evaluated,
            prompt_time,
            generated_tokens: generated,
            generation_time: t1.elapsed(),
            stop_reason: reason,
        })
    }

    /// Brings the cache to `prompt`, evaluating only what differs from what it holds, and
    /// leaves the logits of the prompt's last token. Returns how many tokens it evaluated.
    fn prefill(&mut self, prompt: &[TokenId]) -> Result<usize, GenerateError> {
        let common = self
            .cached
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count();
        // At least the last prompt token is evaluated, to get its logits.
        let keep = common.min(prompt.len() - 1);
        self.ctx.truncate_seq(SEQ, keep);
        self.cached.truncate(keep);
        self.sampler.reset();
        for &t in &prompt[..keep] {
            self.sampler.accept(t);
        }
        let rest = &prompt[keep..];
        let result = self.model.eval(&mut self.ctx, rest, false);
        if let Err(e) = result {
            // The cache may hold part of `rest`; drop it so the session stays consistent.
            self.ctx.truncate_seq(SEQ, keep);
            return Err(e.into());
        }
        self.cached.extend_from_slice(rest);
        for &t in rest {
            self.sampler.accept(t);
        }
        Ok(rest.len())
    }

    /// Appends one generated token and computes its logits.
    fn eval_one(&mut self, token: TokenId) -> Result<(), GenerateError> {
        let pos = self.cached.len();
        self.batch.clear();
        self.batch.add(token, pos, SEQ, true);
        if let Err(e) = self.model.decode(&mut self.ctx, &self.batch) {
            self.ctx.truncate_seq(SEQ, pos);
            return Err(e.into());
        }
        self.cached.push(token);
        Ok(())
    }
}
