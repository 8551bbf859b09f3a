//! A batch of tokens for one forward step: each token with its sequence, its position in
//! that sequence, and whether its logits are wanted.

use attention::SeqId;

/// Tokens to evaluate together, possibly from several sequences at different positions.
///
/// Within a sequence, positions must continue that sequence: each is at most its current
/// length (a smaller position rewrites the sequence from there on). Logit rows come back in
/// the order of the tokens that asked for them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub(crate) tokens: Vec<u32>,
    pub(crate) positions: Vec<usize>,
    pub(crate) seqs: Vec<SeqId>,
    pub(crate) logits: Vec<bool>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// An empty batch with room for `n` tokens.
    pub fn with_capacity(n: usize) -> Batch {
        Batch {
            tokens: Vec::with_capacity(n),
            positions: Vec::with_capacity(n),
            seqs: Vec::with_capacity(n),
            logits: Vec::with_capacity(n),
        }
    }

    /// `tokens` of sequence `seq` at positions `start..`, with logits for the last token
    /// only, or for every token when `all_logits`.
    pub fn for_sequence(tokens: &[u32], start: usize, seq: SeqId, all_logits: bool) -> Batch {
        let mut b = Batch::with_capacity(tokens.len());
        for (i, &t) in tokens.iter().enumerate() {
            b.add(t, start + i, seq, all_logits || i + 1 == tokens.len());
        }
        b
    }

    /// Appends `token` at `pos` of sequence `seq`; `logits` asks for its output row.
    pub fn add(&mut self, token: u32, pos: usize, seq: SeqId, logits: bool) {
        self.tokens.push(token);
        self.positions.push(pos);
        self.seqs.push(seq);
        self.logits.push(logits);
    }

    /// Removes every token, keeping the allocation.
    pub fn clear(&mut self) {
        self.tokens.clear();
        self.positions.clear();
        self.seqs.clear();
        self.logits.clear();
    }

    /// Tokens in the batch.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Tokens whose logits were asked for.
    pub fn n_outputs(&self) -> usize {
        self.logits.iter().filter(|&&l| l).count()
    }

    /// The token ids.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn for_sequence_asks_for_the_last_or_all_logits() {
        let b = Batch::for_sequence(&[5, 6, 7], 10, 2, false);
        assert_eq!(b.positions, vec![10, 11, 12]);
        assert_eq!(b.logits, vec![false, false, true]);
        assert_eq!(b.n_outputs(), 1);
        let mut b = Batch::for_sequence(&[5, 6], 0, 0, true);
        assert_eq!(b.n_outputs(), 2);
        b.add(9, 0, 1, false);
        assert_eq!((b.len(), b.seqs[2]), (3, 1));
        b.clear();
        assert!(b.is_empty());
    }
}
