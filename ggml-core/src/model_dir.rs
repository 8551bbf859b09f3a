//! Where GGUF models are cached: `$ROCMFORGE_MODELS` if set and non-empty, else
//! `$HOME/.cache/rocmforge/models`. The one place this rule is written: `model::cache`, the
//! tests of every crate and `xtask` (which includes this file by path, to stay lean) use it.

use std::path::{Path, PathBuf};

/// The variable that overrides the model directory.
pub const MODELS_ENV: &str = "ROCMFORGE_MODELS";

/// The model directory, or `None` when neither `ROCMFORGE_MODELS` nor `HOME` is set. It is
/// not created here.
pub fn models_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(MODELS_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(Path::new(&home).join(".cache/rocmforge/models"))
}
