//! Named constants for every GGUF metadata key the project reads or writes.
//!
//! `general.*` and `tokenizer.*` keys are complete names. Architecture hyperparameters are
//! stored as `{arch}.{suffix}` (`llama.context_length`); the [`arch`] module holds the
//! suffixes and [`arch_key`] joins them.

/// Keys under `general.`.
pub mod general {
    /// Architecture name (string), the prefix of the hyperparameter keys.
    pub const ARCHITECTURE: &str = "general.architecture";
    /// Version of the quantization format (u32).
    pub const QUANTIZATION_VERSION: &str = "general.quantization_version";
    /// Alignment of the data section and of every tensor's data (u32, power of two).
    pub const ALIGNMENT: &str = "general.alignment";
    /// Model name.
    pub const NAME: &str = "general.name";
    /// Model author.
    pub const AUTHOR: &str = "general.author";
    /// Model version.
    pub const VERSION: &str = "general.version";
    /// Organization that made the model.
    pub const ORGANIZATION: &str = "general.organization";
    /// Base model name.
    pub const BASENAME: &str = "general.basename";
    /// Finetune name.
    pub const FINETUNE: &str = "general.finetune";
    /// Free-form description.
    pub const DESCRIPTION: &str = "general.description";
    /// Who quantized the file.
    pub const QUANTIZED_BY: &str = "general.quantized_by";
    /// Size label such as `135M`.
    pub const SIZE_LABEL: &str = "general.size_label";
    /// License identifier.
    pub const LICENSE: &str = "general.license";
    /// Home page.
    pub const URL: &str = "general.url";
    /// File type (`llama_ftype`, u32): the dominant quantization of the file.
    pub const FILE_TYPE: &str = "general.file_type";
    /// Kind of file, e.g. `model`.
    pub const TYPE: &str = "general.type";
    /// Tags (array of strings).
    pub const TAGS: &str = "general.tags";
    /// Languages (array of strings).
    pub const LANGUAGES: &str = "general.languages";
}

/// Suffixes of architecture hyperparameter keys; join with [`arch_key`](super::arch_key).
pub mod arch {
    /// Vocabulary size.
    pub const VOCAB_SIZE: &str = "vocab_size";
    /// Training context length.
    pub const CONTEXT_LENGTH: &str = "context_length";
    /// Hidden size.
    pub const EMBEDDING_LENGTH: &str = "embedding_length";
    /// Number of transformer blocks.
    pub const BLOCK_COUNT: &str = "block_count";
    /// Feed-forward hidden size.
    pub const FEED_FORWARD_LENGTH: &str = "feed_forward_length";
    /// Number of experts (mixture of experts).
    pub const EXPERT_COUNT: &str = "expert_count";
    /// Number of experts used per token.
    pub const EXPERT_USED_COUNT: &str = "expert_used_count";
    /// Query heads.
    pub const ATTENTION_HEAD_COUNT: &str = "attention.head_count";
    /// Key/value heads (grouped-query attention).
    pub const ATTENTION_HEAD_COUNT_KV: &str = "attention.head_count_kv";
    /// LayerNorm epsilon.
    pub const ATTENTION_LAYER_NORM_EPSILON: &str = "attention.layer_norm_epsilon";
    /// RMSNorm epsilon.
    pub const ATTENTION_LAYER_NORM_RMS_EPSILON: &str = "attention.layer_norm_rms_epsilon";
    /// Per-head key size.
    pub const ATTENTION_KEY_LENGTH: &str = "attention.key_length";
    /// Per-head value size.
    pub const ATTENTION_VALUE_LENGTH: &str = "attention.value_length";
    /// Sliding-window size of local attention layers.
    pub const ATTENTION_SLIDING_WINDOW: &str = "attention.sliding_window";
    /// Whether attention is causal.
    pub const ATTENTION_CAUSAL: &str = "attention.causal";
    /// Rotary embedding base frequency.
    pub const ROPE_FREQ_BASE: &str = "rope.freq_base";
    /// Number of dimensions rotated.
    pub const ROPE_DIMENSION_COUNT: &str = "rope.dimension_count";
    /// RoPE scaling kind (`none`, `linear`, `yarn`, …).
    pub const ROPE_SCALING_TYPE: &str = "rope.scaling.type";
    /// RoPE scaling factor.
    pub const ROPE_SCALING_FACTOR: &str = "rope.scaling.factor";
    /// RoPE attention factor (YaRN).
    pub const ROPE_SCALING_ATTN_FACTOR: &str = "rope.scaling.attn_factor";
    /// Context length the model was trained with before RoPE scaling.
    pub const ROPE_SCALING_ORIGINAL_CONTEXT_LENGTH: &str = "rope.scaling.original_context_length";
    /// Whether the model was finetuned with the scaling.
    pub const ROPE_SCALING_FINETUNED: &str = "rope.scaling.finetuned";
    /// Soft-capping of the final logits.
    pub const FINAL_LOGIT_SOFTCAPPING: &str = "final_logit_softcapping";
    /// Soft-capping of attention logits.
    pub const ATTN_LOGIT_SOFTCAPPING: &str = "attn_logit_softcapping";
}

/// Keys under `tokenizer.`.
pub mod tokenizer {
    /// Tokenizer model: `llama` (SentencePiece), `gpt2` (BPE), …
    pub const MODEL: &str = "tokenizer.ggml.model";
    /// Pre-tokenizer name.
    pub const PRE: &str = "tokenizer.ggml.pre";
    /// Token strings (array of strings).
    pub const TOKENS: &str = "tokenizer.ggml.tokens";
    /// Token types (array of i32).
    pub const TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
    /// Token scores (array of f32).
    pub const SCORES: &str = "tokenizer.ggml.scores";
    /// BPE merges (array of strings, `"a b"`).
    pub const MERGES: &str = "tokenizer.ggml.merges";
    /// Beginning-of-sequence token id.
    pub const BOS_TOKEN_ID: &str = "tokenizer.ggml.bos_token_id";
    /// End-of-sequence token id.
    pub const EOS_TOKEN_ID: &str = "tokenizer.ggml.eos_token_id";
    /// End-of-turn token id.
    pub const EOT_TOKEN_ID: &str = "tokenizer.ggml.eot_token_id";
    /// End-of-message token id.
    pub const EOM_TOKEN_ID: &str = "tokenizer.ggml.eom_token_id";
    /// Unknown token id.
    pub const UNKNOWN_TOKEN_ID: &str = "tokenizer.ggml.unknown_token_id";
    /// Separator token id (GGUF and llama.cpp spell the key `seperator`).
    pub const SEPARATOR_TOKEN_ID: &str = "tokenizer.ggml.seperator_token_id";
    /// Padding token id.
    pub const PADDING_TOKEN_ID: &str = "tokenizer.ggml.padding_token_id";
    /// Whether to prepend the BOS token.
    pub const ADD_BOS_TOKEN: &str = "tokenizer.ggml.add_bos_token";
    /// Whether to append the EOS token.
    pub const ADD_EOS_TOKEN: &str = "tokenizer.ggml.add_eos_token";
    /// Whether to append the separator token.
    pub const ADD_SEP_TOKEN: &str = "tokenizer.ggml.add_sep_token";
    /// Whether to prefix a space to the text (SentencePiece).
    pub const ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";
    /// Jinja chat template.
    pub const CHAT_TEMPLATE: &str = "tokenizer.chat_template";
}

/// The full key of hyperparameter `suffix` (from [`arch`]) for architecture `arch_name`.
pub fn arch_key(arch_name: &str, suffix: &str) -> String {
    format!("{arch_name}.{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_keys_join_with_a_dot() {
        assert_eq!(
            arch_key("llama", arch::ATTENTION_HEAD_COUNT_KV),
            "llama.attention.head_count_kv"
        );
    }
}
