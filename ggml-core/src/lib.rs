//! ggml-style tensors and ops: GGUF files, every ggml data type, the op set and its backends.

pub mod dtype;

pub use dtype::{GgmlType, QK_K};
