//! `cargo xtask tidy`: checks the invariants of ARCHITECTURE.md that the compiler does not,
//! over the source text, so they stop holding only by discipline:
//! - crate layering: a crate depends (dev-dependencies included) only on crates above it in
//!   [`LAYERS`]; every workspace dependency is used by a member, every member dependency is
//!   named in that crate's code;
//! - `extern "C"` only in `hip-ffi`; `unsafe` only in the places [`UNSAFE_ALLOWED`] names,
//!   each block or impl with a `// SAFETY:` comment;
//! - no `unwrap()`, `expect(`, `panic!`, `todo!` or `unimplemented!` in library code outside
//!   tests, unless the line (or the one above) carries `tidy: allow(panic)` with a reason;
//! - hand-written files stay under [`MAX_LINES`] lines (files marked `@generated` are exempt);
//! - every kernel id has an entry in doctor's check table (`fn check_kernel`);
//! - the model directory (`ROCMFORGE_MODELS`, `~/.cache/rocmforge/models`) is worked out in
//!   one place.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// The crates, top layer first: each may use only crates before it.
const LAYERS: &[&str] = &[
    "hip-ffi",
    "hip-runtime",
    "kernels",
    "ggml-core",
    "attention",
    "model",
    "cli",
    "xtask",
];
/// Library crates: no panicking shortcuts outside tests.
const LIBRARIES: &[&str] = &[
    "hip-ffi",
    "hip-runtime",
    "kernels",
    "ggml-core",
    "attention",
    "model",
];
/// Where `unsafe` may appear (path prefixes from the repository root): the GPU layers,
/// kernel launchers, and ggml-core's SIMD kernels, block casts and file mapping.
const UNSAFE_ALLOWED: &[&str] = &[
    "hip-ffi/",
    "hip-runtime/",
    "kernels/src/launch",
    "ggml-core/src/ops/",
    "ggml-core/src/quants/blocks.rs",
    "ggml-core/src/gguf/mod.rs",
];
/// Most lines in a hand-written source file.
const MAX_LINES: usize = 800;
/// The one file that works out the model directory.
const MODEL_DIR_HELPER: &str = "ggml-core/src/model_dir.rs";
/// Lines above an `unsafe` block searched for its `// SAFETY:` comment.
const SAFETY_LOOKBACK: usize = 6;

/// One source file: path relative to the repository root, and its lines.
struct Source {
    path: String,
    lines: Vec<String>,
}

/// Runs every check; the error lists every violation found.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    if let Some(arg) = args.first() {
        bail!("tidy takes no arguments (got `{arg}`)");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask has a parent folder")?
        .to_path_buf();
    let sources = read_sources(&root)?;
    let mut problems = Vec::new();
    check_layers(&root, &sources, &mut problems)?;
    check_unsafe_and_ffi(&sources, &mut problems);
    check_panics(&sources, &mut problems);
    check_lengths(&sources, &mut problems);
    check_kernel_ids(&sources, &mut problems);
    check_model_dir(&sources, &mut problems);
    if !problems.is_empty() {
        bail!(
            "tidy found {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    eprintln!(
        "tidy: {} Rust files checked, all invariants hold",
        sources.len()
    );
    Ok(())
}

/// Every `.rs` file of the workspace members and the fuzz targets.
fn read_sources(root: &Path) -> anyhow::Result<Vec<Source>> {
    let mut files = Vec::new();
    for dir in LAYERS.iter().chain(&["fuzz"]) {
        collect_rs(&root.join(dir), &mut files)?;
    }
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            Ok(Source {
                path: rel,
                lines: text.lines().map(str::to_owned).collect(),
            })
        })
        .collect()
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') && name != "corpus" {
                collect_rs(&path, out)?;
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The dependency names of each `[...dependencies]` table of a Cargo.toml.
fn dependencies(manifest: &str) -> Vec<(String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.trim_matches(['[', ']']).to_string();
            continue;
        }
        if !section.ends_with("dependencies") || line.starts_with('#') || line.is_empty() {
            continue;
        }
        let name = line.split(['=', '.', ' ']).next().unwrap_or("").trim();
        if !name.is_empty() {
            out.push((section.clone(), name.to_string()));
        }
    }
    out
}

fn check_layers(root: &Path, sources: &[Source], problems: &mut Vec<String>) -> anyhow::Result<()> {
    let read = |p: PathBuf| {
        std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
    };
    let workspace = read(root.join("Cargo.toml"))?;
    let mut used = BTreeSet::new();
    for (layer, krate) in LAYERS.iter().enumerate() {
        let manifest = read(root.join(krate).join("Cargo.toml"))?;
        for (section, dep) in dependencies(&manifest) {
            used.insert(dep.clone());
            if let Some(dep_layer) = LAYERS.iter().position(|l| *l == dep) {
                if dep_layer >= layer {
                    problems.push(format!(
                        "{krate}/Cargo.toml [{section}]: `{dep}` is not above `{krate}` in the layering"
                    ));
                }
            }
            let ident = dep.replace('-', "_");
            let named = sources
                .iter()
                .filter(|s| s.path.starts_with(&format!("{krate}/")))
                .any(|s| s.lines.iter().any(|l| names_crate(l, &ident)));
            if !named {
                problems.push(format!(
                    "{krate}/Cargo.toml [{section}]: `{dep}` is never used in {krate}'s code"
                ));
            }
        }
    }
    for (section, dep) in dependencies(&workspace) {
        if section == "workspace.dependencies" && !used.contains(&dep) {
            problems.push(format!(
                "Cargo.toml [workspace.dependencies]: `{dep}` is used by no member"
            ));
        }
    }
    Ok(())
}

/// Whether `line` refers to crate `ident` (`ident::`, `use ident`, `ident!`).
fn names_crate(line: &str, ident: &str) -> bool {
    line.match_indices(ident).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = &line[at + ident.len()..];
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && (after.starts_with("::") || after.starts_with('!') || after.starts_with(';'))
    })
}

/// The code of a line: string literals blanked (their quotes kept) and a trailing `//`
/// comment dropped. Line-based, so a string spanning lines is taken as code after its
/// first line; the checks' patterns do not occur in this project's multi-line strings.
fn code(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_str = false;
    let mut prev = ' ';
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if !in_str && c == '/' && chars.peek() == Some(&'/') {
            break;
        }
        if c == '"' && prev != '\\' && prev != '\'' {
            in_str = !in_str;
            out.push(c);
        } else {
            out.push(if in_str { ' ' } else { c });
        }
        prev = if prev == '\\' && c == '\\' { ' ' } else { c };
    }
    out
}

fn check_unsafe_and_ffi(sources: &[Source], problems: &mut Vec<String>) {
    let ffi = concat!("extern ", "\"C\"");
    for s in sources {
        let allowed = UNSAFE_ALLOWED.iter().any(|p| s.path.starts_with(p));
        for (i, line) in s.lines.iter().enumerate() {
            let c = &code(line);
            if c.contains(ffi) && !s.path.starts_with("hip-ffi/") {
                problems.push(format!("{}:{}: {ffi} outside hip-ffi", s.path, i + 1));
            }
            if !is_unsafe_use(c) {
                continue;
            }
            if !allowed {
                problems.push(format!(
                    "{}:{}: `unsafe` outside the places ARCHITECTURE.md lists",
                    s.path,
                    i + 1
                ));
            } else if needs_safety_comment(c) && !has_safety_comment(&s.lines, i) {
                problems.push(format!(
                    "{}:{}: `unsafe` without a `// SAFETY:` comment",
                    s.path,
                    i + 1
                ));
            }
        }
    }
}

/// Whether the code of a line uses the `unsafe` keyword (not `unsafe_code` and the like).
fn is_unsafe_use(c: &str) -> bool {
    c.match_indices("unsafe").any(|(at, _)| {
        let before = c[..at].chars().next_back();
        let after = c[at + "unsafe".len()..].chars().next();
        !before.is_some_and(|ch| ch.is_alphanumeric() || ch == '_' || ch == '"')
            && !after.is_some_and(|ch| ch.is_alphanumeric() || ch == '_' || ch == '"')
    })
}

/// Blocks and impls need a SAFETY comment; `unsafe fn` declarations document `# Safety`.
fn needs_safety_comment(c: &str) -> bool {
    c.contains("unsafe {") || c.contains("unsafe impl") || c.trim_end().ends_with("unsafe")
}

fn has_safety_comment(lines: &[String], i: usize) -> bool {
    let from = i.saturating_sub(SAFETY_LOOKBACK);
    lines[from..=i].iter().any(|l| l.contains("SAFETY:"))
}

/// Files that are modules compiled only for tests (`#[cfg(test)] mod name;`).
fn test_only_files(sources: &[Source]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for s in sources {
        let (dir, file) = s.path.rsplit_once('/').unwrap_or(("", &s.path));
        let base = match file {
            "lib.rs" | "main.rs" | "mod.rs" => dir.to_string(),
            other => format!("{dir}/{}", other.trim_end_matches(".rs")),
        };
        for pair in s.lines.windows(2) {
            if pair[0].trim() != "#[cfg(test)]" {
                continue;
            }
            let decl = pair[1].trim();
            let name = decl
                .strip_prefix("pub(crate) mod ")
                .or_else(|| decl.strip_prefix("mod "))
                .and_then(|rest| rest.strip_suffix(';'));
            if let Some(name) = name {
                out.insert(format!("{base}/{name}.rs"));
                out.insert(format!("{base}/{name}/mod.rs"));
            }
        }
    }
    out
}

fn check_panics(sources: &[Source], problems: &mut Vec<String>) {
    const SHORTCUTS: &[&str] = &[
        ".unwrap()",
        ".expect(",
        "panic!(",
        "todo!(",
        "unimplemented!(",
    ];
    let test_files = test_only_files(sources);
    for s in sources {
        let library = LIBRARIES
            .iter()
            .any(|l| s.path.starts_with(&format!("{l}/src/")));
        if !library || test_files.contains(&s.path) {
            continue;
        }
        let test_start = test_module_start(&s.lines);
        for (i, line) in s.lines.iter().enumerate().take(test_start) {
            let c = code(line);
            let Some(found) = SHORTCUTS.iter().find(|p| c.contains(*p)) else {
                continue;
            };
            let allowed = |l: &String| l.contains("tidy: allow(panic)");
            if allowed(line) || (i > 0 && allowed(&s.lines[i - 1])) {
                continue;
            }
            problems.push(format!(
                "{}:{}: `{found}` in library code (return an error, or mark the line \
                 `// tidy: allow(panic): why it cannot fail`)",
                s.path,
                i + 1
            ));
        }
    }
}

/// The line where a file's `#[cfg(test)]` module starts (the file's length if none).
fn test_module_start(lines: &[String]) -> usize {
    lines
        .iter()
        .enumerate()
        .find(|(i, l)| {
            l.trim() == "#[cfg(test)]"
                && lines
                    .get(i + 1)
                    .is_some_and(|n| n.trim_start().starts_with("mod "))
        })
        .map_or(lines.len(), |(i, _)| i)
}

fn check_lengths(sources: &[Source], problems: &mut Vec<String>) {
    for s in sources {
        let generated = s.lines.iter().take(10).any(|l| l.contains("@generated"));
        if !generated && s.lines.len() > MAX_LINES {
            problems.push(format!(
                "{}: {} lines, more than {MAX_LINES}: split it by job",
                s.path,
                s.lines.len()
            ));
        }
    }
}

/// Every variant of `pub enum KernelId` is named in doctor's check table (`fn check_kernel`).
fn check_kernel_ids(sources: &[Source], problems: &mut Vec<String>) {
    let kernel_sources: Vec<&Source> = sources
        .iter()
        .filter(|s| s.path.starts_with("kernels/src/"))
        .collect();
    let Some((def, start)) = kernel_sources.iter().find_map(|s| {
        let at = s
            .lines
            .iter()
            .position(|l| l.trim() == "pub enum KernelId {")?;
        Some((*s, at))
    }) else {
        problems.push("kernels/src: `pub enum KernelId {` not found".to_string());
        return;
    };
    let variants: Vec<String> = def.lines[start + 1..]
        .iter()
        .map(|l| l.trim())
        .take_while(|l| *l != "}")
        .filter(|l| !l.starts_with("//") && !l.starts_with("#[") && !l.is_empty())
        .filter_map(|l| l.split(['(', '{', ',', ' ']).next())
        .map(str::to_string)
        .collect();
    let checks = kernel_sources
        .iter()
        .find(|s| s.lines.iter().any(|l| l.contains("pub fn check_kernel(")))
        .map(|s| s.lines.join("\n"));
    let Some(checks) = checks else {
        problems.push("kernels/src: doctor's `fn check_kernel` not found".to_string());
        return;
    };
    for v in &variants {
        let path = format!("KernelId::{v}");
        if !checks.contains(&path) {
            problems.push(format!(
                "kernels/src: {path} has no entry in doctor's check table (fn check_kernel)"
            ));
        }
    }
}

fn check_model_dir(sources: &[Source], problems: &mut Vec<String>) {
    let default_dir = concat!(".cache/", "rocmforge/models");
    let env_read = concat!("var_os(\"", "ROCMFORGE_MODELS\")");
    let env_read2 = concat!("var(\"", "ROCMFORGE_MODELS\")");
    for s in sources.iter().filter(|s| s.path != MODEL_DIR_HELPER) {
        for (i, line) in s.lines.iter().enumerate() {
            let c = line.as_str();
            let doc = line.trim_start().starts_with("//");
            if !doc
                && (c.contains(default_dir) && c.contains("join(")
                    || c.contains(env_read)
                    || c.contains(env_read2))
            {
                problems.push(format!(
                    "{}:{}: the model directory is worked out here; use ggml_core::model_dir",
                    s.path,
                    i + 1
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_crate_uses_and_unsafe() {
        assert!(names_crate("use ggml_core::gguf;", "ggml_core"));
        assert!(names_crate("    tracing::debug!(x);", "tracing"));
        assert!(!names_crate("my_ggml_core::x", "ggml_core"));
        assert!(is_unsafe_use("let m = unsafe { map(f) };"));
        assert!(!is_unsafe_use("#![forbid(unsafe_code)]"));
        assert!(!is_unsafe_use("unsafe_op_in_unsafe_fn = \"deny\""));
        assert_eq!(code("let a = 1; // unsafe"), "let a = 1; ");
        assert_eq!(code("  // x.unwrap()"), "  ");
        assert_eq!(
            code(r#"f("unsafe // x", '"'); y"#),
            r#"f("           ", '"'); y"#
        );
        assert_eq!(code(r#"s = "a\"b"; unsafe"#), r#"s = "    "; unsafe"#);
        let deps = dependencies("[dependencies]\nanyhow.workspace = true\nx = { path = \"x\" }\n[lints]\nworkspace = true\n");
        assert_eq!(
            deps,
            [
                ("dependencies".to_string(), "anyhow".to_string()),
                ("dependencies".to_string(), "x".to_string())
            ]
        );
    }
}
