//! Devices: what each GPU is ([`DeviceInfo`]) and the handle that makes it current
//! ([`Device`]), memory queries and peer access.

use std::fmt;
use std::sync::Arc;

use hip_ffi::{DeviceAttribute, Driver, Platform};

use crate::error::{Error, Result};
use crate::runtime::{hip_error, Hip};

/// A description of one GPU, read once when the runtime opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Device ordinal.
    pub ordinal: usize,
    /// Platform it is driven through.
    pub platform: Platform,
    /// Marketing name (`AMD Instinct MI210`, `NVIDIA H100 80GB HBM3`).
    pub name: String,
    /// Code-object architecture to compile for: `gfx90a`, `gfx1100`, `sm_90`.
    pub arch: String,
    /// The architecture with target features as the runtime reports it
    /// (`gfx90a:sramecc+:xnack-`; same as `arch` on NVIDIA).
    pub arch_full: String,
    /// Threads per warp / wavefront (32 or 64).
    pub warp_size: u32,
    /// Compute units (AMD) or streaming multiprocessors (NVIDIA).
    pub compute_units: u32,
    /// Shared memory (LDS) one block may use, in bytes.
    pub shared_mem_per_block: usize,
    /// Most threads per block.
    pub max_threads_per_block: u32,
    /// Most resident threads per compute unit.
    pub max_threads_per_cu: u32,
    /// Peak core clock in kHz, where the runtime reports it.
    pub clock_khz: Option<u32>,
    /// Peak memory clock in kHz, where the runtime reports it.
    pub memory_clock_khz: Option<u32>,
    /// Memory bus width in bits, where the runtime reports it.
    pub memory_bus_width_bits: Option<u32>,
    /// L2 cache in bytes, where the runtime reports it.
    pub l2_cache_bytes: Option<usize>,
    /// Total device memory in bytes.
    pub total_memory: usize,
    /// Compute capability (NVIDIA) or HIP's approximation of it (AMD).
    pub compute_capability: (u32, u32),
    /// Whether stream-ordered allocation is supported.
    pub memory_pools: bool,
}

impl DeviceInfo {
    /// Reads every field from the driver.
    pub(crate) fn query(driver: &dyn Driver, ordinal: usize) -> Result<DeviceInfo> {
        let ord = ordinal as i32;
        let fail = |op, code| Error::Hip(hip_error(driver, op, code, format!("device {ordinal}")));
        let attr = |a: DeviceAttribute| {
            driver.device_attribute(a, ord).map_err(|code| {
                Error::Hip(hip_error(
                    driver,
                    "hipDeviceGetAttribute",
                    code,
                    format!("{a:?} of device {ordinal}"),
                ))
            })
        };
        let optional = |a: DeviceAttribute| {
            driver
                .device_attribute(a, ord)
                .ok()
                .and_then(|v| u32::try_from(v).ok())
                .filter(|&v| v > 0)
        };
        let non_negative = |v: i32| u32::try_from(v).unwrap_or(0);
        let arch_full = driver.device_arch(ord).map_err(|code| {
            fail(
                "device architecture (gcnArchName / compute capability)",
                code,
            )
        })?;
        let arch = arch_full
            .split(':')
            .next()
            .unwrap_or(arch_full.as_str())
            .to_string();
        Ok(DeviceInfo {
            ordinal,
            platform: driver.platform(),
            name: driver
                .device_name(ord)
                .map_err(|code| fail("hipDeviceGetName", code))?,
            arch,
            arch_full,
            warp_size: non_negative(attr(DeviceAttribute::WarpSize)?),
            compute_units: non_negative(attr(DeviceAttribute::MultiprocessorCount)?),
            shared_mem_per_block: non_negative(attr(DeviceAttribute::MaxSharedMemoryPerBlock)?)
                as usize,
            max_threads_per_block: non_negative(attr(DeviceAttribute::MaxThreadsPerBlock)?),
            max_threads_per_cu: non_negative(attr(DeviceAttribute::MaxThreadsPerMultiProcessor)?),
            clock_khz: optional(DeviceAttribute::ClockRate),
            memory_clock_khz: optional(DeviceAttribute::MemoryClockRate),
            memory_bus_width_bits: optional(DeviceAttribute::MemoryBusWidth),
            l2_cache_bytes: optional(DeviceAttribute::L2CacheSize).map(|v| v as usize),
            total_memory: driver
                .device_total_mem(ord)
                .map_err(|code| fail("hipDeviceTotalMem", code))?,
            compute_capability: (
                non_negative(attr(DeviceAttribute::ComputeCapabilityMajor)?),
                non_negative(attr(DeviceAttribute::ComputeCapabilityMinor)?),
            ),
            memory_pools: optional(DeviceAttribute::MemoryPoolsSupported).is_some(),
        })
    }

    /// Peak memory bandwidth in bytes/s from memory clock and bus width (double data
    /// rate), where both are known.
    pub fn peak_bandwidth_bytes_per_s(&self) -> Option<f64> {
        let clock = f64::from(self.memory_clock_khz?) * 1e3;
        let width = f64::from(self.memory_bus_width_bits?) / 8.0;
        Some(2.0 * clock * width)
    }
}

impl fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "device {}: {} ({}, {}), {:.1} GiB, warp {}, {} CUs",
            self.ordinal,
            self.name,
            self.arch,
            self.platform,
            self.total_memory as f64 / (1u64 << 30) as f64,
            self.warp_size,
            self.compute_units
        )
    }
}

/// One GPU of a runtime; cheap to clone. Every operation makes it current on the calling
/// thread first, so a `Device` may be used from any thread.
#[derive(Clone)]
pub struct Device {
    hip: Hip,
    info: Arc<DeviceInfo>,
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Device({})", self.info)
    }
}

impl PartialEq for Device {
    fn eq(&self, other: &Self) -> bool {
        self.ordinal() == other.ordinal() && Arc::ptr_eq(&self.info, &other.info)
    }
}

impl Device {
    pub(crate) fn new(hip: Hip, info: Arc<DeviceInfo>) -> Device {
        Device { hip, info }
    }

    /// The runtime this device belongs to.
    pub fn hip(&self) -> &Hip {
        &self.hip
    }

    /// The device's description.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// The device ordinal.
    pub fn ordinal(&self) -> usize {
        self.info.ordinal
    }

    /// Makes this device current on the calling thread.
    pub fn make_current(&self) -> Result<()> {
        self.hip.make_current(self.ordinal())
    }

    /// `(free, total)` device memory in bytes.
    pub fn memory_info(&self) -> Result<(usize, usize)> {
        self.make_current()?;
        self.hip
            .call("hipMemGetInfo", self.hip.driver().mem_get_info(), || {
                format!("device {}", self.ordinal())
            })
    }

    /// Whether this device can read and write `peer`'s memory directly.
    pub fn can_access_peer(&self, peer: &Device) -> Result<bool> {
        let (d, p) = (self.ordinal() as i32, peer.ordinal() as i32);
        self.hip.call(
            "hipDeviceCanAccessPeer",
            self.hip.driver().device_can_access_peer(d, p),
            || format!("device {d} to device {p}"),
        )
    }

    /// Lets this device access `peer`'s memory; enabling twice is not an error.
    pub fn enable_peer_access(&self, peer: &Device) -> Result<()> {
        self.make_current()?;
        match self
            .hip
            .driver()
            .device_enable_peer_access(peer.ordinal() as i32)
        {
            Ok(()) | Err(hip_ffi::hipError_t::hipErrorPeerAccessAlreadyEnabled) => Ok(()),
            Err(code) => Err(Error::Hip(self.hip.error(
                "hipDeviceEnablePeerAccess",
                code,
                format!("device {} to device {}", self.ordinal(), peer.ordinal()),
            ))),
        }
    }
}
