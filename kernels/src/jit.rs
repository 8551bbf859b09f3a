//! Run-time compilation of kernel modules with hiprtc (AMD) or NVRTC (NVIDIA), guarded so
//! that an old hiprtc is never asked for a target it does not know.

use hip_ffi::{AmdDriver, Driver, Platform};

use crate::arch::{check_hiprtc_supports, GpuArch, HipVersion, Vendor};
use crate::code::Compiler;
use crate::error::KernelError;
use crate::source::ModuleSource;

/// The run-time compiler of one vendor, with the HIP runtime version it belongs to.
#[derive(Debug)]
pub struct RuntimeCompiler {
    rtc: &'static hip_runtime::Compiler,
    /// The loaded HIP runtime's version (AMD only): decides which targets are safe.
    hip_version: Option<HipVersion>,
}

impl RuntimeCompiler {
    /// Loads (once per process) the compiler for `vendor`. On AMD this also reads the HIP
    /// runtime's version, which needs no GPU.
    pub fn load(vendor: Vendor) -> Result<Self, KernelError> {
        let platform = match vendor {
            Vendor::Amd => Platform::Amd,
            Vendor::Nvidia => Platform::Nvidia,
        };
        let rtc = hip_runtime::Compiler::global(platform)?;
        let hip_version = match vendor {
            Vendor::Nvidia => None,
            Vendor::Amd => {
                let driver = AmdDriver::load().map_err(hip_runtime::Error::from)?;
                let encoded = driver.runtime_version().map_err(|code| {
                    KernelError::Runtime(hip_runtime::Error::NoGpu {
                        reason: format!(
                            "hipRuntimeGetVersion failed in {}: {code}",
                            driver.library_path()
                        ),
                    })
                })?;
                Some(HipVersion::from_encoded(encoded))
            }
        };
        Ok(Self { rtc, hip_version })
    }

    /// The loaded HIP runtime's version (AMD; `None` on NVIDIA).
    pub fn hip_version(&self) -> Option<HipVersion> {
        self.hip_version
    }

    /// The compiler and runtime in words (`hiprtc 9.0 (libamdhip64.so), HIP 5.2`).
    pub fn describe(&self) -> String {
        match self.hip_version {
            Some(v) => format!("{}, HIP {v}", self.rtc.describe()),
            None => self.rtc.describe(),
        }
    }
}

impl Compiler for RuntimeCompiler {
    fn identity(&self) -> String {
        self.describe()
    }

    fn compile(&self, source: &ModuleSource, arch: &GpuArch) -> Result<Vec<u8>, KernelError> {
        if let Some(version) = self.hip_version {
            check_hiprtc_supports(arch, version)?;
        }
        let mut options: Vec<&str> = source.defines.iter().map(String::as_str).collect();
        if arch.vendor() == Vendor::Amd {
            // NVRTC rejects -O3 (it always optimises); hiprtc takes it.
            options.push("-O3");
        }
        self.rtc
            .compile(&source.file_name(), &source.text, arch.full(), &options)
            .map_err(|err| match err {
                hip_runtime::Error::Compile {
                    compiler,
                    status,
                    log,
                    ..
                } => KernelError::Compile {
                    module: source.module,
                    arch: arch.to_string(),
                    compiler,
                    status,
                    log,
                },
                other => KernelError::Runtime(other),
            })
    }
}
