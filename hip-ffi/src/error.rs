//! HIP error codes (`hipError_t`), the CUDA driver's `CUresult` mapping, and loading errors.

use std::fmt;

/// A HIP status code, as returned by every HIP runtime entry point.
///
/// A newtype rather than a Rust `enum`: the runtime may return codes this crate does not
/// name, and those must still round-trip without undefined behaviour.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct hipError_t(pub i32);

macro_rules! hip_errors {
    ($($name:ident = $value:expr,)*) => {
        impl hipError_t {
            $(
                #[doc = concat!("`", stringify!($name), "` (", stringify!($value), ").")]
                #[allow(non_upper_case_globals)]
                pub const $name: hipError_t = hipError_t($value);
            )*

            /// The HIP name of this code (`hipErrorOutOfMemory`), or `hipErrorUnrecognized`
            /// for a value no HIP header names.
            pub fn name(self) -> &'static str {
                match self.0 {
                    $($value => stringify!($name),)*
                    _ => "hipErrorUnrecognized",
                }
            }

            /// Whether HIP names this value; CUDA driver results that are named here keep
            /// their value when mapped, as HIP's NVIDIA headers do.
            fn is_named(code: i32) -> bool {
                matches!(code, $($value)|*)
            }
        }
    };
}

hip_errors! {
    hipSuccess = 0,
    hipErrorInvalidValue = 1,
    hipErrorOutOfMemory = 2,
    hipErrorNotInitialized = 3,
    hipErrorDeinitialized = 4,
    hipErrorProfilerDisabled = 5,
    hipErrorProfilerNotInitialized = 6,
    hipErrorProfilerAlreadyStarted = 7,
    hipErrorProfilerAlreadyStopped = 8,
    hipErrorInvalidConfiguration = 9,
    hipErrorInvalidPitchValue = 12,
    hipErrorInvalidSymbol = 13,
    hipErrorInvalidDevicePointer = 17,
    hipErrorInvalidMemcpyDirection = 21,
    hipErrorInsufficientDriver = 35,
    hipErrorMissingConfiguration = 52,
    hipErrorPriorLaunchFailure = 53,
    hipErrorInvalidDeviceFunction = 98,
    hipErrorNoDevice = 100,
    hipErrorInvalidDevice = 101,
    hipErrorInvalidImage = 200,
    hipErrorInvalidContext = 201,
    hipErrorContextAlreadyCurrent = 202,
    hipErrorMapFailed = 205,
    hipErrorUnmapFailed = 206,
    hipErrorArrayIsMapped = 207,
    hipErrorAlreadyMapped = 208,
    hipErrorNoBinaryForGpu = 209,
    hipErrorAlreadyAcquired = 210,
    hipErrorNotMapped = 211,
    hipErrorNotMappedAsArray = 212,
    hipErrorNotMappedAsPointer = 213,
    hipErrorECCNotCorrectable = 214,
    hipErrorUnsupportedLimit = 215,
    hipErrorContextAlreadyInUse = 216,
    hipErrorPeerAccessUnsupported = 217,
    hipErrorInvalidKernelFile = 218,
    hipErrorInvalidGraphicsContext = 219,
    hipErrorInvalidSource = 300,
    hipErrorFileNotFound = 301,
    hipErrorSharedObjectSymbolNotFound = 302,
    hipErrorSharedObjectInitFailed = 303,
    hipErrorOperatingSystem = 304,
    hipErrorInvalidHandle = 400,
    hipErrorIllegalState = 401,
    hipErrorNotFound = 500,
    hipErrorNotReady = 600,
    hipErrorIllegalAddress = 700,
    hipErrorLaunchOutOfResources = 701,
    hipErrorLaunchTimeOut = 702,
    hipErrorPeerAccessAlreadyEnabled = 704,
    hipErrorPeerAccessNotEnabled = 705,
    hipErrorSetOnActiveProcess = 708,
    hipErrorContextIsDestroyed = 709,
    hipErrorAssert = 710,
    hipErrorHostMemoryAlreadyRegistered = 712,
    hipErrorHostMemoryNotRegistered = 713,
    hipErrorLaunchFailure = 719,
    hipErrorCooperativeLaunchTooLarge = 720,
    hipErrorNotSupported = 801,
    hipErrorStreamCaptureUnsupported = 900,
    hipErrorStreamCaptureInvalidated = 901,
    hipErrorStreamCaptureMerge = 902,
    hipErrorStreamCaptureUnmatched = 903,
    hipErrorStreamCaptureUnjoined = 904,
    hipErrorStreamCaptureIsolation = 905,
    hipErrorStreamCaptureImplicit = 906,
    hipErrorCapturedEvent = 907,
    hipErrorStreamCaptureWrongThread = 908,
    hipErrorGraphExecUpdateFailure = 910,
    hipErrorUnknown = 999,
    hipErrorRuntimeMemory = 1052,
    hipErrorRuntimeOther = 1053,
}

impl hipError_t {
    /// Whether this is `hipSuccess`.
    pub fn is_success(self) -> bool {
        self == hipError_t::hipSuccess
    }

    /// `Ok(())` for `hipSuccess`, `Err(self)` otherwise.
    pub fn ok(self) -> Result<(), hipError_t> {
        if self.is_success() {
            Ok(())
        } else {
            Err(self)
        }
    }

    /// Maps a CUDA driver `CUresult` to the HIP code HIP's NVIDIA headers give it.
    ///
    /// The CUDA driver numbers its errors as HIP does (HIP chose its values to match), so
    /// every code HIP names maps to itself and every other one to `hipErrorUnknown`, as in
    /// `hipCUResultTohipError`.
    pub fn from_cu(cu: i32) -> hipError_t {
        if Self::is_named(cu) {
            hipError_t(cu)
        } else {
            hipError_t::hipErrorUnknown
        }
    }
}

impl fmt::Debug for hipError_t {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for hipError_t {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// Shorthand for results of raw HIP calls.
pub type HipResult<T> = Result<T, hipError_t>;

/// Why a HIP, CUDA, hiprtc/NVRTC or BLAS library could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No candidate file could be opened; every attempt is listed.
    #[error("{library} not found; tried: {}", format_tried(.tried))]
    LibraryNotFound {
        /// What was being looked for (`libamdhip64`, `libcuda`, …).
        library: &'static str,
        /// Each path or name tried, with the loader's reason.
        tried: Vec<(String, String)>,
    },
    /// The library opened but lacks a required entry point.
    #[error("{library} ({path}) has no symbol `{symbol}`: {reason}")]
    MissingSymbol {
        /// Which library family.
        library: &'static str,
        /// The file that was opened.
        path: String,
        /// The missing entry point.
        symbol: &'static str,
        /// The loader's message.
        reason: String,
    },
    /// The runtime loaded but reports no usable device.
    #[error("{platform}: no GPU found by {path}: {call} returned {code}")]
    NoDevice {
        /// Which platform was asked.
        platform: crate::Platform,
        /// The runtime library that answered.
        path: String,
        /// The call that failed or reported zero devices.
        call: &'static str,
        /// The status it gave (`hipSuccess` with zero devices counted).
        code: hipError_t,
    },
    /// The GPU kernel driver's device node is missing, so the runtime was not even loaded.
    #[error("{platform}: no GPU kernel driver ({node} is missing); runtime not loaded")]
    NoKernelDriver {
        /// Which platform.
        platform: crate::Platform,
        /// The device node looked for.
        node: &'static str,
    },
    /// `ROCMFORGE_PLATFORM` holds a value other than `amd` or `nvidia`.
    #[error("ROCMFORGE_PLATFORM={value:?} is not understood; use `amd` or `nvidia`")]
    BadPlatformChoice {
        /// The value found.
        value: String,
    },
    /// Neither platform could be used; the reason for each is kept.
    #[error("no GPU platform usable: AMD: {amd}; NVIDIA: {nvidia}")]
    NoPlatform {
        /// Why AMD (HIP) failed.
        amd: Box<LoadError>,
        /// Why NVIDIA (CUDA driver) failed.
        nvidia: Box<LoadError>,
    },
}

impl LoadError {
    /// The reason in a few words, without the list of paths tried (for one-line notes;
    /// `doctor` prints the whole error).
    pub fn brief(&self) -> String {
        match self {
            LoadError::LibraryNotFound { library, .. } => format!("{library} not found"),
            LoadError::NoKernelDriver { node, .. } => format!("no {node}"),
            LoadError::NoDevice { .. } => "no GPU found".to_string(),
            LoadError::NoPlatform { amd, nvidia } => {
                format!("AMD: {}; NVIDIA: {}", amd.brief(), nvidia.brief())
            }
            other => other.to_string(),
        }
    }
}

fn format_tried(tried: &[(String, String)]) -> String {
    tried
        .iter()
        .map(|(path, why)| format!("{path} ({why})"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_known_and_unknown_codes() {
        assert_eq!(
            hipError_t::hipErrorOutOfMemory.name(),
            "hipErrorOutOfMemory"
        );
        assert_eq!(hipError_t(12345).name(), "hipErrorUnrecognized");
        assert_eq!(
            format!("{}", hipError_t::hipErrorNoDevice),
            "hipErrorNoDevice (100)"
        );
        assert!(hipError_t::hipSuccess.ok().is_ok());
        assert_eq!(
            hipError_t::hipErrorInvalidValue.ok(),
            Err(hipError_t::hipErrorInvalidValue)
        );
    }

    #[test]
    fn maps_cuda_results_like_hip_headers() {
        // CUDA_SUCCESS, CUDA_ERROR_OUT_OF_MEMORY, CUDA_ERROR_NO_DEVICE, CUDA_ERROR_INVALID_PTX.
        assert_eq!(hipError_t::from_cu(0), hipError_t::hipSuccess);
        assert_eq!(hipError_t::from_cu(2), hipError_t::hipErrorOutOfMemory);
        assert_eq!(hipError_t::from_cu(100), hipError_t::hipErrorNoDevice);
        assert_eq!(
            hipError_t::from_cu(218),
            hipError_t::hipErrorInvalidKernelFile
        );
        assert_eq!(
            hipError_t::from_cu(708),
            hipError_t::hipErrorSetOnActiveProcess
        );
        // CUDA_ERROR_NVLINK_UNCORRECTABLE has no HIP name.
        assert_eq!(hipError_t::from_cu(220), hipError_t::hipErrorUnknown);
    }

    #[test]
    fn load_errors_list_every_attempt() {
        let e = LoadError::LibraryNotFound {
            library: "libamdhip64",
            tried: vec![
                ("/opt/rocm/lib/libamdhip64.so".into(), "no such file".into()),
                ("libamdhip64.so".into(), "not found".into()),
            ],
        };
        let s = e.to_string();
        assert!(
            s.contains("/opt/rocm/lib/libamdhip64.so (no such file)"),
            "{s}"
        );
        assert!(s.contains("libamdhip64.so (not found)"), "{s}");
    }
}
