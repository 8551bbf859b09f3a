//! The llama family: llama (Llama 2/3.x, SmolLM2, …) and mistral — NORM rope, SwiGLU,
//! optional Q/K/V/O biases, rope scaling none/linear/yarn/llama3 from the metadata.

use super::{default_attn_scale, ArchSpec, SwaPattern};
use ggml_core::ops::{GluKind, RopeMode};

/// `llama`.
pub const LLAMA: ArchSpec = ArchSpec {
    name: "llama",
    rope_mode: RopeMode::Norm,
    glu: GluKind::SwiGlu,
    fused_qkv: false,
    fused_gate_up: false,
    qkv_bias: false,
    qk_norm: false,
    post_norms: false,
    scale_embeddings: false,
    swa: SwaPattern::FromMetadata,
    rope_base_swa: None,
    attn_scale: default_attn_scale,
};

/// `mistral`: llama's block; a sliding window when the metadata gives one.
pub const MISTRAL: ArchSpec = ArchSpec {
    name: "mistral",
    ..LLAMA
};
