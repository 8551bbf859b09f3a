//! The steps of the sampling chain, each a transformation of the candidate list in place.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::Candidate;

/// Descending by logit; ties by ascending id so that results don't depend on sort internals.
fn by_logit_desc(a: &Candidate, b: &Candidate) -> Ordering {
    b.logit.total_cmp(&a.logit).then(a.id.cmp(&b.id))
}

/// Repetition, frequency and presence penalties (llama.cpp's formulas) for the tokens in
/// the window; `cands` must still be indexed by token id.
pub(super) fn penalize(
    cands: &mut [Candidate],
    counts: &HashMap<u32, u32>,
    repeat: f32,
    frequency: f32,
    presence: f32,
) {
    if repeat == 1.0 && frequency == 0.0 && presence == 0.0 {
        return;
    }
    for (&token, &count) in counts {
        let Some(c) = cands.get_mut(token as usize) else {
            continue;
        };
        if c.logit <= 0.0 {
            c.logit *= repeat;
        } else {
            c.logit /= repeat;
        }
        c.logit -= count as f32 * frequency + presence;
    }
}

/// The most likely token (the lowest id among equals).
pub(super) fn argmax(cands: &[Candidate]) -> u32 {
    let mut best = cands[0];
    for c in &cands[1..] {
        if c.logit > best.logit {
            best = *c;
        }
    }
    best.id
}

/// Keeps the `k` largest logits, sorted descending.
pub(super) fn top_k(cands: &mut Vec<Candidate>, k: usize) {
    if k < cands.len() {
        cands.select_nth_unstable_by(k - 1, by_logit_desc);
        cands.truncate(k);
    }
    cands.sort_unstable_by(by_logit_desc);
}

/// Fills `p` with the softmax of the logits; sorts descending first unless `sorted`.
pub(super) fn softmax(cands: &mut [Candidate], sorted: bool) {
    if !sorted {
        cands.sort_unstable_by(by_logit_desc);
    }
    let max = cands[0].logit;
    let mut sum = 0.0f64;
    for c in cands.iter_mut() {
        c.p = (c.logit - max).exp();
        sum += f64::from(c.p);
    }
    let inv = (1.0 / sum) as f32;
    for c in cands.iter_mut() {
        c.p *= inv;
    }
}

/// Smallest prefix (by probability) whose mass reaches `p`, at least `min_keep` long.
pub(super) fn top_p(cands: &mut Vec<Candidate>, p: f32, min_keep: usize, sorted: bool) {
    softmax(cands, sorted);
    let mut cum = 0.0f32;
    for i in 0..cands.len() {
        cum += cands[i].p;
        if cum >= p && i + 1 >= min_keep {
            cands.truncate(i + 1);
            return;
        }
    }
}

/// Drops tokens whose probability is below `p` times the largest (`min_keep` survive).
pub(super) fn min_p(cands: &mut Vec<Candidate>, p: f32, min_keep: usize) {
    let max = cands
        .iter()
        .map(|c| c.logit)
        .fold(f32::NEG_INFINITY, f32::max);
    let threshold = max + p.ln();
    let kept = cands.iter().filter(|c| c.logit >= threshold).count();
    if kept >= min_keep {
        cands.retain(|c| c.logit >= threshold);
    } else {
        let keep = min_keep.min(cands.len());
        top_k(cands, keep);
    }
}

/// Locally typical sampling: orders tokens by how far their surprise is from the entropy
/// and keeps them until their mass exceeds `p` (at least `min_keep`).
pub(super) fn typical(
    cands: &mut Vec<Candidate>,
    scratch: &mut Vec<Candidate>,
    p: f32,
    min_keep: usize,
    sorted: bool,
) {
    softmax(cands, sorted);
    let entropy: f32 = cands
        .iter()
        .filter(|c| c.p > 0.0)
        .map(|c| -c.p * c.p.ln())
        .sum();
    let distance = |c: &Candidate| {
        if c.p > 0.0 {
            (-c.p.ln() - entropy).abs()
        } else {
            f32::INFINITY
        }
    };
    scratch.clear();
    scratch.extend_from_slice(cands);
    scratch.sort_unstable_by(|a, b| distance(a).total_cmp(&distance(b)).then(a.id.cmp(&b.id)));
    let mut cum = 0.0f32;
    let mut last = scratch.len();
    for (i, c) in scratch.iter().enumerate() {
        cum += c.p;
        if cum > p && i + 1 >= min_keep {
            last = i + 1;
            break;
        }
    }
    cands.clear();
    cands.extend_from_slice(&scratch[..last]);
}

/// Draws a token from the softmax of the logits at `temperature` (> 0) with the uniform
/// number `u` in [0, 1). The maximum is subtracted before dividing, so no temperature
/// overflows a logit; the most likely token always has weight 1.
pub(super) fn draw(cands: &mut [Candidate], temperature: f32, u: f64) -> u32 {
    let max = cands
        .iter()
        .map(|c| c.logit)
        .fold(f32::NEG_INFINITY, f32::max);
    let mut total = 0.0f64;
    for c in cands.iter_mut() {
        let w = ((f64::from(c.logit) - f64::from(max)) / f64::from(temperature)).exp();
        c.p = w as f32;
        total += f64::from(c.p);
    }
    let target = u * total;
    let mut cum = 0.0f64;
    for c in cands.iter() {
        cum += f64::from(c.p);
        if target < cum {
            return c.id;
        }
    }
    // Rounding left `target` at the very top: the last token with any mass.
    cands
        .iter()
        .rev()
        .find(|c| c.p > 0.0)
        .map_or(cands[0].id, |c| c.id)
}
