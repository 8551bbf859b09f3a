//! One running request on the engine thread: its tokens (prompt, then generated), how many
//! of them are in the KV cache, its sampler, detokenizer and stop strings, and its sink.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::logprobs::token_logprob;
use super::request::{Event, FinishReason, Finished, Request, Sink, TokenOut};
use super::Submission;
use crate::generate::{StopMatcher, StopScan};
use crate::sampler::{Sampler, SamplerError};
use crate::tokenizer::{StreamDecoder, TokenId, Tokenizer};
use crate::SeqId;

/// What a sampled token did to its sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It goes on: the token is fed in the next step.
    Continue,
    /// It ended.
    Finished(FinishReason),
}

/// A sequence in the running batch.
pub struct Sequence<'t> {
    /// Its id in the context.
    pub id: SeqId,
    /// Prompt then generated tokens; the last one is fed next when generating.
    pub tokens: Vec<TokenId>,
    /// Prompt length.
    pub n_prompt: usize,
    /// Positions whose keys and values are in the cache.
    pub n_cached: usize,
    /// Prompt positions taken from another sequence's blocks.
    pub n_shared: usize,
    /// Length the sequence may reach (prompt + most tokens to generate).
    pub final_len: usize,
    generated: usize,
    max_tokens: usize,
    ignore_eos: bool,
    logprobs: Option<usize>,
    sampler: Sampler,
    sink: Sink,
    cancel: Arc<AtomicBool>,
    tokenizer: &'t Tokenizer,
    detok: StreamDecoder<'t>,
    stops: StopMatcher,
    /// A stop string ended it: nothing held back is released.
    stopped: bool,
}

impl<'t> Sequence<'t> {
    /// The length `request` may reach in a context of `n_ctx` positions.
    pub fn final_len(request: &Request, n_ctx: usize) -> usize {
        let n_prompt = request.prompt.len().min(n_ctx);
        n_prompt
            + request
                .max_tokens
                .unwrap_or(usize::MAX)
                .min(n_ctx - n_prompt)
    }

    /// A sequence for `sub`, which may hold up to `n_ctx` positions.
    pub fn new(id: SeqId, sub: Submission, tokenizer: &'t Tokenizer, n_ctx: usize) -> Self {
        let final_len = Self::final_len(&sub.request, n_ctx);
        let r = sub.request;
        let n_prompt = r.prompt.len();
        let max_tokens = final_len - n_prompt;
        let mut sampler = sub.sampler;
        for &t in &r.prompt {
            sampler.accept(t);
        }
        Sequence {
            id,
            n_prompt,
            n_cached: 0,
            n_shared: 0,
            final_len,
            generated: 0,
            max_tokens,
            ignore_eos: r.ignore_eos,
            logprobs: r.logprobs,
            sampler,
            sink: sub.sink,
            cancel: sub.cancel,
            tokenizer,
            detok: tokenizer.stream(false),
            stops: StopMatcher::new(&r.stop),
            stopped: false,
            tokens: r.prompt,
        }
    }

    /// Whether the caller cancelled it.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Tokens waiting to be evaluated (a prompt's rest, or the last generated token).
    pub fn pending(&self) -> usize {
        self.tokens.len() - self.n_cached
    }

    /// Whether it is generating (its prompt is in the cache).
    pub fn generating(&self) -> bool {
        self.generated > 0
    }

    /// Takes the token sampled from `logits` (the row of its last evaluated position) and
    /// reports it.
    pub fn on_logits(&mut self, logits: &[f32]) -> Result<Outcome, SamplerError> {
        let token = self.sampler.sample(logits)?;
        self.sampler.accept(token);
        self.generated += 1;
        if !self.ignore_eos && self.tokenizer.is_eog(token) {
            return Ok(Outcome::Finished(FinishReason::Stop));
        }
        let logprob = self.logprobs.map(|k| token_logprob(logits, token, k));
        let piece = self.detok.push(token).unwrap_or_default();
        let mut text = String::new();
        let scan = self.stops.push(&piece, |t| text.push_str(t));
        let out = TokenOut {
            id: token,
            text,
            logprob,
        };
        if !(self.sink)(Event::Token(out)) {
            return Ok(Outcome::Finished(FinishReason::Cancelled));
        }
        if scan == StopScan::Stopped {
            self.stopped = true;
            return Ok(Outcome::Finished(FinishReason::Stop));
        }
        if self.generated >= self.max_tokens {
            return Ok(Outcome::Finished(FinishReason::Length));
        }
        self.tokens.push(token);
        Ok(Outcome::Continue)
    }

    /// Sends the final event: held-back text (unless a stop string ended it) and counts.
    pub fn finish(mut self, mut reason: FinishReason) {
        let mut text = String::new();
        if reason != FinishReason::Cancelled && !self.stopped {
            let rest = self.detok.finish();
            if self.stops.push(&rest, |t| text.push_str(t)) == StopScan::Stopped {
                reason = FinishReason::Stop;
            } else {
                self.stops.finish(|t| text.push_str(t));
            }
        }
        let done = Finished {
            reason,
            text,
            prompt_tokens: self.n_prompt,
            cached_tokens: self.n_shared,
            completion_tokens: self.generated,
        };
        (self.sink)(Event::Done(done));
    }

    /// Reports a failure; nothing follows.
    pub fn fail(mut self, message: String) {
        (self.sink)(Event::Error(message));
    }
}
