//! Byte-level BPE (`tokenizer.ggml.model = "gpt2"`): GPT-2's byte ↔ character mapping,
//! ranked merges from `tokenizer.ggml.merges`, and the merge loop applied to each
//! pre-tokenized word.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::error::TokenizerError;
use super::pretok::Splitter;
use super::vocab::Vocab;
use super::TokenId;

/// GPT-2's table from bytes to the characters that stand for them in the vocabulary:
/// printable Latin-1 bytes stand for themselves, every other byte for U+0100 upwards in order.
pub(crate) fn byte_to_char_table() -> [char; 256] {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u8 {
        table[b as usize] = if printable(b) {
            char::from(b)
        } else {
            let c = char::from_u32(next).unwrap_or(char::REPLACEMENT_CHARACTER);
            next += 1;
            c
        };
    }
    table
}

/// The inverse of [`byte_to_char_table`].
pub(crate) fn char_to_byte_map() -> HashMap<char, u8> {
    byte_to_char_table()
        .iter()
        .enumerate()
        .map(|(b, &c)| (c, b as u8))
        .collect()
}

/// One merge: its rank (lower merges first) and the symbol it produces.
#[derive(Debug, Clone, Copy)]
struct Merge {
    rank: u32,
    merged: u32,
}

/// The merge table over token ids: every string a merge names (both halves and the result)
/// is a token of the vocabulary.
#[derive(Debug)]
pub(crate) struct Bpe {
    splitter: Splitter,
    ignore_merges: bool,
    byte_chars: [char; 256],
    merges: HashMap<(u32, u32), Merge>,
}

impl Bpe {
    /// Builds the merge table; a merge string without a separating space is skipped (llama.cpp
    /// keeps it as an empty pair that never matches); a merge naming a string that is not a
    /// token is an error naming `tokenizer.ggml.merges` and the entry.
    pub(crate) fn new(
        vocab: &Vocab,
        merges: &[String],
        splitter: Splitter,
        ignore_merges: bool,
    ) -> Result<Bpe, TokenizerError> {
        let mut bpe = Bpe {
            splitter,
            ignore_merges,
            byte_chars: byte_to_char_table(),
            merges: HashMap::with_capacity(merges.len()),
        };
        for (rank, merge) in merges.iter().enumerate() {
            // The separator is the first space after the first byte.
            let Some(pos) = merge.bytes().skip(1).position(|b| b == b' ').map(|p| p + 1) else {
                continue;
            };
            let (left, right) = (&merge[..pos], &merge[pos + 1..]);
            let token = |text: &str| {
                vocab
                    .id(text)
                    .ok_or_else(|| TokenizerError::UnknownMergeToken {
                        index: rank,
                        merge: merge.clone(),
                        text: text.to_owned(),
                    })
            };
            let (l, r) = (token(left)?, token(right)?);
            let merged = token(&merge.replacen(' ', "", 1))?;
            let rank = u32::try_from(rank).map_err(|_| TokenizerError::LengthMismatch {
                key: "tokenizer.ggml.merges",
                expected: u32::MAX as usize,
                found: merges.len(),
            })?;
            // The first occurrence of a pair keeps its rank.
            bpe.merges.entry((l, r)).or_insert(Merge { rank, merged });
        }
        Ok(bpe)
    }

    /// Tokenizes one fragment of plain text, appending ids to `out`.
    pub(crate) fn encode(
        &self,
        vocab: &Vocab,
        text: &str,
        out: &mut Vec<TokenId>,
    ) -> Result<(), TokenizerError> {
        for word in self.splitter.split(text)? {
            let mapped: String = word.bytes().map(|b| self.byte_chars[b as usize]).collect();
            self.encode_word(vocab, &mapped, out);
        }
        Ok(())
    }

    fn encode_word(&self, vocab: &Vocab, word: &str, out: &mut Vec<TokenId>) {
        if self.ignore_merges {
            if let Some(id) = vocab.id(word) {
                out.push(id);
                return;
            }
        }
        let mut syms: Vec<Sym> = word
            .char_indices()
            .map(|(start, c)| {
                let end = start + c.len_utf8();
                Sym {
                    start,
                    end,
                    id: vocab.id(&word[start..end]),
                    next: None,
                    alive: true,
                }
            })
            .collect();
        let count = syms.len();
        for (i, s) in syms.iter_mut().enumerate() {
            s.next = (i + 1 < count).then_some(i + 1);
        }
        let mut prev: Vec<Option<usize>> = (0..count).map(|i| i.checked_sub(1)).collect();
        let mut queue = BinaryHeap::new();
        for i in 1..count {
            self.push_pair(&syms, i - 1, i, &mut queue);
        }
        while let Some(Reverse((_, left, right, l_id, r_id))) = queue.pop() {
            let (l, r) = (&syms[left], &syms[right]);
            if !l.alive
                || !r.alive
                || l.next != Some(right)
                || l.id != Some(l_id)
                || r.id != Some(r_id)
            {
                continue;
            }
            let Some(merge) = self.merges.get(&(l_id, r_id)) else {
                continue;
            };
            let (r_end, r_next) = (r.end, r.next);
            let l = &mut syms[left];
            l.end = r_end;
            l.id = Some(merge.merged);
            l.next = r_next;
            syms[right].alive = false;
            if let Some(n) = r_next {
                prev[n] = Some(left);
            }
            if let Some(p) = prev[left] {
                self.push_pair(&syms, p, left, &mut queue);
            }
            if let Some(n) = r_next {
                self.push_pair(&syms, left, n, &mut queue);
            }
        }
        let mut cur = (count > 0).then_some(0);
        while let Some(i) = cur {
            let s = &syms[i];
            match s.id.filter(|&id| (id as usize) < vocab.len()) {
                Some(id) => out.push(id),
                // Not a token: each byte that is a token on its own, as llama.cpp does.
                None => out.extend(
                    word[s.start..s.end]
                        .bytes()
                        .filter_map(|b| std::str::from_utf8(&[b]).ok().and_then(|t| vocab.id(t))),
                ),
            }
            cur = s.next;
        }
    }

    fn push_pair(
        &self,
        syms: &[Sym],
        left: usize,
        right: usize,
        queue: &mut BinaryHeap<Reverse<Pair>>,
    ) {
        let (Some(l), Some(r)) = (syms[left].id, syms[right].id) else {
            return;
        };
        if let Some(m) = self.merges.get(&(l, r)) {
            queue.push(Reverse((m.rank, left, right, l, r)));
        }
    }
}

/// A queued pair: (rank, left index, right index, left symbol, right symbol); the lowest rank
/// merges first, the leftmost among equal ranks.
type Pair = (u32, usize, usize, u32, u32);

#[derive(Debug, Clone)]
struct Sym {
    start: usize,
    end: usize,
    id: Option<u32>,
    next: Option<usize>,
    alive: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_is_a_bijection_like_gpt2() {
        let table = byte_to_char_table();
        assert_eq!(table[b' ' as usize], '\u{120}');
        assert_eq!(table[b'\n' as usize], '\u{10a}');
        assert_eq!(table[b'a' as usize], 'a');
        assert_eq!(table[0xAD], '\u{143}');
        let inverse = char_to_byte_map();
        assert_eq!(inverse.len(), 256);
        for b in 0..=255u8 {
            assert_eq!(inverse[&table[b as usize]], b);
        }
    }
}
