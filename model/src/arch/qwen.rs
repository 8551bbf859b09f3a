//! The qwen family: qwen2 (NEOX rope, Q/K/V biases) and qwen3 (NEOX rope, per-head QK-norm,
//! no biases), both SwiGLU.

use super::{default_attn_scale, ArchSpec, SwaPattern};
use ggml_core::ops::{GluKind, RopeMode};

/// `qwen2`.
pub const QWEN2: ArchSpec = ArchSpec {
    name: "qwen2",
    rope_mode: RopeMode::Neox,
    glu: GluKind::SwiGlu,
    fused_qkv: false,
    fused_gate_up: false,
    qkv_bias: true,
    qk_norm: false,
    post_norms: false,
    scale_embeddings: false,
    swa: SwaPattern::FromMetadata,
    rope_base_swa: None,
    attn_scale: default_attn_scale,
};

/// `qwen3`.
pub const QWEN3: ArchSpec = ArchSpec {
    name: "qwen3",
    qkv_bias: false,
    qk_norm: true,
    ..QWEN2
};
