//! SentencePiece-style tokenization (`tokenizer.ggml.model = "llama"`) as llama.cpp does it:
//! start from single characters, repeatedly merge the adjacent pair whose concatenation is the
//! vocabulary token with the highest score, and spell characters that are not tokens with
//! `<0xXX>` byte tokens.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::vocab::Vocab;
use super::TokenId;

/// The escaped space of SentencePiece vocabularies, U+2581.
pub(crate) const SPACE_MARK: char = '\u{2581}';

/// Replaces every ASCII space with [`SPACE_MARK`].
pub(crate) fn escape_spaces(text: &str) -> String {
    text.replace(' ', "\u{2581}")
}

/// The byte-fallback tokens: `<0xXX>` for each byte, else the one-byte token, else none.
pub(crate) fn byte_tokens(vocab: &Vocab) -> Vec<Option<TokenId>> {
    (0..=255u8)
        .map(|b| {
            vocab
                .id(&format!("<0x{b:02X}>"))
                .or_else(|| std::str::from_utf8(&[b]).ok().and_then(|s| vocab.id(s)))
        })
        .collect()
}

/// A candidate merge of the symbols at `left` and `right`, ordered so that the highest score
/// pops first and, among equal scores, the leftmost.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    score: f32,
    left: usize,
    right: usize,
    /// Bytes of the merged text; a stale candidate no longer adds up to it.
    size: usize,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

#[derive(Debug, Clone, Copy)]
struct Sym {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// Tokenizes already-escaped `text`, appending ids to `out`. `byte_tokens` comes from
/// [`byte_tokens`]; a byte with no token becomes `unk` (llama.cpp aborts there).
pub(crate) fn encode(
    vocab: &Vocab,
    byte_tokens: &[Option<TokenId>],
    unk: Option<TokenId>,
    text: &str,
    out: &mut Vec<TokenId>,
) {
    let mut syms: Vec<Sym> = text
        .char_indices()
        .map(|(start, c)| Sym {
            start,
            len: c.len_utf8(),
            prev: None,
            next: None,
        })
        .collect();
    let count = syms.len();
    for (i, s) in syms.iter_mut().enumerate() {
        s.prev = i.checked_sub(1);
        s.next = (i + 1 < count).then_some(i + 1);
    }
    let mut queue = BinaryHeap::new();
    let candidate = |syms: &[Sym], left: usize, right: usize| -> Option<Candidate> {
        let (l, r) = (syms[left], syms[right]);
        let size = l.len + r.len;
        let id = vocab.id(&text[l.start..l.start + size])?;
        Some(Candidate {
            score: vocab.scores[id as usize],
            left,
            right,
            size,
        })
    };
    for i in 1..count {
        queue.extend(candidate(&syms, i - 1, i));
    }
    while let Some(c) = queue.pop() {
        let (l, r) = (syms[c.left], syms[c.right]);
        if l.len == 0 || r.len == 0 || l.len + r.len != c.size {
            continue;
        }
        syms[c.left].len = c.size;
        syms[c.left].next = r.next;
        syms[c.right].len = 0;
        if let Some(n) = r.next {
            syms[n].prev = Some(c.left);
        }
        if let Some(p) = l.prev {
            queue.extend(candidate(&syms, p, c.left));
        }
        if let Some(n) = r.next {
            queue.extend(candidate(&syms, c.left, n));
        }
    }
    let mut cur = (count > 0).then_some(0);
    while let Some(i) = cur {
        let s = syms[i];
        let piece = &text[s.start..s.start + s.len];
        match vocab.id(piece) {
            Some(id) => out.push(id),
            None => out.extend(
                piece
                    .bytes()
                    .filter_map(|b| byte_tokens[b as usize].or(unk)),
            ),
        }
        cur = s.next;
    }
}
