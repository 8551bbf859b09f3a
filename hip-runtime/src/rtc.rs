//! Run-time compilation: HIP C++ (hiprtc, for a `gfx…` architecture) or CUDA C++ (NVRTC,
//! for `sm_XX`) source to code-object / cubin bytes that [`crate::Module::load`] takes.
//! A failed compile returns the compiler's whole log.

use std::ffi::{c_char, CString};
use std::sync::{Mutex, OnceLock};

use hip_ffi::{Platform, Rtc, RtcProgram, RtcResult};

use crate::error::{Error, Result};

/// Serialises every run-time compilation in the process: ROCm 5.2's hiprtc crashes when two
/// programs compile at once, even from separate `Compiler`s (seen in CI), and one lock per
/// process costs nothing next to a compile.
static RTC_LOCK: Mutex<()> = Mutex::new(());

/// A loaded run-time compiler. Compilations are serialised (older hiprtc is not
/// thread-safe).
pub struct Compiler {
    rtc: Rtc,
}

impl std::fmt::Debug for Compiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Compiler({})", self.describe())
    }
}

/// Destroys a program on every path out of `compile`.
struct ProgramGuard<'a> {
    rtc: &'a Rtc,
    prog: RtcProgram,
}

impl Drop for ProgramGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: `prog` was created by this compiler and is destroyed exactly once; a
        // failure to free compiler memory has no one to report to.
        let _ = unsafe { (self.rtc.fns().destroy_program)(&mut self.prog) };
    }
}

impl Compiler {
    /// Loads hiprtc (AMD) or NVRTC (NVIDIA).
    pub fn load(platform: Platform) -> Result<Compiler> {
        Ok(Compiler {
            rtc: Rtc::load(platform)?,
        })
    }

    /// The process-wide compiler for `platform`, loaded on first use.
    pub fn global(platform: Platform) -> Result<&'static Compiler> {
        static AMD: OnceLock<std::result::Result<Compiler, String>> = OnceLock::new();
        static NVIDIA: OnceLock<std::result::Result<Compiler, String>> = OnceLock::new();
        let cell = match platform {
            Platform::Amd => &AMD,
            Platform::Nvidia => &NVIDIA,
        };
        cell.get_or_init(|| Compiler::load(platform).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|reason| Error::CompilerUnavailable {
                reason: reason.clone(),
            })
    }

    /// The platform compiled for.
    pub fn platform(&self) -> Platform {
        self.rtc.platform()
    }

    /// The compiler library that was opened.
    pub fn library_path(&self) -> &str {
        self.rtc.library_path()
    }

    /// `(major, minor)` version of the compiler.
    pub fn version(&self) -> Option<(i32, i32)> {
        self.rtc.version()
    }

    /// `hiprtc 5.2 (libamdhip64.so)` / `NVRTC 13.0 (libnvrtc.so.13)`.
    pub fn describe(&self) -> String {
        let name = match self.platform() {
            Platform::Amd => "hiprtc",
            Platform::Nvidia => "NVRTC",
        };
        match self.version() {
            Some((major, minor)) => format!("{name} {major}.{minor} ({})", self.library_path()),
            None => format!("{name} ({})", self.library_path()),
        }
    }

    /// The option selecting the target architecture.
    pub fn arch_option(&self, arch: &str) -> String {
        match self.platform() {
            Platform::Amd => format!("--offload-arch={arch}"),
            Platform::Nvidia => format!("--gpu-architecture={arch}"),
        }
    }

    fn check(&self, call: &str, r: RtcResult) -> std::result::Result<(), String> {
        if r == 0 {
            Ok(())
        } else {
            Err(format!("{call}: {}", self.rtc.error_string(r)))
        }
    }

    /// Compiles `source` (program `name`) for `arch` with extra `options`, returning the
    /// code object (AMD) or cubin (NVIDIA).
    pub fn compile(
        &self,
        name: &str,
        source: &str,
        arch: &str,
        options: &[&str],
    ) -> Result<Vec<u8>> {
        let fail = |status: String, log: String| Error::Compile {
            name: name.to_string(),
            arch: arch.to_string(),
            compiler: self.describe(),
            status,
            log,
        };
        let c = |s: &str| {
            CString::new(s).map_err(|_| fail(format!("NUL byte in {s:?}"), String::new()))
        };
        let csrc = c(source)?;
        let cname = c(name)?;
        let mut all = vec![self.arch_option(arch)];
        all.extend(options.iter().map(|o| o.to_string()));
        let copts = all.iter().map(|o| c(o)).collect::<Result<Vec<_>>>()?;
        let ptrs: Vec<*const c_char> = copts.iter().map(|o| o.as_ptr()).collect();

        let _serial = RTC_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let fns = self.rtc.fns();
        let mut prog: RtcProgram = std::ptr::null_mut();
        // SAFETY: source and name are NUL-terminated and outlive the call; no headers.
        let r = unsafe {
            (fns.create_program)(
                &mut prog,
                csrc.as_ptr(),
                cname.as_ptr(),
                0,
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        self.check("create program", r)
            .map_err(|s| fail(s, String::new()))?;
        let guard = ProgramGuard {
            rtc: &self.rtc,
            prog,
        };
        // SAFETY: `ptrs` holds `ptrs.len()` NUL-terminated options that outlive the call.
        let r = unsafe { (fns.compile_program)(guard.prog, ptrs.len() as i32, ptrs.as_ptr()) };
        if let Err(status) = self.check("compile", r) {
            return Err(fail(status, self.log(&guard)));
        }
        let mut size = 0usize;
        // SAFETY: the program compiled; the out-pointer is a live local.
        let r = unsafe { (fns.get_code_size)(guard.prog, &mut size) };
        self.check("get code size", r)
            .map_err(|s| fail(s, self.log(&guard)))?;
        let mut code = vec![0u8; size];
        // SAFETY: `code` has the `size` bytes the compiler asked for.
        let r = unsafe { (fns.get_code)(guard.prog, code.as_mut_ptr() as *mut c_char) };
        self.check("get code", r)
            .map_err(|s| fail(s, self.log(&guard)))?;
        if code.is_empty() {
            return Err(fail(
                "the compiler returned no code".into(),
                self.log(&guard),
            ));
        }
        Ok(code)
    }

    /// The program's compile log (empty when unavailable).
    fn log(&self, guard: &ProgramGuard<'_>) -> String {
        let fns = self.rtc.fns();
        let mut size = 0usize;
        // SAFETY: the program is live; the out-pointer is a live local.
        if unsafe { (fns.get_program_log_size)(guard.prog, &mut size) } != 0 || size == 0 {
            return String::new();
        }
        let mut buf = vec![0u8; size];
        // SAFETY: `buf` has the `size` bytes the compiler asked for.
        if unsafe { (fns.get_program_log)(guard.prog, buf.as_mut_ptr() as *mut c_char) } != 0 {
            return String::new();
        }
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).trim_end().to_string()
    }
}
