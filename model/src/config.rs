//! Hyperparameters of a model, read from GGUF metadata (`{arch}.*` keys) for the
//! architecture named by `general.architecture`, and the per-layer rope/attention plans
//! derived from them.

use ggml_core::gguf::keys::{arch as ak, arch_key, general};
use ggml_core::gguf::Metadata;
use ggml_core::ops::RopeParams;

use crate::arch::tensor_names as tn;
use crate::arch::{self, ArchSpec, SwaPattern};
use crate::error::ModelError;

/// Suffixes of YaRN keys not in `gguf::keys` (llama.cpp's `LLM_KV_ROPE_SCALING_YARN_*`).
mod yarn_keys {
    /// YaRN extrapolation mix factor.
    pub const EXT_FACTOR: &str = "rope.scaling.yarn_ext_factor";
    /// YaRN beta fast.
    pub const BETA_FAST: &str = "rope.scaling.yarn_beta_fast";
    /// YaRN beta slow.
    pub const BETA_SLOW: &str = "rope.scaling.yarn_beta_slow";
    /// Older linear-scale key (`1/factor`... stored as the factor itself).
    pub const SCALE_LINEAR: &str = "rope.scale_linear";
}

/// Rope frequency scaling from `{arch}.rope.scaling.*`. llama3-style scaling arrives as
/// per-dimension factors in the `rope_freqs.weight` tensor and combines with any of these.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RopeScaling {
    /// No scaling.
    None,
    /// Position interpolation by `factor`.
    Linear {
        /// Context extension factor.
        factor: f32,
    },
    /// YaRN.
    Yarn {
        /// Context extension factor.
        factor: f32,
        /// Extrapolation mix (llama.cpp's default 1).
        ext_factor: f32,
        /// Magnitude scale.
        attn_factor: f32,
        /// Correction range parameter (default 32).
        beta_fast: f32,
        /// Correction range parameter (default 1).
        beta_slow: f32,
    },
}

/// A model's hyperparameters.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    /// `general.architecture`.
    pub arch: String,
    /// `general.name`, when present.
    pub name: Option<String>,
    /// Vocabulary size (rows of the output head).
    pub n_vocab: usize,
    /// Context length the model was trained with.
    pub n_ctx_train: usize,
    /// Hidden size.
    pub n_embd: usize,
    /// Transformer blocks.
    pub n_layer: usize,
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads.
    pub n_head_kv: usize,
    /// Key (and query) head dimension.
    pub head_dim_k: usize,
    /// Value head dimension.
    pub head_dim_v: usize,
    /// FFN hidden size.
    pub n_ff: usize,
    /// RMS norm epsilon.
    pub rms_eps: f32,
    /// Rotated dimensions per head.
    pub rope_dims: usize,
    /// Rope base of global layers.
    pub rope_freq_base: f32,
    /// Rope base of sliding-window layers.
    pub rope_freq_base_swa: f32,
    /// Rope scaling.
    pub rope_scaling: RopeScaling,
    /// Context length the rope scaling was fitted to (YaRN).
    pub rope_n_ctx_orig: usize,
    /// Sliding window of local layers.
    pub sliding_window: Option<usize>,
    /// `swa_layers[il]`: layer `il` uses the sliding window.
    pub swa_layers: Vec<bool>,
    /// Soft-capping of attention scores.
    pub attn_logit_softcap: Option<f32>,
    /// Soft-capping of the output logits.
    pub final_logit_softcap: Option<f32>,
}

fn req(md: &Metadata, arch: &str, suffix: &str) -> Result<usize, ModelError> {
    Ok(md.get_as::<usize>(&arch_key(arch, suffix))?)
}

fn opt_usize(md: &Metadata, arch: &str, suffix: &str) -> Result<Option<usize>, ModelError> {
    Ok(md.get_opt::<usize>(&arch_key(arch, suffix))?)
}

/// An optional float key, which must be finite when present.
fn opt_f32(md: &Metadata, arch: &str, suffix: &str) -> Result<Option<f32>, ModelError> {
    let key = arch_key(arch, suffix);
    md.get_opt::<f32>(&key)?
        .map(|v| finite(&key, v, false, false))
        .transpose()
}

/// Largest number of transformer blocks a file may declare (the largest released models
/// have ~130); the blocks present in the file bound it further at load.
pub const MAX_LAYERS: usize = 1 << 12;
/// Largest hidden size, FFN size, head count or head dimension a file may declare.
pub const MAX_DIM: usize = 1 << 20;
/// Largest training context length a file may declare (16 Mi positions); contexts are
/// never sized past it.
pub const MAX_CTX: usize = 1 << 24;

/// `v` when `1 <= v <= max`, else an error naming `key`.
fn bounded(key: &str, v: usize, max: usize) -> Result<usize, ModelError> {
    if v == 0 || v > max {
        return Err(ModelError::Hparam {
            key: key.to_string(),
            detail: format!("{v} is outside 1..={max}"),
        });
    }
    Ok(v)
}

/// A finite float (`> 0` when `positive`, `>= 0` when `non_negative`), else an error
/// naming `key`.
fn finite(key: &str, v: f32, positive: bool, non_negative: bool) -> Result<f32, ModelError> {
    if !v.is_finite() || (positive && v <= 0.0) || (non_negative && v < 0.0) {
        let want = match (positive, non_negative) {
            (true, _) => "a finite number > 0",
            (false, true) => "a finite number >= 0",
            (false, false) => "a finite number",
        };
        return Err(ModelError::Hparam {
            key: key.to_string(),
            detail: format!("{v} is not {want}"),
        });
    }
    Ok(v)
}

/// `a * b`, or an error naming the keys whose product overflows.
fn product(what: &str, a: usize, b: usize) -> Result<usize, ModelError> {
    a.checked_mul(b).ok_or_else(|| ModelError::Hparam {
        key: what.to_string(),
        detail: format!("{a} × {b} overflows"),
    })
}

impl ModelConfig {
    /// The spec of `general.architecture` in `md`, or the unsupported-architecture error.
    pub fn arch_spec(md: &Metadata) -> Result<&'static ArchSpec, ModelError> {
        let name = md.get_str(general::ARCHITECTURE)?;
        arch::lookup(name).ok_or_else(|| ModelError::UnknownArchitecture {
            arch: name.to_string(),
            supported: arch::supported_names(),
        })
    }

    /// Reads the hyperparameters of architecture `spec` from `md`. `embd_rows` (rows of the
    /// token embedding) is the vocabulary size, which a stated `{arch}.vocab_size` must
    /// match. Every count is bounded (`MAX_*`) and every product of counts the forward pass
    /// sizes a buffer from fits a `usize`, so a hostile file gets an error naming the key
    /// before anything is allocated from it; the tensors are checked against these values
    /// when they load.
    pub fn from_metadata(
        md: &Metadata,
        spec: &ArchSpec,
        embd_rows: usize,
    ) -> Result<ModelConfig, ModelError> {
        let a = spec.name;
        let key = |suffix: &str| arch_key(a, suffix);
        let dim = |suffix: &str, v: usize| bounded(&key(suffix), v, MAX_DIM);
        let n_embd = dim(ak::EMBEDDING_LENGTH, req(md, a, ak::EMBEDDING_LENGTH)?)?;
        let n_layer = bounded(
            &key(ak::BLOCK_COUNT),
            req(md, a, ak::BLOCK_COUNT)?,
            MAX_LAYERS,
        )?;
        let n_head = dim(
            ak::ATTENTION_HEAD_COUNT,
            req(md, a, ak::ATTENTION_HEAD_COUNT)?,
        )?;
        let n_head_kv = opt_usize(md, a, ak::ATTENTION_HEAD_COUNT_KV)?.unwrap_or(n_head);
        if n_head_kv == 0 || n_head % n_head_kv != 0 {
            return Err(ModelError::Hparam {
                key: key(ak::ATTENTION_HEAD_COUNT_KV),
                detail: format!("{n_head_kv} KV heads do not divide {n_head} query heads"),
            });
        }
        let head_dim_k = dim(
            ak::ATTENTION_KEY_LENGTH,
            opt_usize(md, a, ak::ATTENTION_KEY_LENGTH)?.unwrap_or(n_embd / n_head),
        )?;
        let head_dim_v = dim(
            ak::ATTENTION_VALUE_LENGTH,
            opt_usize(md, a, ak::ATTENTION_VALUE_LENGTH)?.unwrap_or(n_embd / n_head),
        )?;
        // Every width a layer's buffers and weights are sized from.
        for (what, x, y) in [
            (ak::ATTENTION_KEY_LENGTH, n_head, head_dim_k),
            (ak::ATTENTION_VALUE_LENGTH, n_head, head_dim_v),
        ] {
            product(&key(what), x, y)?;
        }
        let rope_dims = opt_usize(md, a, ak::ROPE_DIMENSION_COUNT)?.unwrap_or(head_dim_k);
        if rope_dims > head_dim_k || rope_dims % 2 != 0 {
            return Err(ModelError::Hparam {
                key: key(ak::ROPE_DIMENSION_COUNT),
                detail: format!("{rope_dims} rotated dimensions with head size {head_dim_k}"),
            });
        }
        let n_ctx_train = bounded(
            &key(ak::CONTEXT_LENGTH),
            req(md, a, ak::CONTEXT_LENGTH)?,
            MAX_CTX,
        )?;
        let n_vocab = match opt_usize(md, a, ak::VOCAB_SIZE)? {
            None | Some(0) => embd_rows,
            Some(v) if v == embd_rows => v,
            Some(v) => {
                return Err(ModelError::Hparam {
                    key: key(ak::VOCAB_SIZE),
                    detail: format!("{v} tokens, but {} has {embd_rows} rows", tn::TOKEN_EMBD),
                })
            }
        };
        let n_vocab = bounded(tn::TOKEN_EMBD, n_vocab, usize::MAX)?;
        let f = |suffix: &str, v: Option<f32>, positive: bool| {
            v.map(|v| finite(&key(suffix), v, positive, true))
                .transpose()
        };
        let rope_freq_base = f(
            ak::ROPE_FREQ_BASE,
            opt_f32(md, a, ak::ROPE_FREQ_BASE)?,
            true,
        )?
        .unwrap_or(10_000.0);
        let sliding_window = opt_usize(md, a, ak::ATTENTION_SLIDING_WINDOW)?.filter(|&w| w > 0);
        let swa_layers = (0..n_layer)
            .map(|il| match spec.swa {
                SwaPattern::FromMetadata => sliding_window.is_some(),
                SwaPattern::EveryNthGlobal(p) => sliding_window.is_some() && il % p != p - 1,
            })
            .collect();
        let rms_eps = opt_f32(md, a, ak::ATTENTION_LAYER_NORM_RMS_EPSILON)?;
        Ok(ModelConfig {
            arch: a.to_string(),
            name: md.get_opt::<&str>(general::NAME)?.map(str::to_string),
            n_vocab,
            n_ctx_train,
            n_embd,
            n_layer,
            n_head,
            n_head_kv,
            head_dim_k,
            head_dim_v,
            n_ff: dim(
                ak::FEED_FORWARD_LENGTH,
                req(md, a, ak::FEED_FORWARD_LENGTH)?,
            )?,
            rms_eps: f(ak::ATTENTION_LAYER_NORM_RMS_EPSILON, rms_eps, false)?.unwrap_or(1e-5),
            rope_dims,
            rope_freq_base,
            rope_freq_base_swa: spec.rope_base_swa.unwrap_or(rope_freq_base),
            rope_scaling: rope_scaling(md, a)?,
            rope_n_ctx_orig: opt_usize(md, a, ak::ROPE_SCALING_ORIGINAL_CONTEXT_LENGTH)?
                .unwrap_or(n_ctx_train),
            sliding_window,
            swa_layers,
            attn_logit_softcap: f(
                ak::ATTN_LOGIT_SOFTCAPPING,
                opt_f32(md, a, ak::ATTN_LOGIT_SOFTCAPPING)?,
                true,
            )?,
            final_logit_softcap: f(
                ak::FINAL_LOGIT_SOFTCAPPING,
                opt_f32(md, a, ak::FINAL_LOGIT_SOFTCAPPING)?,
                true,
            )?,
        })
    }

    /// Bytes of a KV cache holding `n_ctx` positions of every layer with `elem_bytes`-byte
    /// elements, or `None` when that does not fit a `usize`.
    pub fn kv_cache_bytes(&self, n_ctx: usize, elem_bytes: usize) -> Option<usize> {
        let per_pos = self
            .n_head_kv
            .checked_mul(self.head_dim_k.checked_add(self.head_dim_v)?)?;
        n_ctx
            .checked_mul(self.n_layer)?
            .checked_mul(per_pos)?
            .checked_mul(elem_bytes)
    }

    /// Rope parameters of layer `il`. Sliding-window layers of architectures with their own
    /// local rope base use that base unscaled; every other layer uses the global base and
    /// the model's scaling.
    pub fn rope_params(&self, spec: &ArchSpec, il: usize) -> RopeParams {
        let mut p = RopeParams::plain(self.rope_dims, spec.rope_mode, self.rope_freq_base);
        if self.swa_layers[il] && spec.rope_base_swa.is_some() {
            p.freq_base = self.rope_freq_base_swa;
            return p;
        }
        p.n_ctx_orig = self.rope_n_ctx_orig;
        match self.rope_scaling {
            RopeScaling::None => {}
            RopeScaling::Linear { factor } => p.freq_scale = 1.0 / factor,
            RopeScaling::Yarn {
                factor,
                ext_factor,
                attn_factor,
                beta_fast,
                beta_slow,
            } => {
                p.freq_scale = 1.0 / factor;
                p.ext_factor = ext_factor;
                p.attn_factor = attn_factor;
                p.beta_fast = beta_fast;
                p.beta_slow = beta_slow;
            }
        }
        p
    }
}

fn rope_scaling(md: &Metadata, a: &str) -> Result<RopeScaling, ModelError> {
    let kind = md.get_opt::<&str>(&arch_key(a, ak::ROPE_SCALING_TYPE))?;
    let factor = match opt_f32(md, a, ak::ROPE_SCALING_FACTOR)? {
        Some(f) => Some(f),
        None => opt_f32(md, a, yarn_keys::SCALE_LINEAR)?,
    };
    let factor = factor.filter(|f| *f > 0.0 && *f != 1.0);
    match (kind, factor) {
        (Some("yarn"), Some(factor)) => Ok(RopeScaling::Yarn {
            factor,
            ext_factor: opt_f32(md, a, yarn_keys::EXT_FACTOR)?.unwrap_or(1.0),
            attn_factor: opt_f32(md, a, ak::ROPE_SCALING_ATTN_FACTOR)?.unwrap_or(1.0),
            beta_fast: opt_f32(md, a, yarn_keys::BETA_FAST)?.unwrap_or(32.0),
            beta_slow: opt_f32(md, a, yarn_keys::BETA_SLOW)?.unwrap_or(1.0),
        }),
        (None | Some("linear"), Some(factor)) => Ok(RopeScaling::Linear { factor }),
        (None | Some("none") | Some("linear") | Some("yarn"), None) | (Some("none"), _) => {
            Ok(RopeScaling::None)
        }
        (Some(other), _) => Err(ModelError::Hparam {
            key: arch_key(a, ak::ROPE_SCALING_TYPE),
            detail: format!("rope scaling `{other}` is not supported (none, linear, yarn)"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ggml_core::gguf::Value;

    fn md(arch: &str, extra: &[(&str, Value)]) -> Metadata {
        let mut m = Metadata::new();
        m.insert(general::ARCHITECTURE, Value::String(arch.into()));
        for (k, v) in [
            (ak::EMBEDDING_LENGTH, Value::U32(64)),
            (ak::BLOCK_COUNT, Value::U32(12)),
            (ak::ATTENTION_HEAD_COUNT, Value::U32(4)),
            (ak::ATTENTION_HEAD_COUNT_KV, Value::U32(2)),
            (ak::CONTEXT_LENGTH, Value::U32(2048)),
            (ak::FEED_FORWARD_LENGTH, Value::U32(128)),
        ] {
            m.insert(arch_key(arch, k), v);
        }
        for (k, v) in extra {
            m.insert(arch_key(arch, k), v.clone());
        }
        m
    }

    #[test]
    fn unknown_architecture_lists_the_supported_ones() {
        let err = ModelConfig::arch_spec(&md("gptx", &[])).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("`gptx`")
                && msg.contains("llama, mistral, qwen2, qwen3, gemma2, gemma3, phi3"),
            "{msg}"
        );
    }

    #[test]
    fn gemma3_layers_alternate_local_and_global() {
        let m = md(
            "gemma3",
            &[
                (ak::ATTENTION_SLIDING_WINDOW, Value::U32(512)),
                (ak::ROPE_FREQ_BASE, Value::F32(1e6)),
            ],
        );
        let spec = ModelConfig::arch_spec(&m).unwrap();
        let c = ModelConfig::from_metadata(&m, spec, 100).unwrap();
        let globals: Vec<usize> = (0..12).filter(|&il| !c.swa_layers[il]).collect();
        assert_eq!(globals, vec![5, 11]);
        assert_eq!(c.rope_params(spec, 0).freq_base, 10_000.0);
        assert_eq!(c.rope_params(spec, 5).freq_base, 1e6);
        assert_eq!((c.n_vocab, c.head_dim_k, c.rope_dims), (100, 16, 16));
    }

    #[test]
    fn rope_scaling_and_bad_heads_come_from_metadata() {
        let m = md(
            "llama",
            &[
                (ak::ROPE_SCALING_TYPE, Value::String("linear".into())),
                (ak::ROPE_SCALING_FACTOR, Value::F32(4.0)),
            ],
        );
        let spec = ModelConfig::arch_spec(&m).unwrap();
        let c = ModelConfig::from_metadata(&m, spec, 10).unwrap();
        assert_eq!(c.rope_scaling, RopeScaling::Linear { factor: 4.0 });
        assert_eq!(c.rope_params(spec, 3).freq_scale, 0.25);
        assert!(c.swa_layers.iter().all(|s| !s));
        let m = md("qwen2", &[(ak::ATTENTION_HEAD_COUNT_KV, Value::U32(3))]);
        let err =
            ModelConfig::from_metadata(&m, ModelConfig::arch_spec(&m).unwrap(), 10).unwrap_err();
        assert!(matches!(err, ModelError::Hparam { .. }), "{err}");
        let m = md(
            "llama",
            &[
                (ak::ROPE_SCALING_TYPE, Value::String("longrope".into())),
                (ak::ROPE_SCALING_FACTOR, Value::F32(2.0)),
            ],
        );
        assert!(ModelConfig::from_metadata(&m, spec, 10).is_err());
    }

    #[test]
    fn hostile_hyperparameters_are_refused_with_the_key_named() {
        let cases: &[(&str, Value, &str)] = &[
            (ak::BLOCK_COUNT, Value::U64(u64::MAX), "llama.block_count"),
            (ak::BLOCK_COUNT, Value::U64(1 << 40), "llama.block_count"),
            (ak::BLOCK_COUNT, Value::U32(0), "llama.block_count"),
            (
                ak::ATTENTION_KEY_LENGTH,
                Value::U64((1 << 63) + 4),
                "llama.attention.key_length",
            ),
            (
                ak::ATTENTION_VALUE_LENGTH,
                Value::U64(0),
                "llama.attention.value_length",
            ),
            (
                ak::CONTEXT_LENGTH,
                Value::U64(1 << 40),
                "llama.context_length",
            ),
            (
                ak::EMBEDDING_LENGTH,
                Value::U64(1 << 33),
                "llama.embedding_length",
            ),
            (
                ak::FEED_FORWARD_LENGTH,
                Value::U32(0),
                "llama.feed_forward_length",
            ),
            (ak::VOCAB_SIZE, Value::U32(11), "llama.vocab_size"),
            (
                ak::ROPE_FREQ_BASE,
                Value::F32(f32::NAN),
                "llama.rope.freq_base",
            ),
            (ak::ROPE_FREQ_BASE, Value::F32(-1.0), "llama.rope.freq_base"),
            (
                ak::ATTENTION_LAYER_NORM_RMS_EPSILON,
                Value::F32(f32::INFINITY),
                "llama.attention.layer_norm_rms_epsilon",
            ),
            (
                ak::ROPE_SCALING_FACTOR,
                Value::F32(f32::INFINITY),
                "llama.rope.scaling.factor",
            ),
        ];
        for (suffix, value, named) in cases {
            let m = md("llama", &[(suffix, value.clone())]);
            let err = ModelConfig::from_metadata(&m, ModelConfig::arch_spec(&m).unwrap(), 10)
                .expect_err(named);
            assert!(
                matches!(&err, ModelError::Hparam { key, .. } if key == named),
                "{named}: {err}"
            );
        }
    }

    #[test]
    fn kv_cache_bytes_are_checked() {
        let m = md("llama", &[]);
        let c = ModelConfig::from_metadata(&m, ModelConfig::arch_spec(&m).unwrap(), 10).unwrap();
        // 12 layers × 2 KV heads × (16 + 16) × 2 bytes per position.
        assert_eq!(c.kv_cache_bytes(100, 2), Some(100 * 12 * 2 * 32 * 2));
        assert_eq!(c.kv_cache_bytes(usize::MAX / 4, 2), None);
    }
}
