//! The engine thread: takes submissions, admits them into the running batch while sequences
//! and KV blocks allow, builds one batch per step (a token of every generating sequence,
//! then prompt chunks), evaluates it, and hands each sequence its logits row.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;

use attention::AttentionBackend;

use super::request::FinishReason;
use super::sequence::{Outcome, Sequence};
use super::stats::EngineStats;
use super::{EngineConfig, Submission};
use crate::batch::Batch;
use crate::kv_cache::{Context, KV_BLOCK_SIZE};
use crate::tokenizer::Tokenizer;
use crate::{Model, SeqId};

/// Runs the engine until the channel closes and nothing is left to do.
pub(super) fn run<B: AttentionBackend>(
    model: Model<B>,
    tokenizer: Arc<Tokenizer>,
    config: EngineConfig,
    stats: Arc<EngineStats>,
    rx: Receiver<Submission>,
) {
    let ctx = match model.new_context(config.n_ctx) {
        Ok(ctx) => ctx,
        Err(e) => {
            tracing::error!("engine: cannot make a context: {e}");
            return;
        }
    };
    let mut s = Scheduler {
        model: &model,
        tokenizer: &tokenizer,
        ctx,
        config,
        stats,
        waiting: VecDeque::new(),
        running: Vec::new(),
        next_id: 0,
        batch: Batch::new(),
        rows: Vec::new(),
    };
    let mut open = true;
    while open || !s.waiting.is_empty() || !s.running.is_empty() {
        if s.waiting.is_empty() && s.running.is_empty() {
            match rx.recv() {
                Ok(sub) => s.waiting.push_back(sub),
                Err(_) => break,
            }
        }
        loop {
            match rx.try_recv() {
                Ok(sub) => s.waiting.push_back(sub),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        s.step();
    }
}

struct Scheduler<'m, B: AttentionBackend> {
    model: &'m Model<B>,
    tokenizer: &'m Tokenizer,
    ctx: Context<B>,
    config: EngineConfig,
    stats: Arc<EngineStats>,
    waiting: VecDeque<Submission>,
    running: Vec<Sequence<'m>>,
    next_id: SeqId,
    batch: Batch,
    /// For each logits row of the step: the index of its sequence in `running`.
    rows: Vec<usize>,
}

impl<'m, B: AttentionBackend> Scheduler<'m, B> {
    /// One scheduling round: drop cancelled work, admit, evaluate, sample.
    fn step(&mut self) {
        self.drop_cancelled();
        self.admit();
        if !self.running.is_empty() {
            self.evaluate();
        }
        self.publish();
    }

    fn drop_cancelled(&mut self) {
        let stats = &self.stats;
        self.waiting.retain_mut(|sub| {
            let cancelled = sub.cancel.load(std::sync::atomic::Ordering::Relaxed);
            if cancelled {
                stats.dequeue();
            }
            !cancelled
        });
        let mut i = 0;
        while i < self.running.len() {
            if self.running[i].cancelled() {
                self.end(i, FinishReason::Cancelled);
            } else {
                i += 1;
            }
        }
    }

    /// Blocks a sequence of `len` positions spans.
    fn blocks(len: usize) -> usize {
        len.div_ceil(KV_BLOCK_SIZE)
    }

    /// Moves waiting requests into the batch while there are free sequence places and the
    /// KV blocks they may need (each running sequence's growth to its final length is set
    /// aside, so a running sequence never runs out of cache).
    fn admit(&mut self) {
        while self.running.len() < self.config.max_running.max(1) {
            let Some(sub) = self.waiting.front() else {
                return;
            };
            let n_ctx = self.ctx.n_ctx();
            let final_len = Sequence::final_len(&sub.request, n_ctx);
            let (src, shared_blocks) = self.shared_prefix(&sub.request.prompt);
            let promised: usize = self
                .running
                .iter()
                .map(|r| Self::blocks(r.final_len) - Self::blocks(r.n_cached))
                .sum();
            let (total, free, _) = self.ctx.kv_blocks();
            let need = Self::blocks(final_len) - shared_blocks;
            if (total - free) + promised + need > total && !self.running.is_empty() {
                // Wait for running sequences to end and free their blocks.
                return;
            }
            let Some(sub) = self.waiting.pop_front() else {
                return;
            };
            self.stats.dequeue();
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            let mut seq = Sequence::new(id, sub, self.tokenizer, n_ctx);
            if let Some(src) = src {
                match self.ctx.share_prefix(src, id, shared_blocks) {
                    Ok(n) => {
                        seq.n_cached = n;
                        seq.n_shared = n;
                        self.stats.count_shared(n);
                    }
                    Err(e) => tracing::warn!("engine: prefix sharing failed: {e}"),
                }
            }
            self.running.push(seq);
        }
    }

    /// The running sequence whose cached tokens share the most full blocks with `prompt`
    /// (leaving at least the prompt's last token to evaluate), and how many blocks.
    fn shared_prefix(&self, prompt: &[u32]) -> (Option<SeqId>, usize) {
        if !self.config.prefix_sharing {
            return (None, 0);
        }
        let limit = prompt.len().saturating_sub(1);
        let mut best = (None, 0);
        for r in &self.running {
            let cached = &r.tokens[..r.n_cached];
            let common = cached
                .iter()
                .zip(&prompt[..limit])
                .take_while(|(a, b)| a == b)
                .count();
            let n = common / KV_BLOCK_SIZE;
            if n > best.1 {
                best = (Some(r.id), n);
            }
        }
        best
    }

    /// Builds the step's batch, evaluates it and gives each sequence that finished its
    /// pending tokens its logits row.
    fn evaluate(&mut self) {
        self.batch.clear();
        self.rows.clear();
        let mut fed = vec![0usize; self.running.len()];
        let mut budget = self.config.step_tokens.max(1);
        let mut prompt_tokens = 0;
        // Generating sequences first (one token each), then prompt chunks in arrival order.
        for pass in [true, false] {
            for (i, seq) in self.running.iter().enumerate() {
                if seq.generating() != pass || (!pass && budget == 0) {
                    continue;
                }
                let n = if pass { 1 } else { seq.pending().min(budget) };
                budget = budget.saturating_sub(n);
                let start = seq.n_cached;
                for (k, &t) in seq.tokens[start..start + n].iter().enumerate() {
                    let last = start + k + 1 == seq.tokens.len();
                    self.batch.add(t, start + k, seq.id, last);
                    if last {
                        self.rows.push(i);
                    }
                }
                if !pass {
                    prompt_tokens += n;
                }
                fed[i] = n;
            }
        }
        if self.batch.is_empty() {
            return;
        }
        self.stats.count_step(self.batch.len(), prompt_tokens);
        if let Err(e) = self.model.decode(&mut self.ctx, &self.batch) {
            tracing::error!("engine: forward step failed: {e}");
            for i in (0..self.running.len()).rev() {
                if fed[i] > 0 {
                    let seq = self.running.remove(i);
                    self.ctx.remove_seq(seq.id);
                    seq.fail(format!("the forward pass failed: {e}"));
                }
            }
            return;
        }
        for (i, n) in fed.iter().enumerate() {
            self.running[i].n_cached += n;
        }
        let n_vocab = self.ctx.n_vocab();
        let mut ended = Vec::new();
        for (row, &i) in self.rows.iter().enumerate() {
            let logits = &self.ctx.logits()[row * n_vocab..(row + 1) * n_vocab];
            match self.running[i].on_logits(logits) {
                Ok(Outcome::Continue) => self.stats.count_generated(),
                Ok(Outcome::Finished(reason)) => {
                    self.stats.count_generated();
                    ended.push((i, Ok(reason)));
                }
                Err(e) => ended.push((i, Err(e.to_string()))),
            }
        }
        // Remove from the back so the indices stay valid.
        ended.sort_by_key(|e| std::cmp::Reverse(e.0));
        for (i, result) in ended {
            match result {
                Ok(reason) => self.end(i, reason),
                Err(message) => {
                    let seq = self.running.remove(i);
                    self.ctx.remove_seq(seq.id);
                    self.publish();
                    seq.fail(message);
                }
            }
        }
    }

    /// Ends running sequence `i`: frees its blocks, publishes the figures (so whoever
    /// sees the end sees the blocks freed) and reports.
    fn end(&mut self, i: usize, reason: FinishReason) {
        let seq = self.running.remove(i);
        self.ctx.remove_seq(seq.id);
        self.publish();
        seq.finish(reason);
    }

    fn publish(&self) {
        let (total, free, shared) = self.ctx.kv_blocks();
        self.stats
            .set_gauges(self.running.len(), (total, total - free, shared));
    }
}
