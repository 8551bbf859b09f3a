//! The vocabulary: token texts, scores and attributes, the text → id map, the special tokens
//! (from metadata, llama.cpp's defaults, and llama.cpp's detection by token text) and the
//! end-of-generation set.

use std::collections::{BTreeSet, HashMap};

use super::error::TokenizerError;
use super::spec::{SpecialRole, SpecialTokens, TokenType, TokenizerSpec};
use super::TokenId;

/// Token attributes, a bit set (llama.cpp's `llama_token_attr`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Attr(u16);

impl Attr {
    pub(crate) const UNDEFINED: Attr = Attr(0);
    pub(crate) const UNKNOWN: Attr = Attr(1 << 0);
    pub(crate) const UNUSED: Attr = Attr(1 << 1);
    pub(crate) const NORMAL: Attr = Attr(1 << 2);
    pub(crate) const CONTROL: Attr = Attr(1 << 3);
    pub(crate) const USER_DEFINED: Attr = Attr(1 << 4);
    pub(crate) const BYTE: Attr = Attr(1 << 5);
    pub(crate) const LSTRIP: Attr = Attr(1 << 7);
    pub(crate) const RSTRIP: Attr = Attr(1 << 8);

    /// Whether any bit of `other` is set.
    pub(crate) fn has(self, other: Attr) -> bool {
        self.0 & other.0 != 0
    }

    pub(crate) fn with(self, other: Attr) -> Attr {
        Attr(self.0 | other.0)
    }

    fn without(self, other: Attr) -> Attr {
        Attr(self.0 & !other.0)
    }

    fn from_type(t: TokenType) -> Attr {
        match t {
            TokenType::Undefined => Attr::UNDEFINED,
            TokenType::Normal => Attr::NORMAL,
            TokenType::Unknown => Attr::UNKNOWN,
            TokenType::Control => Attr::CONTROL,
            TokenType::UserDefined => Attr::USER_DEFINED,
            TokenType::Unused => Attr::UNUSED,
            TokenType::Byte => Attr::BYTE,
        }
    }
}

/// Which tokenizer algorithm the vocabulary is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VocabKind {
    /// SentencePiece-style merge by score (`tokenizer.ggml.model = "llama"`).
    Spm,
    /// Byte-level BPE with ranked merges (`tokenizer.ggml.model = "gpt2"`).
    Bpe,
}

impl VocabKind {
    /// The kind for a `tokenizer.ggml.model` value.
    pub fn from_model(model: &str) -> Result<VocabKind, TokenizerError> {
        match model {
            "llama" => Ok(VocabKind::Spm),
            "gpt2" => Ok(VocabKind::Bpe),
            other => Err(TokenizerError::UnsupportedModel {
                model: other.to_owned(),
            }),
        }
    }
}

/// Texts that llama.cpp takes as a role's token when metadata names none (lowest id wins here;
/// llama.cpp takes whichever its hash map yields first).
const DETECT_BY_TEXT: &[(SpecialRole, &[&str])] = &[
    (
        SpecialRole::Eot,
        &[
            "<|eot_id|>",
            "<|im_end|>",
            "<|end|>",
            "<end_of_turn>",
            "<|endoftext|>",
            "<|end_of_text|>",
            "<EOT>",
            "_<EOT>",
            "[EOT]",
            "<end_of_utterance>",
            "<\u{ff5c}end\u{2581}of\u{2581}sentence\u{ff5c}>",
        ],
    ),
    (SpecialRole::Eom, &["<|eom_id|>"]),
    (
        SpecialRole::FimPre,
        &[
            "<|fim_prefix|>",
            "<fim-prefix>",
            "<fim_prefix>",
            "<PRE>",
            "<|code_prefix|>",
            "<|prefix|>",
        ],
    ),
    (
        SpecialRole::FimSuf,
        &[
            "<|fim_suffix|>",
            "<fim-suffix>",
            "<fim_suffix>",
            "<SUF>",
            "<|code_suffix|>",
            "<|suffix|>",
        ],
    ),
    (
        SpecialRole::FimMid,
        &[
            "<|fim_middle|>",
            "<fim-middle>",
            "<fim_middle>",
            "<MID>",
            "<|code_middle|>",
            "<|middle|>",
        ],
    ),
    (
        SpecialRole::FimPad,
        &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"],
    ),
    (
        SpecialRole::FimRep,
        &[
            "<|fim_repo|>",
            "<|repo_name|>",
            "<fim-repo>",
            "<REPO>",
            "<reponame>",
        ],
    ),
    (SpecialRole::FimSep, &["<|file_sep|>"]),
];

/// Token texts that end generation (llama.cpp's list); they also become control tokens.
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
];

/// Tokens that are always rendered as text (llama.cpp's gpt-oss rule).
const ALWAYS_USER_DEFINED: &[&str] = &["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"];

/// The vocabulary with everything derived from it that both tokenizer kinds share.
#[derive(Debug)]
pub(crate) struct Vocab {
    pub(crate) texts: Vec<String>,
    pub(crate) scores: Vec<f32>,
    pub(crate) types: Vec<TokenType>,
    pub(crate) attrs: Vec<Attr>,
    ids: HashMap<String, TokenId>,
    pub(crate) special: SpecialTokens,
    pub(crate) eog: BTreeSet<TokenId>,
    /// Control, user-defined and unknown tokens, longest text first: matched in input text.
    pub(crate) special_cache: Vec<TokenId>,
}

impl Vocab {
    /// Builds the vocabulary of `spec` for a tokenizer of `kind`.
    pub(crate) fn new(spec: &TokenizerSpec, kind: VocabKind) -> Result<Vocab, TokenizerError> {
        let n = spec.tokens.len();
        if n == 0 {
            return Err(TokenizerError::EmptyVocab);
        }
        if TokenId::try_from(n).is_err() {
            return Err(TokenizerError::LengthMismatch {
                key: "tokenizer.ggml.tokens",
                expected: TokenId::MAX as usize,
                found: n,
            });
        }
        let scores = match &spec.scores {
            Some(s) if s.len() != n => {
                return Err(TokenizerError::LengthMismatch {
                    key: "tokenizer.ggml.scores",
                    expected: n,
                    found: s.len(),
                })
            }
            Some(s) => s.clone(),
            None => vec![0.0; n],
        };
        let types = match &spec.token_types {
            Some(t) if t.len() != n => {
                return Err(TokenizerError::LengthMismatch {
                    key: "tokenizer.ggml.token_type",
                    expected: n,
                    found: t.len(),
                })
            }
            Some(t) => t.clone(),
            None => vec![TokenType::Normal; n],
        };
        let mut texts = Vec::with_capacity(n);
        let mut ids = HashMap::with_capacity(n);
        for (i, text) in spec.tokens.iter().enumerate() {
            let text = if text.is_empty() {
                format!("[EMPTY_{i}]")
            } else {
                text.clone()
            };
            // A later duplicate wins, as in llama.cpp.
            ids.insert(text.clone(), i as TokenId);
            texts.push(text);
        }
        let attrs = types.iter().map(|&t| Attr::from_type(t)).collect();
        let mut vocab = Vocab {
            texts,
            scores,
            types,
            attrs,
            ids,
            special: SpecialTokens::default(),
            eog: BTreeSet::new(),
            special_cache: Vec::new(),
        };
        vocab.resolve_special(spec, kind)?;
        vocab.build_eog();
        vocab.build_special_cache();
        vocab.apply_model_rules(spec.model_name.as_deref());
        Ok(vocab)
    }

    /// The number of tokens.
    pub(crate) fn len(&self) -> usize {
        self.texts.len()
    }

    /// The id of the token whose text is exactly `text`.
    pub(crate) fn id(&self, text: &str) -> Option<TokenId> {
        self.ids.get(text).copied()
    }

    pub(crate) fn attr(&self, id: TokenId) -> Attr {
        self.attrs[id as usize]
    }

    fn add_attr(&mut self, id: TokenId, attr: Attr) {
        let a = &mut self.attrs[id as usize];
        *a = a.with(attr);
    }

    /// Special ids: llama.cpp's defaults for the kind, then metadata, then detection by text.
    fn resolve_special(
        &mut self,
        spec: &TokenizerSpec,
        kind: VocabKind,
    ) -> Result<(), TokenizerError> {
        let n = self.len();
        let defaults: &[(SpecialRole, TokenId)] = match kind {
            VocabKind::Spm => &[
                (SpecialRole::Bos, 1),
                (SpecialRole::Eos, 2),
                (SpecialRole::Unk, 0),
            ],
            VocabKind::Bpe => &[(SpecialRole::Bos, 11), (SpecialRole::Eos, 11)],
        };
        for &(role, id) in defaults {
            self.special
                .set(role, Some(id).filter(|&id| (id as usize) < n));
        }
        for &(role, id) in &spec.special_ids {
            if (id as usize) >= n {
                return Err(TokenizerError::SpecialOutOfRange {
                    key: role.gguf_key(),
                    id,
                    n_vocab: n,
                });
            }
            self.special.set(role, Some(id));
        }
        for &(role, texts) in DETECT_BY_TEXT {
            if self.special.get(role).is_some() {
                continue;
            }
            let found = texts.iter().filter_map(|t| self.id(t)).min();
            if let Some(id) = found {
                self.special.set(role, Some(id));
                self.add_attr(id, Attr::CONTROL);
            }
        }
        Ok(())
    }

    /// The end-of-generation set, built as llama.cpp builds it.
    fn build_eog(&mut self) {
        for role in [
            SpecialRole::FimPad,
            SpecialRole::FimRep,
            SpecialRole::FimSep,
        ] {
            self.eog.extend(self.special.get(role));
        }
        for text in EOG_TEXTS {
            if let Some(id) = self.id(text) {
                self.eog.insert(id);
                self.add_attr(id, Attr::CONTROL);
            }
        }
        for text in ALWAYS_USER_DEFINED {
            if let Some(id) = self.id(text) {
                self.attrs[id as usize] = Attr::USER_DEFINED;
            }
        }
        for role in [SpecialRole::Eos, SpecialRole::Eot, SpecialRole::Eom] {
            self.eog.extend(self.special.get(role));
        }
        let in_eog = |v: &Vocab, text: &str| v.id(text).filter(|id| v.eog.contains(id));
        // Harmony-style vocabularies: "<|end|>" ends a message, not the generation.
        let has_call = in_eog(self, "<|call|>")
            .or(in_eog(self, "<|calls|>"))
            .is_some();
        let has_return = in_eog(self, "<|return|>").is_some();
        let has_flush = in_eog(self, "<|flush|>").is_some();
        if let Some(end) = in_eog(self, "<|end|>") {
            if has_call && (has_return || has_flush) {
                self.eog.remove(&end);
                self.attrs[end as usize] = Attr::USER_DEFINED;
            }
        }
        // Vocabularies with "<|tool_response>" use "</s>" as text.
        if let (Some(_), Some(s)) = (in_eog(self, "<|tool_response>"), in_eog(self, "</s>")) {
            self.eog.remove(&s);
            self.attrs[s as usize] = Attr::NORMAL;
        }
    }

    fn build_special_cache(&mut self) {
        let mask = Attr::CONTROL.with(Attr::USER_DEFINED).with(Attr::UNKNOWN);
        let mut cache: Vec<TokenId> = (0..self.len() as TokenId)
            .filter(|&id| self.attr(id).has(mask))
            .collect();
        cache.sort_by(|&a, &b| {
            let (la, lb) = (self.texts[a as usize].len(), self.texts[b as usize].len());
            lb.cmp(&la).then(a.cmp(&b))
        });
        self.special_cache = cache;
    }

    /// Per-model attributes llama.cpp sets by name: Phi-3's special tokens eat following spaces.
    fn apply_model_rules(&mut self, model_name: Option<&str>) {
        let name = model_name.unwrap_or_default().to_lowercase();
        if !(name.contains("phi-3") || name.contains("phi3")) {
            return;
        }
        for id in self.special_cache.clone() {
            self.add_attr(id, Attr::RSTRIP);
        }
        if let Some(id) = self.id("</s>") {
            self.add_attr(id, Attr::RSTRIP);
        }
        for text in ["<unk>", "<s>", "<|endoftext|>"] {
            if let Some(id) = self.id(text) {
                let a = &mut self.attrs[id as usize];
                *a = a.without(Attr::RSTRIP);
            }
        }
    }
}
