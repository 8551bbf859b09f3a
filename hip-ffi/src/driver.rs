//! The HIP entry points the engine uses, as one trait that each platform implements.
//!
//! `AmdDriver` forwards to `libamdhip64`; `CudaDriver` forwards each call to its CUDA
//! driver twin and maps the `CUresult` to `hipError_t`, which is what HIP's own NVIDIA
//! headers do with inline functions. Calls that take raw pointers or handles are `unsafe`:
//! the caller guarantees they are live and belong to the current device.

use std::ffi::{c_void, CStr};

use crate::error::HipResult;
use crate::types::{
    hipEvent_t, hipFunction_t, hipGraphExec_t, hipGraph_t, hipModule_t, hipStream_t,
    DeviceAttribute, DevicePtr, Dim3, StreamCaptureMode,
};
use crate::Platform;

/// One platform's HIP runtime, loaded at run time.
pub trait Driver: Send + Sync {
    /// Which platform this is.
    fn platform(&self) -> Platform;
    /// The runtime library file that was opened.
    fn library_path(&self) -> &str;
    /// `hipInit` / `cuInit`.
    fn init(&self) -> HipResult<()>;
    /// `hipDriverGetVersion` / `cuDriverGetVersion`.
    fn driver_version(&self) -> HipResult<i32>;
    /// `hipRuntimeGetVersion`; on NVIDIA the driver's CUDA version.
    fn runtime_version(&self) -> HipResult<i32>;
    /// `hipGetDeviceCount` / `cuDeviceGetCount`.
    fn device_count(&self) -> HipResult<i32>;
    /// Makes `device` current on the calling thread (`hipSetDevice`; on NVIDIA its primary
    /// context is retained once and made current with `cuCtxSetCurrent`).
    fn set_device(&self, device: i32) -> HipResult<()>;
    /// `hipDeviceGetAttribute` / `cuDeviceGetAttribute`.
    fn device_attribute(&self, attr: DeviceAttribute, device: i32) -> HipResult<i32>;
    /// `hipDeviceGetName` / `cuDeviceGetName`.
    fn device_name(&self, device: i32) -> HipResult<String>;
    /// The code-object architecture: `gcnArchName` on AMD (`gfx90a:sramecc+:xnack-`),
    /// `sm_{major}{minor}` on NVIDIA.
    fn device_arch(&self, device: i32) -> HipResult<String>;
    /// `hipDeviceTotalMem` / `cuDeviceTotalMem_v2`.
    fn device_total_mem(&self, device: i32) -> HipResult<usize>;
    /// `hipMemGetInfo` / `cuMemGetInfo_v2` for the current device: `(free, total)`.
    fn mem_get_info(&self) -> HipResult<(usize, usize)>;
    /// `hipDeviceCanAccessPeer` / `cuDeviceCanAccessPeer`.
    fn device_can_access_peer(&self, device: i32, peer: i32) -> HipResult<bool>;
    /// Lets the current device access `peer`'s memory (`hipDeviceEnablePeerAccess` /
    /// `cuCtxEnablePeerAccess` with the peer's primary context).
    fn device_enable_peer_access(&self, peer: i32) -> HipResult<()>;
    /// The runtime's own name for a code, where it has one.
    fn error_name(&self, code: i32) -> Option<String>;

    /// `hipMalloc` / `cuMemAlloc_v2` on the current device.
    ///
    /// # Safety
    /// A device must be current on this thread.
    unsafe fn malloc(&self, bytes: usize) -> HipResult<DevicePtr>;
    /// `hipFree` / `cuMemFree_v2`.
    ///
    /// # Safety
    /// `ptr` came from [`Driver::malloc`] and is not used afterwards.
    unsafe fn free(&self, ptr: DevicePtr) -> HipResult<()>;
    /// `hipMallocAsync` / `cuMemAllocAsync`; `hipErrorNotSupported` where absent.
    ///
    /// # Safety
    /// `stream` is live and belongs to the current device.
    unsafe fn malloc_async(&self, bytes: usize, stream: hipStream_t) -> HipResult<DevicePtr>;
    /// `hipFreeAsync` / `cuMemFreeAsync`.
    ///
    /// # Safety
    /// `ptr` came from [`Driver::malloc_async`]; `stream` is live.
    unsafe fn free_async(&self, ptr: DevicePtr, stream: hipStream_t) -> HipResult<()>;
    /// `hipHostMalloc` / `cuMemAllocHost_v2`: page-locked host memory.
    ///
    /// # Safety
    /// A device must be current on this thread.
    unsafe fn host_malloc(&self, bytes: usize) -> HipResult<*mut c_void>;
    /// `hipHostFree` / `cuMemFreeHost`.
    ///
    /// # Safety
    /// `ptr` came from [`Driver::host_malloc`] and is not used afterwards.
    unsafe fn host_free(&self, ptr: *mut c_void) -> HipResult<()>;
    /// `hipMemsetD8Async` / `cuMemsetD8Async`.
    ///
    /// # Safety
    /// `dst..dst+bytes` is device memory; `stream` is live.
    unsafe fn memset_d8_async(
        &self,
        dst: DevicePtr,
        value: u8,
        bytes: usize,
        stream: hipStream_t,
    ) -> HipResult<()>;
    /// `hipMemcpyHtoDAsync` / `cuMemcpyHtoDAsync_v2`.
    ///
    /// # Safety
    /// Both ranges are valid for `bytes`; the host range stays valid until the copy ends.
    unsafe fn memcpy_htod_async(
        &self,
        dst: DevicePtr,
        src: *const c_void,
        bytes: usize,
        stream: hipStream_t,
    ) -> HipResult<()>;
    /// `hipMemcpyDtoHAsync` / `cuMemcpyDtoHAsync_v2`.
    ///
    /// # Safety
    /// Both ranges are valid for `bytes`; the host range stays valid until the copy ends.
    unsafe fn memcpy_dtoh_async(
        &self,
        dst: *mut c_void,
        src: DevicePtr,
        bytes: usize,
        stream: hipStream_t,
    ) -> HipResult<()>;
    /// `hipMemcpyDtoDAsync` / `cuMemcpyDtoDAsync_v2`.
    ///
    /// # Safety
    /// Both device ranges are valid for `bytes`.
    unsafe fn memcpy_dtod_async(
        &self,
        dst: DevicePtr,
        src: DevicePtr,
        bytes: usize,
        stream: hipStream_t,
    ) -> HipResult<()>;
    /// `hipStreamCreateWithFlags` / `cuStreamCreate` on the current device.
    ///
    /// # Safety
    /// A device must be current on this thread.
    unsafe fn stream_create(&self, flags: u32) -> HipResult<hipStream_t>;
    /// `hipStreamDestroy` / `cuStreamDestroy_v2`.
    ///
    /// # Safety
    /// `stream` is live and not used afterwards.
    unsafe fn stream_destroy(&self, stream: hipStream_t) -> HipResult<()>;
    /// `hipStreamSynchronize` / `cuStreamSynchronize`.
    ///
    /// # Safety
    /// `stream` is live.
    unsafe fn stream_synchronize(&self, stream: hipStream_t) -> HipResult<()>;
    /// `hipStreamWaitEvent` / `cuStreamWaitEvent`.
    ///
    /// # Safety
    /// Both handles are live.
    unsafe fn stream_wait_event(&self, stream: hipStream_t, event: hipEvent_t) -> HipResult<()>;
    /// `hipEventCreateWithFlags` / `cuEventCreate`.
    ///
    /// # Safety
    /// A device must be current on this thread.
    unsafe fn event_create(&self, flags: u32) -> HipResult<hipEvent_t>;
    /// `hipEventRecord` / `cuEventRecord`.
    ///
    /// # Safety
    /// Both handles are live.
    unsafe fn event_record(&self, event: hipEvent_t, stream: hipStream_t) -> HipResult<()>;
    /// `hipEventSynchronize` / `cuEventSynchronize`.
    ///
    /// # Safety
    /// `event` is live.
    unsafe fn event_synchronize(&self, event: hipEvent_t) -> HipResult<()>;
    /// `hipEventElapsedTime` / `cuEventElapsedTime`: milliseconds between two events.
    ///
    /// # Safety
    /// Both events are live and recorded.
    unsafe fn event_elapsed_ms(&self, start: hipEvent_t, end: hipEvent_t) -> HipResult<f32>;
    /// `hipEventDestroy` / `cuEventDestroy_v2`.
    ///
    /// # Safety
    /// `event` is live and not used afterwards.
    unsafe fn event_destroy(&self, event: hipEvent_t) -> HipResult<()>;
    /// `hipModuleLoadData` / `cuModuleLoadData`: a code object or cubin in memory.
    ///
    /// # Safety
    /// `image` points to a complete image; a device must be current on this thread.
    unsafe fn module_load_data(&self, image: *const c_void) -> HipResult<hipModule_t>;
    /// `hipModuleUnload` / `cuModuleUnload`.
    ///
    /// # Safety
    /// `module` is live and none of its functions are used afterwards.
    unsafe fn module_unload(&self, module: hipModule_t) -> HipResult<()>;
    /// `hipModuleGetFunction` / `cuModuleGetFunction`.
    ///
    /// # Safety
    /// `module` is live.
    unsafe fn module_get_function(
        &self,
        module: hipModule_t,
        name: &CStr,
    ) -> HipResult<hipFunction_t>;
    /// `hipModuleLaunchKernel` / `cuLaunchKernel`.
    ///
    /// # Safety
    /// `args` points to one pointer per kernel parameter, each to a value of the exact
    /// parameter type; every device pointer among them is valid for what the kernel does.
    unsafe fn launch_kernel(
        &self,
        function: hipFunction_t,
        grid: Dim3,
        block: Dim3,
        shared_mem_bytes: u32,
        stream: hipStream_t,
        args: *mut *mut c_void,
    ) -> HipResult<()>;
    /// `hipModuleOccupancyMaxActiveBlocksPerMultiprocessor` /
    /// `cuOccupancyMaxActiveBlocksPerMultiprocessor`.
    ///
    /// # Safety
    /// `function` is live.
    unsafe fn occupancy_max_active_blocks(
        &self,
        function: hipFunction_t,
        block_size: i32,
        dynamic_shared_bytes: usize,
    ) -> HipResult<i32>;
    /// `hipStreamBeginCapture` / `cuStreamBeginCapture_v2`.
    ///
    /// # Safety
    /// `stream` is live and not the null stream.
    unsafe fn stream_begin_capture(
        &self,
        stream: hipStream_t,
        mode: StreamCaptureMode,
    ) -> HipResult<()>;
    /// `hipStreamEndCapture` / `cuStreamEndCapture`.
    ///
    /// # Safety
    /// `stream` is live and capturing.
    unsafe fn stream_end_capture(&self, stream: hipStream_t) -> HipResult<hipGraph_t>;
    /// `hipGraphInstantiate` / `cuGraphInstantiateWithFlags`.
    ///
    /// # Safety
    /// `graph` is live.
    unsafe fn graph_instantiate(&self, graph: hipGraph_t) -> HipResult<hipGraphExec_t>;
    /// `hipGraphLaunch` / `cuGraphLaunch`.
    ///
    /// # Safety
    /// Both handles are live.
    unsafe fn graph_launch(&self, exec: hipGraphExec_t, stream: hipStream_t) -> HipResult<()>;
    /// `hipGraphExecUpdate` / `cuGraphExecUpdate_v2`: takes the parameters of a graph of
    /// the same topology into an instantiated one.
    ///
    /// # Safety
    /// Both handles are live.
    unsafe fn graph_exec_update(&self, exec: hipGraphExec_t, graph: hipGraph_t) -> HipResult<()>;
    /// `hipGraphDestroy` / `cuGraphDestroy`.
    ///
    /// # Safety
    /// `graph` is live and not used afterwards.
    unsafe fn graph_destroy(&self, graph: hipGraph_t) -> HipResult<()>;
    /// `hipGraphExecDestroy` / `cuGraphExecDestroy`.
    ///
    /// # Safety
    /// `exec` is live and not used afterwards.
    unsafe fn graph_exec_destroy(&self, exec: hipGraphExec_t) -> HipResult<()>;
}
