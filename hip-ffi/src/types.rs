//! HIP handle types, device attributes with their HIP and CUDA driver codes, and flags.

#![allow(non_camel_case_types)]

use std::ffi::c_void;

/// A device address (`hipDeviceptr_t` / `CUdeviceptr`); 0 is null.
pub type DevicePtr = u64;
/// `hipStream_t` / `CUstream`; null is the default (legacy) stream.
pub type hipStream_t = *mut c_void;
/// `hipEvent_t` / `CUevent`.
pub type hipEvent_t = *mut c_void;
/// `hipModule_t` / `CUmodule`.
pub type hipModule_t = *mut c_void;
/// `hipFunction_t` / `CUfunction`.
pub type hipFunction_t = *mut c_void;
/// `hipGraph_t` / `CUgraph`.
pub type hipGraph_t = *mut c_void;
/// `hipGraphExec_t` / `CUgraphExec`.
pub type hipGraphExec_t = *mut c_void;
/// `hipGraphNode_t` / `CUgraphNode`.
pub type hipGraphNode_t = *mut c_void;
/// `CUcontext` (NVIDIA only: HIP on AMD has no user-visible context).
pub type CUcontext = *mut c_void;

/// `hipStreamNonBlocking` / `CU_STREAM_NON_BLOCKING`: no implicit sync with stream 0.
pub const STREAM_NON_BLOCKING: u32 = 1;
/// `hipEventDefault` / `CU_EVENT_DEFAULT`.
pub const EVENT_DEFAULT: u32 = 0;
/// `hipEventDisableTiming` / `CU_EVENT_DISABLE_TIMING`.
pub const EVENT_DISABLE_TIMING: u32 = 2;

/// Three-dimensional launch extent (grid in blocks, or block in threads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dim3 {
    /// Extent along x.
    pub x: u32,
    /// Extent along y.
    pub y: u32,
    /// Extent along z.
    pub z: u32,
}

impl Dim3 {
    /// A one-dimensional extent.
    pub fn x(x: u32) -> Self {
        Dim3 { x, y: 1, z: 1 }
    }

    /// Total count (`x * y * z`), widened so it cannot overflow.
    pub fn volume(self) -> u64 {
        u64::from(self.x) * u64::from(self.y) * u64::from(self.z)
    }
}

impl From<u32> for Dim3 {
    fn from(x: u32) -> Self {
        Dim3::x(x)
    }
}

impl From<(u32, u32, u32)> for Dim3 {
    fn from((x, y, z): (u32, u32, u32)) -> Self {
        Dim3 { x, y, z }
    }
}

/// `hipStreamCaptureMode` / `CUstreamCaptureMode` (same values on both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum StreamCaptureMode {
    /// Unsafe calls from any thread are prohibited during capture.
    Global = 0,
    /// Only this thread's unsafe calls are prohibited.
    ThreadLocal = 1,
    /// No calls are prohibited.
    Relaxed = 2,
}

macro_rules! device_attributes {
    ($($(#[$doc:meta])* $name:ident = hip $hip:literal, cuda $cuda:literal;)*) => {
        /// The device attributes the engine reads, each with its `hipDeviceAttribute_t`
        /// value (ROCm 5 and 6 agree on these) and its `CUdevice_attribute` value.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum DeviceAttribute {
            $($(#[$doc])* $name,)*
        }

        impl DeviceAttribute {
            /// Every attribute, in declaration order.
            pub const ALL: &'static [DeviceAttribute] = &[$(DeviceAttribute::$name,)*];

            /// The `hipDeviceAttribute_t` value.
            pub fn hip_code(self) -> i32 {
                match self { $(DeviceAttribute::$name => $hip,)* }
            }

            /// The `CUdevice_attribute` value.
            pub fn cuda_code(self) -> i32 {
                match self { $(DeviceAttribute::$name => $cuda,)* }
            }
        }
    };
}

device_attributes! {
    /// Peak clock in kHz.
    ClockRate = hip 5, cuda 13;
    /// L2 cache bytes.
    L2CacheSize = hip 19, cuda 38;
    /// Compute capability major (NVIDIA) or its HIP approximation.
    ComputeCapabilityMajor = hip 23, cuda 75;
    /// Compute capability minor.
    ComputeCapabilityMinor = hip 61, cuda 76;
    /// Largest block x extent.
    MaxBlockDimX = hip 26, cuda 2;
    /// Largest grid x extent.
    MaxGridDimX = hip 29, cuda 5;
    /// Most threads in one block.
    MaxThreadsPerBlock = hip 56, cuda 1;
    /// Most resident threads per multiprocessor.
    MaxThreadsPerMultiProcessor = hip 57, cuda 39;
    /// Memory bus width in bits.
    MemoryBusWidth = hip 59, cuda 37;
    /// Peak memory clock in kHz.
    MemoryClockRate = hip 60, cuda 36;
    /// Compute units (AMD) or streaming multiprocessors (NVIDIA).
    MultiprocessorCount = hip 63, cuda 16;
    /// PCI bus id.
    PciBusId = hip 67, cuda 33;
    /// PCI device id.
    PciDeviceId = hip 68, cuda 34;
    /// PCI domain id.
    PciDomainId = hip 69, cuda 50;
    /// 32-bit registers per block.
    MaxRegistersPerBlock = hip 71, cuda 12;
    /// Shared (LDS) bytes one block may use without opting in.
    MaxSharedMemoryPerBlock = hip 74, cuda 8;
    /// Threads per warp (wavefront).
    WarpSize = hip 87, cuda 10;
    /// Whether stream-ordered allocation (`hipMallocAsync`) is supported.
    MemoryPoolsSupported = hip 88, cuda 115;
    /// Whether several kernels may run at once.
    ConcurrentKernels = hip 8, cuda 31;
    /// Integrated (APU) rather than discrete.
    Integrated = hip 16, cuda 18;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn attribute_codes_are_distinct_per_vendor() {
        let hip: HashSet<_> = DeviceAttribute::ALL.iter().map(|a| a.hip_code()).collect();
        let cuda: HashSet<_> = DeviceAttribute::ALL.iter().map(|a| a.cuda_code()).collect();
        assert_eq!(hip.len(), DeviceAttribute::ALL.len());
        assert_eq!(cuda.len(), DeviceAttribute::ALL.len());
        // Measured with a C compiler on ROCm 5.2's header; CUDA's from cuda.h.
        assert_eq!(DeviceAttribute::WarpSize.hip_code(), 87);
        assert_eq!(DeviceAttribute::MultiprocessorCount.hip_code(), 63);
        assert_eq!(DeviceAttribute::WarpSize.cuda_code(), 10);
        assert_eq!(DeviceAttribute::MemoryPoolsSupported.cuda_code(), 115);
    }

    #[test]
    fn dims_and_volume() {
        assert_eq!(Dim3::from(5).volume(), 5);
        assert_eq!(Dim3::from((64, 64, 1)).volume(), 4096);
    }
}
