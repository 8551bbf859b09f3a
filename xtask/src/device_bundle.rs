//! `cargo xtask device-bundle`: the release `rocmforge` binary and the GPU test executables,
//! stripped, with a `run.sh`, in the git-ignored `device-bundle/` — copy it to a GPU machine
//! with no Rust toolchain and run `bash device-bundle/run.sh` there.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

/// The test executables that exercise the GPU: a crate and its test targets (none listed:
/// every test executable of the crate).
const GPU_TESTS: &[(&str, &[&str])] = &[
    ("hip-runtime", &[]),
    ("kernels", &[]),
    ("ggml-core", &["gpu_ops", "gpu_quant_kernels"]),
    ("attention", &["gpu_attention"]),
    ("model", &["gpu_forward", "gpu_sample"]),
];

/// The most the bundle may weigh, so that it travels to a GPU machine quickly.
const MAX_BUNDLE_BYTES: u64 = 60 * 1024 * 1024;

/// The script the bundle runs on the GPU machine: every test executable with
/// `ROCMFORGE_REQUIRE_GPU=1`, then `rocmforge doctor --require-gpu`, then a summary.
const RUN_SH: &str = r#"#!/usr/bin/env bash
# Runs every GPU test executable of this bundle and `rocmforge doctor --require-gpu`.
# Usage: bash device-bundle/run.sh        (exit status 0 only when everything passed)
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export ROCMFORGE_REQUIRE_GPU=1
export ROCMFORGE_KERNEL_CACHE="${ROCMFORGE_KERNEL_CACHE:-$(mktemp -d)}"
summary=()
failed=0
log="$(mktemp)"
for test in "$here"/tests/*; do
    name="$(basename "$test")"
    echo "===== $name"
    if "$test" --test-threads=1 --show-output 2>&1 | tee "$log"; [ "${PIPESTATUS[0]}" = 0 ]; then
        # A test that skipped a part (one device, no BLAS, …) passes, but not plainly.
        skips="$(grep -c '^skipped' "$log")"
        if [ "$skips" -gt 0 ]; then
            summary+=("PASS  $name ($skips skipped: $(grep -m1 '^skipped' "$log"))")
        else
            summary+=("PASS  $name")
        fi
    else
        summary+=("FAIL  $name")
        failed=1
    fi
done
for pass in first second; do
    echo "===== rocmforge doctor --require-gpu ($pass run, kernel cache $ROCMFORGE_KERNEL_CACHE)"
    if "$here/bin/rocmforge" doctor --require-gpu 2>&1; then
        summary+=("PASS  rocmforge doctor --require-gpu ($pass run)")
    else
        summary+=("FAIL  rocmforge doctor --require-gpu ($pass run)")
        failed=1
    fi
done
echo "===== summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
"#;

/// Builds, strips and writes the bundle into `device-bundle/` at the workspace root.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    if let Some(arg) = args.first() {
        bail!("device-bundle takes no arguments (got `{arg}`)");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask's manifest directory has a parent")?
        .to_path_buf();
    let bundle = root.join("device-bundle");
    if bundle.exists() {
        std::fs::remove_dir_all(&bundle)
            .with_context(|| format!("removing the old {}", bundle.display()))?;
    }
    for dir in ["bin", "tests"] {
        std::fs::create_dir_all(bundle.join(dir))
            .with_context(|| format!("creating {}", bundle.join(dir).display()))?;
    }

    eprintln!("device-bundle: building the release rocmforge binary");
    let binaries = cargo_executables(
        &root,
        &["build", "--release", "-p", "cli", "--bin", "rocmforge"],
    )?;
    let rocmforge = binaries
        .into_iter()
        .find(|(name, _)| name == "rocmforge")
        .map(|(_, path)| path)
        .context("cargo built no `rocmforge` executable")?;
    install(&rocmforge, &bundle.join("bin").join("rocmforge"))?;

    eprintln!("device-bundle: building the GPU test executables");
    let mut tests = Vec::new();
    for (krate, targets) in GPU_TESTS {
        let mut test_args = vec!["test", "--release", "--no-run", "-p", krate];
        for target in *targets {
            test_args.extend(["--test", target]);
        }
        let built = cargo_executables(&root, &test_args)?;
        if built.is_empty() {
            bail!("cargo built no test executables for {krate}");
        }
        tests.extend(built);
    }
    for (name, path) in &tests {
        install(path, &bundle.join("tests").join(name))?;
    }

    let run_sh = bundle.join("run.sh");
    std::fs::write(&run_sh, RUN_SH).with_context(|| format!("writing {}", run_sh.display()))?;
    let size = dir_size(&bundle)?;
    eprintln!(
        "device-bundle: {} ({:.1} MiB): rocmforge + {} test executables; run `bash device-bundle/run.sh` on the GPU machine",
        bundle.display(),
        size as f64 / (1024.0 * 1024.0),
        tests.len()
    );
    if size > MAX_BUNDLE_BYTES {
        bail!("the bundle is {size} bytes, over the {MAX_BUNDLE_BYTES}-byte limit");
    }
    Ok(())
}

/// Runs `cargo ARGS --message-format=json` and returns the executables it produced, each
/// with a name that says what it is (`rocmforge`, `kernels-lib`, `kernels-gpu`).
fn cargo_executables(root: &Path, args: &[&str]) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .args(args)
        .arg("--message-format=json")
        .stderr(Stdio::inherit())
        .output()
        .context("starting cargo")?;
    if !output.status.success() {
        bail!("`cargo {}` failed ({})", args.join(" "), output.status);
    }
    let mut found = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(executable) = message["executable"].as_str() else {
            continue;
        };
        let target = &message["target"];
        let target_name = target["name"].as_str().unwrap_or("unnamed");
        let is_test = message["profile"]["test"].as_bool().unwrap_or(false);
        let name = if !is_test {
            target_name.to_owned()
        } else {
            let package = message["package_id"]
                .as_str()
                .and_then(package_name)
                .unwrap_or(target_name);
            let kind = target["kind"][0].as_str().unwrap_or("test");
            if kind == "lib" {
                format!("{package}-lib")
            } else {
                format!("{package}-{target_name}")
            }
        };
        found.push((name, PathBuf::from(executable)));
    }
    Ok(found)
}

/// The package name in a cargo package id (`path+file:///…/kernels#0.1.0` → `kernels`,
/// `path+file:///…/hip-runtime#hip-runtime@0.1.0` → `hip-runtime`).
fn package_name(id: &str) -> Option<&str> {
    let (path, fragment) = id.rsplit_once('#')?;
    match fragment.split_once('@') {
        Some((name, _)) => Some(name),
        None => path.rsplit('/').next(),
    }
}

/// Copies `from` to `to` and strips its symbols and debug information.
fn install(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    let status = Command::new("strip")
        .arg(to)
        .status()
        .context("starting `strip` (install binutils)")?;
    if !status.success() {
        bail!("strip {} failed ({status})", to.display());
    }
    Ok(())
}

fn dir_size(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::package_name;

    #[test]
    fn package_names_from_ids() {
        assert_eq!(
            package_name("path+file:///w/main/kernels#0.1.0"),
            Some("kernels")
        );
        assert_eq!(
            package_name("path+file:///w/main/hip-runtime#hip-runtime@0.1.0"),
            Some("hip-runtime")
        );
        assert_eq!(package_name("no fragment"), None);
    }
}
