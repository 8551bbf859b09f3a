//! Code objects compiled ahead of time by `cargo xtask build-kernels` and embedded in the
//! binary by `build.rs`; the loader prefers one that matches the device and the source.

use crate::arch::GpuArch;
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
