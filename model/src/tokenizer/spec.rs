//! The tokenizer's inputs as plain data: what the GGUF `tokenizer.ggml.*` metadata holds.

use super::TokenId;

/// The type of one token, as `tokenizer.ggml.token_type` stores it (llama.cpp's numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// 0: no type given.
    Undefined,
    /// 1: an ordinary piece of text.
    Normal,
    /// 2: the unknown token.
    Unknown,
    /// 3: a control token (`<s>`, `<|im_end|>`); matched in input only when special parsing is on.
    Control,
    /// 4: a user-defined token; always matched in input, before anything else.
    UserDefined,
    /// 5: an unused slot.
    Unused,
    /// 6: a byte-fallback token `<0xXX>` (SentencePiece).
    Byte,
}

impl TokenType {
    /// The type for a GGUF code; codes outside 0..=6 are [`TokenType::Undefined`], as in llama.cpp.
    pub fn from_code(code: i32) -> TokenType {
        match code {
            1 => TokenType::Normal,
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            _ => TokenType::Undefined,
        }
    }

    /// The GGUF code of the type (the inverse of [`TokenType::from_code`]).
    pub fn code(self) -> i32 {
        match self {
            TokenType::Undefined => 0,
            TokenType::Normal => 1,
            TokenType::Unknown => 2,
            TokenType::Control => 3,
            TokenType::UserDefined => 4,
            TokenType::Unused => 5,
            TokenType::Byte => 6,
        }
    }
}

/// A role a special token plays; each has its own `tokenizer.ggml.*_token_id` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpecialRole {
    /// Beginning of sequence.
    Bos,
    /// End of sequence.
    Eos,
    /// End of turn (`<|im_end|>`, `<end_of_turn>`, `<|eot_id|>`).
    Eot,
    /// End of message (`<|eom_id|>`).
    Eom,
    /// Unknown.
    Unk,
    /// Separator.
    Sep,
    /// Padding.
    Pad,
    /// Mask.
    Mask,
    /// Fill-in-the-middle prefix.
    FimPre,
    /// Fill-in-the-middle suffix.
    FimSuf,
    /// Fill-in-the-middle middle.
    FimMid,
    /// Fill-in-the-middle padding.
    FimPad,
    /// Fill-in-the-middle repository name.
    FimRep,
    /// Fill-in-the-middle file separator.
    FimSep,
}

impl SpecialRole {
    /// Every role, in the order of [`SpecialTokens`]' table.
    pub const ALL: [SpecialRole; 14] = [
        SpecialRole::Bos,
        SpecialRole::Eos,
        SpecialRole::Eot,
        SpecialRole::Eom,
        SpecialRole::Unk,
        SpecialRole::Sep,
        SpecialRole::Pad,
        SpecialRole::Mask,
        SpecialRole::FimPre,
        SpecialRole::FimSuf,
        SpecialRole::FimMid,
        SpecialRole::FimPad,
        SpecialRole::FimRep,
        SpecialRole::FimSep,
    ];

    /// The GGUF metadata key that holds this role's token id.
    pub fn gguf_key(self) -> &'static str {
        match self {
            SpecialRole::Bos => "tokenizer.ggml.bos_token_id",
            SpecialRole::Eos => "tokenizer.ggml.eos_token_id",
            SpecialRole::Eot => "tokenizer.ggml.eot_token_id",
            SpecialRole::Eom => "tokenizer.ggml.eom_token_id",
            SpecialRole::Unk => "tokenizer.ggml.unknown_token_id",
            // The GGUF spec spells this key "seperator".
            SpecialRole::Sep => "tokenizer.ggml.seperator_token_id",
            SpecialRole::Pad => "tokenizer.ggml.padding_token_id",
            SpecialRole::Mask => "tokenizer.ggml.mask_token_id",
            SpecialRole::FimPre => "tokenizer.ggml.fim_pre_token_id",
            SpecialRole::FimSuf => "tokenizer.ggml.fim_suf_token_id",
            SpecialRole::FimMid => "tokenizer.ggml.fim_mid_token_id",
            SpecialRole::FimPad => "tokenizer.ggml.fim_pad_token_id",
            SpecialRole::FimRep => "tokenizer.ggml.fim_rep_token_id",
            SpecialRole::FimSep => "tokenizer.ggml.fim_sep_token_id",
        }
    }

    /// Deprecated keys that llama.cpp still reads for this role (after the current key).
    pub fn deprecated_gguf_key(self) -> Option<&'static str> {
        match self {
            SpecialRole::FimPre => Some("tokenizer.ggml.prefix_token_id"),
            SpecialRole::FimSuf => Some("tokenizer.ggml.suffix_token_id"),
            SpecialRole::FimMid => Some("tokenizer.ggml.middle_token_id"),
            _ => None,
        }
    }

    /// The position in [`SpecialRole::ALL`] (declaration order).
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The ids of the special tokens, by role; `None` where the vocabulary has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecialTokens {
    ids: [Option<TokenId>; 14],
}

impl SpecialTokens {
    /// The token that plays `role`, if any.
    pub fn get(&self, role: SpecialRole) -> Option<TokenId> {
        self.ids[role.index()]
    }

    /// Sets (or clears) the token that plays `role`.
    pub fn set(&mut self, role: SpecialRole, id: Option<TokenId>) {
        self.ids[role.index()] = id;
    }

    /// Beginning of sequence.
    pub fn bos(&self) -> Option<TokenId> {
        self.get(SpecialRole::Bos)
    }

    /// End of sequence.
    pub fn eos(&self) -> Option<TokenId> {
        self.get(SpecialRole::Eos)
    }

    /// End of turn.
    pub fn eot(&self) -> Option<TokenId> {
        self.get(SpecialRole::Eot)
    }

    /// Unknown.
    pub fn unk(&self) -> Option<TokenId> {
        self.get(SpecialRole::Unk)
    }

    /// Padding.
    pub fn pad(&self) -> Option<TokenId> {
        self.get(SpecialRole::Pad)
    }
}

/// Everything a tokenizer is built from, as plain vectors: the `tokenizer.ggml.*` metadata of a
/// GGUF file. Optional fields are `None` where the key is absent; the builder then uses
/// llama.cpp's default for the tokenizer model.
#[derive(Debug, Clone, Default)]
pub struct TokenizerSpec {
    /// `tokenizer.ggml.model`: `llama` (SentencePiece) or `gpt2` (byte-level BPE).
    pub model: String,
    /// `tokenizer.ggml.pre`: the pre-tokenizer of a BPE vocabulary.
    pub pre: Option<String>,
    /// `tokenizer.ggml.tokens`.
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.scores` (SentencePiece merge priorities).
    pub scores: Option<Vec<f32>>,
    /// `tokenizer.ggml.token_type`.
    pub token_types: Option<Vec<TokenType>>,
    /// `tokenizer.ggml.merges`: `"left right"` pairs, highest priority first.
    pub merges: Vec<String>,
    /// Token ids given by `tokenizer.ggml.*_token_id` keys, in the order they were read.
    pub special_ids: Vec<(SpecialRole, u32)>,
    /// `tokenizer.ggml.add_bos_token`.
    pub add_bos: Option<bool>,
    /// `tokenizer.ggml.add_eos_token`.
    pub add_eos: Option<bool>,
    /// `tokenizer.ggml.add_space_prefix`.
    pub add_space_prefix: Option<bool>,
    /// `general.name`; some models' special tokens strip surrounding whitespace by name.
    pub model_name: Option<String>,
}
