//! Chat templates against renderings nobody here wrote: Python jinja2 set up as transformers
//! sets it up (SmolLM2's own template and feature-covering templates) and llama.cpp's own
//! named templates for the built-in fallbacks. Data: `data/chat/reference.json`, made by
//! `data/chat/make_reference.py`.

use std::collections::BTreeMap;

use model::chat_template::{ChatMessage, ChatTemplate, ChatTemplateError, Fallback};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    templates: BTreeMap<String, String>,
    conversations: BTreeMap<String, Vec<ChatMessage>>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    template: Option<String>,
    fallback: Option<String>,
    conversation: String,
    add_generation_prompt: bool,
    output: Option<String>,
    raised: Option<String>,
}

fn reference() -> Reference {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/chat/reference.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

#[test]
fn every_reference_rendering_is_reproduced() {
    let r = reference();
    let mut failures = Vec::new();
    for case in &r.cases {
        let template = match (&case.template, &case.fallback) {
            (Some(name), None) => ChatTemplate::jinja(&r.templates[name], "<s>", "</s>")
                .unwrap_or_else(|e| panic!("template {name}: {e}")),
            (None, Some(name)) => ChatTemplate::builtin(match name.as_str() {
                "gemma" => Fallback::Gemma,
                "chatml" => Fallback::ChatMl,
                other => panic!("unknown fallback {other}"),
            }),
            _ => panic!("a case names a template or a fallback"),
        };
        let messages = &r.conversations[&case.conversation];
        let got = template.render(messages, case.add_generation_prompt);
        let label = format!(
            "{}/{} agp={}",
            case.template
                .as_deref()
                .or(case.fallback.as_deref())
                .unwrap_or("?"),
            case.conversation,
            case.add_generation_prompt
        );
        match (got, &case.output, &case.raised) {
            (Ok(text), Some(want), None) if &text == want => {}
            (Err(ChatTemplateError::Raised { message }), None, Some(want)) if &message == want => {}
            (got, want, raised) => failures.push(format!(
                "{label}:\n  got:  {got:?}\n  want: {want:?} raised: {raised:?}"
            )),
        }
    }
    assert!(
        r.cases.len() >= 60,
        "reference has only {} cases",
        r.cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        r.cases.len(),
        failures.join("\n")
    );
}

#[test]
fn the_fallbacks_follow_the_architecture() {
    assert_eq!(Fallback::for_architecture("gemma3"), Fallback::Gemma);
    assert_eq!(Fallback::for_architecture("gemma2"), Fallback::Gemma);
    assert_eq!(Fallback::for_architecture("qwen2"), Fallback::ChatMl);
}

fn open_model(name: &str) -> (ggml_core::gguf::GgufFile, model::tokenizer::Tokenizer) {
    let path = model::cache::resolve(name).unwrap_or_else(|e| {
        panic!("test model `{name}` is missing ({e}); run `cargo xtask fetch-models` or set ROCMFORGE_MODELS")
    });
    let file = ggml_core::gguf::GgufFile::open(&path).expect("opening the model");
    let tokenizer = model::tokenizer::Tokenizer::from_gguf(&file).expect("tokenizer");
    (file, tokenizer)
}

#[test]
fn both_models_render_their_own_format() {
    let r = reference();
    let (smol_file, smol_tok) = open_model("smollm2");
    let smol = ChatTemplate::from_gguf(&smol_file, &smol_tok).expect("smollm2 template");
    assert_eq!(smol.fallback(), None, "SmolLM2 ships a template");
    let (gemma_file, gemma_tok) = open_model("gemma3-270m");
    let gemma = ChatTemplate::from_gguf(&gemma_file, &gemma_tok).expect("gemma template");
    assert_eq!(gemma.fallback(), Some(Fallback::Gemma));
    for case in &r.cases {
        let template = match (case.template.as_deref(), case.fallback.as_deref()) {
            (Some("smollm2"), _) => &smol,
            (_, Some("gemma")) => &gemma,
            _ => continue,
        };
        let got = template
            .render(
                &r.conversations[&case.conversation],
                case.add_generation_prompt,
            )
            .expect("render");
        assert_eq!(Some(&got), case.output.as_ref(), "{}", case.conversation);
    }
}
