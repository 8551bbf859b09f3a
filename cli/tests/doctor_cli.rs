//! `rocmforge doctor` as a user runs it: with no GPU one plain line and exit 0 (non-zero
//! with `--require-gpu`); with a GPU every kernel checked and exit 0; `--json` parses.

use std::process::Command;

/// Runs `rocmforge doctor ARGS`; returns (exit success, stdout).
fn doctor(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rocmforge"))
        .arg("doctor")
        .args(args)
        .env_remove("ROCMFORGE_PLATFORM")
        .output()
        .expect("starting rocmforge doctor");
    (
        out.status.success(),
        String::from_utf8(out.stdout).expect("stdout is UTF-8"),
    )
}

#[test]
fn doctor_answers_plainly_with_or_without_a_gpu() {
    let (ok, text) = doctor(&[]);
    assert!(ok, "doctor failed:\n{text}");
    assert!(text.contains("CPU backend: works"), "{text}");
    let no_gpu: Vec<&str> = text.lines().filter(|l| l.starts_with("no GPU (")).collect();
    if no_gpu.is_empty() {
        // A GPU is present: every registered kernel is in the table and passed.
        assert!(
            text.contains("result: OK: the GPU and the CPU backend work"),
            "{text}"
        );
        for kernel in kernels::KernelId::ALL {
            let row = text
                .lines()
                .find(|l| l.trim_start().starts_with(kernel.symbol()))
                .unwrap_or_else(|| panic!("{kernel} missing from the table:\n{text}"));
            assert!(row.ends_with("ok"), "{row}");
        }
    } else {
        assert_eq!(no_gpu.len(), 1, "{text}");
        assert!(no_gpu[0].ends_with("using the CPU backend"), "{text}");
        let (ok, text) = doctor(&["--require-gpu"]);
        assert!(!ok, "--require-gpu without a GPU must fail:\n{text}");
        assert!(
            text.contains("FAILED: --require-gpu and no GPU found"),
            "{text}"
        );
    }
}

#[test]
fn doctor_json_is_one_document() {
    let (ok, text) = doctor(&["--json"]);
    assert!(ok, "{text}");
    let report: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(report["cpu"]["passed"], true, "{text}");
    assert_eq!(
        report["libraries"].as_array().map(Vec::len),
        Some(4),
        "{text}"
    );
    assert!(
        report["no_gpu"].is_string() || !report["devices"].as_array().unwrap().is_empty(),
        "{text}"
    );
}
