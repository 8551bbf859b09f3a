//! Weight placement: the tensors an architecture declares, found by name in the GGUF file,
//! shape-checked against the hyperparameters and handed to the backend (on the CPU,
//! zero-copy views of the memory-mapped file; nothing is dequantized at load but the small
//! f32 vectors — norms, biases, rope factors).

use std::sync::Arc;

use ggml_core::backend::Backend;
use ggml_core::gguf::{GgufFile, TensorInfo};
use ggml_core::{ByteSource, Tensor};

use crate::arch::tensor_names::{self as tn, blk};
use crate::arch::ArchSpec;
use crate::config::ModelConfig;
use crate::error::ModelError;

/// One tensor's bytes inside a shared, memory-mapped GGUF file.
struct GgufTensorBytes {
    file: Arc<GgufFile>,
    info: TensorInfo,
}

impl ByteSource for GgufTensorBytes {
    fn bytes(&self) -> &[u8] {
        // The reader validated every tensor's range when it opened the file; an empty slice
        // here would be caught by `Tensor::new`'s bounds check at load.
        self.file.tensor_data(&self.info).unwrap_or_default()
    }
}

/// Looks tensors up in a GGUF file and wraps them as [`Tensor`]s.
pub(crate) struct TensorSource {
    file: Arc<GgufFile>,
}

impl TensorSource {
    pub(crate) fn new(file: Arc<GgufFile>) -> TensorSource {
        TensorSource { file }
    }

    /// The tensor `name`, if the file has it.
    pub(crate) fn get(&self, name: &str) -> Result<Option<Tensor>, ModelError> {
        let Some(info) = self.file.tensor(name) else {
            return Ok(None);
        };
        let shape = info.shape().iter().map(|&d| d as usize).collect();
        let bytes = Arc::new(GgufTensorBytes {
            file: Arc::clone(&self.file),
            info: info.clone(),
        });
        Ok(Some(Tensor::new(name, info.ty(), shape, bytes, 0)?))
    }

    /// The tensor `name`, which must exist with `shape` (trailing 1s ignored).
    pub(crate) fn require(&self, name: &str, shape: &[usize]) -> Result<Tensor, ModelError> {
        let t = self.get(name)?.ok_or_else(|| ModelError::MissingTensor {
            name: name.to_string(),
        })?;
        check_shape(&t, shape)?;
        Ok(t)
    }

    /// The tensor `name` with `shape`, if present.
    pub(crate) fn optional(
        &self,
        name: &str,
        shape: &[usize],
    ) -> Result<Option<Tensor>, ModelError> {
        match self.get(name)? {
            Some(t) => check_shape(&t, shape).map(|()| Some(t)),
            None => Ok(None),
        }
    }
}

fn check_shape(t: &Tensor, shape: &[usize]) -> Result<(), ModelError> {
    let mut got = t.shape().to_vec();
    while got.len() > shape.len() && got.last() == Some(&1) {
        got.pop();
    }
    if got != shape {
        return Err(ModelError::TensorShape {
            name: t.name().to_string(),
            expected: shape.to_vec(),
            got: t.shape().to_vec(),
        });
    }
    if !ggml_core::quants::can_dequantize(t.ty()) {
        return Err(ModelError::UnsupportedTensorType {
            name: t.name().to_string(),
            ty: t.ty(),
        });
    }
    Ok(())
}

/// `{arch}.block_count` may not exceed the blocks whose tensors (`blk.N.*`) the file holds.
fn check_layers_present(src: &TensorSource, c: &ModelConfig) -> Result<(), ModelError> {
    let present = src
        .file
        .tensors()
        .iter()
        .filter_map(|t| {
            let rest = t.name().strip_prefix("blk.")?;
            rest.split('.').next()?.parse::<usize>().ok()
        })
        .map(|il| il.saturating_add(1))
        .max()
        .unwrap_or(0);
    if c.n_layer > present {
        return Err(ModelError::Hparam {
            key: ggml_core::gguf::keys::arch_key(&c.arch, ggml_core::gguf::keys::arch::BLOCK_COUNT),
            detail: format!(
                "{} blocks, but the file holds tensors for {present}",
                c.n_layer
            ),
        });
    }
    Ok(())
}

/// One transformer block's weights on backend `B`.
pub(crate) struct LayerWeights<B: Backend> {
    pub attn_norm: B::Vector,
    pub wq: B::Matrix,
    pub wk: B::Matrix,
    pub wv: B::Matrix,
    pub wo: B::Matrix,
    pub bq: Option<B::Vector>,
    pub bk: Option<B::Vector>,
    pub bv: Option<B::Vector>,
    pub bo: Option<B::Vector>,
    pub q_norm: Option<B::Vector>,
    pub k_norm: Option<B::Vector>,
    pub post_attn_norm: Option<B::Vector>,
    pub ffn_norm: B::Vector,
    pub gate: B::Matrix,
    pub up: B::Matrix,
    pub down: B::Matrix,
    pub post_ffn_norm: Option<B::Vector>,
}

/// All weights of a model on backend `B`.
pub(crate) struct Weights<B: Backend> {
    pub tok_embd: B::Matrix,
    pub output_norm: B::Vector,
    /// The output head `output.weight`; `None` when the head is tied to the token
    /// embedding (which then serves both, resident once).
    pub output: Option<B::Matrix>,
    pub rope_freqs: Option<B::Vector>,
    pub layers: Vec<LayerWeights<B>>,
    /// Bytes of every tensor used, as stored in the file.
    pub n_bytes: usize,
}

/// Loads tensors through `src` onto `backend`, counting their bytes.
struct Loader<'a, B: Backend> {
    src: &'a TensorSource,
    backend: &'a B,
    n_bytes: usize,
}

impl<B: Backend> Loader<'_, B> {
    fn matrix(&mut self, name: &str, shape: &[usize]) -> Result<B::Matrix, ModelError> {
        let t = self.src.require(name, shape)?;
        self.n_bytes += t.data().len();
        Ok(self.backend.load_matrix(&t)?)
    }

    /// A fused matrix of `k`-element rows split into consecutive row views of `parts` rows.
    fn split<const N: usize>(
        &mut self,
        name: &str,
        k: usize,
        parts: [usize; N],
    ) -> Result<[B::Matrix; N], ModelError> {
        let rows = parts
            .iter()
            .try_fold(0usize, |sum, &p| sum.checked_add(p))
            .ok_or_else(|| ModelError::Hparam {
                key: name.to_string(),
                detail: format!("rows {parts:?} overflow"),
            })?;
        let t = self.src.require(name, &[k, rows])?;
        self.n_bytes += t.data().len();
        let mut start = 0;
        let mut views = Vec::with_capacity(N);
        for (i, rows) in parts.into_iter().enumerate() {
            let view = t.slice_rows(format!("{name}[{i}]"), start, rows)?;
            views.push(self.backend.load_matrix(&view)?);
            start += rows;
        }
        views.try_into().map_err(|_| ModelError::MissingTensor {
            name: name.to_string(),
        })
    }

    fn vector(&mut self, name: &str, len: usize) -> Result<B::Vector, ModelError> {
        let t = self.src.require(name, &[len])?;
        self.n_bytes += t.data().len();
        Ok(self.backend.load_vector(&t)?)
    }

    fn opt_vector(&mut self, name: &str, len: usize) -> Result<Option<B::Vector>, ModelError> {
        match self.src.optional(name, &[len])? {
            Some(t) => {
                self.n_bytes += t.data().len();
                Ok(Some(self.backend.load_vector(&t)?))
            }
            None => Ok(None),
        }
    }

    /// A vector the architecture has exactly when `flag` is set.
    fn when(
        &mut self,
        flag: bool,
        name: &str,
        len: usize,
    ) -> Result<Option<B::Vector>, ModelError> {
        if flag {
            self.vector(name, len).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A vector that `required` makes mandatory and that is optional otherwise.
    fn flagged_vector(
        &mut self,
        required: bool,
        name: &str,
        len: usize,
    ) -> Result<Option<B::Vector>, ModelError> {
        if required {
            self.vector(name, len).map(Some)
        } else {
            self.opt_vector(name, len)
        }
    }

    fn layer(
        &mut self,
        spec: &ArchSpec,
        c: &ModelConfig,
        il: usize,
    ) -> Result<LayerWeights<B>, ModelError> {
        let n = |s: &str| tn::layer(il, s);
        // `ModelConfig::from_metadata` checked that these products fit; the shapes below
        // tie them to tensors the file really holds.
        let (q_dim, kv_k, kv_v) = (
            c.n_head * c.head_dim_k,
            c.n_head_kv * c.head_dim_k,
            c.n_head_kv * c.head_dim_v,
        );
        let o_in = c.n_head * c.head_dim_v;
        let [wq, wk, wv] = if spec.fused_qkv {
            self.split(&n(blk::ATTN_QKV), c.n_embd, [q_dim, kv_k, kv_v])?
        } else {
            [
                self.matrix(&n(blk::ATTN_Q), &[c.n_embd, q_dim])?,
                self.matrix(&n(blk::ATTN_K), &[c.n_embd, kv_k])?,
                self.matrix(&n(blk::ATTN_V), &[c.n_embd, kv_v])?,
            ]
        };
        let [gate, up] = if spec.fused_gate_up {
            self.split(&n(blk::FFN_UP), c.n_embd, [c.n_ff, c.n_ff])?
        } else {
            [
                self.matrix(&n(blk::FFN_GATE), &[c.n_embd, c.n_ff])?,
                self.matrix(&n(blk::FFN_UP), &[c.n_embd, c.n_ff])?,
            ]
        };
        Ok(LayerWeights {
            attn_norm: self.vector(&n(blk::ATTN_NORM), c.n_embd)?,
            wq,
            wk,
            wv,
            wo: self.matrix(&n(blk::ATTN_OUT), &[o_in, c.n_embd])?,
            bq: self.flagged_vector(spec.qkv_bias, &n(blk::ATTN_Q_BIAS), q_dim)?,
            bk: self.flagged_vector(spec.qkv_bias, &n(blk::ATTN_K_BIAS), kv_k)?,
            bv: self.flagged_vector(spec.qkv_bias, &n(blk::ATTN_V_BIAS), kv_v)?,
            bo: self.opt_vector(&n(blk::ATTN_OUT_BIAS), c.n_embd)?,
            q_norm: self.when(spec.qk_norm, &n(blk::ATTN_Q_NORM), c.head_dim_k)?,
            k_norm: self.when(spec.qk_norm, &n(blk::ATTN_K_NORM), c.head_dim_k)?,
            post_attn_norm: self.when(spec.post_norms, &n(blk::POST_ATTN_NORM), c.n_embd)?,
            ffn_norm: self.vector(&n(blk::FFN_NORM), c.n_embd)?,
            gate,
            up,
            down: self.matrix(&n(blk::FFN_DOWN), &[c.n_ff, c.n_embd])?,
            post_ffn_norm: self.when(spec.post_norms, &n(blk::POST_FFN_NORM), c.n_embd)?,
        })
    }
}

impl<B: Backend> Weights<B> {
    /// The output head: `output.weight`, or the token embedding when the head is tied.
    pub(crate) fn output(&self) -> &B::Matrix {
        self.output.as_ref().unwrap_or(&self.tok_embd)
    }

    /// Loads every tensor `spec` declares for a model with hyperparameters `c`.
    pub(crate) fn load(
        src: &TensorSource,
        backend: &B,
        spec: &ArchSpec,
        c: &ModelConfig,
    ) -> Result<Weights<B>, ModelError> {
        check_layers_present(src, c)?;
        let mut l = Loader {
            src,
            backend,
            n_bytes: 0,
        };
        let tok_embd = l.matrix(tn::TOKEN_EMBD, &[c.n_embd, c.n_vocab])?;
        let output = match src.optional(tn::OUTPUT, &[c.n_embd, c.n_vocab])? {
            Some(t) => {
                l.n_bytes += t.data().len();
                Some(backend.load_matrix(&t)?)
            }
            None => None,
        };
        let output_norm = l.vector(tn::OUTPUT_NORM, c.n_embd)?;
        let rope_freqs = l.opt_vector(tn::ROPE_FREQS, c.rope_dims / 2)?;
        let layers = (0..c.n_layer)
            .map(|il| l.layer(spec, c, il))
            .collect::<Result<_, _>>()?;
        Ok(Weights {
            tok_embd,
            output_norm,
            output,
            rope_freqs,
            layers,
            n_bytes: l.n_bytes,
        })
    }
}
