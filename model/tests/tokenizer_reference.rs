//! The tokenizer against llama.cpp on both test models: token ids for 60 strings with and
//! without BOS and special-token parsing, every piece, detokenization, the special and
//! end-of-generation tokens, round trips and streaming. Reference data:
//! `data/tokenizer/{smollm2,gemma3-270m}.json`, made by `data/tokenizer/make_reference.py`
//! (llama-cpp-python). The models come from `cargo xtask fetch-models` (`ROCMFORGE_MODELS`).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use ggml_core::gguf::GgufFile;
use model::tokenizer::{PreTokenizerKind, Tokenizer, TokenizerSpec, VocabKind};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    n_vocab: usize,
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    eog: Vec<u32>,
    cases: Vec<Case>,
    pieces: BTreeMap<u32, Piece>,
    /// SmolLM2's vocabulary under other `tokenizer.ggml.pre` values.
    #[serde(default)]
    pre_variants: BTreeMap<String, Vec<VariantCase>>,
    /// SmolLM2's vocabulary with a few bytes' tokens renamed and the merges naming them
    /// dropped.
    #[serde(default)]
    bpe_edges: Option<BpeEdges>,
}

#[derive(Deserialize)]
struct BpeEdges {
    /// New texts of the renamed tokens, by id.
    renamed: BTreeMap<u32, String>,
    /// The merges left out.
    dropped_merges: Vec<String>,
    cases: Vec<VariantCase>,
}

#[derive(Deserialize)]
struct VariantCase {
    text: String,
    tokens: Vec<u32>,
    detok: Vec<u8>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    add_special: bool,
    parse_special: bool,
    tokens: Vec<u32>,
    detok: Vec<u8>,
    detok_remove_special: Vec<u8>,
    detok_unparse_special: Vec<u8>,
}

#[derive(Deserialize)]
struct Piece {
    special: Vec<u8>,
    plain: Vec<u8>,
}

struct Fixture {
    tokenizer: Tokenizer,
    spec: TokenizerSpec,
    reference: Reference,
}

fn load(name: &str) -> Fixture {
    let data = format!(
        "{}/tests/data/tokenizer/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&data).unwrap_or_else(|e| panic!("reading {data}: {e}"));
    let reference = serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {data}: {e}"));
    let path = model::cache::resolve(name).unwrap_or_else(|e| {
        panic!("test model `{name}` is missing ({e}); run `cargo xtask fetch-models` or set ROCMFORGE_MODELS")
    });
    let file = GgufFile::open(&path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let spec = TokenizerSpec::from_metadata(file.metadata())
        .unwrap_or_else(|e| panic!("tokenizer metadata of {name}: {e}"));
    let tokenizer = Tokenizer::new(&spec).unwrap_or_else(|e| panic!("tokenizer of {name}: {e}"));
    Fixture {
        tokenizer,
        spec,
        reference,
    }
}

fn smollm2() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| load("smollm2"))
}

fn gemma3() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| load("gemma3-270m"))
}

fn show(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}

fn label(case: &Case) -> String {
    format!(
        "{:?} (add_special={}, parse_special={})",
        case.text, case.add_special, case.parse_special
    )
}

fn check_tokens(f: &Fixture) {
    assert!(
        f.reference.cases.len() >= 160,
        "expected at least 40 strings x 4 modes"
    );
    let mut failures = Vec::new();
    for case in &f.reference.cases {
        let ids = f
            .tokenizer
            .encode(&case.text, case.add_special, case.parse_special)
            .unwrap_or_else(|e| panic!("{}: {e}", label(case)));
        if ids != case.tokens {
            failures.push(format!(
                "{}:\n  ours   {ids:?}\n  llama  {:?}",
                label(case),
                case.tokens
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        f.reference.cases.len(),
        failures.join("\n")
    );
}

fn check_detokenize(f: &Fixture) {
    let mut failures = Vec::new();
    for case in &f.reference.cases {
        let t = &f.tokenizer;
        let modes = [
            (
                "plain",
                t.detokenize(&case.tokens, false, false),
                &case.detok,
            ),
            (
                "remove_special",
                t.detokenize(&case.tokens, true, false),
                &case.detok_remove_special,
            ),
            (
                "unparse_special",
                t.detokenize(&case.tokens, false, true),
                &case.detok_unparse_special,
            ),
        ];
        for (mode, ours, theirs) in modes {
            let ours = ours.unwrap_or_else(|e| panic!("{}: {e}", label(case)));
            if &ours != theirs {
                failures.push(format!(
                    "{} {mode}: ours {} llama {}",
                    label(case),
                    show(&ours),
                    show(theirs)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn check_pieces(f: &Fixture) {
    let mut failures = Vec::new();
    for (&id, piece) in &f.reference.pieces {
        let special = f.tokenizer.token_to_piece(id, true).unwrap();
        let plain = f.tokenizer.token_to_piece(id, false).unwrap();
        if special != piece.special.as_slice() || plain != piece.plain.as_slice() {
            failures.push(format!(
                "{id}: ours {}/{} llama {}/{}",
                show(special),
                show(plain),
                show(&piece.special),
                show(&piece.plain)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn check_vocab(f: &Fixture) {
    let (t, r) = (&f.tokenizer, &f.reference);
    assert_eq!(t.n_vocab(), r.n_vocab);
    assert_eq!(t.special_tokens().bos(), r.bos, "BOS");
    assert_eq!(t.special_tokens().eos(), r.eos, "EOS");
    assert_eq!(t.special_tokens().eot(), r.eot, "EOT");
    assert_eq!(
        (t.add_bos(), t.add_eos()),
        (r.add_bos, r.add_eos),
        "add_bos/add_eos"
    );
    assert_eq!(
        t.eog_ids().collect::<Vec<_>>(),
        r.eog,
        "end-of-generation ids"
    );
    for id in 0..t.n_vocab() as u32 {
        assert_eq!(t.is_eog(id), r.eog.contains(&id), "is_eog({id})");
    }
    assert!(t.token_to_piece(r.n_vocab as u32, true).is_err());
}

/// Text without special-token parsing decodes back to itself, except where the tokenizer
/// cannot tell: SentencePiece writes spaces as `▁`, so a literal `▁` decodes as a space.
fn check_round_trip(f: &Fixture) -> usize {
    let spm = f.tokenizer.kind() == VocabKind::Spm;
    let cases = f
        .reference
        .cases
        .iter()
        .filter(|c| !(c.parse_special || spm && c.text.contains('\u{2581}')));
    let mut checked = 0;
    for case in cases {
        let ids = f
            .tokenizer
            .encode(&case.text, case.add_special, false)
            .unwrap();
        assert_eq!(
            f.tokenizer.decode(&ids).unwrap(),
            case.text,
            "{}",
            label(case)
        );
        checked += 1;
    }
    checked
}

/// Feeding ids one at a time gives the same text as decoding them at once, and every chunk
/// handed out is whole UTF-8 (a `String`), even where a character spans tokens.
fn check_streaming(f: &Fixture) -> usize {
    let mut held_back = 0;
    for case in &f.reference.cases {
        let mut stream = f.tokenizer.stream(false);
        let mut text = String::new();
        for &id in &case.tokens {
            text.push_str(&stream.push(id).unwrap());
            held_back += usize::from(stream.has_pending());
        }
        text.push_str(&stream.finish());
        let whole = f.tokenizer.detokenize(&case.tokens, false, false).unwrap();
        assert_eq!(text, String::from_utf8_lossy(&whole), "{}", label(case));
    }
    held_back
}

#[test]
fn smollm2_tokens_match_llama_cpp() {
    check_tokens(smollm2());
}

#[test]
fn gemma3_tokens_match_llama_cpp() {
    check_tokens(gemma3());
}

#[test]
fn smollm2_detokenize_matches_llama_cpp() {
    check_detokenize(smollm2());
}

#[test]
fn gemma3_detokenize_matches_llama_cpp() {
    check_detokenize(gemma3());
}

#[test]
fn smollm2_pieces_match_llama_cpp() {
    check_pieces(smollm2());
}

#[test]
fn gemma3_pieces_match_llama_cpp() {
    check_pieces(gemma3());
}

#[test]
fn smollm2_special_tokens_match_llama_cpp() {
    check_vocab(smollm2());
}

#[test]
fn gemma3_special_tokens_match_llama_cpp() {
    check_vocab(gemma3());
}

#[test]
fn smollm2_round_trips() {
    assert_eq!(check_round_trip(smollm2()), 120);
}

#[test]
fn gemma3_round_trips() {
    assert_eq!(check_round_trip(gemma3()), 118);
}

#[test]
fn smollm2_streams_whole_characters() {
    // Byte-level BPE splits emoji and CJK across tokens: some bytes must have waited.
    assert!(check_streaming(smollm2()) > 0);
}

#[test]
fn gemma3_streams_whole_characters() {
    check_streaming(gemma3());
}

/// The pre-tokenizers neither model uses, on SmolLM2's vocabulary and merges.
#[test]
fn other_pre_tokenizers_match_llama_cpp() {
    let f = smollm2();
    let expected_kinds = [
        ("default", PreTokenizerKind::Default),
        ("gpt-2", PreTokenizerKind::Gpt2),
        ("llama-bpe", PreTokenizerKind::Llama3),
        ("qwen2", PreTokenizerKind::Qwen2),
    ];
    let names: Vec<&str> = f
        .reference
        .pre_variants
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(names, expected_kinds.map(|(n, _)| n));
    let mut failures = Vec::new();
    for (pre, kind) in expected_kinds {
        let spec = TokenizerSpec {
            pre: Some(pre.to_owned()),
            ..f.spec.clone()
        };
        let t = Tokenizer::new(&spec).unwrap_or_else(|e| panic!("pre {pre}: {e}"));
        assert_eq!(t.pre_tokenizer(), Some(kind));
        for case in &f.reference.pre_variants[pre] {
            let ids = t.encode(&case.text, false, false).unwrap();
            if ids != case.tokens {
                failures.push(format!(
                    "{pre} {:?}:\n  ours  {ids:?}\n  llama {:?}",
                    case.text, case.tokens
                ));
            }
            let detok = t.detokenize(&case.tokens, false, false).unwrap();
            if detok != case.detok {
                failures.push(format!(
                    "{pre} {:?}: detok ours {} llama {}",
                    case.text,
                    show(&detok),
                    show(&case.detok)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Byte-level BPE words holding symbols that are not tokens (the tokens of bytes 0xC3, 0xA9
/// and the newline renamed, the merges naming them dropped): each such symbol becomes the
/// bytes of it that are tokens on their own, as llama.cpp does; detokenization agrees too.
#[test]
fn bpe_symbols_that_are_not_tokens_match_llama_cpp() {
    let f = smollm2();
    let edges = f
        .reference
        .bpe_edges
        .as_ref()
        .expect("smollm2.json has no bpe_edges: regenerate it with make_reference.py");
    let mut spec = f.spec.clone();
    for (&id, text) in &edges.renamed {
        spec.tokens[id as usize] = text.clone();
    }
    let before = spec.merges.len();
    spec.merges.retain(|m| !edges.dropped_merges.contains(m));
    assert_eq!(before - spec.merges.len(), edges.dropped_merges.len());
    let t = Tokenizer::new(&spec).unwrap_or_else(|e| panic!("edge vocabulary: {e}"));
    let mut failures = Vec::new();
    for case in &edges.cases {
        let ids = t.encode(&case.text, false, false).unwrap();
        if ids != case.tokens {
            failures.push(format!(
                "{:?}:\n  ours  {ids:?}\n  llama {:?}",
                case.text, case.tokens
            ));
        }
        let detok = t.detokenize(&case.tokens, false, false).unwrap();
        if detok != case.detok {
            failures.push(format!(
                "{:?}: detok ours {} llama {}",
                case.text,
                show(&detok),
                show(&case.detok)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
