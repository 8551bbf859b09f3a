//! ggml-style tensors and ops: GGUF files, every ggml data type, the op set and its backends.

pub mod backend;
pub mod dtype;
pub mod gguf;
pub mod model_dir;
pub mod ops;
pub mod quantize_file;
pub mod quants;
pub mod tensor;

pub use dtype::{GgmlType, QK_K};
pub use tensor::{ByteSource, Tensor, TensorError};
