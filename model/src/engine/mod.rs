//! The batching engine the server drives: one thread owns the model and its context;
//! requests arrive through a channel and join the running batch between steps (continuous
//! batching). Each step is one [`Model::decode`] over every running sequence: one token of
//! each generating sequence plus chunks of prompts being prefilled, so a long prompt stalls
//! the others for at most one chunk. Sequences with a common prompt prefix share its full KV
//! blocks; a sequence's blocks are freed the step after it ends or is cancelled.
//!
//! With the CPU backend's row-invariant kernels a request's tokens and log-probabilities do
//! not depend on what else is in the batch (tested in `model/tests/engine.rs`).

mod logprobs;
mod request;
mod scheduler;
mod sequence;
mod stats;

use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use attention::AttentionBackend;

pub use logprobs::token_logprob;
pub use request::{
    Event, FinishReason, Finished, Request, Sink, SubmitError, Ticket, TokenLogprob, TokenOut,
};
pub use stats::{EngineStats, StatsSnapshot};

use crate::error::ModelError;
use crate::sampler::Sampler;
use crate::tokenizer::Tokenizer;
use crate::Model;

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The context could not be made.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The thread could not be spawned.
    #[error("cannot start the engine thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// How the engine schedules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Context length: the most positions one sequence may hold, and the KV cache's size
    /// in positions shared by all sequences (0: the model's default).
    pub n_ctx: usize,
    /// Sequences running at once; more wait in the queue.
    pub max_running: usize,
    /// Requests that may wait; beyond that [`Engine::submit`] says the queue is full.
    pub max_waiting: usize,
    /// Tokens per forward step (prompt chunks fill what the generating sequences leave).
    pub step_tokens: usize,
    /// Let sequences with a common prompt prefix share its full KV blocks.
    pub prefix_sharing: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            n_ctx: 0,
            max_running: 8,
            max_waiting: 64,
            step_tokens: 256,
            prefix_sharing: true,
        }
    }
}

/// A request with its sampler (built, so bad parameters fail at submission) and its sink.
struct Submission {
    request: Request,
    sampler: Sampler,
    sink: Sink,
    cancel: Arc<AtomicBool>,
}

/// The handle to the engine thread. Dropping it lets the thread finish what runs and exit.
pub struct Engine {
    tx: Option<mpsc::Sender<Submission>>,
    stats: Arc<EngineStats>,
    config: EngineConfig,
    n_ctx: usize,
    n_vocab: usize,
    thread: Option<JoinHandle<()>>,
}

impl Engine {
    /// Starts the engine thread, which takes `model` and makes its context there.
    pub fn start<B>(
        model: Model<B>,
        tokenizer: Arc<Tokenizer>,
        config: EngineConfig,
    ) -> Result<Engine, StartError>
    where
        B: AttentionBackend + 'static,
        Model<B>: Send,
    {
        let ctx = model.new_context(config.n_ctx)?;
        let (n_ctx, n_vocab) = (ctx.n_ctx(), ctx.n_vocab());
        drop(ctx);
        let stats = Arc::new(EngineStats::default());
        let (tx, rx) = mpsc::channel();
        let thread = {
            let (stats, config) = (Arc::clone(&stats), config.clone());
            std::thread::Builder::new()
                .name("rocmforge-engine".into())
                .spawn(move || scheduler::run(model, tokenizer, config, stats, rx))?
        };
        Ok(Engine {
            tx: Some(tx),
            stats,
            config,
            n_ctx,
            n_vocab,
            thread: Some(thread),
        })
    }

    /// Queues `request`; its events go to `sink` on the engine thread.
    pub fn submit(&self, request: Request, sink: Sink) -> Result<Ticket, SubmitError> {
        let n_ctx = self.n_ctx;
        if request.prompt.is_empty() {
            return Err(SubmitError::EmptyPrompt);
        }
        let max_tokens = request.max_tokens.unwrap_or(1).max(1);
        if request.prompt.len() + max_tokens > n_ctx {
            return Err(SubmitError::TooLong {
                prompt: request.prompt.len(),
                max_tokens,
                n_ctx,
            });
        }
        if let Some(&token) = request.prompt.iter().find(|&&t| t as usize >= self.n_vocab) {
            return Err(SubmitError::BadToken {
                token,
                n_vocab: self.n_vocab,
            });
        }
        let sampler = Sampler::new(request.sampler.clone(), self.n_vocab)?;
        let tx = self.tx.as_ref().ok_or(SubmitError::Stopped)?;
        self.stats
            .try_enqueue(self.config.max_waiting)
            .map_err(|w| SubmitError::QueueFull {
                waiting: w as usize,
            })?;
        let cancel = Arc::new(AtomicBool::new(false));
        let sub = Submission {
            request,
            sampler,
            sink,
            cancel: Arc::clone(&cancel),
        };
        if tx.send(sub).is_err() {
            self.stats.dequeue();
            return Err(SubmitError::Stopped);
        }
        Ok(Ticket { cancel })
    }

    /// Live figures.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// The context length (most positions of one sequence).
    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Stops taking requests, lets the running and waiting ones finish, and waits for the
    /// thread to exit.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}
