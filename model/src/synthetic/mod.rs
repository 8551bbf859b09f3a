//! Synthetic models: random weights in a real model's shape and in llama.cpp's type mix
//! (`llama-8b:Q4_K_M`), written as a GGUF file that this engine and llama.cpp both load.
//! Decode speed does not depend on weight values, so a synthetic file measures what the real
//! model would, and an 8B one is made in seconds wherever a real one cannot be copied.

mod fill;
mod shapes;
mod vocab;

use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::str::FromStr;

use ggml_core::gguf::keys::{arch as ak, arch_key, general};
use ggml_core::gguf::{GgufError, GgufWriter, Metadata, Value};
use ggml_core::quantize_file::rules::ModelFacts;
use ggml_core::quantize_file::{target_type, Mix};
use ggml_core::quants::QuantError;
use ggml_core::GgmlType;

use crate::arch::{self, tensor_names as tn};
pub use fill::Rng;
pub use shapes::{Shape, SHAPES};

/// `general.quantization_version` of the files written (ggml's current block layouts).
const QUANTIZATION_VERSION: u32 = 2;

/// Why a synthetic model could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SyntheticError {
    /// The `SHAPE:QUANT` text names no shape or mix.
    #[error("`{spec}` is not SHAPE:QUANT (shapes: {shapes}; quants: {mixes})")]
    Spec {
        /// The text given.
        spec: String,
        /// The shapes on offer.
        shapes: String,
        /// The mixes on offer.
        mixes: String,
    },
    /// A tensor's type needs whole blocks and its rows are not.
    #[error("tensor `{tensor}`: rows of {row_len} are not whole {ty} blocks")]
    PartialBlock {
        /// The tensor.
        tensor: String,
        /// Its type.
        ty: GgmlType,
        /// Its row length.
        row_len: usize,
    },
    /// The type's quantizer failed or does not exist.
    #[error("tensor `{tensor}`: cannot make {ty} blocks: {source}")]
    Quantize {
        /// The tensor.
        tensor: String,
        /// Its type.
        ty: GgmlType,
        /// What the quantizer said.
        source: QuantError,
    },
    /// The shape's architecture is not one this engine builds.
    #[error("architecture `{0}` is not supported")]
    Arch(&'static str),
    /// Writing the GGUF file failed.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// Creating or finishing the output file failed.
    #[error("writing {}: {source}", path.display())]
    Io {
        /// The output path.
        path: std::path::PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// A synthetic model: a shape and a quantization mix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SyntheticModel {
    /// The hyperparameters.
    pub shape: Shape,
    /// The type mix, as `rocmforge quantize` would make it.
    pub mix: Mix,
}

/// One tensor of a synthetic model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntheticTensor {
    /// GGUF name.
    pub name: String,
    /// Type in the mix.
    pub ty: GgmlType,
    /// Shape, ggml order (row length first).
    pub shape: Vec<u64>,
}

impl FromStr for SyntheticModel {
    type Err = SyntheticError;

    /// Parses `SHAPE:QUANT`, e.g. `llama-1b:Q4_K_M` (case-insensitive).
    fn from_str(s: &str) -> Result<SyntheticModel, SyntheticError> {
        let err = || SyntheticError::Spec {
            spec: s.to_string(),
            shapes: shapes::names(),
            mixes: Mix::all().map(Mix::name).collect::<Vec<_>>().join(", "),
        };
        let (shape, quant) = s.split_once(':').ok_or_else(err)?;
        Ok(SyntheticModel {
            shape: shapes::lookup(shape).ok_or_else(err)?,
            mix: Mix::from_name(quant).ok_or_else(err)?,
        })
    }
}

impl fmt::Display for SyntheticModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.shape.display_name(), self.mix)
    }
}

impl SyntheticModel {
    /// Every tensor in file order, with its type in the mix (llama.cpp's rules, the same
    /// as `rocmforge quantize` applies).
    pub fn tensors(&self) -> Result<Vec<SyntheticTensor>, SyntheticError> {
        let s = &self.shape;
        let spec = arch::lookup(s.arch).ok_or(SyntheticError::Arch(s.arch))?;
        if spec.fused_qkv || spec.fused_gate_up || spec.qkv_bias {
            return Err(SyntheticError::Arch(s.arch));
        }
        let (e, q, kv, ff) = (
            s.n_embd as u64,
            (s.n_head * s.head_dim) as u64,
            (s.n_head_kv * s.head_dim) as u64,
            s.n_ff as u64,
        );
        let hd = s.head_dim as u64;
        let mut shapes: Vec<(String, Vec<u64>)> =
            vec![(tn::TOKEN_EMBD.to_string(), vec![e, s.n_vocab as u64])];
        for il in 0..s.n_layer {
            let mut layer = vec![
                (tn::blk::ATTN_NORM, vec![e]),
                (tn::blk::ATTN_Q, vec![e, q]),
                (tn::blk::ATTN_K, vec![e, kv]),
                (tn::blk::ATTN_V, vec![e, kv]),
            ];
            if spec.qk_norm {
                layer.push((tn::blk::ATTN_Q_NORM, vec![hd]));
                layer.push((tn::blk::ATTN_K_NORM, vec![hd]));
            }
            layer.push((tn::blk::ATTN_OUT, vec![q, e]));
            if spec.post_norms {
                layer.push((tn::blk::POST_ATTN_NORM, vec![e]));
            }
            layer.push((tn::blk::FFN_NORM, vec![e]));
            layer.push((tn::blk::FFN_GATE, vec![e, ff]));
            layer.push((tn::blk::FFN_UP, vec![e, ff]));
            layer.push((tn::blk::FFN_DOWN, vec![ff, e]));
            if spec.post_norms {
                layer.push((tn::blk::POST_FFN_NORM, vec![e]));
            }
            shapes.extend(
                layer
                    .into_iter()
                    .map(|(suffix, shape)| (tn::layer(il, suffix), shape)),
            );
        }
        shapes.push((tn::OUTPUT_NORM.to_string(), vec![e]));
        if !s.tied_output {
            shapes.push((tn::OUTPUT.to_string(), vec![e, s.n_vocab as u64]));
        }
        let facts = ModelFacts {
            has_output: !s.tied_output,
            n_gqa: (s.n_head / s.n_head_kv.max(1)) as u64,
            n_attn_v: s.n_layer,
            n_ffn_down: s.n_layer,
        };
        Ok(shapes
            .into_iter()
            .map(|(name, shape)| {
                let (ty, _) = target_type(self.mix, &facts, &name, &shape, GgmlType::F32);
                SyntheticTensor { name, ty, shape }
            })
            .collect())
    }

    /// The file's metadata: architecture, hyperparameters, mix and tokenizer.
    pub fn metadata(&self) -> Metadata {
        let s = &self.shape;
        let mut md = Metadata::new();
        let a = s.arch;
        let u32_of = |n: usize| Value::U32(u32::try_from(n).unwrap_or(u32::MAX));
        md.insert(general::ARCHITECTURE, Value::String(a.into()));
        md.insert(general::NAME, Value::String(format!("synthetic {self}")));
        md.insert(general::FILE_TYPE, Value::U32(self.mix.file_type()));
        md.insert(
            general::QUANTIZATION_VERSION,
            Value::U32(QUANTIZATION_VERSION),
        );
        for (key, value) in [
            (ak::VOCAB_SIZE, s.n_vocab),
            (ak::CONTEXT_LENGTH, s.n_ctx_train),
            (ak::EMBEDDING_LENGTH, s.n_embd),
            (ak::BLOCK_COUNT, s.n_layer),
            (ak::FEED_FORWARD_LENGTH, s.n_ff),
            (ak::ATTENTION_HEAD_COUNT, s.n_head),
            (ak::ATTENTION_HEAD_COUNT_KV, s.n_head_kv),
            (ak::ATTENTION_KEY_LENGTH, s.head_dim),
            (ak::ATTENTION_VALUE_LENGTH, s.head_dim),
            (ak::ROPE_DIMENSION_COUNT, s.head_dim),
        ] {
            md.insert(arch_key(a, key), u32_of(value));
        }
        md.insert(
            arch_key(a, ak::ATTENTION_LAYER_NORM_RMS_EPSILON),
            Value::F32(s.rms_eps),
        );
        md.insert(arch_key(a, ak::ROPE_FREQ_BASE), Value::F32(s.rope_base));
        if let Some(w) = s.sliding_window {
            md.insert(arch_key(a, ak::ATTENTION_SLIDING_WINDOW), Value::U32(w));
        }
        vocab::insert(&mut md, s.n_vocab);
        md
    }

    /// Bytes of tensor data in the file.
    pub fn tensor_bytes(&self) -> Result<u64, SyntheticError> {
        Ok(self
            .tensors()?
            .iter()
            .filter_map(|t| t.ty.bytes_for(t.shape.iter().product()))
            .sum())
    }

    /// Writes the model as a GGUF file at `path`, one tensor at a time (never the whole
    /// model in memory), calling `progress(bytes_done, bytes_total)` after each tensor.
    /// Returns the file's size; on failure the partial file is removed.
    pub fn write(
        &self,
        path: &Path,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<u64, SyntheticError> {
        let result = self.write_file(path, progress);
        if result.is_err() {
            // Best effort: the error being returned matters more than a leftover file.
            let _ = std::fs::remove_file(path);
        }
        result
    }

    fn write_file(
        &self,
        path: &Path,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<u64, SyntheticError> {
        let io = |source| SyntheticError::Io {
            path: path.to_path_buf(),
            source,
        };
        let tensors = self.tensors()?;
        let mut writer = GgufWriter::with_metadata(self.metadata());
        for t in &tensors {
            writer.add_tensor(t.name.clone(), t.ty, &t.shape)?;
        }
        let file = File::create(path).map_err(io)?;
        let mut data = writer.begin(BufWriter::with_capacity(1 << 22, file))?;
        let total = self.tensor_bytes()?;
        let mut done = 0;
        let seed = self
            .to_string()
            .bytes()
            .fold(0xCBF2_9CE4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
            });
        let mut filler = fill::Filler::new(seed);
        let mut buf = Vec::new();
        for t in &tensors {
            let row_len = t.shape.first().copied().unwrap_or(1) as usize;
            let n_rows = t.shape.iter().skip(1).product::<u64>() as usize;
            let ones = t.name.ends_with("norm.weight");
            filler.fill(&t.name, t.ty, row_len, n_rows, ones, &mut buf)?;
            data.write_tensor(&buf)?;
            done += buf.len() as u64;
            progress(done, total);
        }
        let mut out = data.finish()?;
        out.flush().map_err(io)?;
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        Ok(file.metadata().map_err(io)?.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_name_themselves() {
        let m: SyntheticModel = "LLAMA-1B:q4_k_m".parse().unwrap();
        assert_eq!(m.to_string(), "llama-1b:Q4_K_M");
        assert_eq!(m.shape.n_embd, 2048);
        let tiny: SyntheticModel = "gemma3-270m-tiny:Q8_0".parse().unwrap();
        assert_eq!(tiny.to_string(), "gemma3-270m-tiny:Q8_0");
        for bad in ["llama-1b", "llama-2b:Q4_0", "llama-1b:Q9_9", ""] {
            let err = bad.parse::<SyntheticModel>().unwrap_err().to_string();
            assert!(
                err.contains("smollm2-135m") && err.contains("Q4_K_M"),
                "{err}"
            );
        }
    }

    #[test]
    fn llama_8b_has_the_published_parameter_count_and_mix() {
        let m: SyntheticModel = "llama-8b:Q4_K_M".parse().unwrap();
        let tensors = m.tensors().unwrap();
        let params: u64 = tensors
            .iter()
            .map(|t| t.shape.iter().product::<u64>())
            .sum();
        // Llama-3-8B has 8.03 B parameters with a 128,256-token vocabulary; this one has
        // 49,152 tokens: 2 × 4096 × (128,256 − 49,152) fewer.
        assert_eq!(params, 8_030_261_248 - 2 * 4096 * (128_256 - 49_152));
        let ty = |name: &str| tensors.iter().find(|t| t.name == name).unwrap().ty;
        use GgmlType as T;
        assert_eq!(ty("output.weight"), T::Q6_K);
        assert_eq!(ty("token_embd.weight"), T::Q4_K);
        assert_eq!(ty("blk.0.attn_v.weight"), T::Q6_K);
        assert_eq!(ty("blk.5.ffn_down.weight"), T::Q4_K);
        assert_eq!(ty("blk.6.ffn_down.weight"), T::Q6_K);
        assert_eq!(ty("blk.0.attn_q.weight"), T::Q4_K);
        assert_eq!(ty("blk.0.attn_norm.weight"), T::F32);
    }
}
