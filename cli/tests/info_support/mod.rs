//! Helpers shared by the `info_*` and `quantize_*` tests: the real models, the built
//! binary, and the Python reference helpers under `tests/py/`.

// Each test crate that includes this module uses only some of the helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The real model `file` from `ROCMFORGE_MODELS` (default `~/.cache/rocmforge/models`);
/// fails the test with a clear message when it is missing.
pub fn model(file: &str) -> PathBuf {
    let dir = ggml_core::model_dir::models_dir().expect("HOME or ROCMFORGE_MODELS must be set");
    let path = dir.join(file);
    assert!(
        path.is_file(),
        "test model {} is missing: run `cargo xtask fetch-models` (or set ROCMFORGE_MODELS)",
        path.display()
    );
    path
}

/// Runs the built `rocmforge` binary with `args`.
pub fn rocmforge<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rocmforge"))
        .args(args)
        .output()
        .expect("run the rocmforge binary")
}

/// Runs `tests/py/SCRIPT` with `args` under python3 and parses its stdout as JSON; fails
/// the test clearly when python3 or the `gguf` package is missing.
pub fn python_json<S: AsRef<std::ffi::OsStr>>(script: &str, args: &[S]) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(script);
    let out = Command::new("python3")
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 (needed for the gguf-py reference): {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed (is the `gguf` Python package installed? `pip install gguf numpy`): {stderr}",
        path.display()
    );
    serde_json::from_slice(&out.stdout).expect("the Python helper prints JSON")
}

/// Stdout of a successful run, parsed as JSON.
pub fn stdout_json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "rocmforge failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("rocmforge --json prints JSON")
}
