//! Embeds code objects built ahead of time by `cargo xtask build-kernels` (if any): scans
//! `kernels/prebuilt/<arch>/<module>.co` (or `$ROCMFORGE_PREBUILT_KERNELS`) and writes
//! `$OUT_DIR/prebuilt.rs`, a table of `include_bytes!`. With no objects the table is empty.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    println!("cargo:rerun-if-env-changed=ROCMFORGE_PREBUILT_KERNELS");
    let dir = env::var_os("ROCMFORGE_PREBUILT_KERNELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(&env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
                .join("prebuilt")
        });
    // A missing path would rerun this script on every build; watch the nearest existing
    // ancestor instead, so that creating the directory is still noticed.
    let watched = dir.ancestors().find(|p| p.exists()).unwrap_or(&dir);
    println!("cargo:rerun-if-changed={}", watched.display());
    let mut entries = Vec::new();
    for arch_dir in sorted_dir(&dir) {
        println!("cargo:rerun-if-changed={}", arch_dir.display());
        let Some(arch) = file_name(&arch_dir) else {
            continue;
        };
        for object in sorted_dir(&arch_dir) {
            if object.extension().and_then(|e| e.to_str()) != Some("co") {
                continue;
            }
            let Some(module) = object.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let hash_file = object.with_extension("hash");
            println!("cargo:rerun-if-changed={}", object.display());
            println!("cargo:rerun-if-changed={}", hash_file.display());
            let Ok(hash) = fs::read_to_string(&hash_file) else {
                println!(
                    "cargo:warning=skipping {}: no {} beside it",
                    object.display(),
                    hash_file.display()
                );
                continue;
            };
            entries.push((
                arch.clone(),
                module.to_owned(),
                hash.trim().to_owned(),
                object,
            ));
        }
    }
    let mut out = String::from(
        "/// Code objects built ahead of time: (target, module name, source hash, bytes).\n\
         pub(crate) static PREBUILT: &[(&str, &str, &str, &[u8])] = &[\n",
    );
    for (arch, module, hash, object) in &entries {
        let path = fs::canonicalize(object).unwrap_or_else(|_| object.clone());
        writeln!(
            out,
            "    ({arch:?}, {module:?}, {hash:?}, include_bytes!({:?})),",
            path.display().to_string()
        )
        .expect("writing to a String cannot fail");
    }
    out.push_str("];\n");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out_dir.join("prebuilt.rs"), out).expect("OUT_DIR is writable");
}

/// The entries of `dir` sorted by name; empty when it does not exist.
fn sorted_dir(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    paths.sort();
    paths
}

fn file_name(path: &Path) -> Option<String> {
    path.is_dir()
        .then(|| path.file_name()?.to_str().map(str::to_owned))
        .flatten()
}
