//! Errors of the safe HIP layer: [`HipError`] for a failed runtime call, [`Error`] for
//! everything this crate reports.

use std::fmt;

use hip_ffi::{hipError_t, LoadError};

/// A HIP (or CUDA driver) call that failed: which call, its status and what it was doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HipError {
    /// The entry point, e.g. `hipMalloc`.
    pub op: &'static str,
    /// The status it returned.
    pub code: hipError_t,
    /// The runtime's own name for the status (`hipErrorOutOfMemory`,
    /// `CUDA_ERROR_INVALID_VALUE`), or HIP's where the runtime has none.
    pub name: String,
    /// What was being done: sizes, device, kernel, launch geometry.
    pub context: String,
}

impl fmt::Display for HipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {} ({})", self.op, self.name, self.code.0)?;
        if !self.context.is_empty() {
            write!(f, ": {}", self.context)?;
        }
        Ok(())
    }
}

impl std::error::Error for HipError {}

/// Everything the safe HIP layer can report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A runtime call failed.
    #[error(transparent)]
    Hip(#[from] HipError),
    /// The runtime or a device could not be opened.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// No GPU runtime is usable (the reason is the load error, kept as text so that the
    /// process-wide runtime can report it to every caller).
    #[error("{reason}")]
    NoGpu {
        /// Why no platform could be opened.
        reason: String,
    },
    /// The vendor BLAS (hipBLAS / cuBLAS) could not be loaded: that path is off.
    #[error("BLAS unavailable, vendor GEMM path off: {reason}")]
    BlasUnavailable {
        /// Why it could not be loaded.
        reason: String,
    },
    /// A BLAS call failed or was refused before the call.
    #[error("BLAS {op} failed (status {status}): {context}")]
    Blas {
        /// The operation.
        op: &'static str,
        /// The library status (-1: refused before calling).
        status: i32,
        /// Shape or reason.
        context: String,
    },
    /// The run-time compiler (hiprtc / NVRTC) could not be loaded.
    #[error("run-time compiler unavailable: {reason}")]
    CompilerUnavailable {
        /// Why it could not be loaded.
        reason: String,
    },
    /// A run-time compilation failed; the compiler's log is kept whole.
    #[error("compiling `{name}` for {arch} with {compiler} failed ({status}):\n{log}")]
    Compile {
        /// Program name given to the compiler.
        name: String,
        /// Target architecture.
        arch: String,
        /// `hiprtc` or `NVRTC` with its library path.
        compiler: String,
        /// The compiler's status message.
        status: String,
        /// The full compile log.
        log: String,
    },
    /// Host and device ranges of different lengths were given to a copy.
    #[error("{op}: length mismatch: destination holds {dst} elements, source {src}")]
    LengthMismatch {
        /// The operation.
        op: &'static str,
        /// Destination length in elements.
        dst: usize,
        /// Source length in elements.
        src: usize,
    },
    /// A byte count overflowed `usize`.
    #[error("{op}: {len} elements of {elem_size} bytes overflow the address space")]
    SizeOverflow {
        /// The operation.
        op: &'static str,
        /// Elements asked for.
        len: usize,
        /// Bytes per element.
        elem_size: usize,
    },
    /// A range lies outside a buffer.
    #[error("{op}: range {start}..{end} is outside a buffer of {len} elements")]
    OutOfRange {
        /// The operation.
        op: &'static str,
        /// Range start.
        start: usize,
        /// Range end.
        end: usize,
        /// Buffer length.
        len: usize,
    },
    /// A device ordinal that does not exist.
    #[error("device {ordinal} does not exist ({count} device(s) found)")]
    NoSuchDevice {
        /// The ordinal asked for.
        ordinal: usize,
        /// How many there are.
        count: usize,
    },
    /// Two objects of different devices were combined.
    #[error("{op}: objects belong to device {a} and device {b}")]
    DeviceMismatch {
        /// The operation.
        op: &'static str,
        /// One device ordinal.
        a: usize,
        /// The other.
        b: usize,
    },
    /// A stream-ordered operation was given memory of another stream.
    #[error("{op}: the source belongs to another stream; use the synchronising variant")]
    StreamMismatch {
        /// The operation.
        op: &'static str,
    },
    /// Earlier releases (in `Drop`) failed; they are reported by the next call.
    #[error("earlier release(s) failed: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Deferred(Vec<HipError>),
}

/// Shorthand for this crate's results.
pub type Result<T> = std::result::Result<T, Error>;
