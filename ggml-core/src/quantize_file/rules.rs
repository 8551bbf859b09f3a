//! Which type each tensor gets in a quantization mix: llama.cpp's usual rules (which
//! tensors are quantized at all, the output/embedding bump, `attn_v`/`ffn_down`/
//! `attn_output` bumps in the K mixes, and fallbacks for rows that are not a whole number
//! of 256-element super-blocks).

use super::Mix;
use crate::GgmlType;

/// Name fragments of tensors that are never quantized even when they are 2-D weights:
/// MoE routers, position/type embeddings, state-space and RWKV mixing parameters.
const NEVER_QUANTIZE: &[&str] = &[
    "ffn_gate_inp.weight",
    "position_embd.weight",
    "token_types.weight",
    "ssm_conv1d.weight",
    "ssm_x.weight",
    "ssm_dt.weight",
    "time_mix_first.weight",
    "time_mix_w1.weight",
    "time_mix_w2.weight",
    "time_mix_decay_w1.weight",
    "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight",
    "attn_rel_b.weight",
];

/// What the rules need to know about the whole model.
#[derive(Clone, Copy, Debug)]
pub struct ModelFacts {
    /// Whether the file has a separate `output.weight` (else the embedding is tied and
    /// gets the output's treatment).
    pub has_output: bool,
    /// Query heads per key/value head (1 without grouped-query attention).
    pub n_gqa: u64,
    /// Number of `attn_v` tensors (layers).
    pub n_attn_v: usize,
    /// Number of `ffn_down` tensors (layers).
    pub n_ffn_down: usize,
}

/// One tensor as the rules see it.
#[derive(Clone, Copy, Debug)]
pub struct TensorFacts<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its shape, ggml order.
    pub shape: &'a [u64],
}

/// The layer index in a `blk.N.` tensor name.
pub fn layer_of(name: &str) -> Option<usize> {
    name.strip_prefix("blk.")?.split('.').next()?.parse().ok()
}

/// Whether the tensor is quantized at all (else it keeps its type): 2-D or larger
/// `*.weight` tensors that are not norms or in [`NEVER_QUANTIZE`].
pub fn is_quantizable(t: &TensorFacts<'_>) -> bool {
    let dims = t.shape.iter().rposition(|&d| d > 1).map_or(1, |i| i + 1);
    t.name.ends_with("weight")
        && dims >= 2
        && !t.name.contains("_norm.weight")
        && !NEVER_QUANTIZE.iter().any(|f| t.name.contains(f))
}

/// The "more bits" layers of the _M mixes: the first and last eighth, and every third
/// layer in between.
pub fn use_more_bits(layer: usize, n_layers: usize) -> bool {
    let eighth = n_layers / 8;
    match layer.checked_sub(eighth) {
        None => true,
        Some(past) => layer >= 7 * n_layers / 8 || past % 3 == 2,
    }
}

/// The type `t` gets in `mix`, before the fallback for incompatible row lengths; `None`
/// if the tensor is not quantized.
pub fn preferred_type(mix: Mix, model: &ModelFacts, t: &TensorFacts<'_>) -> Option<GgmlType> {
    use GgmlType as T;
    if !is_quantizable(t) {
        return None;
    }
    let base = mix.base_type();
    if !base.is_quantized() {
        return Some(base);
    }
    let ne0 = t.shape.first().copied().unwrap_or(1);
    let is_output =
        t.name == "output.weight" || (!model.has_output && t.name == "token_embd.weight");
    if is_output {
        return Some(if ne0 % T::Q6_K.block_size() as u64 != 0 {
            T::Q8_0
        } else if base != T::Q8_0 {
            T::Q6_K
        } else {
            base
        });
    }
    let layer = layer_of(t.name);
    if t.name.contains("attn_v.weight") {
        let i = layer.unwrap_or(0);
        let n = model.n_attn_v;
        return Some(match mix {
            Mix::Q2_K if model.n_gqa >= 4 => T::Q4_K,
            Mix::Q2_K => T::Q3_K,
            Mix::Q3_K_M if i < 2 => T::Q5_K,
            Mix::Q3_K_M => T::Q4_K,
            Mix::Q4_K_M | Mix::Q5_K_M if use_more_bits(i, n) => T::Q6_K,
            Mix::Q4_K_S if i < 4 => T::Q5_K,
            _ => base,
        });
    }
    if t.name.contains("ffn_down") {
        let i = layer.unwrap_or(0);
        let n = model.n_ffn_down;
        return Some(match mix {
            Mix::Q2_K => T::Q3_K,
            Mix::Q3_K_M if i < n / 16 => T::Q5_K,
            Mix::Q3_K_M => T::Q4_K,
            Mix::Q4_K_M | Mix::Q5_K_M if use_more_bits(i, n) => T::Q6_K,
            Mix::Q4_K_S if i < n / 8 => T::Q5_K,
            _ => base,
        });
    }
    if t.name.contains("attn_output.weight") {
        return Some(match mix {
            Mix::Q2_K => T::Q3_K,
            Mix::Q3_K_M => T::Q4_K,
            _ => base,
        });
    }
    if t.name.contains("attn_qkv.weight") {
        return Some(match mix {
            Mix::Q3_K_M => T::Q4_K,
            Mix::Q4_K_M => T::Q5_K,
            Mix::Q5_K_M => T::Q6_K,
            _ => base,
        });
    }
    Some(base)
}

/// `ty` if rows of `ne0` elements are whole blocks of it; otherwise the compatible type
/// llama.cpp falls back to (a 32-element format of similar size, else F16). The flag says
/// whether a fallback was taken.
pub fn compatible_type(ty: GgmlType, ne0: u64) -> (GgmlType, bool) {
    use GgmlType as T;
    if ne0 % ty.block_size() as u64 == 0 {
        return (ty, false);
    }
    let smaller = match ty {
        T::Q2_K | T::Q3_K | T::IQ4_XS => T::IQ4_NL,
        T::Q4_K => T::Q5_0,
        T::Q5_K => T::Q5_1,
        T::Q6_K => T::Q8_0,
        _ => T::F16,
    };
    if ne0 % smaller.block_size() as u64 == 0 {
        (smaller, true)
    } else {
        (T::F16, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(has_output: bool) -> ModelFacts {
        ModelFacts {
            has_output,
            n_gqa: 3,
            n_attn_v: 30,
            n_ffn_down: 30,
        }
    }

    fn ty(mix: Mix, model: &ModelFacts, name: &str, shape: &[u64]) -> Option<GgmlType> {
        preferred_type(mix, model, &TensorFacts { name, shape })
            .map(|t| compatible_type(t, shape[0]).0)
    }

    #[test]
    fn more_bits_layers_match_llama_cpp_for_18_layers() {
        let layers: Vec<usize> = (0..18).filter(|&i| use_more_bits(i, 18)).collect();
        assert_eq!(layers, [0, 1, 4, 7, 10, 13, 15, 16, 17]);
    }

    #[test]
    fn norms_and_vectors_stay_and_outputs_are_bumped() {
        let m = facts(true);
        assert_eq!(ty(Mix::Q4_K_M, &m, "blk.0.attn_norm.weight", &[576]), None);
        assert_eq!(
            ty(Mix::Q4_K_M, &m, "blk.0.attn_q_norm.weight", &[64, 1]),
            None
        );
        assert_eq!(
            ty(Mix::Q4_K_M, &m, "blk.0.ffn_gate_inp.weight", &[512, 8]),
            None
        );
        assert_eq!(
            ty(Mix::Q4_K_M, &m, "output.weight", &[512, 1000]),
            Some(GgmlType::Q6_K)
        );
        assert_eq!(
            ty(Mix::Q4_0, &m, "output.weight", &[512, 1000]),
            Some(GgmlType::Q6_K)
        );
        assert_eq!(
            ty(Mix::Q8_0, &m, "output.weight", &[512, 1000]),
            Some(GgmlType::Q8_0)
        );
        assert_eq!(
            ty(Mix::Q4_K_M, &m, "token_embd.weight", &[512, 9]),
            Some(GgmlType::Q4_K)
        );
        let tied = facts(false);
        assert_eq!(
            ty(Mix::Q4_K_M, &tied, "token_embd.weight", &[576, 9]),
            Some(GgmlType::Q8_0)
        );
        assert_eq!(
            ty(Mix::F16, &tied, "token_embd.weight", &[576, 9]),
            Some(GgmlType::F16)
        );
    }

    #[test]
    fn k_mixes_bump_attn_v_and_ffn_down_and_fall_back() {
        let m = facts(true);
        let v = |mix, layer: usize| ty(mix, &m, &format!("blk.{layer}.attn_v.weight"), &[512, 128]);
        assert_eq!(v(Mix::Q4_K_M, 0), Some(GgmlType::Q6_K));
        assert_eq!(v(Mix::Q4_K_M, 5), Some(GgmlType::Q6_K));
        assert_eq!(v(Mix::Q4_K_M, 6), Some(GgmlType::Q4_K));
        assert_eq!(v(Mix::Q4_K_S, 3), Some(GgmlType::Q5_K));
        assert_eq!(v(Mix::Q3_K_M, 1), Some(GgmlType::Q5_K));
        assert_eq!(v(Mix::Q2_K, 9), Some(GgmlType::Q3_K));
        let d = |mix| ty(mix, &m, "blk.29.ffn_down.weight", &[1536, 512]);
        assert_eq!(d(Mix::Q5_K_M), Some(GgmlType::Q6_K));
        assert_eq!(d(Mix::Q2_K), Some(GgmlType::Q3_K));
        assert_eq!(d(Mix::Q6_K), Some(GgmlType::Q6_K));
        // 576-element rows are not whole super-blocks.
        let q = |mix| ty(mix, &m, "blk.3.attn_q.weight", &[576, 576]);
        assert_eq!(q(Mix::Q4_K_M), Some(GgmlType::Q5_0));
        assert_eq!(q(Mix::Q5_K_M), Some(GgmlType::Q5_1));
        assert_eq!(q(Mix::Q6_K), Some(GgmlType::Q8_0));
        assert_eq!(q(Mix::Q2_K), Some(GgmlType::IQ4_NL));
        assert_eq!(compatible_type(GgmlType::Q4_0, 48), (GgmlType::F16, true));
    }
}
