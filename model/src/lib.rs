//! Models built from GGUF metadata: architectures, forward pass, tokenizer, templates, sampler.

pub mod cache;
pub mod chat_template;
pub mod hub;
pub mod tokenizer;
