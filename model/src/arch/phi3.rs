//! phi3: llama's block with NEOX rope, Q/K/V fused into one matrix and gate/up fused into
//! another (split into row views at load, no copy). LongRoPE (128k variants) is refused.

use super::{default_attn_scale, ArchSpec, SwaPattern};
use ggml_core::ops::{GluKind, RopeMode};

/// `phi3`.
pub const PHI3: ArchSpec = ArchSpec {
    name: "phi3",
    rope_mode: RopeMode::Neox,
    glu: GluKind::SwiGlu,
    fused_qkv: true,
    fused_gate_up: true,
    qkv_bias: false,
    qk_norm: false,
    post_norms: false,
    scale_embeddings: false,
    swa: SwaPattern::FromMetadata,
    rope_base_swa: None,
    attn_scale: default_attn_scale,
};
