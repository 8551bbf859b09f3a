//! `rocmforge run` end to end with the SmolLM2 test model (`cargo xtask fetch-models`):
//! it works with no `-m`, prints only generated text on stdout and the timing line on
//! stderr, the same seed gives the same text, and stop strings end generation unprinted.

use std::process::Command;

/// Runs `rocmforge run ARGS`, asserts success, returns (stdout, stderr).
fn run(args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rocmforge"))
        .arg("run")
        .args(args)
        .output()
        .expect("running rocmforge");
    let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "rocmforge run {args:?} failed ({:?}); stderr: {stderr} (the test model comes from `cargo xtask fetch-models`)",
        out.status
    );
    (stdout, stderr)
}

#[test]
fn hello_with_no_model_argument_uses_smollm2() {
    let (stdout, stderr) = run(&["-p", "Hello", "-n", "6", "--ignore-eos", "--seed", "7"]);
    assert!(!stdout.trim().is_empty(), "no text generated");
    assert!(
        !stdout.contains("tok/s"),
        "stdout holds only the text: {stdout:?}"
    );
    let timing = stderr.lines().last().unwrap_or_default();
    assert!(
        !stderr.contains("architecture:"),
        "no load summary without --verbose: {stderr}"
    );
    assert!(
        timing.starts_with("prompt: 1 tokens, "),
        "timing line: {timing:?}"
    );
    assert!(
        timing.contains(" tok/s | generation: 6 tokens, ") && timing.ends_with(" tok/s"),
        "{timing:?}"
    );
}

#[test]
fn verbose_prints_the_load_summary_on_stderr() {
    let (stdout, stderr) = run(&["-m", "smollm2", "-p", "Hi", "-n", "1", "--verbose"]);
    assert!(!stdout.contains("architecture"), "{stdout:?}");
    assert!(
        stderr.contains("architecture: llama, 30 layers"),
        "{stderr}"
    );
    assert!(stderr.contains("tensors: 272, weights "), "{stderr}");
    assert!(stderr.contains("KV cache "), "{stderr}");
}

#[test]
fn the_same_seed_gives_the_same_text() {
    let args = |seed: &'static str| {
        [
            "-p",
            "Once upon a time",
            "-n",
            "20",
            "--ignore-eos",
            "--temp",
            "1.0",
            "--seed",
            seed,
        ]
    };
    let (a, _) = run(&args("1234"));
    let (b, _) = run(&args("1234"));
    assert_eq!(a, b);
    let others: Vec<String> = ["1", "2", "3"].iter().map(|s| run(&args(s)).0).collect();
    assert!(
        others.iter().any(|o| *o != a),
        "the seed changes nothing: {a:?} {others:?}"
    );
}

#[test]
fn a_stop_string_ends_generation_and_is_not_printed() {
    let base = [
        "-p",
        "The three primary colors are",
        "-n",
        "24",
        "--ignore-eos",
        "--temp",
        "0",
    ];
    let (full, _) = run(&base);
    // A word from the middle of the greedy text, preceded by its space.
    let words: Vec<&str> = full.split(' ').filter(|w| w.len() > 2).collect();
    assert!(words.len() >= 3, "greedy text too short: {full:?}");
    let stop = format!(" {}", words[words.len() / 2]);
    let cut = full.find(&stop).expect("stop string in the text");
    let mut args = base.to_vec();
    args.extend(["-r", stop.as_str()]);
    let (stopped, stderr) = run(&args);
    assert_eq!(stopped, full[..cut], "stop {stop:?}; stderr: {stderr}");
}

#[test]
fn chat_mode_wraps_the_prompt_in_the_template() {
    let (stdout, _) = run(&[
        "-p",
        "What is the capital of France?",
        "--chat",
        "--temp",
        "0",
        "-n",
        "24",
    ]);
    assert!(stdout.contains("Paris"), "{stdout:?}");
    assert!(
        !stdout.contains("<|im_"),
        "control tokens are not printed: {stdout:?}"
    );
}
