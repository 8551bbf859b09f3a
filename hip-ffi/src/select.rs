//! Choosing the platform: `ROCMFORGE_PLATFORM=amd|nvidia` forces one; otherwise AMD if it
//! has devices, then NVIDIA.

use crate::amd::AmdDriver;
use crate::cuda::CudaDriver;
use crate::driver::Driver;
use crate::error::{hipError_t, LoadError};
use crate::Platform;

/// The environment variable that forces a platform.
pub const PLATFORM_ENV: &str = "ROCMFORGE_PLATFORM";

/// Set to `1` (CI does), the tests that need ROCm's libraries (`libamdhip64`, hiprtc)
/// fail where they are missing instead of printing that they skipped — also on a machine
/// where the CUDA driver loads.
pub const REQUIRE_HIPRTC_ENV: &str = "ROCMFORGE_REQUIRE_HIPRTC";

/// Whether [`REQUIRE_HIPRTC_ENV`] is `1`.
pub fn hiprtc_required() -> bool {
    std::env::var(REQUIRE_HIPRTC_ENV).is_ok_and(|v| v == "1")
}

/// Which platform to open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformChoice {
    /// AMD if it has devices, else NVIDIA.
    Auto,
    /// Only this platform.
    Only(Platform),
}

impl PlatformChoice {
    /// Parses a `ROCMFORGE_PLATFORM` value (`amd`, `nvidia`/`cuda`, `auto` or empty).
    pub fn parse(value: &str) -> Result<Self, LoadError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(PlatformChoice::Auto),
            "amd" | "hip" | "rocm" => Ok(PlatformChoice::Only(Platform::Amd)),
            "nvidia" | "cuda" => Ok(PlatformChoice::Only(Platform::Nvidia)),
            _ => Err(LoadError::BadPlatformChoice {
                value: value.to_string(),
            }),
        }
    }

    /// The choice `ROCMFORGE_PLATFORM` makes (unset ⇒ [`PlatformChoice::Auto`]).
    pub fn from_env() -> Result<Self, LoadError> {
        match std::env::var(PLATFORM_ENV) {
            Ok(v) => Self::parse(&v),
            Err(std::env::VarError::NotPresent) => Ok(PlatformChoice::Auto),
            Err(std::env::VarError::NotUnicode(v)) => Err(LoadError::BadPlatformChoice {
                value: v.to_string_lossy().into_owned(),
            }),
        }
    }
}

/// Loads one platform's runtime, initialises it and checks it has at least one device.
pub fn open_platform(platform: Platform) -> Result<Box<dyn Driver>, LoadError> {
    let driver: Box<dyn Driver> = match platform {
        Platform::Amd => Box::new(AmdDriver::load()?),
        Platform::Nvidia => Box::new(CudaDriver::load()?),
    };
    require_device(driver)
}

/// Initialises `driver` and checks it reports at least one device.
pub fn require_device(driver: Box<dyn Driver>) -> Result<Box<dyn Driver>, LoadError> {
    let no_device = |call, code| LoadError::NoDevice {
        platform: driver.platform(),
        path: driver.library_path().to_string(),
        call,
        code,
    };
    if let Err(code) = driver.init() {
        return Err(no_device("init", code));
    }
    match driver.device_count() {
        Ok(n) if n > 0 => Ok(driver),
        Ok(_) => Err(no_device("device count", hipError_t::hipSuccess)),
        Err(code) => Err(no_device("device count", code)),
    }
}

/// The device node ROCm needs (the amdgpu kernel driver's compute interface).
pub const AMD_KFD_NODE: &str = "/dev/kfd";

/// Opens the platform `choice` asks for.
///
/// In automatic mode AMD is tried only where `/dev/kfd` exists: without the kernel driver
/// no AMD GPU can be used, and not loading ROCm keeps machines whose ROCm packages are
/// broken (which can abort while loading) safe. A forced `amd` always loads.
pub fn open_driver_with(choice: PlatformChoice) -> Result<Box<dyn Driver>, LoadError> {
    match choice {
        PlatformChoice::Only(p) => open_platform(p),
        PlatformChoice::Auto => match open_amd_if_driver_present() {
            Ok(d) => Ok(d),
            Err(amd) => open_platform(Platform::Nvidia).map_err(|nvidia| LoadError::NoPlatform {
                amd: Box::new(amd),
                nvidia: Box::new(nvidia),
            }),
        },
    }
}

fn open_amd_if_driver_present() -> Result<Box<dyn Driver>, LoadError> {
    if !std::path::Path::new(AMD_KFD_NODE).exists() {
        return Err(LoadError::NoKernelDriver {
            platform: Platform::Amd,
            node: AMD_KFD_NODE,
        });
    }
    open_platform(Platform::Amd)
}

/// Opens the platform `ROCMFORGE_PLATFORM` asks for, or the first with devices.
pub fn open_driver() -> Result<Box<dyn Driver>, LoadError> {
    open_driver_with(PlatformChoice::from_env()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_platform_choices() {
        assert_eq!(PlatformChoice::parse("").unwrap(), PlatformChoice::Auto);
        assert_eq!(
            PlatformChoice::parse("AMD").unwrap(),
            PlatformChoice::Only(Platform::Amd)
        );
        assert_eq!(
            PlatformChoice::parse("nvidia").unwrap(),
            PlatformChoice::Only(Platform::Nvidia)
        );
        let err = PlatformChoice::parse("intel").unwrap_err();
        assert!(err.to_string().contains("\"intel\""), "{err}");
    }
}
