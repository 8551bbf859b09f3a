//! Converting a whole GGUF file to a quantization mix (`rocmforge quantize`): the mixes
//! (llama.cpp's file types), the per-tensor type plan, and the threaded conversion with a
//! progress callback that may cancel; the output never replaces an input and appears only
//! when complete (`output`).

mod convert;
mod output;
pub mod rules;

use std::fmt;

pub use convert::{quantize_file, Progress, Summary};
pub use output::check_distinct;

use crate::gguf::{keys, GgufError, GgufFile};
use crate::quants::QuantError;
use crate::GgmlType;
use rules::{ModelFacts, TensorFacts};

/// A quantization mix: the target of `rocmforge quantize`, stored as `general.file_type`.
#[allow(non_camel_case_types, missing_docs)] // named as llama.cpp names them
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mix {
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q2_K,
    Q3_K_M,
    Q4_K_S,
    Q4_K_M,
    Q5_K_M,
    Q6_K,
}

/// Each mix: name, `general.file_type` id (llama.cpp's `llama_ftype`), base tensor type.
const MIXES: &[(Mix, &str, u32, GgmlType)] = &[
    (Mix::F16, "F16", 1, GgmlType::F16),
    (Mix::Q4_0, "Q4_0", 2, GgmlType::Q4_0),
    (Mix::Q4_1, "Q4_1", 3, GgmlType::Q4_1),
    (Mix::Q8_0, "Q8_0", 7, GgmlType::Q8_0),
    (Mix::Q5_0, "Q5_0", 8, GgmlType::Q5_0),
    (Mix::Q5_1, "Q5_1", 9, GgmlType::Q5_1),
    (Mix::Q2_K, "Q2_K", 10, GgmlType::Q2_K),
    (Mix::Q3_K_M, "Q3_K_M", 12, GgmlType::Q3_K),
    (Mix::Q4_K_S, "Q4_K_S", 14, GgmlType::Q4_K),
    (Mix::Q4_K_M, "Q4_K_M", 15, GgmlType::Q4_K),
    (Mix::Q5_K_M, "Q5_K_M", 17, GgmlType::Q5_K),
    (Mix::Q6_K, "Q6_K", 18, GgmlType::Q6_K),
];

impl Mix {
    fn row(self) -> &'static (Mix, &'static str, u32, GgmlType) {
        MIXES
            .iter()
            .find(|r| r.0 == self)
            // tidy: allow(panic): every Mix has a row in MIXES
            .expect("every Mix has a row in MIXES")
    }

    /// Every mix.
    pub fn all() -> impl Iterator<Item = Mix> {
        MIXES.iter().map(|r| r.0)
    }

    /// The mix named `name` (case-insensitive: `q4_k_m`, `F16`).
    pub fn from_name(name: &str) -> Option<Mix> {
        MIXES
            .iter()
            .find(|r| r.1.eq_ignore_ascii_case(name))
            .map(|r| r.0)
    }

    /// The mix whose `general.file_type` is `id`, if it is one of these mixes.
    pub fn from_file_type(id: u32) -> Option<Mix> {
        MIXES.iter().find(|r| r.2 == id).map(|r| r.0)
    }

    /// The name, as llama.cpp prints it.
    pub fn name(self) -> &'static str {
        self.row().1
    }

    /// The `general.file_type` value of files in this mix.
    pub fn file_type(self) -> u32 {
        self.row().2
    }

    /// The type most weights get.
    pub fn base_type(self) -> GgmlType {
        self.row().3
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a file could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeFileError {
    /// Reading the source or writing the output GGUF failed.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// A tensor's type cannot be decoded, so it cannot be converted.
    #[error("tensor '{tensor}': cannot convert from {ty}: {source}")]
    Dequantize {
        /// The tensor.
        tensor: String,
        /// Its type in the source.
        ty: GgmlType,
        /// What the quantizer said.
        source: QuantError,
    },
    /// Encoding a tensor failed.
    #[error("tensor '{tensor}': cannot quantize to {ty}: {source}")]
    Quantize {
        /// The tensor.
        tensor: String,
        /// The target type.
        ty: GgmlType,
        /// What the quantizer said.
        source: QuantError,
    },
    /// A tensor's data is too large for this machine's address space.
    #[error("tensor '{tensor}' is too large to convert in memory")]
    TooLarge {
        /// The tensor.
        tensor: String,
    },
    /// The output path names the input file (directly or through a link).
    #[error("{} is the input {}; write the result to another file", output.display(), input.display())]
    SameFile {
        /// The input path.
        input: std::path::PathBuf,
        /// The output path.
        output: std::path::PathBuf,
    },
    /// The progress callback asked to stop; no output was written.
    #[error("cancelled; no output was written")]
    Cancelled,
    /// Writing the output file failed.
    #[error("writing {}: {source}", path.display())]
    Io {
        /// The output path.
        path: std::path::PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// What happens to one tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorPlan {
    /// The tensor's name.
    pub name: String,
    /// Its type in the source file.
    pub from: GgmlType,
    /// Its type in the output file.
    pub to: GgmlType,
    /// Whether `to` is a fallback because rows are not whole blocks of the preferred type.
    pub fallback: bool,
}

impl TensorPlan {
    /// Whether the data is copied unchanged.
    pub fn is_copy(&self) -> bool {
        self.from == self.to
    }

    /// Whether the source data is quantized and must be dequantized before re-encoding.
    pub fn is_requantized(&self) -> bool {
        !self.is_copy() && self.from.is_quantized()
    }
}

/// The type every tensor of `file` gets in `mix`, in file order.
pub fn plan(file: &GgufFile, mix: Mix) -> Result<Vec<TensorPlan>, QuantizeFileError> {
    let model = model_facts(file)?;
    Ok(file
        .tensors()
        .iter()
        .map(|t| {
            let (to, fallback) = target_type(mix, &model, t.name(), t.shape(), t.ty());
            TensorPlan {
                name: t.name().to_string(),
                from: t.ty(),
                to,
                fallback,
            }
        })
        .collect())
}

/// The type a tensor named `name` of `shape` (ggml order) and type `from` gets in `mix`:
/// the rules' preferred type, then the fallback for rows that are not whole blocks of it
/// (the flag says whether one was taken); `from` when the tensor is not quantized.
pub fn target_type(
    mix: Mix,
    model: &ModelFacts,
    name: &str,
    shape: &[u64],
    from: GgmlType,
) -> (GgmlType, bool) {
    let ne0 = shape.first().copied().unwrap_or(1);
    match rules::preferred_type(mix, model, &TensorFacts { name, shape }) {
        Some(ty) => rules::compatible_type(ty, ne0),
        None => (from, false),
    }
}

/// The whole-model facts the rules need, from the tensor names and the metadata.
fn model_facts(file: &GgufFile) -> Result<ModelFacts, QuantizeFileError> {
    // Layers holding a tensor of this kind: one more than the highest `blk.N` index.
    let layers = |part: &str| {
        file.tensors()
            .iter()
            .filter(|t| t.name().contains(part))
            .filter_map(|t| rules::layer_of(t.name()))
            .max()
            .map_or(0, |i| i + 1)
    };
    let n_gqa = match file.architecture() {
        Ok(arch) => {
            let heads = file
                .metadata()
                .get_opt::<u64>(&keys::arch_key(arch, keys::arch::ATTENTION_HEAD_COUNT))?;
            let kv = file
                .metadata()
                .get_opt::<u64>(&keys::arch_key(arch, keys::arch::ATTENTION_HEAD_COUNT_KV))?;
            match (heads, kv) {
                (Some(h), Some(kv)) if kv > 0 => h / kv,
                _ => 1,
            }
        }
        Err(_) => 1,
    };
    Ok(ModelFacts {
        has_output: file.tensor("output.weight").is_some(),
        n_gqa,
        n_attn_v: layers("attn_v.weight"),
        n_ffn_down: layers("ffn_down"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_round_trip_by_name() {
        for mix in Mix::all() {
            assert_eq!(Mix::from_name(&mix.name().to_lowercase()), Some(mix));
        }
        assert_eq!(Mix::from_name("Q4_K_M").map(Mix::file_type), Some(15));
        assert_eq!(Mix::from_file_type(7), Some(Mix::Q8_0));
        assert_eq!(Mix::from_file_type(11), None, "Q3_K_S is not offered");
        assert_eq!(Mix::from_name("q9_9"), None);
    }
}
