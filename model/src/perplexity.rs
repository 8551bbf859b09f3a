//! Perplexity of a model on a text, computed the way llama.cpp's `llama-perplexity` tool
//! does: the text is tokenized once, cut into chunks of `n_ctx` tokens (the first token of
//! each replaced by BOS when the vocabulary adds one), every chunk is evaluated from an empty
//! cache, and only the second half of each chunk is scored.

use attention::AttentionBackend;

use crate::batch::Batch;
use crate::error::ModelError;
use crate::tokenizer::{Tokenizer, TokenizerError};
use crate::Model;

/// Why perplexity could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum PerplexityError {
    /// The text has fewer than two chunks' worth of tokens (llama.cpp's requirement).
    #[error("the text has {tokens} tokens; perplexity with -c {n_ctx} needs at least {needed}")]
    TextTooShort {
        /// Tokens in the text.
        tokens: usize,
        /// Chunk length.
        n_ctx: usize,
        /// 2 × `n_ctx`.
        needed: usize,
    },
    /// A chunk length or batch size that cannot work.
    #[error("invalid perplexity setting {name} = {value}: {detail}")]
    BadSetting {
        /// The setting (`n_ctx`, `n_batch`).
        name: &'static str,
        /// Its value.
        value: usize,
        /// What is required.
        detail: &'static str,
    },
    /// The forward pass failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Tokenizing failed.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
}

/// Chunking parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerplexityOptions {
    /// Tokens per chunk (`-c`).
    pub n_ctx: usize,
    /// Tokens per forward call (`-b`); smaller uses less memory for logits.
    pub n_batch: usize,
    /// Score at most this many chunks (`--chunks`); `None` scores them all.
    pub max_chunks: Option<usize>,
}

/// The result, with llama.cpp's error estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Perplexity {
    /// exp(mean negative log-likelihood).
    pub ppl: f64,
    /// Standard error of `ppl` (delta method over the per-token NLLs).
    pub stderr: f64,
    /// Tokens in the text.
    pub tokens: usize,
    /// Chunks evaluated.
    pub chunks: usize,
    /// Tokens scored.
    pub scored: usize,
}

/// Progress after each chunk: chunks done, chunks in all, perplexity so far.
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize, f64);

/// Running sums of the negative log-likelihoods.
#[derive(Debug, Default, Clone, Copy)]
struct Sums {
    nll: f64,
    nll2: f64,
    count: usize,
}

impl Sums {
    fn add(&mut self, logits: &[f32], next: u32) {
        let logprob = log_softmax_at(logits, next as usize);
        self.nll -= logprob;
        self.nll2 += logprob * logprob;
        self.count += 1;
    }

    fn ppl(&self) -> f64 {
        (self.nll / self.count as f64).exp()
    }

    fn result(&self, tokens: usize, chunks: usize) -> Perplexity {
        let n = self.count as f64;
        let mean = self.nll / n;
        let ppl = mean.exp();
        let var = self.nll2 / n - mean * mean;
        let stderr = if var > 0.0 && self.count > 1 {
            ppl * (var / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        Perplexity {
            ppl,
            stderr,
            tokens,
            chunks,
            scored: self.count,
        }
    }
}

/// log softmax(logits)[i], with the maximum subtracted and the sum in f64.
fn log_softmax_at(logits: &[f32], i: usize) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
    f64::from(logits[i] - max) - sum.ln()
}

/// Computes the perplexity of `model` on `text`; `progress` hears after every chunk.
pub fn perplexity<B: AttentionBackend>(
    model: &Model<B>,
    tokenizer: &Tokenizer,
    text: &str,
    opts: PerplexityOptions,
    progress: Progress<'_>,
) -> Result<Perplexity, PerplexityError> {
    let n_ctx = opts.n_ctx;
    if n_ctx < 4 {
        return Err(PerplexityError::BadSetting {
            name: "n_ctx",
            value: n_ctx,
            detail: "at least 4",
        });
    }
    if opts.max_chunks == Some(0) {
        return Err(PerplexityError::BadSetting {
            name: "chunks",
            value: 0,
            detail: "at least 1",
        });
    }
    if opts.n_batch == 0 {
        return Err(PerplexityError::BadSetting {
            name: "n_batch",
            value: 0,
            detail: "at least 1",
        });
    }
    tokenizer.check_model_vocab(model.config().n_vocab)?;
    let tokens = tokenizer.encode(text, true, false)?;
    if tokens.len() < n_ctx.saturating_mul(2) {
        return Err(PerplexityError::TextTooShort {
            tokens: tokens.len(),
            n_ctx,
            needed: n_ctx.saturating_mul(2),
        });
    }
    let bos = tokenizer
        .special_tokens()
        .bos()
        .filter(|_| tokenizer.add_bos());
    let n_chunks = (tokens.len() / n_ctx).min(opts.max_chunks.unwrap_or(usize::MAX));
    let first = n_ctx / 2;
    let n_vocab = model.config().n_vocab;
    let mut ctx = model.new_context(n_ctx)?;
    let mut batch = Batch::with_capacity(opts.n_batch.min(n_ctx));
    let mut sums = Sums::default();
    for chunk_index in 0..n_chunks {
        let chunk = &tokens[chunk_index * n_ctx..(chunk_index + 1) * n_ctx];
        ctx.clear();
        for start in (0..n_ctx).step_by(opts.n_batch) {
            let end = (start + opts.n_batch).min(n_ctx);
            batch.clear();
            for (pos, &token) in chunk.iter().enumerate().take(end).skip(start) {
                let token = match (pos, bos) {
                    (0, Some(bos)) => bos,
                    _ => token,
                };
                // Row `pos` predicts token `pos + 1`; only the second half is scored.
                batch.add(token, pos, 0, pos >= first && pos + 1 < n_ctx);
            }
            let logits = model.decode(&mut ctx, &batch)?;
            let scored_from = start.max(first);
            for (row, pos) in (scored_from..end.min(n_ctx - 1)).enumerate() {
                sums.add(&logits[row * n_vocab..(row + 1) * n_vocab], chunk[pos + 1]);
            }
        }
        progress(chunk_index + 1, n_chunks, sums.ppl());
    }
    Ok(sums.result(tokens.len(), n_chunks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_softmax_matches_the_definition() {
        let l = [1.0f32, 2.0, 3.0];
        let z: f64 = l.iter().map(|&x| f64::from(x).exp()).sum();
        for i in 0..3 {
            assert!((log_softmax_at(&l, i) - (f64::from(l[i]).exp() / z).ln()).abs() < 1e-9);
        }
    }

    #[test]
    fn uniform_predictions_have_perplexity_equal_to_the_vocabulary() {
        let mut s = Sums::default();
        for t in 0..10 {
            s.add(&[0.5; 8], t % 8);
        }
        let r = s.result(20, 2);
        assert!((r.ppl - 8.0).abs() < 1e-9);
        assert!(r.stderr < 1e-6, "stderr {}", r.stderr);
        assert_eq!(r.scored, 10);
    }

    #[test]
    fn the_standard_error_follows_llama_cpp() {
        // Two tokens with log-probabilities ln(1/2) and ln(1/4).
        let mut s = Sums::default();
        s.add(&[0.0, 0.0], 0);
        s.add(&[(3.0f32).ln(), 0.0], 1);
        let (a, b) = (2f64.ln(), 4f64.ln());
        let mean = (a + b) / 2.0;
        let var = (a * a + b * b) / 2.0 - mean * mean;
        let r = s.result(4, 1);
        assert!((r.ppl - mean.exp()).abs() < 1e-6);
        assert!((r.stderr - mean.exp() * (var / 1.0).sqrt()).abs() < 1e-6);
    }
}
