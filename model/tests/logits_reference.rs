//! Logits and greedy continuations of the real test models against two references nobody
//! here wrote, both fed the same prompt token ids (from llama.cpp's tokenizer):
//!
//! - Hugging Face transformers (`data/logits/make_reference_transformers.py`): the GGUF
//!   weights dequantized to f32, exact f32 arithmetic. Our f32 reference numerics
//!   (`Numerics::F32`: f32 activations, f16 KV cache) compute the same way, so logits agree
//!   to `HF_MAX_DIFF` and greedy continuations should be identical.
//! - llama.cpp through llama-cpp-python (`data/logits/make_reference.py`): its CPU path
//!   rounds activations to 8 bits for its quantized dot products, as our default numerics
//!   (`Numerics::Q8`) do. The two still differ in summation order, in llama.cpp's f16
//!   rounding of intermediate activations and in its attention, so the tolerance is
//!   `LLAMA_MAX_DIFF`, the top-1 token must agree, and greedy continuations fork wherever
//!   two candidates are within that noise: we assert `LLAMA_MIN_IDENTICAL` and print every
//!   fork. For scale: transformers' own continuations match llama.cpp's for 2 of 6 prompts
//!   on each model, and the whole-vocabulary logit mean moves by up to ~0.6 with f32
//!   activations (hence `LLAMA_STAT_DIFF`).
//!
//! Commands to regenerate the data are in the two scripts' docstrings.

use std::path::PathBuf;

use model::{LoadOptions, Model, Numerics};
use serde_json::Value;

/// Max |ours - transformers| over transformers' top-64 logits (f16 KV cache on our side).
const HF_MAX_DIFF: f64 = 0.05;
/// Max |ours - llama.cpp| over llama.cpp's top-64 logits (its 8-bit activation rounding).
const LLAMA_MAX_DIFF: f64 = 1.0;
/// Max difference of the mean and standard deviation of the whole logit vector.
const HF_STAT_DIFF: f64 = 0.01;
const LLAMA_STAT_DIFF: f64 = 1.0;
/// Prompts (of 6) whose 32-token greedy continuation must equal the reference's.
const HF_MIN_IDENTICAL: usize = 5;
const LLAMA_MIN_IDENTICAL: usize = 2;
/// SmolLM2 with 8-bit activations matches llama.cpp's continuations for 4 of 6 prompts.
const LLAMA_Q8_MIN_IDENTICAL: usize = 4;

fn models_dir() -> PathBuf {
    ggml_core::model_dir::models_dir().expect("ROCMFORGE_MODELS or HOME is set")
}

fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best as u32
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

/// Our last-position logits and greedy continuation for one prompt.
struct Run {
    logits: Vec<f32>,
    greedy: Vec<u32>,
}

/// A reference and its tolerances.
struct Reference<'a> {
    engine: &'static str,
    data: &'a Value,
    max_diff: f64,
    stat_diff: f64,
    min_identical: usize,
}

impl Reference<'_> {
    /// Checks logits of prompt `i`; returns whether the greedy continuation is identical.
    fn check(&self, name: &str, i: usize, run: &Run) -> bool {
        let p = &self.data["prompts"][i];
        let (engine, prompt) = (self.engine, p["prompt"].as_str().unwrap());
        let top = ids(&p["top_ids"]);
        let top_logits: Vec<f64> = p["top_logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(
            argmax(&run.logits),
            top[0],
            "{name} vs {engine}, {prompt:?}: top-1 token differs"
        );
        let diff = top
            .iter()
            .zip(&top_logits)
            .map(|(&id, &want)| (f64::from(run.logits[id as usize]) - want).abs())
            .fold(0.0, f64::max);
        println!("{name} vs {engine}, {prompt:?}: top-64 logits max abs diff {diff:.4}");
        assert!(
            diff <= self.max_diff,
            "{name} vs {engine}, {prompt:?}: top-64 logit diff {diff} > {}",
            self.max_diff
        );
        let n = run.logits.len() as f64;
        let mean = run.logits.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = run
            .logits
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n;
        for (what, ours, key) in [("mean", mean, "mean"), ("std", var.sqrt(), "std")] {
            let theirs = p[key].as_f64().unwrap();
            assert!(
                (ours - theirs).abs() <= self.stat_diff,
                "{name} vs {engine}, {prompt:?}: logit {what} {ours} vs {theirs}"
            );
        }
        let want = ids(&p["greedy"]);
        match run.greedy.iter().zip(&want).position(|(a, b)| a != b) {
            None => true,
            Some(at) => {
                println!(
                    "{name} vs {engine}, {prompt:?}: greedy forks at token {at}: ours {:?}, {engine} {:?}",
                    &run.greedy[at..],
                    &want[at..]
                );
                false
            }
        }
    }
}

/// `q8_vs_llama`: compare llama.cpp with our 8-bit activation numerics (SmolLM2), else with
/// the f32 reference (Gemma 3: its Q8 logits still differ from llama.cpp's by up to 1.35,
/// more than the f32 path's 0.8; not understood yet).
fn check_model(name: &str, q8_vs_llama: bool) {
    let llama: Value = serde_json::from_str(include_str!("data/logits/reference.json"))
        .expect("reference.json parses");
    let hf: Value = serde_json::from_str(include_str!("data/logits/reference_transformers.json"))
        .expect("reference_transformers.json parses");
    let runs = [
        (
            Numerics::F32,
            Reference {
                engine: "transformers",
                data: &hf["models"][name],
                max_diff: HF_MAX_DIFF,
                stat_diff: HF_STAT_DIFF,
                min_identical: HF_MIN_IDENTICAL,
            },
        ),
        (
            if q8_vs_llama {
                Numerics::Q8
            } else {
                Numerics::F32
            },
            Reference {
                engine: "llama.cpp",
                data: &llama["models"][name],
                max_diff: LLAMA_MAX_DIFF,
                stat_diff: LLAMA_STAT_DIFF,
                min_identical: if q8_vs_llama {
                    LLAMA_Q8_MIN_IDENTICAL
                } else {
                    LLAMA_MIN_IDENTICAL
                },
            },
        ),
    ];
    for (numerics, reference) in runs {
        check_against(name, &llama["models"][name], numerics, &reference);
    }
}

/// Runs every prompt of `entry` with `numerics` and checks the results against `r`.
fn check_against(name: &str, entry: &Value, numerics: Numerics, r: &Reference<'_>) {
    let path = models_dir().join(entry["file"].as_str().expect("file"));
    assert!(
        path.is_file(),
        "test model {} is missing: run `cargo xtask fetch-models` or set ROCMFORGE_MODELS",
        path.display()
    );
    let opts = LoadOptions {
        n_ctx: Some(256),
        numerics,
        ..LoadOptions::default()
    };
    let model = Model::load(&path, &opts).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        model.config().n_vocab as u64,
        entry["n_vocab"].as_u64().unwrap()
    );
    let mut ctx = model.new_context(256).expect("context");
    let prompts = entry["prompts"].as_array().expect("prompts");
    let mut identical = 0;
    for (i, p) in prompts.iter().enumerate() {
        ctx.clear();
        let logits = model
            .eval(&mut ctx, &ids(&p["tokens"]), false)
            .expect("prompt")
            .to_vec();
        let n_gen = p["greedy"].as_array().unwrap().len();
        let mut greedy = Vec::with_capacity(n_gen);
        let mut next = argmax(&logits);
        for _ in 0..n_gen {
            greedy.push(next);
            next = argmax(model.eval(&mut ctx, &[next], false).expect("decode"));
        }
        let run = Run { logits, greedy };
        identical += usize::from(r.check(name, i, &run));
    }
    println!(
        "{name} ({numerics:?} numerics) vs {}: {identical}/{} greedy continuations identical for 32 tokens",
        r.engine,
        prompts.len()
    );
    assert!(
        identical >= r.min_identical,
        "{name} vs {}: only {identical} of {} greedy continuations identical (need {})",
        r.engine,
        prompts.len(),
        r.min_identical
    );
}

#[test]
fn smollm2_matches_references() {
    check_model("smollm2", true);
}

#[test]
fn gemma3_matches_references() {
    check_model("gemma3", false);
}
