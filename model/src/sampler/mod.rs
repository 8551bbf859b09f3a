//! Token sampling: turns one position's logits into the next token id through llama.cpp's
//! default chain — logit bias, repetition/frequency/presence penalties over the last
//! `repeat_last_n` tokens, top-k, typical-p, top-p, min-p, temperature, then a seeded draw
//! (or greedy argmax when the temperature is zero). Buffers are reused between tokens.

mod rng;
mod steps;

use std::collections::{HashMap, VecDeque};

pub use rng::Rng;

/// Sampling parameters; the defaults are llama.cpp's.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerConfig {
    /// Divides the logits; `<= 0` means greedy (always the most likely token). Default 0.8.
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens; 0 disables. Default 40.
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches `top_p`;
    /// 1.0 disables. Default 0.95.
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one; 0 disables.
    /// Default 0.05.
    pub min_p: f32,
    /// Locally typical sampling: keep the tokens whose surprise is closest to the
    /// distribution's entropy, up to this much probability; 1.0 disables. Default 1.0.
    pub typical_p: f32,
    /// How many recent tokens the penalties look at; 0 disables them. Default 64.
    pub repeat_last_n: usize,
    /// Divides positive (multiplies negative) logits of recent tokens; 1.0 disables.
    pub repeat_penalty: f32,
    /// Subtracted from a recent token's logit once per occurrence; 0 disables.
    pub frequency_penalty: f32,
    /// Subtracted once from the logit of any recent token; 0 disables.
    pub presence_penalty: f32,
    /// Added to the logits of the given tokens before anything else (`-inf` bans a token).
    pub logit_bias: Vec<(u32, f32)>,
    /// Seed of the random draw; `None` picks one from the clock. Same seed and same
    /// inputs give the same tokens.
    pub seed: Option<u64>,
    /// Every truncating step keeps at least this many tokens (at least 1).
    pub min_keep: usize,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            typical_p: 1.0,
            repeat_last_n: 64,
            repeat_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            logit_bias: Vec::new(),
            seed: None,
            min_keep: 1,
        }
    }
}

impl SamplerConfig {
    /// Always the most likely token, no penalties.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            ..Self::default()
        }
    }
}

/// Why a sampler could not be built or could not pick a token.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SamplerError {
    /// A parameter is outside its meaningful range.
    #[error("sampler parameter {name} = {value} is out of range ({expected})")]
    BadParameter {
        /// The parameter's name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// What is accepted.
        expected: &'static str,
    },
    /// A logit bias names a token the vocabulary doesn't have.
    #[error("logit bias for token {token}, but the vocabulary has {n_vocab} tokens")]
    BiasTokenOutOfRange {
        /// The token id.
        token: u32,
        /// The vocabulary size.
        n_vocab: usize,
    },
    /// The logits don't cover the vocabulary.
    #[error("got {got} logits for a vocabulary of {n_vocab} tokens")]
    LogitCount {
        /// How many logits came.
        got: usize,
        /// The vocabulary size.
        n_vocab: usize,
    },
    /// A logit is NaN (a numerical failure upstream, or `-inf` logit plus `+inf` bias).
    #[error("logit of token {token} is NaN")]
    NanLogit {
        /// The first token whose logit is NaN.
        token: u32,
    },
    /// Every token has probability zero (all logits `-inf` after biases and penalties).
    #[error("no token can be sampled: every logit is -inf")]
    NothingToSample,
}

/// One token under consideration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Candidate {
    pub(crate) id: u32,
    pub(crate) logit: f32,
    /// Probability, valid after a softmax step.
    pub(crate) p: f32,
}

/// Picks tokens from logits according to a [`SamplerConfig`]; keeps the penalty window
/// and the random state between calls.
#[derive(Debug)]
pub struct Sampler {
    config: SamplerConfig,
    n_vocab: usize,
    rng: Rng,
    candidates: Vec<Candidate>,
    scratch: Vec<Candidate>,
    history: VecDeque<u32>,
    counts: HashMap<u32, u32>,
}

impl Sampler {
    /// A sampler for a vocabulary of `n_vocab` tokens.
    pub fn new(config: SamplerConfig, n_vocab: usize) -> Result<Self, SamplerError> {
        check_range(
            "temperature",
            config.temperature,
            -f32::MAX,
            f32::MAX,
            "a finite number",
        )?;
        check_range("top_p", config.top_p, 0.0, 1.0, "0 to 1")?;
        check_range("min_p", config.min_p, 0.0, 1.0, "0 to 1")?;
        check_range("typical_p", config.typical_p, 0.0, 1.0, "0 to 1")?;
        check_range(
            "repeat_penalty",
            config.repeat_penalty,
            f32::MIN_POSITIVE,
            f32::MAX,
            "> 0",
        )?;
        check_range(
            "frequency_penalty",
            config.frequency_penalty,
            -f32::MAX,
            f32::MAX,
            "finite",
        )?;
        check_range(
            "presence_penalty",
            config.presence_penalty,
            -f32::MAX,
            f32::MAX,
            "finite",
        )?;
        if let Some(&(token, _)) = config
            .logit_bias
            .iter()
            .find(|(t, _)| *t as usize >= n_vocab)
        {
            return Err(SamplerError::BiasTokenOutOfRange { token, n_vocab });
        }
        if let Some(&(_, bias)) = config.logit_bias.iter().find(|(_, b)| b.is_nan()) {
            return Err(SamplerError::BadParameter {
                name: "logit_bias",
                value: f64::from(bias),
                expected: "a number or -inf",
            });
        }
        let seed = config.seed.unwrap_or_else(clock_seed);
        Ok(Self {
            n_vocab,
            rng: Rng::new(seed),
            candidates: Vec::with_capacity(n_vocab),
            scratch: Vec::with_capacity(n_vocab),
            history: VecDeque::with_capacity(config.repeat_last_n),
            counts: HashMap::with_capacity(config.repeat_last_n),
            config,
        })
    }

    /// The parameters in use.
    pub fn config(&self) -> &SamplerConfig {
        &self.config
    }

    /// Records a token (prompt or generated) in the penalty window.
    pub fn accept(&mut self, token: u32) {
        let window = self.config.repeat_last_n;
        if window == 0 {
            return;
        }
        if self.history.len() == window {
            if let Some(old) = self.history.pop_front() {
                if let Some(n) = self.counts.get_mut(&old) {
                    *n -= 1;
                    if *n == 0 {
                        self.counts.remove(&old);
                    }
                }
            }
        }
        self.history.push_back(token);
        *self.counts.entry(token).or_insert(0) += 1;
    }

    /// Forgets the penalty window (a new conversation); the random state continues.
    pub fn reset(&mut self) {
        self.history.clear();
        self.counts.clear();
    }

    /// Picks the next token from one position's logits (one per vocabulary entry). The
    /// token is not accepted into the penalty window; call [`Sampler::accept`] for that.
    pub fn sample(&mut self, logits: &[f32]) -> Result<u32, SamplerError> {
        self.sample_inner(logits, None)
    }

    /// [`Sampler::sample`] with the draw's uniform number `u` in `[0, 1)` given instead of
    /// taken from the sampler's generator (which does not advance): reproduces a draw made
    /// elsewhere, such as the GPU sampling kernel's.
    pub fn sample_with_uniform(&mut self, logits: &[f32], u: f64) -> Result<u32, SamplerError> {
        self.sample_inner(logits, Some(u))
    }

    fn sample_inner(&mut self, logits: &[f32], u: Option<f64>) -> Result<u32, SamplerError> {
        if logits.len() != self.n_vocab {
            return Err(SamplerError::LogitCount {
                got: logits.len(),
                n_vocab: self.n_vocab,
            });
        }
        if let Some(token) = logits.iter().position(|l| l.is_nan()) {
            return Err(SamplerError::NanLogit {
                token: token as u32,
            });
        }
        let c = &self.config;
        let min_keep = c.min_keep.max(1);
        let cands = &mut self.candidates;
        cands.clear();
        cands.extend(logits.iter().enumerate().map(|(id, &logit)| Candidate {
            id: id as u32,
            logit,
            p: 0.0,
        }));
        // The candidates are indexed by id until the first truncating step.
        for &(token, bias) in &c.logit_bias {
            cands[token as usize].logit += bias;
        }
        steps::penalize(
            cands,
            &self.counts,
            c.repeat_penalty,
            c.frequency_penalty,
            c.presence_penalty,
        );
        if let Some(x) = cands.iter().find(|x| x.logit.is_nan()) {
            return Err(SamplerError::NanLogit { token: x.id });
        }
        if cands.iter().all(|x| x.logit == f32::NEG_INFINITY) {
            return Err(SamplerError::NothingToSample);
        }
        // A `+inf` logit (an infinite bias) forces its token: only those tokens stay, equally
        // likely, so no step computes `inf - inf`.
        if cands.iter().any(|x| x.logit == f32::INFINITY) {
            cands.retain(|x| x.logit == f32::INFINITY);
            cands.iter_mut().for_each(|x| x.logit = 0.0);
        }
        if c.temperature <= 0.0 {
            return Ok(steps::argmax(cands));
        }
        let mut sorted = false;
        if c.top_k > 0 {
            steps::top_k(cands, c.top_k.max(min_keep));
            sorted = true;
        }
        if c.typical_p < 1.0 {
            steps::typical(cands, &mut self.scratch, c.typical_p, min_keep, sorted);
            sorted = false;
        }
        if c.top_p < 1.0 {
            steps::top_p(cands, c.top_p, min_keep, sorted);
        }
        if c.min_p > 0.0 {
            steps::min_p(cands, c.min_p, min_keep);
        }
        let u = u.unwrap_or_else(|| self.rng.next_f64());
        Ok(steps::draw(cands, c.temperature, u))
    }
}

fn check_range(
    name: &'static str,
    value: f32,
    lo: f32,
    hi: f32,
    expected: &'static str,
) -> Result<(), SamplerError> {
    if value.is_nan() || value < lo || value > hi {
        return Err(SamplerError::BadParameter {
            name,
            value: f64::from(value),
            expected,
        });
    }
    Ok(())
}

/// A seed for runs that didn't ask for one: the clock mixed with the process id.
fn clock_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32)
}

#[cfg(test)]
mod tests;
