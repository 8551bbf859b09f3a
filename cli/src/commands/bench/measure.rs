//! The timed runs, generic over the backend: prompt processing (`ppN`: N tokens of one
//! sequence in one batch), generation (`tgN`: N tokens one at a time from an empty context,
//! as llama-bench runs them) and batched generation (`tgN@bB`: B sequences, each first given
//! a prompt, then N steps of one token per sequence in one batch; aggregate tokens/s).

use std::time::Instant;

use attention::AttentionBackend;
use model::kv_cache::KV_BLOCK_SIZE;
use model::synthetic::Rng;
use model::{Batch, Context, Model};

/// One test to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Test {
    /// Prompt processing of `n` tokens.
    Prompt {
        /// Tokens.
        n: usize,
    },
    /// Generation of `n` tokens for each of `batch` sequences, after `prompt` tokens each.
    Generate {
        /// Steps.
        n: usize,
        /// Sequences decoded together.
        batch: usize,
        /// Prompt tokens each sequence holds before the timed steps (0 for batch 1).
        prompt: usize,
    },
}

impl Test {
    /// llama-bench's name for the test: `pp512`, `tg128`, or `tg128@b8` for a batch.
    pub fn name(&self) -> String {
        match *self {
            Test::Prompt { n } => format!("pp{n}"),
            Test::Generate { n, batch: 1, .. } => format!("tg{n}"),
            Test::Generate { n, batch, .. } => format!("tg{n}@b{batch}"),
        }
    }

    /// Tokens evaluated per timed run.
    pub fn tokens(&self) -> usize {
        match *self {
            Test::Prompt { n } => n,
            Test::Generate { n, batch, .. } => n * batch,
        }
    }

    /// Cache slots the test needs at once: each sequence's positions, in whole KV blocks.
    pub fn positions(&self) -> usize {
        let slots = |n: usize| n.next_multiple_of(KV_BLOCK_SIZE);
        match *self {
            Test::Prompt { n } => slots(n),
            Test::Generate { n, batch, prompt } => batch * slots(prompt + n),
        }
    }
}

/// Tokens per second of each timed repetition of one test.
#[derive(Clone, Debug, PartialEq)]
pub struct Samples {
    /// The test.
    pub test: Test,
    /// Tokens/s of each repetition.
    pub tokens_per_s: Vec<f64>,
}

impl Samples {
    /// The mean.
    pub fn mean(&self) -> f64 {
        self.tokens_per_s.iter().sum::<f64>() / self.tokens_per_s.len().max(1) as f64
    }

    /// The sample standard deviation (0 for fewer than two samples).
    pub fn stddev(&self) -> f64 {
        let n = self.tokens_per_s.len();
        if n < 2 {
            return 0.0;
        }
        let mean = self.mean();
        let ss: f64 = self.tokens_per_s.iter().map(|t| (t - mean).powi(2)).sum();
        (ss / (n - 1) as f64).sqrt()
    }
}

/// Runs every test `reps` times (after one warm-up run each, shortened to one step for
/// generation as llama-bench does), each test in a context of `ctx_size` positions or, by
/// default, of the positions it needs; `progress` hears the name of each test as it starts.
pub fn run_tests<B: AttentionBackend>(
    model: &Model<B>,
    tests: &[Test],
    reps: usize,
    ctx_size: Option<usize>,
    progress: &mut dyn FnMut(&Test),
) -> anyhow::Result<Vec<Samples>> {
    let mut rng = Rng::new(0x5EED);
    let n_vocab = model.config().n_vocab;
    let mut batch = Batch::new();
    let mut results = Vec::with_capacity(tests.len());
    for test in tests {
        progress(test);
        // Each test in a context of its own size, as llama-bench runs them.
        let mut ctx = model.new_context(ctx_size.unwrap_or(test.positions()))?;
        let warm_up = match *test {
            Test::Generate { batch, prompt, .. } => Test::Generate {
                n: 1,
                batch,
                prompt,
            },
            prompt => prompt,
        };
        run_once(
            model,
            &mut ctx,
            &mut batch,
            &mut rng,
            n_vocab,
            &warm_up,
            &mut || Ok(()),
        )?;
        let mut tokens_per_s = Vec::with_capacity(reps);
        for _ in 0..reps {
            let secs = run_once(
                model,
                &mut ctx,
                &mut batch,
                &mut rng,
                n_vocab,
                test,
                &mut || Ok(()),
            )?;
            tokens_per_s.push(test.tokens() as f64 / secs.max(1e-12));
        }
        results.push(Samples {
            test: *test,
            tokens_per_s,
        });
    }
    Ok(results)
}

/// Runs `test` once from an empty context; returns the seconds of its timed part.
/// Runs `test` once in a fresh context of `ctx_size` positions (default: what it needs; no
/// warm-up); `at_start` is called just before the timed part. Returns its seconds.
pub fn run_single<B: AttentionBackend>(
    model: &Model<B>,
    test: &Test,
    ctx_size: Option<usize>,
    at_start: &mut dyn FnMut() -> Result<(), ggml_core::backend::BackendError>,
) -> anyhow::Result<f64> {
    let mut ctx = model.new_context(ctx_size.unwrap_or(test.positions()))?;
    let mut rng = Rng::new(0x5EED);
    let n_vocab = model.config().n_vocab;
    let mut batch = Batch::new();
    run_once(
        model, &mut ctx, &mut batch, &mut rng, n_vocab, test, at_start,
    )
}

fn run_once<B: AttentionBackend>(
    model: &Model<B>,
    ctx: &mut Context<B>,
    batch: &mut Batch,
    rng: &mut Rng,
    n_vocab: usize,
    test: &Test,
    at_start: &mut dyn FnMut() -> Result<(), ggml_core::backend::BackendError>,
) -> anyhow::Result<f64> {
    let mut token = || (rng.next_u64() % n_vocab as u64) as u32;
    ctx.clear();
    batch.clear();
    match *test {
        Test::Prompt { n } => {
            for pos in 0..n {
                batch.add(token(), pos, 0, pos + 1 == n);
            }
            at_start()?;
            let start = Instant::now();
            model.decode(ctx, batch)?;
            Ok(start.elapsed().as_secs_f64())
        }
        Test::Generate {
            n,
            batch: b,
            prompt,
        } => {
            let seqs = 0..b as u32;
            if prompt > 0 {
                for seq in seqs.clone() {
                    for pos in 0..prompt {
                        batch.add(token(), pos, seq, pos + 1 == prompt);
                    }
                }
                model.decode(ctx, batch)?;
            }
            at_start()?;
            let start = Instant::now();
            for step in 0..n {
                batch.clear();
                for seq in seqs.clone() {
                    batch.add(token(), prompt + step, seq, true);
                }
                model.decode(ctx, batch)?;
            }
            Ok(start.elapsed().as_secs_f64())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sizes_and_statistics() {
        let tg = Test::Generate {
            n: 128,
            batch: 8,
            prompt: 128,
        };
        assert_eq!(tg.name(), "tg128@b8");
        assert_eq!((tg.tokens(), tg.positions()), (1024, 2048));
        assert_eq!(Test::Prompt { n: 17 }.positions(), 32);
        assert_eq!(Test::Prompt { n: 512 }.name(), "pp512");
        let s = Samples {
            test: tg,
            tokens_per_s: vec![1.0, 2.0, 3.0],
        };
        assert_eq!((s.mean(), s.stddev()), (2.0, 1.0));
    }
}
