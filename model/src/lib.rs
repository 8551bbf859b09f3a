//! Models built from GGUF metadata: architectures, forward pass, tokenizer, templates, sampler.

#![forbid(unsafe_code)]

pub mod arch;
pub mod batch;
pub mod cache;
pub mod chat_template;
pub mod config;
pub mod device;
pub mod engine;
pub mod error;
pub mod forward;
pub mod generate;
pub mod hub;
pub mod kv_cache;
pub mod perplexity;
pub mod sampler;
pub mod synthetic;
pub mod tokenizer;
mod weights;

pub use attention::{KvType, SeqId};
pub use batch::Batch;
pub use config::{ModelConfig, RopeScaling};
pub use device::{AnyModel, DeviceChoice};
pub use error::ModelError;
pub use forward::{LoadOptions, Model};
pub use ggml_core::ops::qmatmul::Numerics;
pub use kv_cache::Context;
