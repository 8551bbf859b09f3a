//! `rocmforge chat` driven through stdin with the SmolLM2 test model: answers stream to
//! stdout, `/reset` starts over, end of input exits cleanly.

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `rocmforge chat ARGS` with `input` on stdin; returns (exit success, stdout, stderr).
fn chat(args: &[&str], input: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rocmforge"))
        .arg("chat")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting rocmforge chat");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("writing stdin");
    let out = child
        .wait_with_output()
        .expect("waiting for rocmforge chat");
    (
        out.status.success(),
        String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn answers_reset_and_exit_at_end_of_input() {
    let input = "What is the capital of France?\n/reset\nWhat is the capital of France?\n";
    let (ok, stdout, stderr) = chat(
        &["-m", "smollm2", "--temp", "0", "-n", "24", "--verbose"],
        input,
    );
    assert!(
        ok,
        "chat failed; stderr: {stderr} (the test model comes from `cargo xtask fetch-models`)"
    );
    let answers: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(answers.len(), 2, "two answers: {stdout:?}");
    assert!(answers[0].contains("Paris"), "{stdout:?}");
    assert_eq!(
        answers[0], answers[1],
        "after /reset the same question gets the same greedy answer"
    );
    assert!(stderr.contains("(conversation reset)"), "{stderr}");
    // After the reset the whole prompt is evaluated again: both turns report the same count.
    let prompts: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("prompt: "))
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(prompts.len(), 2, "{stderr}");
    assert_eq!(prompts[0], prompts[1], "{stderr}");
}

#[test]
fn a_second_turn_only_evaluates_the_new_part_of_the_conversation() {
    let input = "Hi!\nName a color.\n/exit\nthis line is never read\n";
    let (ok, _stdout, stderr) = chat(&["--temp", "0", "-n", "12", "--verbose"], input);
    assert!(ok, "{stderr}");
    let counts: Vec<usize> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("prompt: "))
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(counts.len(), 2, "{stderr}");
    // Turn two re-renders the conversation; the cached first turn is not evaluated again.
    assert!(
        counts[1] < counts[0] + 12,
        "second turn evaluated {} tokens: {stderr}",
        counts[1]
    );
}

#[test]
fn ctrl_c_stops_the_answer_not_the_program() {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rocmforge"))
        .args(["chat", "-n", "2000", "--ignore-eos", "--seed", "3"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting rocmforge chat");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"Tell me a very long story.\n").unwrap();
    stdin.flush().unwrap();
    // Wait until the answer is streaming, then interrupt it.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).expect("the answer starts");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("running kill");
    assert!(status.success());
    // The program is still there: it takes the next line and exits on /exit.
    stdin.write_all(b"/exit\n").unwrap();
    drop(stdin);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let out = child
        .wait_with_output()
        .expect("waiting for rocmforge chat");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}; stderr: {stderr}",
        out.status
    );
    assert!(stderr.contains("(stopped)"), "{stderr}");
}
