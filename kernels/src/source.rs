//! Complete kernel source texts: each module with the portability header inlined, the
//! preprocessor definitions for a target, and the hash that names its compiled code.

use sha2::{Digest, Sha256};

use crate::arch::GpuArch;
use crate::registry::ModuleId;

/// The portability header every module includes.
const HEADER: &str = include_str!("../hip/rocmforge.hip.h");

/// The weight block decoders, included (after the portability header) by the quantized-weight
/// modules.
const QUANTS_HEADER: &str = include_str!("../hip/quants.hip.h");

/// The line by which modules include the block decoders.
const QUANTS_INCLUDE: &str = "#include \"quants.hip.h\"";

/// The line by which modules include the header; replaced by the header's text so that run
/// time compilers need no include path and every compiler sees the same bytes.
const HEADER_INCLUDE: &str = "#include \"rocmforge.hip.h\"";

/// A module's complete source for one target, ready for hiprtc, NVRTC, hipcc or nvcc.
#[derive(Clone, Debug)]
pub struct ModuleSource {
    /// Which module this is.
    pub module: ModuleId,
    /// The source text with the header inlined.
    pub text: String,
    /// Preprocessor definitions for the target (`-DWARP_SIZE=64`), in compiler syntax.
    pub defines: Vec<String>,
    /// Hex SHA-256 of the text and definitions: equal hashes mean equal code.
    pub hash: String,
}

impl ModuleSource {
    /// Assembles `module`'s source for `arch`.
    pub fn new(module: ModuleId, arch: &GpuArch) -> Self {
        let text = module
            .raw_source()
            .replacen(QUANTS_INCLUDE, QUANTS_HEADER, 1)
            .replacen(HEADER_INCLUDE, HEADER, 1);
        let defines = vec![format!("-DWARP_SIZE={}", arch.warp_size())];
        let mut hasher = Sha256::new();
        hasher.update(text.as_bytes());
        for define in &defines {
            hasher.update([0]);
            hasher.update(define.as_bytes());
        }
        let hash = hex(&hasher.finalize());
        Self {
            module,
            text,
            defines,
            hash,
        }
    }

    /// The file name compilers report in diagnostics (`reduce.hip`).
    pub fn file_name(&self) -> String {
        self.module.to_string()
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_inlined_and_warp_size_defined() {
        let gfx90a = GpuArch::parse("gfx90a").unwrap();
        let gfx1030 = GpuArch::parse("gfx1030").unwrap();
        for module in ModuleId::ALL {
            let src = ModuleSource::new(module, &gfx90a);
            assert!(!src.text.contains(HEADER_INCLUDE), "{module}");
            assert!(src.text.contains("rf_warp_sum"), "{module}");
            assert_eq!(src.defines, ["-DWARP_SIZE=64"]);
            let wave32 = ModuleSource::new(module, &gfx1030);
            assert_eq!(wave32.defines, ["-DWARP_SIZE=32"]);
            assert_ne!(src.hash, wave32.hash, "warp size must change the hash");
            assert_eq!(src.hash.len(), 64);
        }
    }

    #[test]
    fn the_quants_header_is_inlined_after_the_portability_header() {
        let arch = GpuArch::parse("gfx90a").unwrap();
        let src = ModuleSource::new(ModuleId::MatVec, &arch);
        assert!(!src.text.contains(QUANTS_INCLUDE));
        let portability = src.text.find("#define ROCMFORGE_HIP_H").unwrap();
        let quants = src.text.find("#define ROCMFORGE_QUANTS_HIP_H").unwrap();
        assert!(portability < quants);
        // The header's text is part of the hashed source.
        assert!(src.text.contains("struct rf_q4_k"));
    }

    #[test]
    fn every_module_includes_the_header() {
        for module in ModuleId::ALL {
            assert!(module.raw_source().contains(HEADER_INCLUDE), "{module}");
        }
    }
}
