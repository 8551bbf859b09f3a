//! `cargo xtask ci`: the whole check that `.ci/run` runs, step by step, stopping at the first failure.

use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};

/// Python packages the reference tests drive (pinned so CI compares against fixed references).
const PYTHON_REFERENCES: &[&str] = &["gguf==0.19.0", "numpy", "jinja2", "openai"];

/// One CI step: a name and the command line it runs.
struct Step {
    name: &'static str,
    program: &'static str,
    args: &'static [&'static str],
}

const STEPS: &[Step] = &[
    Step {
        name: "fetch the test models",
        program: "cargo",
        args: &["xtask", "fetch-models"],
    },
    Step {
        name: "format",
        program: "cargo",
        args: &["fmt", "--all", "--check"],
    },
    Step {
        name: "tidy (ARCHITECTURE.md's invariants over the source)",
        program: "cargo",
        args: &["xtask", "tidy"],
    },
    Step {
        name: "lint",
        program: "cargo",
        args: &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    },
    // Before the tests, so that they check the embedded code objects.
    Step {
        name: "compile every kernel ahead of time for AMD targets",
        program: "cargo",
        args: &["xtask", "build-kernels", "--arch", AOT_ARCHS],
    },
    // The README's test command.
    Step {
        name: "test",
        program: "cargo",
        args: &["test", "--workspace", "--release"],
    },
    // The GPU tests again with their output shown, so the log says what was skipped.
    Step {
        name: "GPU tests, output shown",
        program: "cargo",
        args: &[
            "test",
            "--release",
            "-p",
            "hip-runtime",
            "-p",
            "kernels",
            "--tests",
            "--",
            "--nocapture",
        ],
    },
    // Both fuzz targets build; the model-file target runs for a minute.
    Step {
        name: "fuzz",
        program: "cargo",
        args: &["xtask", "fuzz", "ci"],
    },
    // CI has no GPU: doctor checks the CPU backend (F32, Q4_0, Q4_K and Q8_0 products
    // against the scalar reference) and that a missing GPU is one clear line.
    Step {
        name: "doctor (CPU-only checks: CI has no GPU)",
        program: "cargo",
        args: &["run", "--release", "--quiet", "-p", "cli", "--", "doctor"],
    },
];

/// AMD targets that Debian's ROCm 5.2 compiles for without a GPU.
const AOT_ARCHS: &str = "gfx908,gfx90a,gfx1030";

/// Environment for every step: a missing hiprtc fails the hiprtc tests instead of skipping
/// them, and the kernels tests require the objects `build-kernels` embedded for `AOT_ARCHS`.
const CI_ENV: &[(&str, &str)] = &[
    ("ROCMFORGE_REQUIRE_HIPRTC", "1"),
    ("ROCMFORGE_EXPECT_PREBUILT", AOT_ARCHS),
];

/// Runs every CI step in order; the first failing step ends the run with an error naming it.
pub fn run() -> anyhow::Result<()> {
    let started = Instant::now();
    install_python_references()?;
    for step in STEPS {
        run_step(step)?;
    }
    eprintln!("ci: all steps passed in {:.0?}", started.elapsed());
    Ok(())
}

fn install_python_references() -> anyhow::Result<()> {
    eprintln!("ci: installing the Python reference packages");
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(PYTHON_REFERENCES)
        .status()
        .context("running python3 -m pip (is Python 3 with pip installed?)")?;
    if !status.success() {
        bail!("pip could not install {}", PYTHON_REFERENCES.join(" "));
    }
    Ok(())
}

fn run_step(step: &Step) -> anyhow::Result<()> {
    eprintln!(
        "ci: {} ({} {})",
        step.name,
        step.program,
        step.args.join(" ")
    );
    let started = Instant::now();
    let status = Command::new(step.program)
        .args(step.args)
        .envs(CI_ENV.iter().copied())
        .status()
        .with_context(|| format!("starting `{}`", step.program))?;
    if !status.success() {
        bail!("step `{}` failed ({status})", step.name);
    }
    eprintln!("ci: {} done in {:.0?}", step.name, started.elapsed());
    Ok(())
}
