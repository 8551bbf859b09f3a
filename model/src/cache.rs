//! The model cache: where models live on disk (`~/.cache/rocmforge/models`, or
//! `ROCMFORGE_MODELS`) and how a name given to `-m` becomes a file path.
//!
//! Layout of the cache directory:
//! - `SmolLM2-135M-Instruct.Q4_1.gguf`, `gemma-3-270m-q4_k_m.gguf`: the test models that
//!   `cargo xtask fetch-models` puts there, known by the short names `smollm2` and
//!   `gemma3-270m`;
//! - `hf/USER/REPO/FILE.gguf`: files that `rocmforge pull USER/REPO[:QUANT|/FILE.gguf]`
//!   downloaded from the Hugging Face hub.

use std::path::{Path, PathBuf};

/// Environment variable that overrides the cache directory.
pub use ggml_core::model_dir::MODELS_ENV;

/// Sub-directory of the cache holding models pulled from the Hugging Face hub.
pub const HUB_DIR: &str = "hf";

/// The models known by a short name: (name, file name in the cache).
pub const KNOWN_MODELS: &[(&str, &str)] = &[
    ("smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    ("gemma3-270m", "gemma-3-270m-q4_k_m.gguf"),
];

/// Why a model name could not be resolved or the cache could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Neither `ROCMFORGE_MODELS` nor `HOME` is set.
    #[error("cannot locate the model cache: neither {MODELS_ENV} nor HOME is set")]
    NoCacheDir,
    /// A known short name whose file is not in the cache yet.
    #[error("model `{name}` is not in the cache (expected {}); run `cargo xtask fetch-models`", path.display())]
    NotFetched {
        /// The short name asked for.
        name: String,
        /// Where the file was expected.
        path: PathBuf,
    },
    /// A hub name (`USER/REPO...`) with nothing pulled for it.
    #[error("model `{spec}` is not in the cache (looked in {}); run `rocmforge pull {spec}`", dir.display())]
    NotPulled {
        /// The name asked for.
        spec: String,
        /// The directory searched.
        dir: PathBuf,
    },
    /// Several pulled files of one repository match and the name does not say which.
    #[error("model `{spec}` is ambiguous: {} match; name one with USER/REPO/FILE.gguf", candidates.join(", "))]
    Ambiguous {
        /// The name asked for.
        spec: String,
        /// The file names that match.
        candidates: Vec<String>,
    },
    /// Not a file, not a known name and not a hub name.
    #[error("model `{spec}` not found: not a file, not a known name ({}), not USER/REPO[:QUANT|/FILE.gguf]", known_names())]
    Unknown {
        /// The name asked for.
        spec: String,
    },
    /// Reading the cache directory failed.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// The path being read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

fn known_names() -> String {
    KNOWN_MODELS
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The cache directory: `$ROCMFORGE_MODELS` if set and non-empty, else
/// `$HOME/.cache/rocmforge/models`. It is not created here.
pub fn models_dir() -> Result<PathBuf, CacheError> {
    ggml_core::model_dir::models_dir().ok_or(CacheError::NoCacheDir)
}

/// A Hugging Face model name as `pull` and `-m` take it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubSpec {
    /// Owner of the repository.
    pub user: String,
    /// Repository name.
    pub repo: String,
    /// Which file of the repository.
    pub select: HubSelect,
}

/// Which GGUF file of a repository a [`HubSpec`] names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HubSelect {
    /// `USER/REPO`: the only GGUF file (or the only one pulled).
    Any,
    /// `USER/REPO:QUANT`: the file whose name carries this quantization (case-insensitive).
    Quant(String),
    /// `USER/REPO/FILE.gguf`: this file.
    File(String),
}

impl HubSpec {
    /// Parses `USER/REPO`, `USER/REPO:QUANT` or `USER/REPO/FILE.gguf`; `None` if `spec` has
    /// another shape (empty parts, path traversal, a file that is not `.gguf`).
    pub fn parse(spec: &str) -> Option<HubSpec> {
        let (path, quant) = match spec.split_once(':') {
            Some((path, quant)) => (path, Some(quant)),
            None => (spec, None),
        };
        let parts: Vec<&str> = path.split('/').collect();
        let valid = |p: &str| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        if parts.iter().any(|p| !valid(p)) {
            return None;
        }
        let select = match (parts.len(), quant) {
            (2, None) => HubSelect::Any,
            (2, Some(q)) if valid(q) => HubSelect::Quant(q.to_string()),
            (3, None) if parts[2].to_ascii_lowercase().ends_with(".gguf") => {
                HubSelect::File(parts[2].to_string())
            }
            _ => return None,
        };
        Some(HubSpec {
            user: parts[0].to_string(),
            repo: parts[1].to_string(),
            select,
        })
    }

    /// `USER/REPO`.
    pub fn repo_id(&self) -> String {
        format!("{}/{}", self.user, self.repo)
    }

    /// Where this repository's pulled files live inside the cache directory `cache`.
    pub fn dir_in(&self, cache: &Path) -> PathBuf {
        cache.join(HUB_DIR).join(&self.user).join(&self.repo)
    }

    /// Whether a file named `file_name` is one this spec selects.
    pub fn selects(&self, file_name: &str) -> bool {
        if !file_name.to_ascii_lowercase().ends_with(".gguf") {
            return false;
        }
        match &self.select {
            HubSelect::Any => true,
            HubSelect::Quant(q) => matches_quant(file_name, q),
            HubSelect::File(f) => f == file_name,
        }
    }
}

/// Whether the GGUF file name `file_name` carries the quantization `quant`
/// (case-insensitive), as a whole token: `Q4_K` matches `model-Q4_K.gguf` but not
/// `model-Q4_K_M.gguf`; `q4_k_m` matches `model.Q4_K_M.gguf`.
pub fn matches_quant(file_name: &str, quant: &str) -> bool {
    let name = file_name.to_ascii_lowercase();
    let stem = name.strip_suffix(".gguf").unwrap_or(&name);
    let quant = quant.to_ascii_lowercase();
    if quant.is_empty() {
        return false;
    }
    stem.match_indices(&quant).any(|(at, _)| {
        let before = stem[..at].chars().next_back();
        let after = stem[at + quant.len()..].chars().next();
        let before_ok = before.is_none_or(|c| ".-_".contains(c));
        let after_ok = after.is_none_or(|c| ".-".contains(c));
        before_ok && after_ok
    })
}

/// Resolves what a user passed to `-m`: an existing file path, a known short name
/// (`smollm2`, `gemma3-270m`) or a pulled hub model (`USER/REPO[:QUANT|/FILE.gguf]`).
pub fn resolve(name_or_path: &str) -> Result<PathBuf, CacheError> {
    resolve_in(&models_dir()?, name_or_path)
}

/// [`resolve`] against the cache directory `cache`.
pub fn resolve_in(cache: &Path, name_or_path: &str) -> Result<PathBuf, CacheError> {
    let as_path = Path::new(name_or_path);
    if as_path.is_file() {
        return Ok(as_path.to_path_buf());
    }
    if let Some((name, file)) = KNOWN_MODELS.iter().find(|(n, _)| *n == name_or_path) {
        let path = cache.join(file);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(CacheError::NotFetched {
                name: name.to_string(),
                path,
            })
        };
    }
    let Some(spec) = HubSpec::parse(name_or_path) else {
        return Err(CacheError::Unknown {
            spec: name_or_path.to_string(),
        });
    };
    let dir = spec.dir_in(cache);
    let mut found: Vec<String> = gguf_files(&dir)?
        .into_iter()
        .filter(|name| spec.selects(name))
        .collect();
    found.sort();
    match found.len() {
        0 => Err(CacheError::NotPulled {
            spec: name_or_path.to_string(),
            dir,
        }),
        1 => Ok(dir.join(&found[0])),
        _ => Err(CacheError::Ambiguous {
            spec: name_or_path.to_string(),
            candidates: found,
        }),
    }
}

/// Names of the complete `.gguf` files directly in `dir` (none if `dir` does not exist).
fn gguf_files(dir: &Path) -> Result<Vec<String>, CacheError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CacheError::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| CacheError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.to_ascii_lowercase().ends_with(".gguf") && entry.path().is_file() {
            names.push(name);
        }
    }
    Ok(names)
}

/// One model file in the cache, as `rocmforge list` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedModel {
    /// The name `-m` accepts for it: a short name, or `USER/REPO/FILE.gguf`.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Where it is.
    pub path: PathBuf,
}

/// Every complete model in the cache directory `cache`, sorted by name; an absent cache
/// directory is an empty list.
pub fn list_in(cache: &Path) -> Result<Vec<CachedModel>, CacheError> {
    let mut models = Vec::new();
    let mut push = |name: String, path: PathBuf| -> Result<(), CacheError> {
        let size = std::fs::metadata(&path)
            .map_err(|source| CacheError::Io {
                path: path.clone(),
                source,
            })?
            .len();
        models.push(CachedModel { name, size, path });
        Ok(())
    };
    for file in gguf_files(cache)? {
        let name = KNOWN_MODELS
            .iter()
            .find(|(_, f)| *f == file)
            .map_or_else(|| file.clone(), |(n, _)| n.to_string());
        push(name, cache.join(&file))?;
    }
    let hub = cache.join(HUB_DIR);
    for user in sub_dirs(&hub)? {
        for repo in sub_dirs(&hub.join(&user))? {
            let dir = hub.join(&user).join(&repo);
            for file in gguf_files(&dir)? {
                push(format!("{user}/{repo}/{file}"), dir.join(&file))?;
            }
        }
    }
    models.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(models)
}

/// Names of the sub-directories of `dir` (none if `dir` does not exist).
fn sub_dirs(dir: &Path) -> Result<Vec<String>, CacheError> {
    let io = |source| CacheError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io)?;
        if entry.path().is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path, bytes: usize) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, vec![0u8; bytes]).unwrap();
    }

    #[test]
    fn parses_hub_names() {
        let s = HubSpec::parse("bartowski/SmolLM2-GGUF:q4_k_m").unwrap();
        assert_eq!(s.repo_id(), "bartowski/SmolLM2-GGUF");
        assert_eq!(s.select, HubSelect::Quant("q4_k_m".into()));
        let s = HubSpec::parse("a/b/c.Q8_0.gguf").unwrap();
        assert_eq!(s.select, HubSelect::File("c.Q8_0.gguf".into()));
        assert_eq!(HubSpec::parse("a/b").unwrap().select, HubSelect::Any);
        for bad in [
            "a",
            "a/",
            "/b",
            "a/../b",
            "a/b/c.bin",
            "a/b:",
            "a/b/c/d.gguf",
            "a b/c",
        ] {
            assert_eq!(HubSpec::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn quant_matches_whole_tokens() {
        assert!(matches_quant("SmolLM2-135M-Instruct-Q4_K_M.gguf", "q4_k_m"));
        assert!(matches_quant("model.Q8_0.gguf", "Q8_0"));
        assert!(matches_quant("model_f16.gguf", "F16"));
        assert!(!matches_quant("model-Q4_K_M.gguf", "Q4_K"));
        assert!(!matches_quant("model-IQ4_XS.gguf", "Q4_XS"));
        assert!(matches_quant("model-Q4_K.gguf", "Q4_K"));
    }

    #[test]
    fn resolves_paths_known_names_and_pulled_models() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path();
        let err = resolve_in(cache, "smollm2").unwrap_err();
        assert!(err.to_string().contains("fetch-models"), "{err}");
        touch(&cache.join("SmolLM2-135M-Instruct.Q4_1.gguf"), 3);
        assert_eq!(
            resolve_in(cache, "smollm2").unwrap(),
            cache.join("SmolLM2-135M-Instruct.Q4_1.gguf")
        );
        let file = cache.join("hf/u/r/r-Q4_K_M.gguf");
        touch(&file, 5);
        touch(&cache.join("hf/u/r/r-Q8_0.gguf"), 7);
        touch(&cache.join("hf/u/r/r-Q8_0.gguf.part"), 1);
        assert_eq!(resolve_in(cache, "u/r:Q4_K_M").unwrap(), file);
        assert_eq!(resolve_in(cache, "u/r/r-Q4_K_M.gguf").unwrap(), file);
        assert_eq!(
            resolve_in(cache, file.to_str().unwrap()).unwrap(),
            file,
            "a path is taken as is"
        );
        assert!(matches!(
            resolve_in(cache, "u/r"),
            Err(CacheError::Ambiguous { .. })
        ));
        let err = resolve_in(cache, "u/r:Q2_K").unwrap_err();
        assert!(err.to_string().contains("rocmforge pull u/r:Q2_K"), "{err}");
        assert!(matches!(
            resolve_in(cache, "no-such-model"),
            Err(CacheError::Unknown { .. })
        ));

        let listed = list_in(cache).unwrap();
        let names: Vec<_> = listed.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["smollm2", "u/r/r-Q4_K_M.gguf", "u/r/r-Q8_0.gguf"]);
        assert_eq!(listed[2].size, 7);
    }
}
