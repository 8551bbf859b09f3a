//! Counters and gauges the engine thread publishes after every step, read by anyone (the
//! server's `/metrics`) without locking.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live engine figures, updated by the engine thread.
#[derive(Debug, Default)]
pub struct EngineStats {
    waiting: AtomicU64,
    running: AtomicU64,
    kv_blocks_total: AtomicU64,
    kv_blocks_used: AtomicU64,
    kv_blocks_shared: AtomicU64,
    last_batch_tokens: AtomicU64,
    steps: AtomicU64,
    batch_tokens: AtomicU64,
    prompt_tokens_evaluated: AtomicU64,
    prompt_tokens_shared: AtomicU64,
    generated_tokens: AtomicU64,
}

/// A copy of [`EngineStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Requests accepted but not yet running.
    pub waiting: u64,
    /// Sequences in the running batch.
    pub running: u64,
    /// KV blocks in the pool.
    pub kv_blocks_total: u64,
    /// KV blocks held by sequences.
    pub kv_blocks_used: u64,
    /// KV blocks held by more than one sequence (a shared prompt prefix).
    pub kv_blocks_shared: u64,
    /// Tokens in the last forward step.
    pub last_batch_tokens: u64,
    /// Forward steps so far.
    pub steps: u64,
    /// Tokens evaluated over all steps.
    pub batch_tokens: u64,
    /// Prompt tokens evaluated.
    pub prompt_tokens_evaluated: u64,
    /// Prompt tokens not evaluated because their blocks were shared.
    pub prompt_tokens_shared: u64,
    /// Tokens generated.
    pub generated_tokens: u64,
}

impl EngineStats {
    /// The current figures.
    pub fn snapshot(&self) -> StatsSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            waiting: g(&self.waiting),
            running: g(&self.running),
            kv_blocks_total: g(&self.kv_blocks_total),
            kv_blocks_used: g(&self.kv_blocks_used),
            kv_blocks_shared: g(&self.kv_blocks_shared),
            last_batch_tokens: g(&self.last_batch_tokens),
            steps: g(&self.steps),
            batch_tokens: g(&self.batch_tokens),
            prompt_tokens_evaluated: g(&self.prompt_tokens_evaluated),
            prompt_tokens_shared: g(&self.prompt_tokens_shared),
            generated_tokens: g(&self.generated_tokens),
        }
    }

    /// Reserves a place in the waiting queue unless `limit` requests already wait.
    pub(crate) fn try_enqueue(&self, limit: usize) -> Result<(), u64> {
        self.waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                (w < limit as u64).then_some(w + 1)
            })
            .map(|_| ())
    }

    /// A waiting request left the queue (admitted, cancelled or refused).
    pub(crate) fn dequeue(&self) {
        let _ = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| w.checked_sub(1));
    }

    /// Publishes the gauges of the cache and the batch.
    pub(crate) fn set_gauges(&self, running: usize, kv: (usize, usize, usize)) {
        let s = |a: &AtomicU64, v: usize| a.store(v as u64, Ordering::Relaxed);
        s(&self.running, running);
        s(&self.kv_blocks_total, kv.0);
        s(&self.kv_blocks_used, kv.1);
        s(&self.kv_blocks_shared, kv.2);
    }

    /// Counts one forward step of `tokens` tokens, `prompt` of them from prompts.
    pub(crate) fn count_step(&self, tokens: usize, prompt: usize) {
        self.last_batch_tokens
            .store(tokens as u64, Ordering::Relaxed);
        self.steps.fetch_add(1, Ordering::Relaxed);
        self.batch_tokens
            .fetch_add(tokens as u64, Ordering::Relaxed);
        self.prompt_tokens_evaluated
            .fetch_add(prompt as u64, Ordering::Relaxed);
    }

    /// Counts prompt tokens served from shared blocks.
    pub(crate) fn count_shared(&self, tokens: usize) {
        self.prompt_tokens_shared
            .fetch_add(tokens as u64, Ordering::Relaxed);
    }

    /// Counts one generated token.
    pub(crate) fn count_generated(&self) {
        self.generated_tokens.fetch_add(1, Ordering::Relaxed);
    }
}
