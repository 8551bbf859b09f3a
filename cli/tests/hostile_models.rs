//! A corpus of hostile model files — valid GGUF containers whose hyperparameters, tensor
//! shapes, tokenizer arrays or chat templates are hostile, written by
//! `data/make_hostile_models.py` into a temporary folder — makes `run`, `chat`, `tokenize`
//! and `perplexity` exit with status 1 and one `error: …` line naming the problem: no
//! panic, no abort, no hang, run under a virtual-memory limit (`ulimit -v`) and a timeout.
//! The untouched base model runs every command successfully, so each failure is the
//! hostile part's doing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Address-space limit for every command, in KiB: far above what the tiny model needs
/// (tens of MiB), far below what an allocation sized by a hostile count would ask.
const MEMORY_LIMIT_KIB: u64 = 2 << 20;
/// A command still running after this long is a hang.
const TIMEOUT: Duration = Duration::from_secs(60);

/// What a command did: exit code (None when killed by a signal or the timeout), stderr.
struct Outcome {
    code: Option<i32>,
    stderr: String,
    timed_out: bool,
}

/// Runs `rocmforge ARGS` under the memory limit with `stdin` as its input.
fn rocmforge(args: &[String], stdin: &str) -> Outcome {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {MEMORY_LIMIT_KIB} && exec \"$0\" \"$@\""
        ))
        .arg(env!("CARGO_BIN_EXE_rocmforge"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting rocmforge");
    // Ignore a broken pipe: a command that fails before reading its input closes it.
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    let started = Instant::now();
    let mut timed_out = false;
    while child.try_wait().expect("waiting").is_none() {
        if started.elapsed() > TIMEOUT {
            timed_out = true;
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("collecting output");
    Outcome {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        timed_out,
    }
}

/// The command lines to try on `model`: (name, args, stdin).
fn commands(
    model: &Path,
    text: &Path,
    class: &str,
) -> Vec<(&'static str, Vec<String>, &'static str)> {
    let m = model.to_str().expect("UTF-8 path").to_owned();
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let mut out = Vec::new();
    let chat = ("chat", s(&["chat", "-m", &m, "-t", "1", "-n", "2"]), "hi\n");
    let run_chat = (
        "run --chat",
        s(&["run", "-m", &m, "-t", "1", "-n", "2", "--chat", "-p", "hi"]),
        "",
    );
    if class == "template" {
        // Only the chat commands render the template.
        return vec![chat, run_chat];
    }
    out.push((
        "run",
        s(&["run", "-m", &m, "-t", "1", "-n", "2", "-p", "hi the cat"]),
        "",
    ));
    out.push(chat);
    out.push((
        "perplexity",
        s(&[
            "perplexity",
            "-m",
            &m,
            "-t",
            "1",
            "-c",
            "8",
            "-f",
            text.to_str().expect("UTF-8 path"),
        ]),
        "",
    ));
    // `tokenize` reads only the tokenizer, not the weights.
    if class == "tokenizer" || class == "base" {
        out.push((
            "tokenize",
            s(&["tokenize", "-m", &m, "-p", "hi the cat"]),
            "",
        ));
    }
    if class == "base" {
        out.push(run_chat);
    }
    out
}

fn make_corpus() -> (tempfile::TempDir, Vec<Value>) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/make_hostile_models.py");
    let made = Command::new("python3")
        .arg(&script)
        .arg(dir.path())
        .output()
        .expect("running python3 (the corpus is made by make_hostile_models.py)");
    assert!(
        made.status.success(),
        "make_hostile_models.py failed (needs `pip install gguf numpy`): {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("manifest.json")).expect("manifest"),
    )
    .expect("manifest JSON");
    let cases = manifest.as_array().expect("a list").clone();
    (dir, cases)
}

#[test]
fn hostile_model_files_fail_with_one_clear_line() {
    let (dir, cases) = make_corpus();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let text: PathBuf = dir.path().join("text.txt");
    std::fs::write(&text, "hi the cat sat ".repeat(40)).expect("writing text");

    let base = dir.path().join("base.gguf");
    for (name, args, stdin) in commands(&base, &text, "base") {
        let out = rocmforge(&args, stdin);
        assert_eq!(
            out.code,
            Some(0),
            "the base model must run `{name}` (timed out: {}): {}",
            out.timed_out,
            out.stderr
        );
    }

    let mut failures = Vec::new();
    let mut runs = 0;
    for case in &cases {
        let file = case["file"].as_str().expect("file");
        let class = case["class"].as_str().expect("class");
        let needle = case["needle"].as_str().expect("needle");
        for (name, args, stdin) in commands(&dir.path().join(file), &text, class) {
            runs += 1;
            let out = rocmforge(&args, stdin);
            // `chat` greets on stderr before it reads the first message; a `note:` says
            // that `--device auto` found no GPU.
            let lines: Vec<&str> = out
                .stderr
                .lines()
                .filter(|l| !l.starts_with("chatting with ") && !l.starts_with("note: "))
                .collect();
            let ok = out.code == Some(1)
                && !out.timed_out
                && lines.len() == 1
                && lines[0].starts_with("error: ")
                && lines[0].contains(needle)
                && !out.stderr.contains("panicked");
            if !ok {
                failures.push(format!(
                    "{file} `{name}`: exit {:?}{}, want one line with `{needle}`; stderr:\n{}",
                    out.code,
                    if out.timed_out { " (timed out)" } else { "" },
                    out.stderr.trim_end()
                ));
            }
        }
    }
    println!("{} hostile files, {runs} command runs", cases.len());
    assert!(
        failures.is_empty(),
        "{} of {runs} runs did not fail cleanly:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
