//! Architecture table: what each supported `general.architecture` needs — rope mode, gated
//! FFN activation, which optional tensors it has (biases, QK-norms, post-norms) and its
//! hyperparameter quirks. One `ArchSpec` per architecture; the forward pass reads these
//! flags, so shared layers are written once.

mod gemma;
mod llama;
mod phi3;
mod qwen;

use ggml_core::ops::{GluKind, RopeMode};

/// How a model alternates sliding-window (local) and global attention layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwaPattern {
    /// Every layer is global, unless the metadata gives a sliding window, then all are local.
    FromMetadata,
    /// Layer `il` is global when `il % period == period - 1`, local otherwise (gemma3: 6).
    EveryNthGlobal(usize),
}

/// Everything that distinguishes one architecture's transformer block from another's.
#[derive(Clone, Copy, Debug)]
pub struct ArchSpec {
    /// `general.architecture` value.
    pub name: &'static str,
    /// Rope pairing.
    pub rope_mode: RopeMode,
    /// Gated FFN activation.
    pub glu: GluKind,
    /// Q, K and V are stored as one fused matrix (`attn_qkv`, rows Q then K then V).
    pub fused_qkv: bool,
    /// Gate and up projections are stored as one fused matrix (`ffn_up`, gate rows first).
    pub fused_gate_up: bool,
    /// Q/K/V projections carry biases that must be present.
    pub qkv_bias: bool,
    /// Per-head RMS norms of Q and K (`attn_q_norm`, `attn_k_norm`).
    pub qk_norm: bool,
    /// RMS norms after attention and after the FFN (`post_attention_norm`, `post_ffw_norm`).
    pub post_norms: bool,
    /// The token embedding is multiplied by `sqrt(n_embd)`.
    pub scale_embeddings: bool,
    /// Local/global layer layout.
    pub swa: SwaPattern,
    /// Rope base of local (sliding-window) layers, where it differs from the global base.
    pub rope_base_swa: Option<f32>,
    /// Attention scale from the hyperparameters (default `1/sqrt(head_dim_k)`).
    pub attn_scale: fn(&crate::config::ModelConfig) -> f32,
}

/// Every supported architecture.
pub const ARCHITECTURES: &[ArchSpec] = &[
    llama::LLAMA,
    llama::MISTRAL,
    qwen::QWEN2,
    qwen::QWEN3,
    gemma::GEMMA2,
    gemma::GEMMA3,
    phi3::PHI3,
];

/// The spec of architecture `name`, if supported.
pub fn lookup(name: &str) -> Option<&'static ArchSpec> {
    ARCHITECTURES.iter().find(|a| a.name == name)
}

/// Names of the supported architectures, comma-separated.
pub fn supported_names() -> String {
    ARCHITECTURES
        .iter()
        .map(|a| a.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `1/sqrt(head_dim_k)`: the usual attention scale.
pub(crate) fn default_attn_scale(h: &crate::config::ModelConfig) -> f32 {
    1.0 / (h.head_dim_k as f32).sqrt()
}

/// GGUF tensor names, as llama.cpp's converters write them.
pub mod tensor_names {
    /// Token embedding table.
    pub const TOKEN_EMBD: &str = "token_embd.weight";
    /// Final norm.
    pub const OUTPUT_NORM: &str = "output_norm.weight";
    /// Output head (absent when tied to the embedding).
    pub const OUTPUT: &str = "output.weight";
    /// Per-dimension rope frequency factors (llama3-style scaling).
    pub const ROPE_FREQS: &str = "rope_freqs.weight";
    /// LongRoPE factors for contexts past the original length (phi3 128k).
    pub const ROPE_FACTORS_LONG: &str = "rope_factors_long.weight";

    /// Per-layer tensor suffixes, joined as `blk.{il}.{suffix}`.
    pub mod blk {
        /// Pre-attention norm.
        pub const ATTN_NORM: &str = "attn_norm.weight";
        /// Query projection.
        pub const ATTN_Q: &str = "attn_q.weight";
        /// Key projection.
        pub const ATTN_K: &str = "attn_k.weight";
        /// Value projection.
        pub const ATTN_V: &str = "attn_v.weight";
        /// Fused Q/K/V projection.
        pub const ATTN_QKV: &str = "attn_qkv.weight";
        /// Attention output projection.
        pub const ATTN_OUT: &str = "attn_output.weight";
        /// Query bias.
        pub const ATTN_Q_BIAS: &str = "attn_q.bias";
        /// Key bias.
        pub const ATTN_K_BIAS: &str = "attn_k.bias";
        /// Value bias.
        pub const ATTN_V_BIAS: &str = "attn_v.bias";
        /// Output projection bias.
        pub const ATTN_OUT_BIAS: &str = "attn_output.bias";
        /// Per-head query norm.
        pub const ATTN_Q_NORM: &str = "attn_q_norm.weight";
        /// Per-head key norm.
        pub const ATTN_K_NORM: &str = "attn_k_norm.weight";
        /// Norm after attention.
        pub const POST_ATTN_NORM: &str = "post_attention_norm.weight";
        /// Pre-FFN norm.
        pub const FFN_NORM: &str = "ffn_norm.weight";
        /// FFN gate projection.
        pub const FFN_GATE: &str = "ffn_gate.weight";
        /// FFN up projection.
        pub const FFN_UP: &str = "ffn_up.weight";
        /// FFN down projection.
        pub const FFN_DOWN: &str = "ffn_down.weight";
        /// Norm after the FFN.
        pub const POST_FFN_NORM: &str = "post_ffw_norm.weight";
    }

    /// `blk.{il}.{suffix}`.
    pub fn layer(il: usize, suffix: &str) -> String {
        format!("blk.{il}.{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_every_architecture_once() {
        for a in ARCHITECTURES {
            assert_eq!(lookup(a.name).map(|s| s.name), Some(a.name));
        }
        assert!(lookup("gpt-j").is_none());
        assert_eq!(
            supported_names(),
            "llama, mistral, qwen2, qwen3, gemma2, gemma3, phi3"
        );
    }
}
