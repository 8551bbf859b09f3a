//! Bad input reaches the user as one clear line on stderr and a non-zero exit, never a
//! panic: a missing model file, a file that is not GGUF, an unsupported architecture, an
//! unsupported tensor type, and a prompt longer than the context.

use std::path::Path;
use std::process::Command;

use ggml_core::gguf::keys::general;
use ggml_core::gguf::{GgufWriter, Value};
use ggml_core::GgmlType;

/// Runs `rocmforge ARGS`; returns (exit code, stderr).
fn rocmforge(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rocmforge"))
        .args(args)
        .output()
        .expect("running rocmforge");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts exit code 1 and exactly one stderr line, `error: …` containing every `needle`.
/// A `note:` line (where `--device auto` found no GPU and fell back to the CPU) is not an
/// error line and is not counted.
fn assert_one_line_error(args: &[&str], needles: &[&str]) {
    let (code, stderr) = rocmforge(args);
    assert_eq!(code, Some(1), "exit code for {args:?}; stderr: {stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("note: "))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "one line on stderr for {args:?}, got: {stderr}"
    );
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    for needle in needles {
        assert!(lines[0].contains(needle), "`{}` lacks `{needle}`", lines[0]);
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A GGUF file of architecture `arch` with one F32 embedding tensor of 4 × 32.
fn write_gguf(path: &Path, arch: &str) {
    let mut w = GgufWriter::new();
    w.metadata_mut()
        .insert(general::ARCHITECTURE, Value::String(arch.into()));
    w.add_tensor("token_embd.weight", GgmlType::F32, &[32, 4])
        .unwrap();
    let mut out = w.begin(Vec::new()).unwrap();
    out.write_tensor(&[0u8; 32 * 4 * 4]).unwrap();
    std::fs::write(path, out.finish().unwrap()).unwrap();
}

#[test]
fn a_missing_model_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.gguf");
    let p = path.to_str().unwrap();
    assert_one_line_error(&["run", "-m", p, "-p", "hi"], &[p, "not found"]);
}

#[test]
fn a_file_that_is_not_gguf_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.gguf");
    std::fs::write(&path, "these are plain notes, not a model\n").unwrap();
    let p = path.to_str().unwrap();
    assert_one_line_error(&["run", "-m", p, "-p", "hi"], &[p, "not a GGUF file"]);
}

#[test]
fn an_unsupported_architecture_lists_the_supported_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mamba.gguf");
    write_gguf(&path, "mamba");
    let p = path.to_str().unwrap();
    assert_one_line_error(
        &["run", "-m", p, "-p", "hi"],
        &["unsupported architecture `mamba`", "llama", "gemma3"],
    );
}

#[test]
fn an_unsupported_tensor_type_names_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oldtype.gguf");
    write_gguf(&path, "llama");
    // Rewrite the tensor's type id to 4 (Q4_2, removed from ggml long ago): it follows the
    // name, the dimension count and the two dimensions in the tensor info.
    let mut bytes = std::fs::read(&path).unwrap();
    let name = b"token_embd.weight";
    let at = bytes.windows(name.len()).position(|w| w == name).unwrap() + name.len() + 4 + 2 * 8;
    assert_eq!(bytes[at..at + 4], GgmlType::F32.id().to_le_bytes());
    bytes[at..at + 4].copy_from_slice(&4u32.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    let p = path.to_str().unwrap();
    assert_one_line_error(
        &["run", "-m", p, "-p", "hi"],
        &["token_embd.weight", "type"],
    );
}

#[test]
fn a_prompt_longer_than_the_context_is_refused() {
    // Needs the SmolLM2 test model (cargo xtask fetch-models).
    let prompt = "one two three four five six seven eight nine ten eleven twelve";
    assert_one_line_error(
        &["run", "-m", "smollm2", "-c", "8", "-p", prompt],
        &["prompt is too long", "context holds 8"],
    );
}

#[test]
fn perplexity_and_chat_report_errors_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.txt");
    let m = missing.to_str().unwrap();
    assert_one_line_error(&["perplexity", "-m", "smollm2", "-f", m], &["reading", m]);
    let path = dir.path().join("notes.gguf");
    std::fs::write(&path, "not a model").unwrap();
    assert_one_line_error(
        &["chat", "-m", path.to_str().unwrap()],
        &["not a GGUF file"],
    );
}
