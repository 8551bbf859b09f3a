//! What a caller hands the engine (a tokenized prompt and how to continue it) and the events
//! it gets back: one per generated token, then one that says how and why it finished.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::sampler::{SamplerConfig, SamplerError};
use crate::tokenizer::TokenId;

/// One completion to generate.
#[derive(Debug, Clone)]
pub struct Request {
    /// The prompt, tokenized (BOS included where the model wants it).
    pub prompt: Vec<TokenId>,
    /// Most tokens to generate; `None` until the context is full.
    pub max_tokens: Option<usize>,
    /// Sampling parameters (seed, penalties, bias, …).
    pub sampler: SamplerConfig,
    /// Generation ends when the text contains one of these; it is not emitted.
    pub stop: Vec<String>,
    /// Keep going past end-of-generation tokens.
    pub ignore_eos: bool,
    /// `Some(k)`: report each token's log-probability and the `k` most likely alternatives.
    pub logprobs: Option<usize>,
}

/// Log-probabilities of one generated token under the model (before any sampling step).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    /// Log-probability of the token that was chosen.
    pub logprob: f32,
    /// The most likely tokens and their log-probabilities, most likely first.
    pub top: Vec<(TokenId, f32)>,
}

/// One generated token.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenOut {
    /// Its id.
    pub id: TokenId,
    /// Text released with it: complete UTF-8, with anything that could begin a stop string
    /// held back (so possibly empty, or text of earlier tokens).
    pub text: String,
    /// Its log-probabilities, when the request asked for them.
    pub logprob: Option<TokenLogprob>,
}

/// Why a sequence stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// An end-of-generation token or a stop string.
    Stop,
    /// `max_tokens` or the context length was reached.
    Length,
    /// The caller cancelled it or went away.
    Cancelled,
}

/// The end of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// Why it stopped.
    pub reason: FinishReason,
    /// Text held back until the end (a partial stop string that never completed, bytes of
    /// an unfinished character).
    pub text: String,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Prompt tokens whose keys and values were shared with another sequence, not evaluated.
    pub cached_tokens: usize,
    /// Tokens generated (an end-of-generation token included).
    pub completion_tokens: usize,
}

/// What the engine reports for a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A token was generated.
    Token(TokenOut),
    /// The request is over; no event follows.
    Done(Finished),
    /// The request failed; no event follows.
    Error(String),
}

/// Receives a request's events on the engine thread; returns `false` when nobody listens any
/// more, which cancels the request. It must not block.
pub type Sink = Box<dyn FnMut(Event) -> bool + Send>;

/// Why a request was not accepted.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SubmitError {
    /// The waiting queue is full; try again later.
    #[error("the server is busy: {waiting} requests are waiting")]
    QueueFull {
        /// Requests waiting.
        waiting: usize,
    },
    /// The prompt has no tokens.
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// Prompt plus requested tokens do not fit in the context.
    #[error(
        "this model's context holds {n_ctx} tokens; the request asks for {prompt} prompt \
         tokens plus {max_tokens} to generate"
    )]
    TooLong {
        /// Prompt tokens.
        prompt: usize,
        /// Tokens to generate (at least 1).
        max_tokens: usize,
        /// Context length.
        n_ctx: usize,
    },
    /// A prompt token is not in the vocabulary.
    #[error("token id {token} is out of range (vocabulary has {n_vocab} tokens)")]
    BadToken {
        /// The token.
        token: TokenId,
        /// Vocabulary size.
        n_vocab: usize,
    },
    /// A sampling parameter is invalid.
    #[error(transparent)]
    Sampler(#[from] SamplerError),
    /// The engine thread has stopped.
    #[error("the engine has stopped")]
    Stopped,
}

/// A submitted request's handle: cancel it from any thread. Dropping it does not cancel.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub(crate) cancel: Arc<AtomicBool>,
}

impl Ticket {
    /// Asks the engine to stop the request; its blocks are freed at the next step and its
    /// sink gets `Done` with [`FinishReason::Cancelled`].
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}
