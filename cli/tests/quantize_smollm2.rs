//! `rocmforge quantize` turns SmolLM2 (Q4_1) into Q8_0 and Q4_K_M files that gguf-py reads,
//! whose dequantized weights are within each type's error bound of the (dequantized)
//! source, with per-tensor types that follow llama.cpp's rules; and Gemma 3's Q4_K_M file,
//! made by llama.cpp, gets exactly the types our plan picks.

mod info_support;

use std::path::Path;

use ggml_core::gguf::GgufFile;
use ggml_core::quantize_file::{plan, Mix};
use info_support::{model, python_json, rocmforge};

const SMOLLM2: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Largest relative RMS error ||converted - source|| / ||source|| accepted per output type.
fn error_bound(ty: &str) -> f64 {
    match ty {
        "F16" => 1e-3,
        "Q8_0" => 0.01,
        "Q6_K" => 0.03,
        "Q5_0" | "Q5_1" | "Q5_K" => 0.07,
        "Q4_0" | "Q4_1" | "Q4_K" | "IQ4_NL" => 0.12,
        other => panic!("no error bound for {other}"),
    }
}

/// Quantizes SmolLM2 to `mix` and returns gguf-py's comparison with the source.
fn quantize(mix: &str, dir: &Path) -> serde_json::Value {
    let src = model(SMOLLM2);
    let out = dir.join(format!("smollm2-{mix}.gguf"));
    let args = [
        "quantize".as_ref(),
        src.as_os_str(),
        out.as_os_str(),
        mix.as_ref(),
    ];
    let run = rocmforge(&[&args[..], &["--threads".as_ref(), "2".as_ref()]].concat());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "quantize {mix} failed: {stderr}");
    assert!(
        stderr.contains("already quantized: 210 tensors (210 Q4_1)"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    for part in ["before", "after", "BITS/WEIGHT", "OUTPUT TYPE"] {
        assert!(stdout.contains(part), "summary lacks {part}: {stdout}");
    }
    python_json("compare_dequant.py", &[src.as_os_str(), out.as_os_str()])
}

/// Checks error bounds and returns (name, type) of every tensor.
fn check_errors(report: &serde_json::Value) -> Vec<(String, String)> {
    let tensors = report["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 272);
    tensors
        .iter()
        .map(|t| {
            let name = t["name"].as_str().unwrap().to_string();
            let ty = t["type"].as_str().unwrap().to_string();
            if t["type"] == t["source_type"] {
                assert!(
                    t["identical"].as_bool().unwrap(),
                    "{name} was copied, must be identical"
                );
            } else {
                let err = t["rel_rms"].as_f64().unwrap();
                assert!(
                    err <= error_bound(&ty),
                    "{name} as {ty}: relative RMS error {err}"
                );
            }
            (name, ty)
        })
        .collect()
}

/// llama.cpp's "more bits" layers of a 30-layer model (first and last eighth, every third).
const MORE_BITS_30: [usize; 14] = [0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29];

fn layer(name: &str) -> usize {
    name.split('.').nth(1).unwrap().parse().unwrap()
}

#[test]
fn smollm2_to_q8_0_and_q4_k_m() {
    let dir = tempfile::tempdir().unwrap();

    let q8 = quantize("Q8_0", dir.path());
    assert_eq!(q8["file_type"], 7);
    for (name, ty) in check_errors(&q8) {
        let expected = if name.ends_with("norm.weight") {
            "F32"
        } else {
            "Q8_0"
        };
        assert_eq!(ty, expected, "{name}");
    }

    let q4 = quantize("q4_k_m", dir.path());
    assert_eq!(q4["file_type"], 15);
    for (name, ty) in check_errors(&q4) {
        let more_bits = name.starts_with("blk.") && MORE_BITS_30.contains(&layer(&name));
        // Rows of 576 are not whole 256-element super-blocks: Q4_K falls back to Q5_0 and
        // Q6_K to Q8_0. ffn_down's rows (1536) are whole super-blocks.
        let expected = if name.ends_with("norm.weight") {
            "F32"
        } else if name == "token_embd.weight" {
            "Q8_0" // the tied output: Q6_K wanted, Q8_0 for 576-wide rows
        } else if name.contains("attn_v") {
            if more_bits {
                "Q8_0"
            } else {
                "Q5_0"
            }
        } else if name.contains("ffn_down") {
            if more_bits {
                "Q6_K"
            } else {
                "Q4_K"
            }
        } else {
            "Q5_0"
        };
        assert_eq!(ty, expected, "{name}");
    }
}

#[test]
fn gemma3_q4_k_m_types_match_our_plan() {
    let file = GgufFile::open(model("gemma-3-270m-q4_k_m.gguf")).unwrap();
    let planned = plan(&file, Mix::Q4_K_M).unwrap();
    assert_eq!(planned.len(), file.tensors().len());
    for (t, p) in file.tensors().iter().zip(&planned) {
        assert_eq!(
            p.to,
            t.ty(),
            "{}: llama.cpp chose {}, we plan {}",
            t.name(),
            t.ty(),
            p.to
        );
    }
}

#[test]
fn quantize_rejects_unknown_types_and_overwriting_its_input() {
    let src = model(SMOLLM2);
    let out = rocmforge(&[
        "quantize".as_ref(),
        src.as_os_str(),
        "/tmp/x.gguf".as_ref(),
        "Q9_9".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown quantization type `Q9_9`; choose one of F16, Q4_0"),
        "{err}"
    );

    // The output may not be the input, even through a hard link or a symlink; the input is
    // left as it was. (The links live beside a copy: a hard link needs one file system.)
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("in.gguf");
    std::fs::copy(&src, &copy).unwrap();
    let before = std::fs::read(&copy).unwrap();
    let hard = dir.path().join("hard.gguf");
    std::fs::hard_link(&copy, &hard).unwrap();
    let sym = dir.path().join("sym.gguf");
    std::os::unix::fs::symlink(&copy, &sym).unwrap();
    for out in [&copy, &hard, &sym] {
        let run = rocmforge(&[
            "quantize".as_ref(),
            copy.as_os_str(),
            out.as_os_str(),
            "Q8_0".as_ref(),
        ]);
        assert_eq!(run.status.code(), Some(1));
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(err.contains("is the input"), "{}: {err}", out.display());
    }
    assert!(std::fs::read(&copy).unwrap() == before, "the input changed");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
}
