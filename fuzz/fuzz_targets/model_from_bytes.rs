//! Fuzz target: arbitrary bytes as a model file, taken as far as a real run takes it — the
//! model built on the CPU backend (hyperparameters checked against the tensors), its
//! tokenizer checked against the embedding, its chat template rendered, a prompt encoded
//! and one decode step evaluated. Every failure must be an error value, never a panic, an
//! abort or a runaway allocation. Seeds: `python3 cli/tests/data/make_hostile_models.py
//! fuzz/seeds/model_from_bytes` (a tiny llama model and ~40 hostile variants), then
//! `cargo xtask fuzz model_from_bytes SECONDS`.
#![no_main]

use std::sync::Arc;

use ggml_core::backend::CpuBackend;
use ggml_core::gguf::GgufFile;
use libfuzzer_sys::fuzz_target;
use model::chat_template::{ChatMessage, ChatTemplate};
use model::tokenizer::Tokenizer;
use model::{KvType, LoadOptions, Model};

fuzz_target!(|data: &[u8]| {
    let Ok(file) = GgufFile::from_bytes(data.to_vec()) else {
        return;
    };
    let file = Arc::new(file);
    let Ok(backend) = CpuBackend::new(1) else {
        return;
    };
    let opts = LoadOptions {
        n_ctx: Some(16),
        threads: 1,
        kv_type: KvType::F16,
        ..LoadOptions::default()
    };
    let Ok(model) = Model::from_file(Arc::clone(&file), backend, &opts) else {
        return;
    };
    let Ok(tokenizer) = Tokenizer::from_gguf(&file) else {
        return;
    };
    if tokenizer.check_model_vocab(model.config().n_vocab).is_err() {
        return;
    }
    if let Ok(template) = ChatTemplate::from_gguf(&file, &tokenizer) {
        let _ = template.render(&[ChatMessage::new("user", "hi the cat")], true);
    }
    let Ok(tokens) = tokenizer.encode("hi the cat sat", true, false) else {
        return;
    };
    let Ok(mut ctx) = model.new_context(16) else {
        return;
    };
    let n = tokens.len().min(8);
    if let Ok(logits) = model.eval(&mut ctx, &tokens[..n], false) {
        assert_eq!(logits.len(), model.config().n_vocab);
    }
});
