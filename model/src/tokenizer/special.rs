//! Finding special tokens in input text: the text is cut into plain fragments and special
//! tokens before the tokenizer proper sees it, longest special token first, as llama.cpp does.

use super::vocab::{Attr, Vocab};
use super::TokenId;

/// A piece of input: text still to tokenize, or a special token found in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fragment<'t> {
    /// Plain text.
    Text(&'t str),
    /// A special token.
    Token(TokenId),
}

/// Cuts `text` at every occurrence of a special token. User-defined tokens are always found;
/// control and unknown tokens only when `parse_special`. Each token in turn (longest first)
/// claims its leftmost non-overlapping occurrences in the text fragments that remain.
/// Tokens with the left/right-strip attribute swallow adjacent ASCII whitespace.
pub(crate) fn partition<'t>(
    vocab: &Vocab,
    text: &'t str,
    parse_special: bool,
) -> Vec<Fragment<'t>> {
    if text.is_empty() {
        return Vec::new();
    }
    let mut fragments = vec![Fragment::Text(text)];
    for &id in &vocab.special_cache {
        let attr = vocab.attr(id);
        if !parse_special && attr.has(Attr::CONTROL.with(Attr::UNKNOWN)) {
            continue;
        }
        let needle = vocab.texts[id as usize].as_str();
        if !fragments
            .iter()
            .any(|f| matches!(f, Fragment::Text(t) if t.contains(needle)))
        {
            continue;
        }
        let mut next = Vec::with_capacity(fragments.len() + 2);
        for fragment in fragments {
            match fragment {
                Fragment::Text(t) => split_at_token(t, needle, id, attr, &mut next),
                token => next.push(token),
            }
        }
        fragments = next;
    }
    fragments
}

fn split_at_token<'t>(
    mut rest: &'t str,
    needle: &str,
    id: TokenId,
    attr: Attr,
    out: &mut Vec<Fragment<'t>>,
) {
    while let Some(at) = rest.find(needle) {
        let mut left = &rest[..at];
        if attr.has(Attr::LSTRIP) {
            left = left.trim_end_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
        }
        if !left.is_empty() {
            out.push(Fragment::Text(left));
        }
        out.push(Fragment::Token(id));
        rest = &rest[at + needle.len()..];
        if attr.has(Attr::RSTRIP) {
            rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
        }
    }
    if !rest.is_empty() {
        out.push(Fragment::Text(rest));
    }
}
