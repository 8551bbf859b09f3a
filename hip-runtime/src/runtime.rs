//! The runtime handle [`Hip`]: the loaded platform, its devices, the per-thread current
//! device, and errors that `Drop` could not report.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use hip_ffi::{hipError_t, Driver, HipResult, Platform, PlatformChoice};

use crate::device::{Device, DeviceInfo};
use crate::error::{Error, HipError, Result};

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    /// `(runtime id, device ordinal)` last made current on this thread.
    static CURRENT: Cell<(usize, i32)> = const { Cell::new((0, -1)) };
}

/// A loaded GPU platform and its devices; cheap to clone and shareable across threads.
#[derive(Clone)]
pub struct Hip {
    inner: Arc<Inner>,
}

struct Inner {
    id: usize,
    driver: Box<dyn Driver>,
    devices: Vec<Arc<DeviceInfo>>,
    deferred: Mutex<Vec<HipError>>,
    has_deferred: AtomicBool,
}

impl std::fmt::Debug for Hip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hip")
            .field("platform", &self.platform())
            .field("library", &self.library_path())
            .field("devices", &self.inner.devices.len())
            .finish()
    }
}

impl Hip {
    /// Opens the platform `ROCMFORGE_PLATFORM` names, or the first with devices.
    pub fn open() -> Result<Hip> {
        Self::from_driver(hip_ffi::open_driver()?)
    }

    /// Opens the platform `choice` asks for.
    pub fn open_with(choice: PlatformChoice) -> Result<Hip> {
        Self::from_driver(hip_ffi::open_driver_with(choice)?)
    }

    /// The process-wide runtime, opened on first use; a failure is remembered and given
    /// to every caller as [`Error::NoGpu`].
    pub fn global() -> Result<Hip> {
        static GLOBAL: OnceLock<std::result::Result<Hip, String>> = OnceLock::new();
        GLOBAL
            .get_or_init(|| Hip::open().map_err(|e| e.to_string()))
            .clone()
            .map_err(|reason| Error::NoGpu { reason })
    }

    /// Initialises `driver`, checks it has devices and reads every device's description.
    pub fn from_driver(driver: Box<dyn Driver>) -> Result<Hip> {
        let driver = hip_ffi::require_device(driver)?;
        let count = driver
            .device_count()
            .map_err(|code| hip_error(driver.as_ref(), "device count", code, String::new()))?;
        let mut devices = Vec::new();
        for ordinal in 0..count.max(0) as usize {
            devices.push(Arc::new(DeviceInfo::query(driver.as_ref(), ordinal)?));
        }
        Ok(Hip {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                driver,
                devices,
                deferred: Mutex::new(Vec::new()),
                has_deferred: AtomicBool::new(false),
            }),
        })
    }

    /// Which platform this is.
    pub fn platform(&self) -> Platform {
        self.driver().platform()
    }

    /// The runtime library that was opened.
    pub fn library_path(&self) -> &str {
        self.driver().library_path()
    }

    /// The driver version number (`hipDriverGetVersion` / `cuDriverGetVersion`).
    pub fn driver_version(&self) -> Result<i32> {
        self.call(
            "driver version",
            self.driver().driver_version(),
            String::new,
        )
    }

    /// The runtime version number (`hipRuntimeGetVersion`; the CUDA version on NVIDIA).
    pub fn runtime_version(&self) -> Result<i32> {
        self.call(
            "runtime version",
            self.driver().runtime_version(),
            String::new,
        )
    }

    /// How many devices there are.
    pub fn device_count(&self) -> usize {
        self.inner.devices.len()
    }

    /// One device by ordinal.
    pub fn device(&self, ordinal: usize) -> Result<Device> {
        let info = self.inner.devices.get(ordinal).ok_or(Error::NoSuchDevice {
            ordinal,
            count: self.device_count(),
        })?;
        Ok(Device::new(self.clone(), Arc::clone(info)))
    }

    /// Every device.
    pub fn devices(&self) -> Vec<Device> {
        self.inner
            .devices
            .iter()
            .map(|info| Device::new(self.clone(), Arc::clone(info)))
            .collect()
    }

    /// The raw driver (for the crate's wrappers).
    pub(crate) fn driver(&self) -> &dyn Driver {
        self.inner.driver.as_ref()
    }

    /// Builds a [`HipError`] for a failed call, naming the status as the runtime does.
    pub(crate) fn error(&self, op: &'static str, code: hipError_t, context: String) -> HipError {
        hip_error(self.driver(), op, code, context)
    }

    /// Converts a raw result, adding context only on failure.
    pub(crate) fn call<T>(
        &self,
        op: &'static str,
        result: HipResult<T>,
        context: impl FnOnce() -> String,
    ) -> Result<T> {
        result.map_err(|code| Error::Hip(self.error(op, code, context())))
    }

    /// Makes `ordinal` current on the calling thread (once per thread and device), after
    /// reporting any release that failed in a `Drop` since the last call.
    pub(crate) fn make_current(&self, ordinal: usize) -> Result<()> {
        self.take_deferred()?;
        let ord = i32::try_from(ordinal).map_err(|_| Error::NoSuchDevice {
            ordinal,
            count: self.device_count(),
        })?;
        let key = (self.inner.id, ord);
        if CURRENT.with(|c| c.get()) == key {
            return Ok(());
        }
        self.call("hipSetDevice", self.driver().set_device(ord), || {
            format!("making device {ordinal} current on this thread")
        })?;
        CURRENT.with(|c| c.set(key));
        Ok(())
    }

    /// Records a failure from a `Drop` for the next call to report.
    pub(crate) fn defer(&self, error: HipError) {
        tracing::warn!(%error, "GPU release failed; reported by the next call");
        if let Ok(mut list) = self.inner.deferred.lock() {
            list.push(error);
            self.inner.has_deferred.store(true, Ordering::Release);
        }
    }

    /// Returns (and clears) failures recorded by `Drop`s since the last call.
    pub fn take_deferred(&self) -> Result<()> {
        if !self.inner.has_deferred.load(Ordering::Acquire) {
            return Ok(());
        }
        let list = match self.inner.deferred.lock() {
            Ok(mut list) => std::mem::take(&mut *list),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        self.inner.has_deferred.store(false, Ordering::Release);
        if list.is_empty() {
            Ok(())
        } else {
            Err(Error::Deferred(list))
        }
    }

    /// Runs a release in `Drop`: makes the device current and records any failure.
    pub(crate) fn release(
        &self,
        ordinal: usize,
        op: &'static str,
        what: impl FnOnce() -> String,
        f: impl FnOnce(&dyn Driver) -> HipResult<()>,
    ) {
        let ord = ordinal as i32;
        let current = if CURRENT.with(|c| c.get()) == (self.inner.id, ord) {
            Ok(())
        } else {
            self.driver().set_device(ord).map(|()| {
                CURRENT.with(|c| c.set((self.inner.id, ord)));
            })
        };
        if let Err(code) = current.and_then(|()| f(self.driver())) {
            self.defer(self.error(op, code, what()));
        }
    }
}

/// Builds a [`HipError`], naming the status as the runtime does (AMD) or as HIP does
/// (NVIDIA, whose driver names its own codes, not the mapped HIP ones).
pub(crate) fn hip_error(
    driver: &dyn Driver,
    op: &'static str,
    code: hipError_t,
    context: String,
) -> HipError {
    let name = match driver.platform() {
        Platform::Amd => driver.error_name(code.0),
        Platform::Nvidia => None,
    }
    .unwrap_or_else(|| code.name().to_string());
    HipError {
        op,
        code,
        name,
        context,
    }
}
