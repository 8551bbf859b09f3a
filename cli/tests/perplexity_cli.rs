//! `rocmforge perplexity` end to end: the first two chunks of the committed text at -c 128
//! give llama.cpp's running perplexity within 1% (`model/tests/data/perplexity/`), printed as
//! llama.cpp prints it. The full-text comparison lives in `model/tests/perplexity_reference.rs`.

use std::process::Command;

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../model/tests/data/perplexity"
);

#[test]
fn two_chunks_match_llama_cpp_running_figure() {
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{DATA}/reference.json")).unwrap())
            .unwrap();
    let want = reference["models"]["smollm2"]["128"]["running_ppl"][1]
        .as_f64()
        .expect("running_ppl[1]");
    let out = Command::new(env!("CARGO_BIN_EXE_rocmforge"))
        .args([
            "perplexity",
            "-m",
            "smollm2",
            "-c",
            "128",
            "-b",
            "64",
            "--chunks",
            "2",
        ])
        .arg("-f")
        .arg(format!("{DATA}/text.txt"))
        .output()
        .expect("running rocmforge");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{stderr} (the test model comes from `cargo xtask fetch-models`)"
    );
    let line = stdout.lines().last().unwrap_or_default();
    let rest = line
        .strip_prefix("Final estimate: PPL = ")
        .unwrap_or_else(|| panic!("{line:?}"));
    let (ppl, err) = rest
        .split_once(" +/- ")
        .unwrap_or_else(|| panic!("{line:?}"));
    let (ppl, err): (f64, f64) = (ppl.parse().unwrap(), err.parse().unwrap());
    assert!(
        (ppl - want).abs() / want < 0.01,
        "PPL {ppl} vs llama.cpp {want}"
    );
    assert!(err > 0.0 && err < ppl, "{line}");
    assert!(
        stderr.contains("1841 tokens, 2 chunks of 128, 126 scored"),
        "{stderr}"
    );
}
