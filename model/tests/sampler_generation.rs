//! The generation loop with the SmolLM2 test model: a session that reuses its cached prefix
//! produces exactly what a fresh session produces, token limits and stop strings hold, and
//! a seed fixes the sampled text.

use std::ops::ControlFlow;

use model::generate::{GenerateOptions, Session, StopReason};
use model::sampler::SamplerConfig;
use model::tokenizer::Tokenizer;
use model::{LoadOptions, Model};

fn smollm2() -> (Model, Tokenizer) {
    let path = model::cache::resolve("smollm2").unwrap_or_else(|e| {
        panic!("test model `smollm2` is missing ({e}); run `cargo xtask fetch-models` or set ROCMFORGE_MODELS")
    });
    let model = Model::load(
        &path,
        &LoadOptions {
            n_ctx: Some(256),
            ..LoadOptions::default()
        },
    )
    .expect("load");
    let tokenizer = Tokenizer::from_gguf(model.gguf()).expect("tokenizer");
    (model, tokenizer)
}

fn generate(
    session: &mut Session<'_, ggml_core::backend::CpuBackend>,
    prompt: &str,
    opts: &GenerateOptions,
) -> (String, StopReason) {
    let tokens = session.tokenize(prompt, false).expect("tokenize");
    let mut text = String::new();
    let stats = session
        .generate(&tokens, opts, None, |t| {
            text.push_str(t);
            ControlFlow::Continue(())
        })
        .expect("generate");
    (text, stats.stop_reason)
}

#[test]
fn reusing_the_cached_prefix_changes_nothing() {
    let (model, tok) = smollm2();
    let opts = GenerateOptions {
        max_tokens: Some(8),
        ignore_eog: true,
        ..GenerateOptions::default()
    };
    let mut warm = Session::new(&model, &tok, 0, SamplerConfig::greedy()).unwrap();
    let first = "The river flows";
    let (cont, reason) = generate(&mut warm, first, &opts);
    assert_eq!(reason, StopReason::MaxTokens);
    // The second prompt extends the first one and its continuation: only the rest is evaluated.
    let second = format!("{first}{cont} Meanwhile, the mountain");
    let tokens = warm.tokenize(&second, false).unwrap();
    let mut warm_text = String::new();
    let stats = warm
        .generate(&tokens, &opts, None, |t| {
            warm_text.push_str(t);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert!(
        stats.prompt_evaluated < tokens.len(),
        "{} of {} evaluated",
        stats.prompt_evaluated,
        tokens.len()
    );
    let mut fresh = Session::new(&model, &tok, 0, SamplerConfig::greedy()).unwrap();
    let (fresh_text, _) = generate(&mut fresh, &second, &opts);
    assert_eq!(warm_text, fresh_text);
}

#[test]
fn limits_stops_and_seeds() {
    let (model, tok) = smollm2();
    let sampled = SamplerConfig {
        seed: Some(77),
        temperature: 1.0,
        ..SamplerConfig::default()
    };
    let opts = GenerateOptions {
        max_tokens: Some(12),
        ignore_eog: true,
        ..GenerateOptions::default()
    };
    let run = |cfg: &SamplerConfig, opts: &GenerateOptions| {
        let mut s = Session::new(&model, &tok, 0, cfg.clone()).unwrap();
        generate(&mut s, "My favourite food is", opts)
    };
    let (a, _) = run(&sampled, &opts);
    let (b, _) = run(&sampled, &opts);
    assert_eq!(a, b, "same seed, same text");
    let (greedy, _) = run(&SamplerConfig::greedy(), &opts);
    let stop = greedy
        .split_whitespace()
        .nth(2)
        .expect("three words")
        .to_string();
    let cut = greedy.find(&stop).unwrap();
    let (stopped, reason) = run(
        &SamplerConfig::greedy(),
        &GenerateOptions {
            stop: vec![stop],
            ..opts.clone()
        },
    );
    assert_eq!(reason, StopReason::StopString);
    assert_eq!(stopped, greedy[..cut]);
    let mut s = Session::new(&model, &tok, 0, SamplerConfig::greedy()).unwrap();
    let long = s.tokenize(&"word ".repeat(300), false).unwrap();
    assert!(matches!(
        s.generate(&long, &opts, None, |_| ControlFlow::Continue(())),
        Err(model::generate::GenerateError::PromptTooLong { n_ctx: 256, .. })
    ));
}
