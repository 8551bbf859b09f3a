//! gemma3: embeddings scaled by `sqrt(n_embd)`, per-head QK-norm, norms before and after
//! attention and FFN, GeGLU with tanh-GELU, five sliding-window layers (rope base 10000)
//! to every global one (rope base from the metadata).

use super::{ArchSpec, SwaPattern};
use crate::config::ModelConfig;
use ggml_core::ops::{GluKind, RopeMode};

/// `gemma3`.
pub const GEMMA3: ArchSpec = ArchSpec {
    name: "gemma3",
    rope_mode: RopeMode::Neox,
    glu: GluKind::GeGluTanh,
    fused_qkv: false,
    fused_gate_up: false,
    qkv_bias: false,
    qk_norm: true,
    post_norms: true,
    scale_embeddings: true,
    swa: SwaPattern::EveryNthGlobal(6),
    rope_base_swa: Some(10_000.0),
    attn_scale,
};

/// `query_pre_attn_scalar` is not in the GGUF: it is `head_dim` for every size but 27B
/// (62 layers), where it is `n_embd / n_head` (as llama.cpp derives it).
fn attn_scale(h: &ModelConfig) -> f32 {
    let scalar = if h.n_layer == 62 {
        h.n_embd / h.n_head
    } else {
        h.head_dim_k
    };
    1.0 / (scalar as f32).sqrt()
}
