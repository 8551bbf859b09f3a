//! GPU targets: parsing `gfx90a` / `sm_90` names, warp width per family, and which HIP
//! runtime versions can compile for which AMD targets (so an old hiprtc is never asked for an
//! ISA it does not know — ROCm 5.2's aborts the whole process).

use std::fmt;

use crate::error::KernelError;

/// The GPU vendor a code object is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Vendor {
    /// AMD GPUs: HIP on ROCm, code objects from hiprtc or `hipcc --genco`.
    Amd,
    /// NVIDIA GPUs: the CUDA driver, cubins from NVRTC or `nvcc --cubin`.
    Nvidia,
}

impl Vendor {
    /// Short lower-case name used in cache paths and file names (`amd`, `nvidia`).
    pub fn name(self) -> &'static str {
        match self {
            Vendor::Amd => "amd",
            Vendor::Nvidia => "nvidia",
        }
    }
}

/// One compilation target: an AMD `gfx…` ISA or an NVIDIA `sm_XY` compute capability.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GpuArch {
    vendor: Vendor,
    /// The processor name without target features (`gfx90a`, `sm_90`).
    base: String,
    /// The full target id as the runtime reports it (`gfx90a:sramecc+:xnack-`).
    full: String,
}

impl GpuArch {
    /// Parses a target name: `gfx…` (optionally with `:feature±` suffixes, as in
    /// `gcnArchName`) or `sm_XY` / `sm_XYa`.
    pub fn parse(name: &str) -> Result<Self, KernelError> {
        let name = name.trim();
        let base = name.split(':').next().unwrap_or_default();
        let bad = || KernelError::BadArch {
            name: name.to_owned(),
        };
        let vendor = if let Some(rest) = base.strip_prefix("gfx") {
            let ok = (3..=5).contains(&rest.len())
                && rest.chars().all(|c| c.is_ascii_hexdigit())
                && rest.starts_with(|c: char| c.is_ascii_digit());
            if !ok {
                return Err(bad());
            }
            Vendor::Amd
        } else if let Some(rest) = base.strip_prefix("sm_") {
            let digits = rest.strip_suffix('a').unwrap_or(rest);
            let ok = (2..=3).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit());
            if !ok || name.contains(':') {
                return Err(bad());
            }
            Vendor::Nvidia
        } else {
            return Err(bad());
        };
        Ok(Self {
            vendor,
            base: base.to_owned(),
            full: name.to_owned(),
        })
    }

    /// The NVIDIA target for compute capability `major.minor`.
    pub fn nvidia(major: u32, minor: u32) -> Self {
        let base = format!("sm_{major}{minor}");
        Self {
            vendor: Vendor::Nvidia,
            full: base.clone(),
            base,
        }
    }

    /// The vendor of this target.
    pub fn vendor(&self) -> Vendor {
        self.vendor
    }

    /// The processor name without target features (`gfx90a`, `sm_90`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The full target id, features included (`gfx90a:sramecc+:xnack-`).
    pub fn full(&self) -> &str {
        &self.full
    }

    /// Threads per warp (wavefront) that kernels for this target are compiled for: 64 on
    /// GCN and CDNA (gfx6xx–gfx9xx), 32 on RDNA (gfx10xx and later) and on NVIDIA.
    pub fn warp_size(&self) -> u32 {
        match self.vendor {
            Vendor::Nvidia => 32,
            Vendor::Amd => {
                // gfx + major version digits; RDNA's majors have two digits (10, 11, 12).
                let digits = &self.base[3..];
                if digits.len() >= 4 {
                    32
                } else {
                    64
                }
            }
        }
    }
}

impl fmt::Display for GpuArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

/// A HIP runtime version as `hipRuntimeGetVersion` encodes it
/// (`major * 10_000_000 + minor * 100_000 + patch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HipVersion {
    /// Major version (5 in ROCm 5.2).
    pub major: u32,
    /// Minor version (2 in ROCm 5.2).
    pub minor: u32,
}

impl HipVersion {
    /// Decodes `hipRuntimeGetVersion`'s integer (50221153 → 5.2).
    pub fn from_encoded(encoded: i32) -> Self {
        let encoded = encoded.max(0).unsigned_abs();
        Self {
            major: encoded / 10_000_000,
            minor: (encoded / 100_000) % 100,
        }
    }
}

impl fmt::Display for HipVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

const fn v(major: u32, minor: u32) -> HipVersion {
    HipVersion { major, minor }
}

/// The oldest ROCm this table assumes (everything it lists before this version is in it).
const BASELINE: HipVersion = v(5, 2);

/// First ROCm release whose hiprtc compiles for each AMD target; targets that ROCm 5.2
/// (the oldest supported) already knows carry [`BASELINE`]. ROCm 5.2's list is its comgr
/// ISA list (gfx600–gfx1036).
const AMD_TARGETS: &[(&str, HipVersion)] = &[
    ("gfx600", BASELINE),
    ("gfx601", BASELINE),
    ("gfx602", BASELINE),
    ("gfx700", BASELINE),
    ("gfx701", BASELINE),
    ("gfx702", BASELINE),
    ("gfx703", BASELINE),
    ("gfx704", BASELINE),
    ("gfx705", BASELINE),
    ("gfx801", BASELINE),
    ("gfx802", BASELINE),
    ("gfx803", BASELINE),
    ("gfx805", BASELINE),
    ("gfx810", BASELINE),
    ("gfx900", BASELINE),
    ("gfx902", BASELINE),
    ("gfx904", BASELINE),
    ("gfx906", BASELINE),
    ("gfx908", BASELINE),
    ("gfx909", BASELINE),
    ("gfx90a", BASELINE),
    ("gfx90c", BASELINE),
    ("gfx1010", BASELINE),
    ("gfx1011", BASELINE),
    ("gfx1012", BASELINE),
    ("gfx1013", BASELINE),
    ("gfx1030", BASELINE),
    ("gfx1031", BASELINE),
    ("gfx1032", BASELINE),
    ("gfx1033", BASELINE),
    ("gfx1034", BASELINE),
    ("gfx1035", BASELINE),
    ("gfx1036", BASELINE),
    ("gfx940", v(5, 5)),
    ("gfx941", v(5, 5)),
    ("gfx942", v(5, 7)),
    ("gfx1100", v(5, 5)),
    ("gfx1101", v(5, 5)),
    ("gfx1102", v(5, 5)),
    ("gfx1103", v(5, 5)),
    ("gfx1150", v(6, 2)),
    ("gfx1151", v(6, 2)),
    ("gfx1200", v(6, 4)),
    ("gfx1201", v(6, 4)),
    ("gfx950", v(7, 0)),
];

/// The newest release the table knows; a target missing from the table is trusted only on
/// a runtime at least this new.
const NEWEST_KNOWN: HipVersion = v(7, 0);

/// Checks that a HIP runtime of version `runtime` can compile for AMD target `arch` before
/// hiprtc is asked to (ROCm 5.2's hiprtc aborts the process on an ISA it does not know).
/// NVIDIA targets always pass: NVRTC reports an unknown architecture as an error.
pub fn check_hiprtc_supports(arch: &GpuArch, runtime: HipVersion) -> Result<(), KernelError> {
    if arch.vendor() != Vendor::Amd {
        return Ok(());
    }
    let needed = AMD_TARGETS
        .iter()
        .find(|(name, _)| *name == arch.base())
        .map_or(NEWEST_KNOWN, |(_, version)| *version);
    if runtime >= needed {
        Ok(())
    } else {
        Err(KernelError::ArchTooNewForRuntime {
            arch: arch.base().to_owned(),
            runtime: runtime.to_string(),
            needed: needed.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_amd_and_nvidia_names() {
        let a = GpuArch::parse("gfx90a:sramecc+:xnack-").unwrap();
        assert_eq!(a.vendor(), Vendor::Amd);
        assert_eq!(a.base(), "gfx90a");
        assert_eq!(a.full(), "gfx90a:sramecc+:xnack-");
        let n = GpuArch::parse("sm_90").unwrap();
        assert_eq!(n.vendor(), Vendor::Nvidia);
        assert_eq!(n, GpuArch::nvidia(9, 0));
        assert_eq!(GpuArch::parse("sm_90a").unwrap().base(), "sm_90a");
        for bad in [
            "",
            "gfx",
            "gfxzz",
            "sm_",
            "sm_9x",
            "cuda",
            "gfx90a1234",
            "sm_90:x",
        ] {
            assert!(
                matches!(GpuArch::parse(bad), Err(KernelError::BadArch { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn warp_size_follows_the_family() {
        let ws = |n: &str| GpuArch::parse(n).unwrap().warp_size();
        assert_eq!(ws("gfx803"), 64);
        assert_eq!(ws("gfx908"), 64);
        assert_eq!(ws("gfx90a"), 64);
        assert_eq!(ws("gfx942"), 64);
        assert_eq!(ws("gfx1030"), 32);
        assert_eq!(ws("gfx1100"), 32);
        assert_eq!(ws("gfx1201"), 32);
        assert_eq!(ws("sm_90"), 32);
    }

    #[test]
    fn rocm_5_2_refuses_gfx1100_and_gfx940() {
        let rocm52 = HipVersion::from_encoded(50_221_153);
        assert_eq!(rocm52, v(5, 2));
        for ok in ["gfx908", "gfx90a", "gfx1030"] {
            check_hiprtc_supports(&GpuArch::parse(ok).unwrap(), rocm52).unwrap();
        }
        let err = check_hiprtc_supports(&GpuArch::parse("gfx1100").unwrap(), rocm52).unwrap_err();
        assert_eq!(
            err.to_string(),
            "this ROCm (5.2) cannot compile for gfx1100; install ROCm ≥ 5.5 or use the CPU backend"
        );
        assert!(check_hiprtc_supports(&GpuArch::parse("gfx940").unwrap(), rocm52).is_err());
        assert!(check_hiprtc_supports(&GpuArch::parse("gfx1100").unwrap(), v(6, 1)).is_ok());
        // Unknown to the table: only trusted on a runtime newer than the table.
        assert!(check_hiprtc_supports(&GpuArch::parse("gfx1250").unwrap(), v(6, 1)).is_err());
        assert!(check_hiprtc_supports(&GpuArch::parse("gfx1250").unwrap(), v(7, 1)).is_ok());
        assert!(check_hiprtc_supports(&GpuArch::parse("sm_90").unwrap(), rocm52).is_ok());
    }
}
