//! The tokenizer of a synthetic model: a minimal SentencePiece ("llama") vocabulary that
//! both this engine and llama.cpp load — `<unk>`, `<s>`, `</s>`, the 256 byte tokens
//! (`<0x0A>` is the one llama.cpp looks up for newlines) and numbered filler pieces up to
//! the vocabulary size.

use ggml_core::gguf::keys::tokenizer as keys;
use ggml_core::gguf::{Array, Metadata, Value};

use crate::tokenizer::TokenType;

/// Special tokens and byte tokens before the filler pieces.
pub const FIXED_TOKENS: usize = 3 + 256;

/// Adds the `tokenizer.ggml.*` keys of an `n_vocab`-token vocabulary (at least
/// [`FIXED_TOKENS`]; smaller sizes get only the first `n_vocab` tokens).
pub fn insert(md: &mut Metadata, n_vocab: usize) {
    let mut tokens = Vec::with_capacity(n_vocab);
    let mut types = Vec::with_capacity(n_vocab);
    let mut scores = Vec::with_capacity(n_vocab);
    let mut push = |text: String, ty: TokenType, score: f32| {
        tokens.push(text);
        types.push(ty.code());
        scores.push(score);
    };
    push("<unk>".into(), TokenType::Unknown, 0.0);
    push("<s>".into(), TokenType::Control, 0.0);
    push("</s>".into(), TokenType::Control, 0.0);
    for b in 0..=255u8 {
        push(format!("<0x{b:02X}>"), TokenType::Byte, 0.0);
    }
    for i in FIXED_TOKENS..n_vocab {
        push(format!("\u{2581}t{i}"), TokenType::Normal, -(i as f32));
    }
    tokens.truncate(n_vocab);
    types.truncate(n_vocab);
    scores.truncate(n_vocab);
    md.insert(keys::MODEL, Value::String("llama".into()));
    md.insert(keys::TOKENS, Value::Array(Array::String(tokens)));
    md.insert(keys::SCORES, Value::Array(Array::F32(scores)));
    md.insert(keys::TOKEN_TYPE, Value::Array(Array::I32(types)));
    md.insert(keys::UNKNOWN_TOKEN_ID, Value::U32(0));
    md.insert(keys::BOS_TOKEN_ID, Value::U32(1));
    md.insert(keys::EOS_TOKEN_ID, Value::U32(2));
    md.insert(keys::ADD_BOS_TOKEN, Value::Bool(true));
    md.insert(keys::ADD_EOS_TOKEN, Value::Bool(false));
    md.insert(keys::ADD_SPACE_PREFIX, Value::Bool(false));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::Tokenizer;

    #[test]
    fn the_vocabulary_round_trips_text_through_byte_tokens() {
        let mut md = Metadata::new();
        insert(&mut md, 300);
        let tok = Tokenizer::from_metadata(&md).unwrap();
        assert_eq!(tok.n_vocab(), 300);
        let ids = tok.encode("héllo\nworld", true, false).unwrap();
        assert_eq!(ids[0], 1, "BOS first");
        assert!(
            ids.contains(&(3 + 0x0A)),
            "newline is its byte token: {ids:?}"
        );
        assert_eq!(tok.decode(&ids[1..]).unwrap(), "héllo\nworld");
    }
}
