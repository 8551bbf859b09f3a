//! `rocmforge info --json` on both real models agrees with gguf-py's `GGUFReader` on every
//! tensor's name, type, shape, absolute data offset and size; the text report has its parts.

mod info_support;

use info_support::{model, python_json, rocmforge, stdout_json};

fn agrees_with_gguf_py(file: &str) {
    let path = model(file);
    let ours = stdout_json(&rocmforge(&[
        "info".as_ref(),
        "--json".as_ref(),
        path.as_os_str(),
    ]));
    let theirs = python_json("gguf_tensors.py", &[&path]);
    let ours_t = ours["tensors"].as_array().unwrap();
    let theirs_t = theirs["tensors"].as_array().unwrap();
    assert_eq!(ours_t.len(), theirs_t.len(), "{file}: tensor count");
    for (a, b) in ours_t.iter().zip(theirs_t) {
        for field in ["name", "type", "shape", "offset", "n_bytes"] {
            assert_eq!(a[field], b[field], "{file}: {field} of {}", b["name"]);
        }
        let relative = a["offset"].as_u64().unwrap() - ours["data_offset"].as_u64().unwrap();
        assert_eq!(a["relative_offset"].as_u64().unwrap(), relative);
    }
    let total: u64 = ours_t
        .iter()
        .map(|t| t["n_elements"].as_u64().unwrap())
        .sum();
    assert_eq!(ours["totals"]["parameters"].as_u64().unwrap(), total);
}

#[test]
fn smollm2_tensors_match_gguf_py() {
    agrees_with_gguf_py("SmolLM2-135M-Instruct.Q4_1.gguf");
}

#[test]
fn gemma3_tensors_match_gguf_py() {
    agrees_with_gguf_py("gemma-3-270m-q4_k_m.gguf");
}

#[test]
fn json_metadata_is_typed_and_long_arrays_are_summarized() {
    let path = model("SmolLM2-135M-Instruct.Q4_1.gguf");
    let ours = stdout_json(&rocmforge(&[
        "info".as_ref(),
        "--json".as_ref(),
        path.as_os_str(),
    ]));
    let meta = &ours["metadata"];
    assert_eq!(meta["general.architecture"]["value"], "llama");
    assert_eq!(meta["llama.block_count"]["type"], "u32");
    assert_eq!(meta["llama.block_count"]["value"], 30);
    let tokens = &meta["tokenizer.ggml.tokens"];
    assert_eq!(tokens["type"], "array of string");
    assert_eq!(tokens["value"]["len"], 49152);
    assert_eq!(tokens["value"]["head"][0], "<|endoftext|>");
    assert_eq!(
        meta["general.languages"]["value"],
        serde_json::json!(["en"])
    );
}

#[test]
fn text_report_summarizes_metadata_and_totals() {
    let path = model("SmolLM2-135M-Instruct.Q4_1.gguf");
    let out = rocmforge(&["info".as_ref(), path.as_os_str()]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "GGUF v3",
        "[49152 strings: \"<|endoftext|>\", \"<|im_start|>\", \"<|im_end|>\", …]",
        "hyperparameters (llama)",
        "general.file_type                u32              3 (Q4_1)",
        "  block_count ",
        "token_embd.weight ",
        "576 x 49152",
        "(368 chars)",
        "bits per weight",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
}
