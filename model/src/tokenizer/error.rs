//! The tokenizer's error type: every way building a tokenizer or turning ids back into text fails.

use super::TokenId;

/// Why a tokenizer could not be built from its metadata, or why an id could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// `tokenizer.ggml.model` names a tokenizer this crate does not implement.
    #[error(
        "unsupported tokenizer model '{model}' (tokenizer.ggml.model); supported: \
         'llama' (SentencePiece), 'gpt2' (byte-level BPE)"
    )]
    UnsupportedModel {
        /// The value of `tokenizer.ggml.model`.
        model: String,
    },
    /// `tokenizer.ggml.pre` names a pre-tokenizer this crate does not implement.
    #[error("unsupported pre-tokenizer '{pre}' (tokenizer.ggml.pre); supported: {supported}")]
    UnsupportedPreTokenizer {
        /// The value of `tokenizer.ggml.pre`.
        pre: String,
        /// The supported names, comma-separated.
        supported: String,
    },
    /// The vocabulary (`tokenizer.ggml.tokens`) is empty.
    #[error("the vocabulary (tokenizer.ggml.tokens) is empty")]
    EmptyVocab,
    /// A per-token array does not have one entry per token.
    #[error("{key} has {found} entries but the vocabulary has {expected} tokens")]
    LengthMismatch {
        /// The metadata key of the array.
        key: &'static str,
        /// The number of tokens.
        expected: usize,
        /// The number of entries in the array.
        found: usize,
    },
    /// A merge names a string that is not a token.
    #[error("tokenizer.ggml.merges[{index}] `{merge}` names `{text}`, which is not a token")]
    UnknownMergeToken {
        /// Index of the merge.
        index: usize,
        /// The merge string.
        merge: String,
        /// The string that is not in the vocabulary.
        text: String,
    },
    /// The vocabulary and the model's token embedding disagree on the number of tokens.
    #[error("tokenizer.ggml.tokens has {tokens} tokens but the model's embedding has {rows} rows")]
    VocabMismatch {
        /// Tokens in the vocabulary.
        tokens: usize,
        /// Rows of the token embedding (and of the output head).
        rows: usize,
    },
    /// A special-token id past the end of the vocabulary.
    #[error("{key} is token {id}, past the end of the vocabulary ({n_vocab} tokens)")]
    SpecialOutOfRange {
        /// The metadata key.
        key: &'static str,
        /// The id.
        id: TokenId,
        /// The vocabulary size.
        n_vocab: usize,
    },
    /// The vocabulary needs a special token that it does not define.
    #[error("the tokenizer adds a {role} token but the vocabulary has none ({key})")]
    MissingSpecialToken {
        /// Which special token (`BOS`, `EOS`).
        role: &'static str,
        /// The metadata key that would name it.
        key: &'static str,
    },
    /// A pre-tokenizer regular expression failed to compile.
    #[error("pre-tokenizer '{pre}': regex {pattern:?} does not compile: {message}")]
    Regex {
        /// The pre-tokenizer name.
        pre: String,
        /// The pattern.
        pattern: &'static str,
        /// The regex engine's message.
        message: String,
    },
    /// A regular expression failed while splitting text (backtracking limit).
    #[error("pre-tokenizer regex {pattern:?} failed on the input: {message}")]
    RegexRun {
        /// The pattern.
        pattern: String,
        /// The regex engine's message.
        message: String,
    },
    /// A token id outside the vocabulary.
    #[error("token id {id} is out of range: the vocabulary has {n_vocab} tokens")]
    TokenOutOfRange {
        /// The id.
        id: TokenId,
        /// The vocabulary size.
        n_vocab: usize,
    },
    /// Reading the tokenizer's metadata from a GGUF file failed.
    #[error("reading tokenizer metadata: {0}")]
    Gguf(#[from] ggml_core::gguf::GgufError),
}
