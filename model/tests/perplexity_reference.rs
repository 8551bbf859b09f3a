//! Perplexity of both test models on `data/perplexity/text.txt` at -c 128 and -c 512 must be
//! within 1% of llama.cpp's figure for the same file, text and context
//! (`data/perplexity/reference.json`, made by `data/perplexity/make_reference.py`).

use std::path::PathBuf;

use model::perplexity::{perplexity, PerplexityOptions};
use model::tokenizer::Tokenizer;
use model::{LoadOptions, Model};
use serde_json::Value;

fn model_path(name: &str) -> PathBuf {
    model::cache::resolve(name).unwrap_or_else(|e| {
        panic!("test model `{name}` is missing ({e}); run `cargo xtask fetch-models` or set ROCMFORGE_MODELS")
    })
}

fn check(name: &str) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/perplexity");
    let text = std::fs::read_to_string(format!("{dir}/text.txt")).expect("reading text.txt");
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}/reference.json")).expect("reading reference.json"),
    )
    .expect("parsing reference.json");
    let path = model_path(name);
    for n_ctx in [128usize, 512] {
        let want = &reference["models"][name][n_ctx.to_string()];
        let want_ppl = want["ppl"].as_f64().expect("reference ppl");
        let opts = LoadOptions {
            n_ctx: Some(n_ctx),
            ..LoadOptions::default()
        };
        let model = Model::load(&path, &opts).unwrap_or_else(|e| panic!("loading {name}: {e}"));
        let tokenizer = Tokenizer::from_gguf(model.gguf()).expect("tokenizer");
        let t = std::time::Instant::now();
        let got = perplexity(
            &model,
            &tokenizer,
            &text,
            PerplexityOptions {
                n_ctx,
                n_batch: n_ctx,
                max_chunks: None,
            },
            &mut |_, _, _| {},
        )
        .unwrap_or_else(|e| panic!("{name} -c {n_ctx}: {e}"));
        let rel = (got.ppl - want_ppl).abs() / want_ppl;
        eprintln!(
            "{name} -c {n_ctx}: PPL {:.4} +/- {:.4} (llama.cpp {want_ppl:.4}, {:.3}% off), {} chunks, {:.1}s",
            got.ppl,
            got.stderr,
            rel * 100.0,
            got.chunks,
            t.elapsed().as_secs_f64()
        );
        assert_eq!(
            got.tokens as u64,
            want["tokens"].as_u64().unwrap(),
            "{name}: token count differs from llama.cpp"
        );
        assert_eq!(
            got.scored as u64,
            want["scored"].as_u64().unwrap(),
            "{name}: scored tokens differ"
        );
        assert!(
            rel < 0.01,
            "{name} -c {n_ctx}: PPL {} vs llama.cpp {want_ppl} ({:.2}% off)",
            got.ppl,
            rel * 100.0
        );
        let want_err = want["stderr"].as_f64().unwrap();
        assert!(
            (got.stderr - want_err).abs() / want_err < 0.05,
            "{name} -c {n_ctx}: stderr {} vs {want_err}",
            got.stderr
        );
    }
}

#[test]
fn smollm2_perplexity_matches_llama_cpp() {
    check("smollm2");
}

#[test]
fn gemma3_perplexity_matches_llama_cpp() {
    check("gemma3-270m");
}
