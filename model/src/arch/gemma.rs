//! The gemma family, which shares one block: embeddings scaled by `sqrt(n_embd)`, norms
//! before and after attention and FFN, GeGLU with tanh-GELU, alternating sliding-window and
//! global layers.
//!
//! - gemma2: every other layer local, one rope base, attention and final logit
//!   soft-capping from the metadata.
//! - gemma3: per-head QK-norm, five local layers (rope base 10000) to every global one
//!   (rope base from the metadata).

use super::{ArchSpec, SwaPattern};
use crate::config::ModelConfig;
use ggml_core::ops::{GluKind, RopeMode};

/// `gemma2`.
pub const GEMMA2: ArchSpec = ArchSpec {
    name: "gemma2",
    rope_mode: RopeMode::Neox,
    glu: GluKind::GeGluTanh,
    fused_qkv: false,
    fused_gate_up: false,
    qkv_bias: false,
    qk_norm: false,
    post_norms: true,
    scale_embeddings: true,
    swa: SwaPattern::EveryNthGlobal(2),
    rope_base_swa: None,
    attn_scale: gemma2_attn_scale,
};

/// `gemma3`.
pub const GEMMA3: ArchSpec = ArchSpec {
    name: "gemma3",
    qk_norm: true,
    swa: SwaPattern::EveryNthGlobal(6),
    rope_base_swa: Some(10_000.0),
    attn_scale: gemma3_attn_scale,
    ..GEMMA2
};

/// `1/sqrt(query_pre_attn_scalar)`. The scalar is not in the GGUF: it is `head_dim` for
/// every size but 27B (`layers_27b` layers), where it is `n_embd / n_head` (as llama.cpp
/// derives it).
fn attn_scale(h: &ModelConfig, layers_27b: usize) -> f32 {
    let scalar = if h.n_layer == layers_27b {
        h.n_embd / h.n_head
    } else {
        h.head_dim_k
    };
    1.0 / (scalar as f32).sqrt()
}

fn gemma2_attn_scale(h: &ModelConfig) -> f32 {
    attn_scale(h, 46)
}

fn gemma3_attn_scale(h: &ModelConfig) -> f32 {
    attn_scale(h, 62)
}
