//! The model crate's error type for loading and running models (tokenizer, template and
//! hub errors live with their modules).

use attention::AttnError;
use ggml_core::backend::BackendError;
use ggml_core::gguf::GgufError;
use ggml_core::tensor::TensorError;

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The GGUF file could not be read, or a metadata key is missing or mistyped.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// `general.architecture` names an architecture this engine does not implement.
    #[error("unsupported architecture `{arch}` (supported: {supported})")]
    UnknownArchitecture {
        /// The architecture in the file.
        arch: String,
        /// The supported ones, comma-separated.
        supported: String,
    },
    /// A tensor the architecture needs is not in the file.
    #[error("tensor `{name}` is missing from the model file")]
    MissingTensor {
        /// Tensor name.
        name: String,
    },
    /// A tensor's shape does not match the hyperparameters.
    #[error("tensor `{name}` has shape {got:?}, expected {expected:?}")]
    TensorShape {
        /// Tensor name.
        name: String,
        /// Shape the hyperparameters imply (ne0 first).
        expected: Vec<usize>,
        /// Shape in the file.
        got: Vec<usize>,
    },
    /// A tensor's type cannot be used for its role.
    #[error("tensor `{name}` has type {ty}, which this engine cannot compute with")]
    UnsupportedTensorType {
        /// Tensor name.
        name: String,
        /// Its type.
        ty: ggml_core::GgmlType,
    },
    /// Hyperparameters that cannot describe a model (zero heads, heads not dividing, …).
    #[error("invalid hyperparameter `{key}`: {detail}")]
    Hparam {
        /// Metadata key involved.
        key: String,
        /// What is wrong.
        detail: String,
    },
    /// A model feature this engine does not implement.
    #[error("{what} is not supported")]
    Unsupported {
        /// The feature.
        what: String,
    },
    /// A tensor could not be placed over the file's bytes.
    #[error(transparent)]
    Tensor(#[from] TensorError),
    /// A backend op failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The KV cache or attention failed (cache full, position gap).
    #[error(transparent)]
    Attention(#[from] AttnError),
    /// A token id past the end of the vocabulary.
    #[error("token id {token} is out of range (vocabulary has {n_vocab} tokens)")]
    TokenOutOfRange {
        /// The id.
        token: u32,
        /// Vocabulary size.
        n_vocab: usize,
    },
    /// A batch that cannot be evaluated.
    #[error("invalid batch: {0}")]
    Batch(String),
    /// A position at or past the context length.
    #[error("position {pos} of sequence {seq} is past the context length {n_ctx}")]
    ContextFull {
        /// Sequence.
        seq: u32,
        /// Position.
        pos: usize,
        /// Context length.
        n_ctx: usize,
    },
}
