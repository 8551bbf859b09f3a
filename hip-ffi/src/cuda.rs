//! The NVIDIA platform: each HIP entry point forwarded to its CUDA driver twin in
//! `libcuda.so.1`, with `CUresult` mapped to `hipError_t` as HIP's NVIDIA headers do.
//!
//! HIP makes a device current per thread; the driver API does that with contexts, so each
//! device's primary context is retained once (on first use) and made current with
//! `cuCtxSetCurrent` on whichever thread asks.

use std::ffi::{c_char, c_void, CStr};
use std::sync::Mutex;

use crate::driver::Driver;
use crate::error::{hipError_t, HipResult, LoadError};
use crate::loader::{fn_table, open_first, Loaded};
use crate::props::c_chars_to_string;
use crate::types::{
    hipEvent_t, hipFunction_t, hipGraphExec_t, hipGraphNode_t, hipGraph_t, hipModule_t,
    hipStream_t, CUcontext, DeviceAttribute, DevicePtr, Dim3, StreamCaptureMode,
};
use crate::Platform;

type R = i32;
type Ptr = *mut c_void;

/// `CUgraphExecUpdateResultInfo` (CUDA 12+), filled by `cuGraphExecUpdate_v2`.
#[repr(C)]
pub struct GraphExecUpdateResultInfo {
    /// `CUgraphExecUpdateResult`: 0 on success, otherwise why the update was refused.
    pub result: i32,
    /// The node that failed to update, if any.
    pub error_node: hipGraphNode_t,
    /// The node of the source graph it was matched with, if any.
    pub error_from_node: hipGraphNode_t,
}

fn_table! {
    /// Entry points of the CUDA driver `libcuda.so.1`.
    pub struct CudaFns {
        init = ["cuInit"]: fn(u32) -> R;
        driver_get_version = ["cuDriverGetVersion"]: fn(*mut i32) -> R;
        device_get_count = ["cuDeviceGetCount"]: fn(*mut i32) -> R;
        device_get = ["cuDeviceGet"]: fn(*mut i32, i32) -> R;
        device_get_attribute = ["cuDeviceGetAttribute"]: fn(*mut i32, i32, i32) -> R;
        device_get_name = ["cuDeviceGetName"]: fn(*mut c_char, i32, i32) -> R;
        device_total_mem = ["cuDeviceTotalMem_v2"]: fn(*mut usize, i32) -> R;
        primary_ctx_retain = ["cuDevicePrimaryCtxRetain"]: fn(*mut CUcontext, i32) -> R;
        primary_ctx_release = ["cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease"]:
            fn(i32) -> R;
        ctx_set_current = ["cuCtxSetCurrent"]: fn(CUcontext) -> R;
        ctx_enable_peer_access = ["cuCtxEnablePeerAccess"]: fn(CUcontext, u32) -> R;
        device_can_access_peer = ["cuDeviceCanAccessPeer"]: fn(*mut i32, i32, i32) -> R;
        mem_get_info = ["cuMemGetInfo_v2"]: fn(*mut usize, *mut usize) -> R;
        get_error_name = ["cuGetErrorName"]: fn(R, *mut *const c_char) -> R;
        mem_alloc = ["cuMemAlloc_v2"]: fn(*mut DevicePtr, usize) -> R;
        mem_free = ["cuMemFree_v2"]: fn(DevicePtr) -> R;
        mem_alloc_host = ["cuMemAllocHost_v2"]: fn(*mut Ptr, usize) -> R;
        mem_free_host = ["cuMemFreeHost"]: fn(Ptr) -> R;
        memset_d8_async = ["cuMemsetD8Async"]: fn(DevicePtr, u8, usize, hipStream_t) -> R;
        memcpy_htod_async = ["cuMemcpyHtoDAsync_v2"]:
            fn(DevicePtr, *const c_void, usize, hipStream_t) -> R;
        memcpy_dtoh_async = ["cuMemcpyDtoHAsync_v2"]: fn(Ptr, DevicePtr, usize, hipStream_t) -> R;
        memcpy_dtod_async = ["cuMemcpyDtoDAsync_v2"]:
            fn(DevicePtr, DevicePtr, usize, hipStream_t) -> R;
        stream_create = ["cuStreamCreate"]: fn(*mut hipStream_t, u32) -> R;
        stream_destroy = ["cuStreamDestroy_v2"]: fn(hipStream_t) -> R;
        stream_synchronize = ["cuStreamSynchronize"]: fn(hipStream_t) -> R;
        stream_wait_event = ["cuStreamWaitEvent"]: fn(hipStream_t, hipEvent_t, u32) -> R;
        event_create = ["cuEventCreate"]: fn(*mut hipEvent_t, u32) -> R;
        event_record = ["cuEventRecord"]: fn(hipEvent_t, hipStream_t) -> R;
        event_synchronize = ["cuEventSynchronize"]: fn(hipEvent_t) -> R;
        event_elapsed_time = ["cuEventElapsedTime_v2", "cuEventElapsedTime"]:
            fn(*mut f32, hipEvent_t, hipEvent_t) -> R;
        event_destroy = ["cuEventDestroy_v2"]: fn(hipEvent_t) -> R;
        module_load_data = ["cuModuleLoadData"]: fn(*mut hipModule_t, *const c_void) -> R;
        module_unload = ["cuModuleUnload"]: fn(hipModule_t) -> R;
        module_get_function = ["cuModuleGetFunction"]:
            fn(*mut hipFunction_t, hipModule_t, *const c_char) -> R;
        launch_kernel = ["cuLaunchKernel"]: fn(
            hipFunction_t, u32, u32, u32, u32, u32, u32, u32, hipStream_t, *mut Ptr, *mut Ptr,
        ) -> R;
        occupancy_max_active_blocks = ["cuOccupancyMaxActiveBlocksPerMultiprocessor"]:
            fn(*mut i32, hipFunction_t, i32, usize) -> R;
        stream_begin_capture = ["cuStreamBeginCapture_v2"]: fn(hipStream_t, i32) -> R;
        stream_end_capture = ["cuStreamEndCapture"]: fn(hipStream_t, *mut hipGraph_t) -> R;
        graph_instantiate = ["cuGraphInstantiateWithFlags"]:
            fn(*mut hipGraphExec_t, hipGraph_t, u64) -> R;
        graph_launch = ["cuGraphLaunch"]: fn(hipGraphExec_t, hipStream_t) -> R;
        graph_exec_update = ["cuGraphExecUpdate_v2"]:
            fn(hipGraphExec_t, hipGraph_t, *mut GraphExecUpdateResultInfo) -> R;
        graph_destroy = ["cuGraphDestroy"]: fn(hipGraph_t) -> R;
        graph_exec_destroy = ["cuGraphExecDestroy"]: fn(hipGraphExec_t) -> R;
    }
    optional {
        mem_alloc_async = ["cuMemAllocAsync"]: fn(*mut DevicePtr, usize, hipStream_t) -> R;
        mem_free_async = ["cuMemFreeAsync"]: fn(DevicePtr, hipStream_t) -> R;
    }
}

/// Where the CUDA driver is looked for: the loader's search path (the driver installs
/// itself there), then the usual driver directories.
pub fn cuda_candidates() -> Vec<String> {
    [
        "libcuda.so.1",
        "libcuda.so",
        "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
        "/usr/lib64/libcuda.so.1",
        "/usr/local/nvidia/lib64/libcuda.so.1",
        "/usr/lib/wsl/lib/libcuda.so.1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn ok(r: R) -> HipResult<()> {
    hipError_t::from_cu(r).ok()
}

/// HIP on NVIDIA GPUs through the CUDA driver API.
pub struct CudaDriver {
    fns: CudaFns,
    lib: Loaded,
    /// Retained primary context of each device ordinal, as an address (0: not yet).
    contexts: Mutex<Vec<usize>>,
}

impl CudaDriver {
    /// Opens the CUDA driver from [`cuda_candidates`] and resolves every entry point.
    pub fn load() -> Result<Self, LoadError> {
        Self::load_from(&cuda_candidates())
    }

    /// Opens the first of `candidates` that loads.
    pub fn load_from(candidates: &[String]) -> Result<Self, LoadError> {
        let lib = open_first("libcuda", candidates)?;
        // SAFETY: `CudaFns` transcribes the CUDA driver's C signatures.
        let fns = unsafe { CudaFns::load(&lib)? };
        Ok(CudaDriver {
            fns,
            lib,
            contexts: Mutex::new(Vec::new()),
        })
    }

    fn out<T: Default>(f: impl FnOnce(*mut T) -> R) -> HipResult<T> {
        let mut v = T::default();
        ok(f(&mut v)).map(|()| v)
    }

    /// The device's primary context, retained on first use.
    fn primary_context(&self, device: i32) -> HipResult<CUcontext> {
        let index = usize::try_from(device).map_err(|_| hipError_t::hipErrorInvalidDevice)?;
        let mut contexts = self
            .contexts
            .lock()
            .map_err(|_| hipError_t::hipErrorIllegalState)?;
        if contexts.len() <= index {
            contexts.resize(index + 1, 0);
        }
        if contexts[index] == 0 {
            let mut ctx: CUcontext = std::ptr::null_mut();
            // SAFETY: the out-pointer is a live local; the driver validates the ordinal.
            ok(unsafe { (self.fns.primary_ctx_retain)(&mut ctx, device) })?;
            contexts[index] = ctx as usize;
        }
        Ok(contexts[index] as CUcontext)
    }
}

impl Drop for CudaDriver {
    fn drop(&mut self) {
        if let Ok(contexts) = self.contexts.get_mut() {
            for (device, &ctx) in contexts.iter().enumerate() {
                if ctx != 0 {
                    // SAFETY: this context was retained by `primary_context` for `device`;
                    // failure at teardown has nobody to report to and is ignored.
                    let _ = unsafe { (self.fns.primary_ctx_release)(device as i32) };
                }
            }
        }
    }
}

impl Driver for CudaDriver {
    fn platform(&self) -> Platform {
        Platform::Nvidia
    }

    fn library_path(&self) -> &str {
        &self.lib.path
    }

    fn init(&self) -> HipResult<()> {
        // SAFETY: plain call with flags 0, as documented.
        ok(unsafe { (self.fns.init)(0) })
    }

    fn driver_version(&self) -> HipResult<i32> {
        // SAFETY: the out-pointer is a live local.
        Self::out(|p| unsafe { (self.fns.driver_get_version)(p) })
    }

    fn runtime_version(&self) -> HipResult<i32> {
        self.driver_version()
    }

    fn device_count(&self) -> HipResult<i32> {
        // SAFETY: the out-pointer is a live local.
        Self::out(|p| unsafe { (self.fns.device_get_count)(p) })
    }

    fn set_device(&self, device: i32) -> HipResult<()> {
        let ctx = self.primary_context(device)?;
        // SAFETY: `ctx` is a retained primary context.
        ok(unsafe { (self.fns.ctx_set_current)(ctx) })
    }

    fn device_attribute(&self, attr: DeviceAttribute, device: i32) -> HipResult<i32> {
        // SAFETY: the out-pointer is a live local; the driver validates attribute and ordinal.
        Self::out(|p| unsafe { (self.fns.device_get_attribute)(p, attr.cuda_code(), device) })
    }

    fn device_name(&self, device: i32) -> HipResult<String> {
        let mut buf = [0 as c_char; 256];
        // SAFETY: the buffer is live and its length is passed.
        ok(unsafe { (self.fns.device_get_name)(buf.as_mut_ptr(), buf.len() as i32, device) })?;
        Ok(c_chars_to_string(&buf))
    }

    fn device_arch(&self, device: i32) -> HipResult<String> {
        let major = self.device_attribute(DeviceAttribute::ComputeCapabilityMajor, device)?;
        let minor = self.device_attribute(DeviceAttribute::ComputeCapabilityMinor, device)?;
        Ok(format!("sm_{major}{minor}"))
    }

    fn device_total_mem(&self, device: i32) -> HipResult<usize> {
        // SAFETY: the out-pointer is a live local.
        Self::out(|p| unsafe { (self.fns.device_total_mem)(p, device) })
    }

    fn mem_get_info(&self) -> HipResult<(usize, usize)> {
        let (mut free, mut total) = (0usize, 0usize);
        // SAFETY: both out-pointers are live locals.
        ok(unsafe { (self.fns.mem_get_info)(&mut free, &mut total) })?;
        Ok((free, total))
    }

    fn device_can_access_peer(&self, device: i32, peer: i32) -> HipResult<bool> {
        // SAFETY: the out-pointer is a live local.
        Self::out(|p| unsafe { (self.fns.device_can_access_peer)(p, device, peer) }).map(|v| v != 0)
    }

    fn device_enable_peer_access(&self, peer: i32) -> HipResult<()> {
        let ctx = self.primary_context(peer)?;
        // SAFETY: `ctx` is a retained primary context; flags must be 0.
        ok(unsafe { (self.fns.ctx_enable_peer_access)(ctx, 0) })
    }

    fn error_name(&self, code: i32) -> Option<String> {
        let mut p: *const c_char = std::ptr::null();
        // SAFETY: the out-pointer is a live local.
        let r = unsafe { (self.fns.get_error_name)(code, &mut p) };
        if r != 0 || p.is_null() {
            return None;
        }
        // SAFETY: the driver returns static NUL-terminated strings.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }

    unsafe fn malloc(&self, bytes: usize) -> HipResult<DevicePtr> {
        // SAFETY: the out-pointer is a live local.
        Self::out(|p| unsafe { (self.fns.mem_alloc)(p, bytes) })
    }

    unsafe fn free(&self, ptr: DevicePtr) -> HipResult<()> {
        // SAFETY: the caller guarantees `ptr` came from cuMemAlloc.
        ok(unsafe { (self.fns.mem_free)(ptr) })
    }

    unsafe fn malloc_async(&self, bytes: usize, stream: hipStream_t) -> HipResult<DevicePtr> {
        let f = self
            .fns
            .mem_alloc_async
            .ok_or(hipError_t::hipErrorNotSupported)?;
        // SAFETY: the out-pointer is a live local; the caller guarantees the stream.
        Self::out(|p| unsafe { f(p, bytes, stream) })
    }

    unsafe fn free_async(&self, ptr: DevicePtr, stream: hipStream_t) -> HipResult<()> {
        let f = self
            .fns
            .mem_free_async
            .ok_or(hipError_t::hipErrorNotSupported)?;
        // SAFETY: the caller guarantees pointer and stream.
        ok(unsafe { f(ptr, stream) })
    }

    unsafe fn host_malloc(&self, bytes: usize) -> HipResult<*mut c_void> {
        let mut p: Ptr = std::ptr::null_mut();
        // SAFETY: the out-pointer is a live local.
        ok(unsafe { (self.fns.mem_alloc_host)(&mut p, bytes) })?;
        Ok(p)
    }

    unsafe fn host_free(&self, ptr: *mut c_void) -> HipResult<()> {
        // SAFETY: the caller guarantees `ptr` came from cuMemAllocHost.
        ok(unsafe { (self.fns.mem_free_host)(ptr) })
    }

    unsafe fn memset_d8_async(
        &self,
        dst: DevicePtr,
        value: u8,
        bytes: usize,
        stream: hipStream_t,
    ) -> HipResult<()> {
        // SAFETY: the caller guarantees the range and the stream.
        ok(unsafe { (self.fns.memset_d8_async)(dst, value, bytes, stream) })
    }

    unsafe fn memcpy_htod_async(
        &self,
        dst: DevicePtr,
        src: *const c_void,
        bytes: usize,
        stream: hipStream_t,
    ) -> HipResult<()> {
        // SAFETY: the caller guarantees both ranges and the stream.
        ok(unsafe { (self.fns.memcpy_htod_async)(dst, src, bytes, stream) })
    }

    unsafe fn memcpy_dtoh_async(
        &self,
        dst: *mut c_void,
        src: DevicePtr,
        bytes: usize,
        stream: hipStream_t,
    ) -> HipResult<()> {
        // SAFETY: the caller guarantees both ranges and the stream.
        ok(unsafe { (self.fns.memcpy_dtoh_async)(dst, src, bytes, stream) })
    }

    unsafe fn memcpy_dtod_async(
        &self,
        dst: DevicePtr,
        src: DevicePtr,
        bytes: usize,
        stream: hipStream_t,
    ) -> HipResult<()> {
        // SAFETY: the caller guarantees both ranges and the stream.
        ok(unsafe { (self.fns.memcpy_dtod_async)(dst, src, bytes, stream) })
    }

    unsafe fn stream_create(&self, flags: u32) -> HipResult<hipStream_t> {
        let mut s = std::ptr::null_mut();
        // SAFETY: the out-pointer is a live local.
        ok(unsafe { (self.fns.stream_create)(&mut s, flags) })?;
        Ok(s)
    }

    unsafe fn stream_destroy(&self, stream: hipStream_t) -> HipResult<()> {
        // SAFETY: the caller guarantees the stream.
        ok(unsafe { (self.fns.stream_destroy)(stream) })
    }

    unsafe fn stream_synchronize(&self, stream: hipStream_t) -> HipResult<()> {
        // SAFETY: the caller guarantees the stream.
        ok(unsafe { (self.fns.stream_synchronize)(stream) })
    }

    unsafe fn stream_wait_event(&self, stream: hipStream_t, event: hipEvent_t) -> HipResult<()> {
        // SAFETY: the caller guarantees both handles.
        ok(unsafe { (self.fns.stream_wait_event)(stream, event, 0) })
    }

    unsafe fn event_create(&self, flags: u32) -> HipResult<hipEvent_t> {
        let mut e = std::ptr::null_mut();
        // SAFETY: the out-pointer is a live local.
        ok(unsafe { (self.fns.event_create)(&mut e, flags) })?;
        Ok(e)
    }

    unsafe fn event_record(&self, event: hipEvent_t, stream: hipStream_t) -> HipResult<()> {
        // SAFETY: the caller guarantees both handles.
        ok(unsafe { (self.fns.event_record)(event, stream) })
    }

    unsafe fn event_synchronize(&self, event: hipEvent_t) -> HipResult<()> {
        // SAFETY: the caller guarantees the event.
        ok(unsafe { (self.fns.event_synchronize)(event) })
    }

    unsafe fn event_elapsed_ms(&self, start: hipEvent_t, end: hipEvent_t) -> HipResult<f32> {
        // SAFETY: the out-pointer is a live local; the caller guarantees the events.
        Self::out(|p| unsafe { (self.fns.event_elapsed_time)(p, start, end) })
    }

    unsafe fn event_destroy(&self, event: hipEvent_t) -> HipResult<()> {
        // SAFETY: the caller guarantees the event.
        ok(unsafe { (self.fns.event_destroy)(event) })
    }

    unsafe fn module_load_data(&self, image: *const c_void) -> HipResult<hipModule_t> {
        let mut m = std::ptr::null_mut();
        // SAFETY: the out-pointer is a live local; the caller guarantees the image.
        ok(unsafe { (self.fns.module_load_data)(&mut m, image) })?;
        Ok(m)
    }

    unsafe fn module_unload(&self, module: hipModule_t) -> HipResult<()> {
        // SAFETY: the caller guarantees the module.
        ok(unsafe { (self.fns.module_unload)(module) })
    }

    unsafe fn module_get_function(
        &self,
        module: hipModule_t,
        name: &CStr,
    ) -> HipResult<hipFunction_t> {
        let mut f = std::ptr::null_mut();
        // SAFETY: the out-pointer is a live local; `name` is NUL-terminated.
        ok(unsafe { (self.fns.module_get_function)(&mut f, module, name.as_ptr()) })?;
        Ok(f)
    }

    unsafe fn launch_kernel(
        &self,
        function: hipFunction_t,
        grid: Dim3,
        block: Dim3,
        shared_mem_bytes: u32,
        stream: hipStream_t,
        args: *mut *mut c_void,
    ) -> HipResult<()> {
        // SAFETY: the caller guarantees the function, stream and argument array.
        ok(unsafe {
            (self.fns.launch_kernel)(
                function,
                grid.x,
                grid.y,
                grid.z,
                block.x,
                block.y,
                block.z,
                shared_mem_bytes,
                stream,
                args,
                std::ptr::null_mut(),
            )
        })
    }

    unsafe fn occupancy_max_active_blocks(
        &self,
        function: hipFunction_t,
        block_size: i32,
        dynamic_shared_bytes: usize,
    ) -> HipResult<i32> {
        // SAFETY: the out-pointer is a live local; the caller guarantees the function.
        Self::out(|p| unsafe {
            (self.fns.occupancy_max_active_blocks)(p, function, block_size, dynamic_shared_bytes)
        })
    }

    unsafe fn stream_begin_capture(
        &self,
        stream: hipStream_t,
        mode: StreamCaptureMode,
    ) -> HipResult<()> {
        // SAFETY: the caller guarantees the stream; the mode values match CUDA's.
        ok(unsafe { (self.fns.stream_begin_capture)(stream, mode as i32) })
    }

    unsafe fn stream_end_capture(&self, stream: hipStream_t) -> HipResult<hipGraph_t> {
        let mut g = std::ptr::null_mut();
        // SAFETY: the out-pointer is a live local; the caller guarantees the stream.
        ok(unsafe { (self.fns.stream_end_capture)(stream, &mut g) })?;
        Ok(g)
    }

    unsafe fn graph_instantiate(&self, graph: hipGraph_t) -> HipResult<hipGraphExec_t> {
        let mut exec = std::ptr::null_mut();
        // SAFETY: the out-pointer is a live local; the caller guarantees the graph.
        ok(unsafe { (self.fns.graph_instantiate)(&mut exec, graph, 0) })?;
        Ok(exec)
    }

    unsafe fn graph_launch(&self, exec: hipGraphExec_t, stream: hipStream_t) -> HipResult<()> {
        // SAFETY: the caller guarantees both handles.
        ok(unsafe { (self.fns.graph_launch)(exec, stream) })
    }

    unsafe fn graph_exec_update(&self, exec: hipGraphExec_t, graph: hipGraph_t) -> HipResult<()> {
        let mut info = GraphExecUpdateResultInfo {
            result: 0,
            error_node: std::ptr::null_mut(),
            error_from_node: std::ptr::null_mut(),
        };
        // SAFETY: the out-pointer is a live local; the caller guarantees both handles.
        ok(unsafe { (self.fns.graph_exec_update)(exec, graph, &mut info) })
    }

    unsafe fn graph_destroy(&self, graph: hipGraph_t) -> HipResult<()> {
        // SAFETY: the caller guarantees the graph.
        ok(unsafe { (self.fns.graph_destroy)(graph) })
    }

    unsafe fn graph_exec_destroy(&self, exec: hipGraphExec_t) -> HipResult<()> {
        // SAFETY: the caller guarantees the executable graph.
        ok(unsafe { (self.fns.graph_exec_destroy)(exec) })
    }
}
