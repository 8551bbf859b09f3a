//! Code objects compiled ahead of time by `cargo xtask build-kernels` and embedded in the
//! binary by `build.rs`; the loader prefers one that matches the device and the source.

use std::path::{Path, PathBuf};

use crate::arch::GpuArch;
use crate::registry::ModuleId;
use crate::source::ModuleSource;

include!(concat!(env!("OUT_DIR"), "/prebuilt.rs"));

/// The embedded code object for `source` on `arch`, if one was built for this target from
/// exactly this source (a stale object, built before the source changed, is ignored).
pub fn find(source: &ModuleSource, arch: &GpuArch) -> Option<&'static [u8]> {
    PREBUILT
        .iter()
        .find(|(target, module, hash, _)| {
            *target == arch.base() && *module == source.module.name() && *hash == source.hash
        })
        .map(|(_, _, _, bytes)| *bytes)
}

/// The targets for which at least one code object is embedded, sorted, without repeats.
pub fn targets() -> Vec<&'static str> {
    let mut targets: Vec<&'static str> = PREBUILT.iter().map(|(target, ..)| *target).collect();
    targets.sort_unstable();
    targets.dedup();
    targets
}

/// Environment variable naming the directory of prebuilt objects (default `kernels/prebuilt`),
/// read by `build.rs` and by `cargo xtask build-kernels`.
pub const PREBUILT_DIR_ENV: &str = "ROCMFORGE_PREBUILT_KERNELS";

/// Where `cargo xtask build-kernels` puts `module`'s object for `arch` under `dir`
/// (`<dir>/<arch>/<module>.co`, with the source hash in `<module>.hash` beside it).
pub fn object_path(dir: &Path, arch: &GpuArch, module: ModuleId) -> PathBuf {
    dir.join(arch.base()).join(format!("{}.co", module.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With `ROCMFORGE_EXPECT_PREBUILT=gfx908,gfx90a,…` (CI sets it after
    /// `cargo xtask build-kernels`), every module must be embedded for each of those targets,
    /// built from the current source.
    #[test]
    fn expected_prebuilt_objects_are_embedded_and_current() {
        let Ok(expected) = std::env::var("ROCMFORGE_EXPECT_PREBUILT") else {
            eprintln!(
                "skipped: ROCMFORGE_EXPECT_PREBUILT not set (embedded targets: {:?})",
                targets()
            );
            return;
        };
        for name in expected.split(',').filter(|n| !n.is_empty()) {
            let arch = GpuArch::parse(name).unwrap();
            for module in ModuleId::ALL {
                let source = ModuleSource::new(module, &arch);
                let object = find(&source, &arch).unwrap_or_else(|| {
                    panic!("no current embedded object for {module} on {arch}; run `cargo xtask build-kernels --arch {expected}` and rebuild")
                });
                assert!(!object.is_empty());
            }
        }
    }
}
