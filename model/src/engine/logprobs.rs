//! Log-probabilities of a logits row: the chosen token's and the most likely alternatives,
//! from a numerically stable log-softmax (max subtracted, sum in f64).

use super::request::TokenLogprob;
use crate::tokenizer::TokenId;

/// The log-probability of `token` in `logits` and the `top` most likely tokens (ties broken
/// by lower id), most likely first.
pub fn token_logprob(logits: &[f32], token: TokenId, top: usize) -> TokenLogprob {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
    let log_z = max as f64 + sum.ln();
    let lp = |l: f32| (f64::from(l) - log_z) as f32;
    let mut best: Vec<(TokenId, f32)> = Vec::with_capacity(top + 1);
    if top > 0 {
        for (id, &l) in logits.iter().enumerate() {
            if best.len() == top && best.last().is_some_and(|&(_, b)| l <= b) {
                continue;
            }
            let at = best.partition_point(|&(_, b)| b >= l);
            best.insert(at, (id as TokenId, l));
            best.truncate(top);
        }
    }
    TokenLogprob {
        logprob: logits
            .get(token as usize)
            .map_or(f32::NEG_INFINITY, |&l| lp(l)),
        top: best.into_iter().map(|(id, l)| (id, lp(l))).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logprobs_normalise_and_rank() {
        let logits = [1.0f32, 3.0, 2.0, 3.0];
        let r = token_logprob(&logits, 2, 3);
        let z: f64 = logits.iter().map(|&l| f64::from(l).exp()).sum();
        assert!((f64::from(r.logprob) - (2.0 - z.ln())).abs() < 1e-6);
        let ids: Vec<u32> = r.top.iter().map(|t| t.0).collect();
        assert_eq!(ids, vec![1, 3, 2], "ties keep the lower id first");
        let total: f64 = logits
            .iter()
            .map(|&l| f64::from(token_logprob(&logits, 0, 0).logprob - logits[0] + l).exp())
            .sum();
        assert!((total - 1.0).abs() < 1e-6);
        assert!(token_logprob(&logits, 0, 0).top.is_empty());
    }
}
