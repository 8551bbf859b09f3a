//! Tokenizers built from GGUF metadata, behaving as llama.cpp's: SentencePiece-style merging
//! by score (`llama`) and byte-level BPE (`gpt2`) with the pre-tokenizer named by
//! `tokenizer.ggml.pre`; special tokens; BOS/EOS; detokenization and streaming detokenization.
//!
//! ```text
//! TokenizerSpec (plain metadata) ──► Tokenizer::new ──► encode / token_to_piece / decode / stream
//! ```

mod bpe;
mod decode;
mod error;
mod gguf;
mod pretok;
mod spec;
mod special;
mod spm;
mod stream;
mod vocab;

pub use error::TokenizerError;
pub use pretok::PreTokenizerKind;
pub use spec::{SpecialRole, SpecialTokens, TokenType, TokenizerSpec};
pub use stream::StreamDecoder;
pub use vocab::VocabKind;

use bpe::Bpe;
use pretok::{PreConfig, Splitter};
use special::Fragment;
use vocab::{Attr, Vocab};

/// A token id: an index into the vocabulary.
pub type TokenId = u32;

/// The algorithm-specific part of a tokenizer.
#[derive(Debug)]
enum Engine {
    Spm { byte_tokens: Vec<Option<TokenId>> },
    Bpe(Box<Bpe>),
}

/// A tokenizer: text → ids and ids → text, as llama.cpp does it for the same GGUF file.
#[derive(Debug)]
pub struct Tokenizer {
    kind: VocabKind,
    pre: Option<PreTokenizerKind>,
    vocab: Vocab,
    engine: Engine,
    pieces: Vec<Vec<u8>>,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
    clean_spaces: bool,
}

impl Tokenizer {
    /// Builds a tokenizer from plain metadata; absent keys take llama.cpp's defaults for the
    /// tokenizer model (SentencePiece: BOS on, space prefix on; BPE: as the pre-tokenizer says).
    pub fn new(spec: &TokenizerSpec) -> Result<Tokenizer, TokenizerError> {
        let kind = VocabKind::from_model(&spec.model)?;
        let vocab = Vocab::new(spec, kind)?;
        let (engine, pre, defaults) = match kind {
            VocabKind::Spm => {
                let engine = Engine::Spm {
                    byte_tokens: spm::byte_tokens(&vocab),
                };
                (engine, None, (true, true, false))
            }
            VocabKind::Bpe => {
                let config = PreConfig::from_name(spec.pre.as_deref())?;
                let name = spec.pre.as_deref().unwrap_or("default");
                let splitter = Splitter::new(config.kind, name)?;
                let bpe = Bpe::new(&vocab, &spec.merges, splitter, config.ignore_merges)?;
                let defaults = (config.add_bos, false, config.clean_spaces);
                (Engine::Bpe(Box::new(bpe)), Some(config.kind), defaults)
            }
        };
        let (default_bos, default_space_prefix, clean_spaces) = defaults;
        let add_bos = spec.add_bos.unwrap_or(default_bos);
        let add_eos = spec.add_eos.unwrap_or(false);
        let pieces = decode::build_pieces(&vocab, kind);
        let tokenizer = Tokenizer {
            kind,
            pre,
            vocab,
            engine,
            pieces,
            add_bos,
            add_eos,
            add_space_prefix: spec.add_space_prefix.unwrap_or(default_space_prefix),
            clean_spaces,
        };
        if add_bos && tokenizer.special_tokens().bos().is_none() {
            return Err(TokenizerError::MissingSpecialToken {
                role: "BOS",
                key: SpecialRole::Bos.gguf_key(),
            });
        }
        if add_eos && tokenizer.special_tokens().eos().is_none() {
            return Err(TokenizerError::MissingSpecialToken {
                role: "EOS",
                key: SpecialRole::Eos.gguf_key(),
            });
        }
        Ok(tokenizer)
    }

    /// Tokenizes `text`. With `add_special`, BOS and EOS are added where the model asks for
    /// them; with `parse_special`, control tokens written in the text (`<|im_start|>`) become
    /// those tokens (user-defined tokens are always recognised).
    pub fn encode(
        &self,
        text: &str,
        add_special: bool,
        parse_special: bool,
    ) -> Result<Vec<TokenId>, TokenizerError> {
        let special = &self.vocab.special;
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        if add_special && self.add_bos {
            out.extend(special.bos());
        }
        // SentencePiece prefixes a space to text at the start and after a special token.
        let mut after_special = true;
        for fragment in special::partition(&self.vocab, text, parse_special) {
            match fragment {
                Fragment::Token(id) => {
                    out.push(id);
                    after_special = true;
                }
                Fragment::Text(t) => {
                    match &self.engine {
                        Engine::Spm { byte_tokens } => {
                            let prefix = if self.add_space_prefix && after_special {
                                " "
                            } else {
                                ""
                            };
                            let escaped = spm::escape_spaces(&format!("{prefix}{t}"));
                            spm::encode(
                                &self.vocab,
                                byte_tokens,
                                special.unk(),
                                &escaped,
                                &mut out,
                            );
                        }
                        Engine::Bpe(bpe) => bpe.encode(&self.vocab, t, &mut out)?,
                    }
                    after_special = false;
                }
            }
        }
        if add_special && self.add_eos {
            out.extend(special.eos());
        }
        Ok(out)
    }

    /// The bytes token `id` stands for. Control and unknown tokens are empty unless `special`.
    /// A piece may be part of a UTF-8 character (byte tokens, byte-level BPE).
    pub fn token_to_piece(&self, id: TokenId, special: bool) -> Result<&[u8], TokenizerError> {
        self.check(id)?;
        if !special && self.vocab.attr(id).has(Attr::CONTROL.with(Attr::UNKNOWN)) {
            return Ok(&[]);
        }
        Ok(&self.pieces[id as usize])
    }

    /// Turns ids back into bytes as llama.cpp's `llama_detokenize` does: with `remove_special`,
    /// a leading BOS and trailing EOS that the model adds are dropped; with `unparse_special`,
    /// control tokens are written as their text. The space a SentencePiece model prefixes is
    /// removed from the first piece.
    pub fn detokenize(
        &self,
        ids: &[TokenId],
        remove_special: bool,
        unparse_special: bool,
    ) -> Result<Vec<u8>, TokenizerError> {
        let special = &self.vocab.special;
        let mut ids = ids;
        let mut remove_space = self.add_space_prefix;
        if remove_special && self.add_bos {
            if let Some((&first, rest)) = ids.split_first() {
                if Some(first) == special.bos() {
                    remove_space = false;
                    ids = rest;
                }
            }
        }
        if remove_special && self.add_eos {
            if let Some((&last, rest)) = ids.split_last() {
                if Some(last) == special.eos() {
                    ids = rest;
                }
            }
        }
        let mut out = Vec::new();
        for &id in ids {
            let mut piece = self.token_to_piece(id, unparse_special)?;
            if remove_space {
                piece = piece.strip_prefix(b" ").unwrap_or(piece);
                remove_space = false;
            }
            out.extend_from_slice(piece);
        }
        if self.clean_spaces {
            decode::clean_spaces(&mut out);
        }
        Ok(out)
    }

    /// The text of `ids` with control tokens left out; invalid UTF-8 becomes U+FFFD.
    pub fn decode(&self, ids: &[TokenId]) -> Result<String, TokenizerError> {
        let bytes = self.detokenize(ids, false, false)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// A streaming decoder for generated ids (see [`StreamDecoder`]).
    pub fn stream(&self, special: bool) -> StreamDecoder<'_> {
        StreamDecoder::new(self, special)
    }

    /// Whether `id` ends generation: EOS, EOT, EOM and the end-of-turn tokens llama.cpp
    /// recognises by their text (`<|im_end|>`, `<end_of_turn>`, `<|endoftext|>`, …).
    pub fn is_eog(&self, id: TokenId) -> bool {
        self.vocab.eog.contains(&id)
    }

    /// Every end-of-generation id, ascending.
    pub fn eog_ids(&self) -> impl Iterator<Item = TokenId> + '_ {
        self.vocab.eog.iter().copied()
    }

    /// Whether `id` is a control token (after llama.cpp's detection of end-of-turn tokens).
    pub fn is_control(&self, id: TokenId) -> bool {
        (id as usize) < self.vocab.len() && self.vocab.attr(id).has(Attr::CONTROL)
    }

    /// The special tokens by role.
    pub fn special_tokens(&self) -> &SpecialTokens {
        &self.vocab.special
    }

    /// The number of tokens in the vocabulary.
    pub fn n_vocab(&self) -> usize {
        self.vocab.len()
    }

    /// Checks that the vocabulary has exactly `rows` tokens, the rows of the model's token
    /// embedding and output head, so every id the tokenizer makes is a row and every row
    /// the sampler picks is a token.
    pub fn check_model_vocab(&self, rows: usize) -> Result<(), TokenizerError> {
        if self.n_vocab() != rows {
            return Err(TokenizerError::VocabMismatch {
                tokens: self.n_vocab(),
                rows,
            });
        }
        Ok(())
    }

    /// The vocabulary text of `id` (SentencePiece `▁` and byte-level characters as stored).
    pub fn token_text(&self, id: TokenId) -> Option<&str> {
        self.vocab.texts.get(id as usize).map(String::as_str)
    }

    /// The type of `id` as the metadata gives it.
    pub fn token_type(&self, id: TokenId) -> Option<TokenType> {
        self.vocab.types.get(id as usize).copied()
    }

    /// The id of the token whose vocabulary text is exactly `text`.
    pub fn token_id(&self, text: &str) -> Option<TokenId> {
        self.vocab.id(text)
    }

    /// Which tokenizer algorithm this is.
    pub fn kind(&self) -> VocabKind {
        self.kind
    }

    /// The pre-tokenizer of a BPE tokenizer.
    pub fn pre_tokenizer(&self) -> Option<PreTokenizerKind> {
        self.pre
    }

    /// Whether [`Tokenizer::encode`] with `add_special` prepends BOS.
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// Whether [`Tokenizer::encode`] with `add_special` appends EOS.
    pub fn add_eos(&self) -> bool {
        self.add_eos
    }

    fn check(&self, id: TokenId) -> Result<(), TokenizerError> {
        if (id as usize) < self.vocab.len() {
            Ok(())
        } else {
            Err(TokenizerError::TokenOutOfRange {
                id,
                n_vocab: self.vocab.len(),
            })
        }
    }
}
