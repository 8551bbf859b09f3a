//! `cargo xtask fuzz build | run TARGET SECONDS | ci`: builds the cargo-fuzz targets in
//! `fuzz/` with libFuzzer's coverage instrumentation on the stable toolchain (the flags
//! cargo-fuzz passes, without a sanitizer, so no nightly and no cargo-fuzz install), makes
//! their seeds with the gguf-py scripts, and runs a target for a number of seconds. `ci`
//! builds every target and runs `model_from_bytes` for a minute.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

/// The fuzz targets, with the command line (from the repository root) that writes seeds.
const TARGETS: &[(&str, &[&str])] = &[
    (
        "gguf_reader",
        &[
            "python3",
            "fuzz/make_seed.py",
            "fuzz/seeds/gguf_reader/small.gguf",
        ],
    ),
    (
        "model_from_bytes",
        &[
            "python3",
            "cli/tests/data/make_hostile_models.py",
            "fuzz/seeds/model_from_bytes",
        ],
    ),
];

/// libFuzzer's coverage instrumentation, as cargo-fuzz sets it (no sanitizer).
const RUSTFLAGS: &str = "-Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    --cfg fuzzing -Cdebug-assertions -Coverflow-checks";

/// Seconds `ci` runs `model_from_bytes`.
const CI_SECONDS: u64 = 60;

/// Runs the task.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let root = root()?;
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["build"] => build(&root),
        ["run", target, seconds] => {
            let seconds: u64 = seconds.parse().context("SECONDS must be a whole number")?;
            build(&root)?;
            fuzz(&root, target, seconds)
        }
        ["ci"] => {
            build(&root)?;
            fuzz(&root, "model_from_bytes", CI_SECONDS)
        }
        _ => bail!("usage: cargo xtask fuzz build | run TARGET SECONDS | ci"),
    }
}

fn root() -> anyhow::Result<PathBuf> {
    Ok(Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask has a parent folder")?
        .to_path_buf())
}

/// The host's target triple (`rustc -vV`): building for it explicitly keeps the
/// instrumentation out of build scripts and proc macros.
fn host_triple() -> anyhow::Result<String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .context("rustc -vV names no host")
}

/// Builds every fuzz target, instrumented, into `fuzz/target/<host>/release`.
fn build(root: &Path) -> anyhow::Result<()> {
    let host = host_triple()?;
    eprintln!("fuzz: building {} targets for {host}", TARGETS.len());
    let status = Command::new("cargo")
        .current_dir(root.join("fuzz"))
        .args(["build", "--release", "--bins", "--target", &host])
        .env("RUSTFLAGS", RUSTFLAGS)
        .status()
        .context("running cargo build in fuzz/")?;
    if !status.success() {
        bail!("building the fuzz targets failed ({status})");
    }
    Ok(())
}

/// Makes `target`'s seeds and runs it for `seconds`; libFuzzer's last lines give the
/// number of executions.
fn fuzz(root: &Path, target: &str, seconds: u64) -> anyhow::Result<()> {
    let Some((_, seed_cmd)) = TARGETS.iter().find(|(t, _)| *t == target) else {
        let names: Vec<&str> = TARGETS.iter().map(|(t, _)| *t).collect();
        bail!(
            "unknown fuzz target `{target}` (targets: {})",
            names.join(", ")
        );
    };
    let status = Command::new(seed_cmd[0])
        .current_dir(root)
        .args(&seed_cmd[1..])
        .status()
        .with_context(|| format!("running {}", seed_cmd.join(" ")))?;
    if !status.success() {
        bail!(
            "making the seeds failed: {} (needs `pip install gguf numpy`)",
            seed_cmd.join(" ")
        );
    }
    let fuzz = root.join("fuzz");
    let corpus = fuzz.join("corpus").join(target);
    let artifacts = fuzz.join("artifacts").join(target);
    for dir in [&corpus, &artifacts] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let exe = fuzz
        .join("target")
        .join(host_triple()?)
        .join("release")
        .join(target);
    eprintln!("fuzz: running {target} for {seconds} s");
    let status = Command::new(&exe)
        .current_dir(&fuzz)
        .arg(&corpus)
        .arg(fuzz.join("seeds").join(target))
        .args([
            format!("-max_total_time={seconds}"),
            "-max_len=262144".to_string(),
            "-rss_limit_mb=2048".to_string(),
            "-timeout=20".to_string(),
            "-print_final_stats=1".to_string(),
            format!("-artifact_prefix={}/", artifacts.display()),
        ])
        .status()
        .with_context(|| format!("running {}", exe.display()))?;
    if !status.success() {
        bail!(
            "fuzz target {target} found a failure ({status}); the input is in {}",
            artifacts.display()
        );
    }
    Ok(())
}
