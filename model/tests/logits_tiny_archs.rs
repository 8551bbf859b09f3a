//! Architectures without a real test model (llama with its Q/K permutation, qwen2's biases,
//! qwen3's QK-norm, phi3's fused QKV and gate/up, gemma2's soft-capping, sliding window and post-norms) against Hugging
//! Face transformers on tiny random-weight GGUF files. `data/logits/make_tiny_models.py`
//! made the committed logits (`data/logits/tiny/tiny_transformers.json`); the test has the
//! same script write the models (from fixed seeds, `--gguf-only`) into a temporary folder.
//! Logits of every position must agree to `MAX_DIFF` (both sides f32: the f32 reference
//! numerics and an f32 KV cache here).

use std::path::Path;
use std::process::Command;

use model::{KvType, LoadOptions, Model, Numerics};
use serde_json::Value;

const MAX_DIFF: f32 = 2e-4;

#[test]
fn tiny_models_match_transformers() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/logits");
    let models_dir = tempfile::tempdir().expect("temporary folder");
    let made = Command::new("python3")
        .arg(data.join("make_tiny_models.py"))
        .arg("--gguf-only")
        .arg("--out")
        .arg(models_dir.path())
        .output()
        .expect("running python3 (the tiny models are made by make_tiny_models.py)");
    assert!(
        made.status.success(),
        "make_tiny_models.py --gguf-only failed (needs `pip install gguf numpy`): {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("tiny/tiny_transformers.json"))
            .expect("reading reference"),
    )
    .expect("parsing reference");
    let tokens: Vec<u32> = reference["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap() as u32)
        .collect();
    let models = reference["models"].as_object().unwrap();
    assert_eq!(models.len(), 5);
    for (arch, entry) in models {
        let opts = LoadOptions {
            kv_type: KvType::F32,
            threads: 1,
            numerics: Numerics::F32,
            ..LoadOptions::default()
        };
        let path = models_dir.path().join(entry["file"].as_str().unwrap());
        let model = Model::load(&path, &opts).unwrap_or_else(|e| panic!("{arch}: {e}"));
        assert_eq!(&model.config().arch, arch);
        let mut ctx = model.new_context(32).unwrap();
        let ours = model.eval(&mut ctx, &tokens, true).unwrap();
        let want = entry["logits"].as_array().unwrap();
        let n_vocab = model.config().n_vocab;
        assert_eq!(ours.len(), want.len() * n_vocab);
        let mut worst = 0f32;
        for (row, want_row) in ours.chunks_exact(n_vocab).zip(want) {
            for (a, b) in row.iter().zip(want_row.as_array().unwrap()) {
                worst = worst.max((a - b.as_f64().unwrap() as f32).abs());
            }
        }
        println!(
            "{arch}: max abs logit diff {worst:.2e} over {} positions",
            want.len()
        );
        assert!(
            worst <= MAX_DIFF,
            "{arch}: logits differ from transformers by {worst}"
        );
    }
}
