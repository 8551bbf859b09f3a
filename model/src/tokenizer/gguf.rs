//! Reading a tokenizer's metadata (`tokenizer.ggml.*`) from a GGUF file.

use ggml_core::gguf::keys::{general, tokenizer as keys};
use ggml_core::gguf::{GgufFile, Metadata};

use super::error::TokenizerError;
use super::spec::{SpecialRole, TokenType, TokenizerSpec};
use super::Tokenizer;

impl TokenizerSpec {
    /// Collects the tokenizer keys of `metadata`. `tokenizer.ggml.model` and
    /// `tokenizer.ggml.tokens` are required; every other key is optional.
    pub fn from_metadata(metadata: &Metadata) -> Result<TokenizerSpec, TokenizerError> {
        let mut special_ids = Vec::new();
        for role in SpecialRole::ALL {
            for key in std::iter::once(role.gguf_key()).chain(role.deprecated_gguf_key()) {
                if let Some(id) = metadata.get_opt::<u32>(key)? {
                    special_ids.push((role, id));
                }
            }
        }
        Ok(TokenizerSpec {
            model: metadata.get_str(keys::MODEL)?.to_owned(),
            pre: metadata.get_opt::<&str>(keys::PRE)?.map(str::to_owned),
            tokens: metadata.get_str_array(keys::TOKENS)?.to_vec(),
            scores: metadata
                .get_opt::<&[f32]>(keys::SCORES)?
                .map(<[f32]>::to_vec),
            token_types: metadata
                .get_opt::<&[i32]>(keys::TOKEN_TYPE)?
                .map(|t| t.iter().map(|&c| TokenType::from_code(c)).collect()),
            merges: metadata
                .get_opt::<&[String]>(keys::MERGES)?
                .map(<[String]>::to_vec)
                .unwrap_or_default(),
            special_ids,
            add_bos: metadata.get_opt::<bool>(keys::ADD_BOS_TOKEN)?,
            add_eos: metadata.get_opt::<bool>(keys::ADD_EOS_TOKEN)?,
            add_space_prefix: metadata.get_opt::<bool>(keys::ADD_SPACE_PREFIX)?,
            model_name: metadata.get_opt::<&str>(general::NAME)?.map(str::to_owned),
        })
    }
}

impl Tokenizer {
    /// The tokenizer described by `metadata`.
    pub fn from_metadata(metadata: &Metadata) -> Result<Tokenizer, TokenizerError> {
        Tokenizer::new(&TokenizerSpec::from_metadata(metadata)?)
    }

    /// The tokenizer of a GGUF file.
    pub fn from_gguf(file: &GgufFile) -> Result<Tokenizer, TokenizerError> {
        Tokenizer::from_metadata(file.metadata())
    }
}
