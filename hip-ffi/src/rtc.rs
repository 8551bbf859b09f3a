//! Run-time compiler tables: hiprtc on AMD (inside `libamdhip64` up to ROCm 5, then
//! `libhiprtc`), NVRTC on NVIDIA. Both have the same C shape, so one table serves both;
//! each entry lists the hiprtc name and then the NVRTC one.

use std::ffi::{c_char, c_void, CStr};

use crate::error::LoadError;
use crate::loader::{candidates, env_dirs, fn_table, open_first, Loaded};
use crate::Platform;

/// A `hiprtcProgram` / `nvrtcProgram` handle.
pub type RtcProgram = *mut c_void;
/// `hiprtcResult` / `nvrtcResult` (0 is success on both).
pub type RtcResult = i32;

type S = *const c_char;

fn_table! {
    /// The run-time compiler's entry points (hiprtc or NVRTC).
    pub struct RtcFns {
        version = ["hiprtcVersion", "nvrtcVersion"]: fn(*mut i32, *mut i32) -> RtcResult;
        get_error_string = ["hiprtcGetErrorString", "nvrtcGetErrorString"]: fn(RtcResult) -> S;
        create_program = ["hiprtcCreateProgram", "nvrtcCreateProgram"]:
            fn(*mut RtcProgram, S, S, i32, *const S, *const S) -> RtcResult;
        destroy_program = ["hiprtcDestroyProgram", "nvrtcDestroyProgram"]:
            fn(*mut RtcProgram) -> RtcResult;
        compile_program = ["hiprtcCompileProgram", "nvrtcCompileProgram"]:
            fn(RtcProgram, i32, *const S) -> RtcResult;
        get_program_log_size = ["hiprtcGetProgramLogSize", "nvrtcGetProgramLogSize"]:
            fn(RtcProgram, *mut usize) -> RtcResult;
        get_program_log = ["hiprtcGetProgramLog", "nvrtcGetProgramLog"]:
            fn(RtcProgram, *mut c_char) -> RtcResult;
        get_code_size = ["hiprtcGetCodeSize", "nvrtcGetCUBINSize"]:
            fn(RtcProgram, *mut usize) -> RtcResult;
        get_code = ["hiprtcGetCode", "nvrtcGetCUBIN"]: fn(RtcProgram, *mut c_char) -> RtcResult;
    }
    optional {}
}

/// Where hiprtc is looked for: `libhiprtc` (ROCm 6+) in `$ROCM_PATH/lib`, `$HIP_PATH/lib`,
/// `/opt/rocm/lib` and the loader path, then `libamdhip64` (ROCm 5 carries hiprtc inside).
pub fn hiprtc_candidates() -> Vec<String> {
    let mut dirs = env_dirs(&["ROCM_PATH", "HIP_PATH"], &["lib"]);
    dirs.push("/opt/rocm/lib".into());
    let mut out = candidates(&dirs, &["libhiprtc.so", "libhiprtc.so.7", "libhiprtc.so.6"]);
    out.extend(crate::amd::hip_candidates());
    out
}

/// Where NVRTC is looked for: `$CUDA_HOME`, `$CUDA_PATH`, `/usr/local/cuda` (`lib64`,
/// `lib`), then the loader path; CUDA 13 first, then 12, then unversioned.
pub fn nvrtc_candidates() -> Vec<String> {
    let mut dirs = env_dirs(&["CUDA_HOME", "CUDA_PATH"], &["lib64", "lib"]);
    dirs.push("/usr/local/cuda/lib64".into());
    candidates(&dirs, &["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"])
}

/// A loaded run-time compiler.
pub struct Rtc {
    fns: RtcFns,
    lib: Loaded,
    platform: Platform,
}

impl Rtc {
    /// Loads hiprtc (AMD) or NVRTC (NVIDIA).
    pub fn load(platform: Platform) -> Result<Self, LoadError> {
        let list = match platform {
            Platform::Amd => hiprtc_candidates(),
            Platform::Nvidia => nvrtc_candidates(),
        };
        Self::load_from(platform, &list)
    }

    /// Loads the compiler for `platform` from the first of `candidates` that opens and has
    /// every entry point; each failure is kept for the error.
    pub fn load_from(platform: Platform, candidates: &[String]) -> Result<Self, LoadError> {
        let family = match platform {
            Platform::Amd => "hiprtc",
            Platform::Nvidia => "libnvrtc",
        };
        let mut tried = Vec::new();
        for path in candidates {
            let lib = match open_first(family, std::slice::from_ref(path)) {
                Ok(lib) => lib,
                Err(LoadError::LibraryNotFound { tried: t, .. }) => {
                    tried.extend(t);
                    continue;
                }
                Err(e) => return Err(e),
            };
            // SAFETY: `RtcFns` transcribes hiprtc's and NVRTC's C signatures.
            match unsafe { RtcFns::load(&lib) } {
                Ok(fns) => return Ok(Rtc { fns, lib, platform }),
                Err(e) => tried.push((path.clone(), e.to_string())),
            }
        }
        Err(LoadError::LibraryNotFound {
            library: family,
            tried,
        })
    }

    /// The raw entry points.
    pub fn fns(&self) -> &RtcFns {
        &self.fns
    }

    /// The file that was opened.
    pub fn library_path(&self) -> &str {
        &self.lib.path
    }

    /// The platform this compiler targets.
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// `(major, minor)` of the compiler.
    pub fn version(&self) -> Option<(i32, i32)> {
        let (mut major, mut minor) = (0, 0);
        // SAFETY: both out-pointers are live locals.
        let r = unsafe { (self.fns.version)(&mut major, &mut minor) };
        (r == 0).then_some((major, minor))
    }

    /// The compiler's message for a result code.
    pub fn error_string(&self, code: RtcResult) -> String {
        // SAFETY: the compilers return a static string (or null) for any value.
        let p = unsafe { (self.fns.get_error_string)(code) };
        if p.is_null() {
            return format!("error {code}");
        }
        // SAFETY: non-null results are static NUL-terminated strings.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}
