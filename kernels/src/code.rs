//! Getting a module's code object for a target: an embedded ahead-of-time object that
//! matches, else the disk cache, else the run-time compiler (whose result is cached).

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, Instant};

use crate::arch::GpuArch;
use crate::cache::DiskCache;
use crate::error::KernelError;
use crate::prebuilt;
use crate::registry::ModuleId;
use crate::source::ModuleSource;

/// A compiler that turns a module's source into a code object for a target at run time.
pub trait Compiler {
    /// Names the compiler and its version; part of the cache key, so that a new compiler
    /// never loads objects built by an old one.
    fn identity(&self) -> String;
    /// Compiles `source` for `arch`; a rejected source gives [`KernelError::Compile`] with
    /// the compiler's full log.
    fn compile(&self, source: &ModuleSource, arch: &GpuArch) -> Result<Vec<u8>, KernelError>;
}

/// Where a code object came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Built ahead of time by `cargo xtask build-kernels` and embedded in the binary.
    Embedded,
    /// Compiled earlier and read from the disk cache.
    Cache,
    /// Compiled now by the run-time compiler.
    Compiled,
}

impl Origin {
    /// A short word for reports (`embedded`, `cache`, `compiled`).
    pub fn name(self) -> &'static str {
        match self {
            Origin::Embedded => "embedded",
            Origin::Cache => "cache",
            Origin::Compiled => "compiled",
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A module's code object for one target.
#[derive(Debug)]
pub struct ModuleCode {
    /// The module.
    pub module: ModuleId,
    /// Where the bytes came from.
    pub origin: Origin,
    /// The code object (AMD) or cubin (NVIDIA).
    pub bytes: Cow<'static, [u8]>,
    /// How long finding (and, if needed, compiling) it took.
    pub elapsed: Duration,
}

/// Whether code objects embedded at build time may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Embedded {
    /// Prefer an embedded object that matches the target and the source (the default).
    Use,
    /// Always use the cache or the run-time compiler (tests and `doctor` timings).
    Ignore,
}

/// `module`'s code for `arch`: embedded if allowed and a current object for this target is
/// in the binary, else from `cache`, else compiled by `compiler()` (created only when
/// needed) and stored in `cache`. A cache that cannot be written is reported and otherwise
/// ignored.
pub fn module_code<'c, C: Compiler + ?Sized + 'c>(
    module: ModuleId,
    arch: &GpuArch,
    embedded: Embedded,
    compiler: impl FnOnce() -> Result<&'c C, KernelError>,
    cache: Option<&DiskCache>,
) -> Result<ModuleCode, KernelError> {
    let started = Instant::now();
    let source = ModuleSource::new(module, arch);
    let done = |origin, bytes| ModuleCode {
        module,
        origin,
        bytes,
        elapsed: started.elapsed(),
    };
    if embedded == Embedded::Use {
        if let Some(bytes) = prebuilt::find(&source, arch) {
            return Ok(done(Origin::Embedded, Cow::Borrowed(bytes)));
        }
    }
    let compiler = compiler()?;
    let path = cache.map(|c| (c, c.path_for(&source, arch, &compiler.identity())));
    if let Some(bytes) = path.as_ref().and_then(|(c, p)| c.load(p)) {
        return Ok(done(Origin::Cache, Cow::Owned(bytes)));
    }
    let bytes = compiler.compile(&source, arch)?;
    if let Some((cache, path)) = &path {
        if let Err(err) = cache.store(path, &bytes) {
            tracing::warn!(%err, "kernel not cached; it will be compiled again next time");
        }
    }
    Ok(done(Origin::Compiled, Cow::Owned(bytes)))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A compiler that returns the source hash as the "object" and counts its calls.
    struct Counting(AtomicUsize);

    impl Compiler for Counting {
        fn identity(&self) -> String {
            "counting 1.0".into()
        }
        fn compile(&self, source: &ModuleSource, arch: &GpuArch) -> Result<Vec<u8>, KernelError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            if source.module == ModuleId::Convert {
                return Err(KernelError::Compile {
                    module: source.module,
                    arch: arch.to_string(),
                    compiler: self.identity(),
                    status: "error".into(),
                    log: "line 1: error: something\nline 2: note: more".into(),
                });
            }
            Ok(source.hash.clone().into_bytes())
        }
    }

    #[test]
    fn compiles_once_then_reads_the_cache() {
        static COMPILER: Counting = Counting(AtomicUsize::new(0));
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::at(dir.path());
        // A target no test build embeds objects for.
        let arch = GpuArch::parse("gfx1036").unwrap();
        let first = module_code(
            ModuleId::Reduce,
            &arch,
            Embedded::Use,
            || Ok(&COMPILER),
            Some(&cache),
        )
        .unwrap();
        assert_eq!(first.origin, Origin::Compiled);
        let second = module_code(
            ModuleId::Reduce,
            &arch,
            Embedded::Use,
            || Ok(&COMPILER),
            Some(&cache),
        )
        .unwrap();
        assert_eq!(second.origin, Origin::Cache);
        assert_eq!(first.bytes, second.bytes);
        assert_eq!(COMPILER.0.load(Ordering::SeqCst), 1);

        let err = module_code(
            ModuleId::Convert,
            &arch,
            Embedded::Use,
            || Ok(&COMPILER),
            Some(&cache),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("compiling convert.hip for gfx1036 with counting 1.0 failed (error)"),
            "{text}"
        );
        assert!(text.contains("line 2: note: more"), "the whole log: {text}");
    }

    #[test]
    fn a_missing_compiler_is_reported() {
        let arch = GpuArch::parse("gfx1036").unwrap();
        let err = module_code::<Counting>(
            ModuleId::Elementwise,
            &arch,
            Embedded::Ignore,
            || Err(KernelError::BadArch { name: "x".into() }),
            None,
        )
        .unwrap_err();
        assert!(matches!(err, KernelError::BadArch { .. }));
    }
}
