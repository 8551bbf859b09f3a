//! A host-memory stand-in for a GPU driver, so the safe layer's bookkeeping (current
//! device, copies, views, allocator statistics, out-of-memory messages, deferred release
//! errors) is tested on machines without a GPU. Kernels and graphs are not emulated.

use std::collections::HashMap;
use std::ffi::{c_void, CStr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hip_ffi::{
    hipError_t, hipEvent_t, hipFunction_t, hipGraphExec_t, hipGraph_t, hipModule_t, hipStream_t,
    DeviceAttribute, DevicePtr, Dim3, Driver, HipResult, Platform, StreamCaptureMode,
};

/// State shared between a test and its fake driver.
#[derive(Default)]
pub(crate) struct FakeState {
    /// Device memory capacity in bytes.
    pub total: usize,
    /// Live allocations: address → backing storage.
    allocs: Mutex<HashMap<DevicePtr, Vec<u64>>>,
    /// Makes every free fail.
    pub fail_free: AtomicBool,
    /// How many times a device was made current.
    pub set_device_calls: AtomicUsize,
    handles: AtomicUsize,
}

impl FakeState {
    pub(crate) fn used(&self) -> usize {
        self.allocs
            .lock()
            .unwrap()
            .values()
            .map(|v| v.len() * 8)
            .sum()
    }
}

pub(crate) struct FakeDriver(pub Arc<FakeState>);

/// A runtime over a fake device with `total` bytes of memory.
pub(crate) fn fake_hip(total: usize) -> (crate::Hip, Arc<FakeState>) {
    let state = Arc::new(FakeState {
        total,
        ..FakeState::default()
    });
    let hip = crate::Hip::from_driver(Box::new(FakeDriver(Arc::clone(&state)))).unwrap();
    (hip, state)
}

impl FakeDriver {
    fn alloc(&self, bytes: usize) -> HipResult<DevicePtr> {
        if self.0.used() + bytes > self.0.total {
            return Err(hipError_t::hipErrorOutOfMemory);
        }
        let mut store = vec![0u64; bytes.div_ceil(8).max(1)];
        let addr = store.as_mut_ptr() as DevicePtr;
        self.0.allocs.lock().unwrap().insert(addr, store);
        Ok(addr)
    }

    fn release(&self, ptr: DevicePtr) -> HipResult<()> {
        if self.0.fail_free.load(Ordering::SeqCst) {
            return Err(hipError_t::hipErrorInvalidDevicePointer);
        }
        match self.0.allocs.lock().unwrap().remove(&ptr) {
            Some(_) => Ok(()),
            None => Err(hipError_t::hipErrorInvalidDevicePointer),
        }
    }

    fn handle(&self) -> *mut c_void {
        (0x1000 + 0x10 * self.0.handles.fetch_add(1, Ordering::Relaxed)) as *mut c_void
    }

    fn copy(dst: *mut c_void, src: *const c_void, bytes: usize) -> HipResult<()> {
        // SAFETY: the safe layer passes ranges of `bytes` inside live fake allocations or
        // host slices, exactly as it would to a real driver.
        unsafe { std::ptr::copy(src as *const u8, dst as *mut u8, bytes) };
        Ok(())
    }
}

impl Driver for FakeDriver {
    fn platform(&self) -> Platform {
        Platform::Amd
    }
    fn library_path(&self) -> &str {
        "fake"
    }
    fn init(&self) -> HipResult<()> {
        Ok(())
    }
    fn driver_version(&self) -> HipResult<i32> {
        Ok(1)
    }
    fn runtime_version(&self) -> HipResult<i32> {
        Ok(1)
    }
    fn device_count(&self) -> HipResult<i32> {
        Ok(i32::from(self.0.total > 0))
    }
    fn set_device(&self, device: i32) -> HipResult<()> {
        self.0.set_device_calls.fetch_add(1, Ordering::SeqCst);
        if device == 0 {
            Ok(())
        } else {
            Err(hipError_t::hipErrorInvalidDevice)
        }
    }
    fn device_attribute(&self, attr: DeviceAttribute, _device: i32) -> HipResult<i32> {
        Ok(match attr {
            DeviceAttribute::WarpSize => 64,
            DeviceAttribute::MultiprocessorCount => 104,
            DeviceAttribute::MaxSharedMemoryPerBlock => 65536,
            DeviceAttribute::MaxThreadsPerBlock => 1024,
            DeviceAttribute::MaxThreadsPerMultiProcessor => 2048,
            DeviceAttribute::ClockRate => 1_700_000,
            DeviceAttribute::MemoryClockRate => 1_600_000,
            DeviceAttribute::MemoryBusWidth => 4096,
            DeviceAttribute::ComputeCapabilityMajor => 9,
            DeviceAttribute::ComputeCapabilityMinor => 0,
            DeviceAttribute::MemoryPoolsSupported => 1,
            _ => 0,
        })
    }
    fn device_name(&self, _device: i32) -> HipResult<String> {
        Ok("Fake GPU".into())
    }
    fn device_arch(&self, _device: i32) -> HipResult<String> {
        Ok("gfx90a:sramecc+:xnack-".into())
    }
    fn device_total_mem(&self, _device: i32) -> HipResult<usize> {
        Ok(self.0.total)
    }
    fn mem_get_info(&self) -> HipResult<(usize, usize)> {
        Ok((self.0.total - self.0.used(), self.0.total))
    }
    fn device_can_access_peer(&self, _device: i32, _peer: i32) -> HipResult<bool> {
        Ok(false)
    }
    fn device_enable_peer_access(&self, _peer: i32) -> HipResult<()> {
        Err(hipError_t::hipErrorPeerAccessUnsupported)
    }
    fn error_name(&self, code: i32) -> Option<String> {
        Some(hipError_t(code).name().to_string())
    }
    unsafe fn malloc(&self, bytes: usize) -> HipResult<DevicePtr> {
        self.alloc(bytes)
    }
    unsafe fn free(&self, ptr: DevicePtr) -> HipResult<()> {
        self.release(ptr)
    }
    unsafe fn malloc_async(&self, bytes: usize, _stream: hipStream_t) -> HipResult<DevicePtr> {
        self.alloc(bytes)
    }
    unsafe fn free_async(&self, ptr: DevicePtr, _stream: hipStream_t) -> HipResult<()> {
        self.release(ptr)
    }
    unsafe fn host_malloc(&self, bytes: usize) -> HipResult<*mut c_void> {
        self.alloc(bytes).map(|p| p as *mut c_void)
    }
    unsafe fn host_free(&self, ptr: *mut c_void) -> HipResult<()> {
        self.release(ptr as DevicePtr)
    }
    unsafe fn memset_d8_async(
        &self,
        dst: DevicePtr,
        value: u8,
        bytes: usize,
        _stream: hipStream_t,
    ) -> HipResult<()> {
        // SAFETY: the range lies inside a live fake allocation (see `copy`).
        unsafe { std::ptr::write_bytes(dst as *mut u8, value, bytes) };
        Ok(())
    }
    unsafe fn memcpy_htod_async(
        &self,
        dst: DevicePtr,
        src: *const c_void,
        bytes: usize,
        _stream: hipStream_t,
    ) -> HipResult<()> {
        Self::copy(dst as *mut c_void, src, bytes)
    }
    unsafe fn memcpy_dtoh_async(
        &self,
        dst: *mut c_void,
        src: DevicePtr,
        bytes: usize,
        _stream: hipStream_t,
    ) -> HipResult<()> {
        Self::copy(dst, src as *const c_void, bytes)
    }
    unsafe fn memcpy_dtod_async(
        &self,
        dst: DevicePtr,
        src: DevicePtr,
        bytes: usize,
        _stream: hipStream_t,
    ) -> HipResult<()> {
        Self::copy(dst as *mut c_void, src as *const c_void, bytes)
    }
    unsafe fn stream_create(&self, _flags: u32) -> HipResult<hipStream_t> {
        Ok(self.handle())
    }
    unsafe fn stream_destroy(&self, _stream: hipStream_t) -> HipResult<()> {
        Ok(())
    }
    unsafe fn stream_synchronize(&self, _stream: hipStream_t) -> HipResult<()> {
        Ok(())
    }
    unsafe fn stream_wait_event(&self, _stream: hipStream_t, _event: hipEvent_t) -> HipResult<()> {
        Ok(())
    }
    unsafe fn event_create(&self, _flags: u32) -> HipResult<hipEvent_t> {
        Ok(self.handle())
    }
    unsafe fn event_record(&self, _event: hipEvent_t, _stream: hipStream_t) -> HipResult<()> {
        Ok(())
    }
    unsafe fn event_synchronize(&self, _event: hipEvent_t) -> HipResult<()> {
        Ok(())
    }
    unsafe fn event_elapsed_ms(&self, _start: hipEvent_t, _end: hipEvent_t) -> HipResult<f32> {
        Ok(0.5)
    }
    unsafe fn event_destroy(&self, _event: hipEvent_t) -> HipResult<()> {
        Ok(())
    }
    unsafe fn module_load_data(&self, _image: *const c_void) -> HipResult<hipModule_t> {
        Err(hipError_t::hipErrorNotSupported)
    }
    unsafe fn module_unload(&self, _module: hipModule_t) -> HipResult<()> {
        Err(hipError_t::hipErrorNotSupported)
    }
    unsafe fn module_get_function(
        &self,
        _module: hipModule_t,
        _name: &CStr,
    ) -> HipResult<hipFunction_t> {
        Err(hipError_t::hipErrorNotSupported)
    }
    unsafe fn launch_kernel(
        &self,
        _function: hipFunction_t,
        _grid: Dim3,
        _block: Dim3,
        _shared_mem_bytes: u32,
        _stream: hipStream_t,
        _args: *mut *mut c_void,
    ) -> HipResult<()> {
        Err(hipError_t::hipErrorNotSupported)
    }
    unsafe fn occupancy_max_active_blocks(
        &self,
        _function: hipFunction_t,
        _block_size: i32,
        _dynamic_shared_bytes: usize,
    ) -> HipResult<i32> {
        Err(hipError_t::hipErrorNotSupported)
    }
    unsafe fn stream_begin_capture(
        &self,
        _stream: hipStream_t,
        _mode: StreamCaptureMode,
    ) -> HipResult<()> {
        Err(hipError_t::hipErrorNotSupported)
    }
    unsafe fn stream_end_capture(&self, _stream: hipStream_t) -> HipResult<hipGraph_t> {
        Err(hipError_t::hipErrorNotSupported)
    }
    unsafe fn graph_instantiate(&self, _graph: hipGraph_t) -> HipResult<hipGraphExec_t> {
        Err(hipError_t::hipErrorNotSupported)
    }
    unsafe fn graph_launch(&self, _exec: hipGraphExec_t, _stream: hipStream_t) -> HipResult<()> {
        Err(hipError_t::hipErrorNotSupported)
    }
    unsafe fn graph_exec_update(&self, _exec: hipGraphExec_t, _graph: hipGraph_t) -> HipResult<()> {
        Err(hipError_t::hipErrorNotSupported)
    }
    unsafe fn graph_destroy(&self, _graph: hipGraph_t) -> HipResult<()> {
        Err(hipError_t::hipErrorNotSupported)
    }
    unsafe fn graph_exec_destroy(&self, _exec: hipGraphExec_t) -> HipResult<()> {
        Err(hipError_t::hipErrorNotSupported)
    }
}
