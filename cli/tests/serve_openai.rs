//! The official `openai` Python client (installed by CI's pip step) against
//! `rocmforge serve` with the SmolLM2 test model: chat and completions, streamed and not,
//! usage, stop strings, seed reproducibility and logprobs (`cli/tests/py/openai_client.py`).

mod serve_support;

use serve_support::Server;

#[test]
fn the_openai_python_client_works_against_the_server() {
    let s = Server::start(&["--api-key", "sk-openai-test", "--parallel", "4"]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/openai_client.py");
    let out = std::process::Command::new("python3")
        .args([script, &s.base, "sk-openai-test"])
        .output()
        .expect("running python3 (CI installs the openai package)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "openai client checks failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("all openai client checks passed"),
        "{stdout}"
    );
}
