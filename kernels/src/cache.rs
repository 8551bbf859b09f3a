//! The on-disk cache of compiled code objects, keyed by vendor + target + source hash +
//! compiler version, in `~/.cache/rocmforge/kernels` (or `ROCMFORGE_KERNEL_CACHE`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::arch::GpuArch;
use crate::error::KernelError;
use crate::source::{hex, ModuleSource};

/// Environment variable that overrides the cache directory.
pub const CACHE_ENV: &str = "ROCMFORGE_KERNEL_CACHE";

/// A directory of compiled code objects.
#[derive(Clone, Debug)]
pub struct DiskCache {
    dir: PathBuf,
}

impl DiskCache {
    /// The cache at `$ROCMFORGE_KERNEL_CACHE`, else `$XDG_CACHE_HOME/rocmforge/kernels`, else
    /// `~/.cache/rocmforge/kernels`; `None` when none of these can be named.
    pub fn from_env() -> Option<Self> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let dir = if let Some(dir) = var(CACHE_ENV) {
            PathBuf::from(dir)
        } else if let Some(xdg) = var("XDG_CACHE_HOME") {
            PathBuf::from(xdg).join("rocmforge").join("kernels")
        } else {
            PathBuf::from(var("HOME")?)
                .join(".cache")
                .join("rocmforge")
                .join("kernels")
        };
        Some(Self { dir })
    }

    /// A cache rooted at `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The cache's root directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the code object for `source` compiled for `arch` by `compiler` lives.
    pub fn path_for(&self, source: &ModuleSource, arch: &GpuArch, compiler: &str) -> PathBuf {
        let mut hasher = Sha256::new();
        for part in [arch.vendor().name(), arch.full(), &source.hash, compiler] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        let key = hex(&hasher.finalize());
        let arch_dir: String = arch
            .full()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        self.dir
            .join(arch.vendor().name())
            .join(arch_dir)
            .join(format!("{}-{}.co", source.module.name(), &key[..24]))
    }

    /// The cached bytes at `path`, or `None` when absent, empty or unreadable (a broken
    /// entry is only a miss: the caller compiles again and overwrites it).
    pub fn load(&self, path: &Path) -> Option<Vec<u8>> {
        match fs::read(path) {
            Ok(bytes) if !bytes.is_empty() => Some(bytes),
            Ok(_) => None,
            Err(err) => {
                if err.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %path.display(), %err, "unreadable kernel cache entry");
                }
                None
            }
        }
    }

    /// Writes `bytes` to `path` atomically (a temporary file renamed into place), so that
    /// concurrent processes never see half an entry.
    pub fn store(&self, path: &Path, bytes: &[u8]) -> Result<(), KernelError> {
        let cache_err = |source| KernelError::Cache {
            path: path.to_path_buf(),
            source,
        };
        let parent = path.parent().unwrap_or(&self.dir);
        fs::create_dir_all(parent).map_err(cache_err)?;
        let tmp = parent.join(format!(
            ".{}.{}.tmp",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
            std::process::id()
        ));
        let written = fs::File::create(&tmp).and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        });
        if let Err(err) = written.and_then(|()| fs::rename(&tmp, path)) {
            // Best effort: the temporary file is garbage whatever happened.
            let _ = fs::remove_file(&tmp);
            return Err(cache_err(err));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::ModuleId;

    #[test]
    fn key_changes_with_every_component_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::at(dir.path());
        let gfx90a = GpuArch::parse("gfx90a:sramecc+:xnack-").unwrap();
        let sm90 = GpuArch::parse("sm_90").unwrap();
        let src = ModuleSource::new(ModuleId::Reduce, &gfx90a);
        let p = cache.path_for(&src, &gfx90a, "hiprtc 9.0");
        assert!(p.starts_with(dir.path().join("amd").join("gfx90a_sramecc__xnack_")));
        assert_ne!(p, cache.path_for(&src, &gfx90a, "hiprtc 9.1"));
        assert_ne!(p, cache.path_for(&src, &sm90, "hiprtc 9.0"));
        let other = ModuleSource::new(ModuleId::Convert, &gfx90a);
        assert_ne!(p, cache.path_for(&other, &gfx90a, "hiprtc 9.0"));

        assert_eq!(cache.load(&p), None);
        cache.store(&p, b"code object").unwrap();
        assert_eq!(cache.load(&p).as_deref(), Some(&b"code object"[..]));
        cache.store(&p, b"newer").unwrap();
        assert_eq!(cache.load(&p).as_deref(), Some(&b"newer"[..]));
    }

    #[test]
    fn unwritable_cache_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        fs::write(&file, b"x").unwrap();
        let cache = DiskCache::at(&file);
        let arch = GpuArch::parse("gfx908").unwrap();
        let src = ModuleSource::new(ModuleId::Elementwise, &arch);
        let p = cache.path_for(&src, &arch, "c");
        let err = cache.store(&p, b"x").unwrap_err();
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }
}
