//! From ids back to bytes: each token's piece (llama.cpp's `token_to_piece`), computed once
//! per vocabulary, and the detokenization of a sequence with llama.cpp's optional clean-up of
//! spaces before punctuation.

use std::collections::HashMap;

use super::bpe::char_to_byte_map;
use super::spm::SPACE_MARK;
use super::vocab::{Attr, Vocab, VocabKind};

/// The piece of every token as llama.cpp renders it with `special = true`: control, unknown
/// and user-defined tokens as their text, normal tokens decoded (SentencePiece: `▁` → space;
/// byte-level BPE: characters → bytes), byte tokens as their byte, anything else empty.
pub(crate) fn build_pieces(vocab: &Vocab, kind: VocabKind) -> Vec<Vec<u8>> {
    let char_to_byte = (kind == VocabKind::Bpe).then(char_to_byte_map);
    (0..vocab.len())
        .map(|i| {
            let attr = vocab.attrs[i];
            let text = &vocab.texts[i];
            if attr.has(Attr::UNKNOWN.with(Attr::CONTROL).with(Attr::USER_DEFINED)) {
                text.as_bytes().to_vec()
            } else if attr.has(Attr::NORMAL) {
                match &char_to_byte {
                    Some(map) => decode_byte_level(text, map),
                    None => text.replace(SPACE_MARK, " ").into_bytes(),
                }
            } else if attr.has(Attr::BYTE) {
                byte_token_value(text).map(|b| vec![b]).unwrap_or_default()
            } else {
                Vec::new()
            }
        })
        .collect()
}

/// The byte a `<0xXX>` token stands for.
fn byte_token_value(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    u8::from_str_radix(hex, 16).ok()
}

/// Maps each character of a byte-level BPE token back to its byte; a character outside the
/// table is written as llama.cpp writes it, `[UNK_BYTE_0x…]`.
fn decode_byte_level(text: &str, map: &HashMap<char, u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match map.get(&c) {
            Some(&b) => out.push(b),
            None => {
                out.extend_from_slice(b"[UNK_BYTE_0x");
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.extend_from_slice(format!("{b:02x}").as_bytes());
                }
                out.extend_from_slice(text.as_bytes());
                out.push(b']');
            }
        }
    }
    out
}

/// llama.cpp's `clean_up_tokenization_spaces`: drops a space before `?`, `!`, `.`, `,`;
/// turns `" ' "` into `"'"`; and drops the space before `'s`, `'m`, `'re` and `'ve`.
pub(crate) fn clean_spaces(text: &mut Vec<u8>) {
    drop_space_before_punctuation(text);
    squeeze_lone_apostrophes(text);
    drop_space_before_contractions(text);
}

fn drop_space_before_punctuation(text: &mut Vec<u8>) {
    let src = std::mem::take(text);
    for (i, &c) in src.iter().enumerate() {
        if i > 0 && src[i - 1] == b' ' && matches!(c, b'?' | b'!' | b'.' | b',') {
            text.pop();
        }
        text.push(c);
    }
}

fn squeeze_lone_apostrophes(text: &mut Vec<u8>) {
    let src = std::mem::take(text);
    let mut i = 0;
    // The space eaten after an apostrophe no longer counts as a space before the next byte.
    let mut prev_eaten = false;
    while i < src.len() {
        let c = src[i];
        let prev_space = i > 0 && src[i - 1] == b' ' && !prev_eaten;
        prev_eaten = false;
        if c == b'\'' && i + 1 < src.len() && prev_space && src[i + 1] == b' ' {
            text.pop();
            text.push(c);
            i += 2;
            prev_eaten = true;
            continue;
        }
        text.push(c);
        i += 1;
    }
}

fn drop_space_before_contractions(text: &mut Vec<u8>) {
    let src = std::mem::take(text);
    for (i, &c) in src.iter().enumerate() {
        if i > 0 && src[i - 1] == b' ' && c == b'\'' && i + 1 < src.len() {
            let next = src[i + 1];
            let next2 = src.get(i + 2).copied();
            let contraction = matches!(next, b's' | b'm')
                || (!matches!(next, b't' | b'd')
                    && matches!((next, next2), (b'r', Some(b'e')) | (b'v', Some(b'e'))));
            if contraction {
                text.pop();
            }
        }
        text.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cleaned(s: &str) -> String {
        let mut v = s.as_bytes().to_vec();
        clean_spaces(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn clean_spaces_follows_llama_cpp() {
        assert_eq!(cleaned("Hello , world !"), "Hello, world!");
        assert_eq!(cleaned(" ."), ".");
        assert_eq!(cleaned("it ' s"), "it's");
        assert_eq!(cleaned("a ' ' b"), "a'' b");
        assert_eq!(
            cleaned("he 's I 'm we 're they 've"),
            "he's I'm we're they've"
        );
        assert_eq!(cleaned("don 't I 'd we 'll"), "don 't I 'd we 'll");
        assert_eq!(cleaned("x '"), "x '");
    }

    #[test]
    fn byte_tokens_parse() {
        assert_eq!(byte_token_value("<0x0A>"), Some(10));
        assert_eq!(byte_token_value("<0xFF>"), Some(255));
        assert_eq!(byte_token_value("<0xZZ>"), None);
    }
}
