//! The AMD platform: `libamdhip64` entry points, called as they are.

use std::ffi::{c_char, c_void, CStr};
use std::mem::MaybeUninit;

use crate::driver::Driver;
use crate::error::{hipError_t, HipResult, LoadError};
use crate::loader::{candidates, env_dirs, fn_table, open_first, Loaded};
use crate::props::{c_chars_to_string, hipDeviceProp_tR0000, hipDeviceProp_tR0600};
use crate::types::{
    hipEvent_t, hipFunction_t, hipGraphExec_t, hipGraphNode_t, hipGraph_t, hipModule_t,
    hipStream_t, DeviceAttribute, DevicePtr, Dim3, StreamCaptureMode,
};
use crate::Platform;

type E = hipError_t;
type Ptr = *mut c_void;

fn_table! {
    /// Entry points of `libamdhip64`.
    pub struct AmdFns {
        init = ["hipInit"]: fn(u32) -> E;
        driver_get_version = ["hipDriverGetVersion"]: fn(*mut i32) -> E;
        runtime_get_version = ["hipRuntimeGetVersion"]: fn(*mut i32) -> E;
        get_device_count = ["hipGetDeviceCount"]: fn(*mut i32) -> E;
        set_device = ["hipSetDevice"]: fn(i32) -> E;
        device_get_attribute = ["hipDeviceGetAttribute"]: fn(*mut i32, i32, i32) -> E;
        device_get_name = ["hipDeviceGetName"]: fn(*mut c_char, i32, i32) -> E;
        device_total_mem = ["hipDeviceTotalMem"]: fn(*mut usize, i32) -> E;
        mem_get_info = ["hipMemGetInfo"]: fn(*mut usize, *mut usize) -> E;
        device_can_access_peer = ["hipDeviceCanAccessPeer"]: fn(*mut i32, i32, i32) -> E;
        device_enable_peer_access = ["hipDeviceEnablePeerAccess"]: fn(i32, u32) -> E;
        get_error_name = ["hipGetErrorName"]: fn(E) -> *const c_char;
        malloc = ["hipMalloc"]: fn(*mut Ptr, usize) -> E;
        free = ["hipFree"]: fn(Ptr) -> E;
        host_malloc = ["hipHostMalloc"]: fn(*mut Ptr, usize, u32) -> E;
        host_free = ["hipHostFree"]: fn(Ptr) -> E;
        memset_d8_async = ["hipMemsetD8Async"]: fn(Ptr, u8, usize, hipStream_t) -> E;
        memcpy_htod_async = ["hipMemcpyHtoDAsync"]: fn(Ptr, *const c_void, usize, hipStream_t) -> E;
        memcpy_dtoh_async = ["hipMemcpyDtoHAsync"]: fn(Ptr, Ptr, usize, hipStream_t) -> E;
        memcpy_dtod_async = ["hipMemcpyDtoDAsync"]: fn(Ptr, Ptr, usize, hipStream_t) -> E;
        stream_create_with_flags = ["hipStreamCreateWithFlags"]: fn(*mut hipStream_t, u32) -> E;
        stream_destroy = ["hipStreamDestroy"]: fn(hipStream_t) -> E;
        stream_synchronize = ["hipStreamSynchronize"]: fn(hipStream_t) -> E;
        stream_wait_event = ["hipStreamWaitEvent"]: fn(hipStream_t, hipEvent_t, u32) -> E;
        event_create_with_flags = ["hipEventCreateWithFlags"]: fn(*mut hipEvent_t, u32) -> E;
        event_record = ["hipEventRecord"]: fn(hipEvent_t, hipStream_t) -> E;
        event_synchronize = ["hipEventSynchronize"]: fn(hipEvent_t) -> E;
        event_elapsed_time = ["hipEventElapsedTime"]: fn(*mut f32, hipEvent_t, hipEvent_t) -> E;
        event_destroy = ["hipEventDestroy"]: fn(hipEvent_t) -> E;
        module_load_data = ["hipModuleLoadData"]: fn(*mut hipModule_t, *const c_void) -> E;
        module_unload = ["hipModuleUnload"]: fn(hipModule_t) -> E;
        module_get_function = ["hipModuleGetFunction"]: fn(*mut hipFunction_t, hipModule_t, *const c_char) -> E;
        module_launch_kernel = ["hipModuleLaunchKernel"]: fn(
            hipFunction_t, u32, u32, u32, u32, u32, u32, u32, hipStream_t, *mut Ptr, *mut Ptr,
        ) -> E;
        occupancy_max_active_blocks = ["hipModuleOccupancyMaxActiveBlocksPerMultiprocessor"]:
            fn(*mut i32, hipFunction_t, i32, usize) -> E;
        stream_begin_capture = ["hipStreamBeginCapture"]: fn(hipStream_t, i32) -> E;
        stream_end_capture = ["hipStreamEndCapture"]: fn(hipStream_t, *mut hipGraph_t) -> E;
        graph_instantiate = ["hipGraphInstantiate"]: fn(
            *mut hipGraphExec_t, hipGraph_t, *mut hipGraphNode_t, *mut c_char, usize,
        ) -> E;
        graph_launch = ["hipGraphLaunch"]: fn(hipGraphExec_t, hipStream_t) -> E;
        graph_exec_update = ["hipGraphExecUpdate"]: fn(
            hipGraphExec_t, hipGraph_t, *mut hipGraphNode_t, *mut i32,
        ) -> E;
        graph_destroy = ["hipGraphDestroy"]: fn(hipGraph_t) -> E;
        graph_exec_destroy = ["hipGraphExecDestroy"]: fn(hipGraphExec_t) -> E;
    }
    optional {
        malloc_async = ["hipMallocAsync"]: fn(*mut Ptr, usize, hipStream_t) -> E;
        free_async = ["hipFreeAsync"]: fn(Ptr, hipStream_t) -> E;
        get_device_properties_r0600 = ["hipGetDevicePropertiesR0600"]:
            fn(*mut hipDeviceProp_tR0600, i32) -> E;
        get_device_properties_r0000 = ["hipGetDevicePropertiesR0000", "hipGetDeviceProperties"]:
            fn(*mut hipDeviceProp_tR0000, i32) -> E;
    }
}

/// Where `libamdhip64` is looked for: `$ROCM_PATH/lib`, `$HIP_PATH/lib`, `/opt/rocm/lib`,
/// then the loader's search path; the unversioned name first, then ROCm 6 and 5.
pub fn hip_candidates() -> Vec<String> {
    let mut dirs = env_dirs(&["ROCM_PATH", "HIP_PATH"], &["lib"]);
    dirs.push("/opt/rocm/lib".into());
    candidates(
        &dirs,
        &[
            "libamdhip64.so",
            "libamdhip64.so.7",
            "libamdhip64.so.6",
            "libamdhip64.so.5",
        ],
    )
}

/// HIP on AMD GPUs through `libamdhip64`.
pub struct AmdDriver {
    fns: AmdFns,
    lib: Loaded,
}

impl AmdDriver {
    /// Opens `libamdhip64` from [`hip_candidates`] and resolves every entry point.
    pub fn load() -> Result<Self, LoadError> {
        Self::load_from(&hip_candidates())
    }

    /// Opens the first of `candidates` that loads.
    pub fn load_from(candidates: &[String]) -> Result<Self, LoadError> {
        let lib = open_first("libamdhip64", candidates)?;
        // SAFETY: `AmdFns` transcribes the HIP runtime's C signatures.
        let fns = unsafe { AmdFns::load(&lib)? };
        Ok(AmdDriver { fns, lib })
    }

    /// The raw table, for entry points the trait does not cover.
    pub fn fns(&self) -> &AmdFns {
        &self.fns
    }

    fn out<T: Default>(f: impl FnOnce(*mut T) -> E) -> HipResult<T> {
        let mut v = T::default();
        f(&mut v).ok().map(|()| v)
    }
}

impl Driver for AmdDriver {
    fn platform(&self) -> Platform {
        Platform::Amd
    }

    fn library_path(&self) -> &str {
        &self.lib.path
    }

    fn init(&self) -> HipResult<()> {
        // SAFETY: plain call with a flags value of 0, as documented.
        unsafe { (self.fns.init)(0) }.ok()
    }

    fn driver_version(&self) -> HipResult<i32> {
        // SAFETY: the out-pointer is a live local.
        Self::out(|p| unsafe { (self.fns.driver_get_version)(p) })
    }

    fn runtime_version(&self) -> HipResult<i32> {
        // SAFETY: the out-pointer is a live local.
        Self::out(|p| unsafe { (self.fns.runtime_get_version)(p) })
    }

    fn device_count(&self) -> HipResult<i32> {
        // SAFETY: the out-pointer is a live local.
        Self::out(|p| unsafe { (self.fns.get_device_count)(p) })
    }

    fn set_device(&self, device: i32) -> HipResult<()> {
        // SAFETY: plain call; HIP validates the ordinal.
        unsafe { (self.fns.set_device)(device) }.ok()
    }

    fn device_attribute(&self, attr: DeviceAttribute, device: i32) -> HipResult<i32> {
        // SAFETY: the out-pointer is a live local; HIP validates attribute and ordinal.
        Self::out(|p| unsafe { (self.fns.device_get_attribute)(p, attr.hip_code(), device) })
    }

    fn device_name(&self, device: i32) -> HipResult<String> {
        let mut buf = [0 as c_char; 256];
        // SAFETY: the buffer is live and its length is passed.
        unsafe { (self.fns.device_get_name)(buf.as_mut_ptr(), buf.len() as i32, device) }.ok()?;
        Ok(c_chars_to_string(&buf))
    }

    fn device_arch(&self, device: i32) -> HipResult<String> {
        let warp = self.device_attribute(DeviceAttribute::WarpSize, device)?;
        let (name, prop_warp) = if let Some(get) = self.fns.get_device_properties_r0600 {
            let mut prop = MaybeUninit::<hipDeviceProp_tR0600>::zeroed();
            // SAFETY: `prop` is a zeroed struct of the R0600 layout this entry point fills.
            unsafe { get(prop.as_mut_ptr(), device) }.ok()?;
            // SAFETY: zero is a valid bit pattern for every field, and the call filled it.
            let prop = unsafe { prop.assume_init() };
            (c_chars_to_string(&prop.gcn_arch_name), prop.warp_size)
        } else if let Some(get) = self.fns.get_device_properties_r0000 {
            let mut prop = MaybeUninit::<hipDeviceProp_tR0000>::zeroed();
            // SAFETY: `prop` is a zeroed struct of the pre-6.0 layout this entry point fills.
            unsafe { get(prop.as_mut_ptr(), device) }.ok()?;
            // SAFETY: zero is a valid bit pattern for every field, and the call filled it.
            let prop = unsafe { prop.assume_init() };
            (c_chars_to_string(&prop.gcn_arch_name), prop.warp_size)
        } else {
            return Err(hipError_t::hipErrorNotSupported);
        };
        // A layout that does not match the runtime would read garbage: refuse it.
        if prop_warp != warp || !name.starts_with("gfx") {
            return Err(hipError_t::hipErrorInvalidValue);
        }
        Ok(name)
    }

    fn device_total_mem(&self, device: i32) -> HipResult<usize> {
        // SAFETY: the out-pointer is a live local.
        Self::out(|p| unsafe { (self.fns.device_total_mem)(p, device) })
    }

    fn mem_get_info(&self) -> HipResult<(usize, usize)> {
        let (mut free, mut total) = (0usize, 0usize);
        // SAFETY: both out-pointers are live locals.
        unsafe { (self.fns.mem_get_info)(&mut free, &mut total) }.ok()?;
        Ok((free, total))
    }

    fn device_can_access_peer(&self, device: i32, peer: i32) -> HipResult<bool> {
        // SAFETY: the out-pointer is a live local.
        Self::out(|p| unsafe { (self.fns.device_can_access_peer)(p, device, peer) }).map(|v| v != 0)
    }

    fn device_enable_peer_access(&self, peer: i32) -> HipResult<()> {
        // SAFETY: plain call with flags 0, as documented.
        unsafe { (self.fns.device_enable_peer_access)(peer, 0) }.ok()
    }

    fn error_name(&self, code: i32) -> Option<String> {
        // SAFETY: hipGetErrorName returns a static string (or null) for any value.
        let p = unsafe { (self.fns.get_error_name)(hipError_t(code)) };
        if p.is_null() {
            return None;
        }
        // SAFETY: non-null results are static NUL-terminated strings.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }

    unsafe fn malloc(&self, bytes: usize) -> HipResult<DevicePtr> {
        let mut p: Ptr = std::ptr::null_mut();
        // SAFETY: the out-pointer is a live local.
        unsafe { (self.fns.malloc)(&mut p, bytes) }.ok()?;
        Ok(p as DevicePtr)
    }

    unsafe fn free(&self, ptr: DevicePtr) -> HipResult<()> {
        // SAFETY: the caller guarantees `ptr` came from hipMalloc.
        unsafe { (self.fns.free)(ptr as Ptr) }.ok()
    }

    unsafe fn malloc_async(&self, bytes: usize, stream: hipStream_t) -> HipResult<DevicePtr> {
        let f = self
            .fns
            .malloc_async
            .ok_or(hipError_t::hipErrorNotSupported)?;
        let mut p: Ptr = std::ptr::null_mut();
        // SAFETY: the out-pointer is a live local; the caller guarantees the stream.
        unsafe { f(&mut p, bytes, stream) }.ok()?;
        Ok(p as DevicePtr)
    }

    unsafe fn free_async(&self, ptr: DevicePtr, stream: hipStream_t) -> HipResult<()> {
        let f = self
            .fns
            .free_async
            .ok_or(hipError_t::hipErrorNotSupported)?;
        // SAFETY: the caller guarantees pointer and stream.
        unsafe { f(ptr as Ptr, stream) }.ok()
    }

    unsafe fn host_malloc(&self, bytes: usize) -> HipResult<*mut c_void> {
        let mut p: Ptr = std::ptr::null_mut();
        // SAFETY: the out-pointer is a live local; flags 0 is hipHostMallocDefault.
        unsafe { (self.fns.host_malloc)(&mut p, bytes, 0) }.ok()?;
        Ok(p)
    }

    unsafe fn host_free(&self, ptr: *mut c_void) -> HipResult<()> {
        // SAFETY: the caller guarantees `ptr` came from hipHostMalloc.
        unsafe { (self.fns.host_free)(ptr) }.ok()
    }

    unsafe fn memset_d8_async(
        &self,
        dst: DevicePtr,
        value: u8,
        bytes: usize,
        stream: hipStream_t,
    ) -> HipResult<()> {
        // SAFETY: the caller guarantees the range and the stream.
        unsafe { (self.fns.memset_d8_async)(dst as Ptr, value, bytes, stream) }.ok()
    }

    unsafe fn memcpy_htod_async(
        &self,
        dst: DevicePtr,
        src: *const c_void,
        bytes: usize,
        stream: hipStream_t,
    ) -> HipResult<()> {
        // SAFETY: the caller guarantees both ranges and the stream.
        unsafe { (self.fns.memcpy_htod_async)(dst as Ptr, src, bytes, stream) }.ok()
    }

    unsafe fn memcpy_dtoh_async(
        &self,
        dst: *mut c_void,
        src: DevicePtr,
        bytes: usize,
        stream: hipStream_t,
    ) -> HipResult<()> {
        // SAFETY: the caller guarantees both ranges and the stream.
        unsafe { (self.fns.memcpy_dtoh_async)(dst, src as Ptr, bytes, stream) }.ok()
    }

    unsafe fn memcpy_dtod_async(
        &self,
        dst: DevicePtr,
        src: DevicePtr,
        bytes: usize,
        stream: hipStream_t,
    ) -> HipResult<()> {
        // SAFETY: the caller guarantees both ranges and the stream.
        unsafe { (self.fns.memcpy_dtod_async)(dst as Ptr, src as Ptr, bytes, stream) }.ok()
    }

    unsafe fn stream_create(&self, flags: u32) -> HipResult<hipStream_t> {
        let mut s = std::ptr::null_mut();
        // SAFETY: the out-pointer is a live local.
        unsafe { (self.fns.stream_create_with_flags)(&mut s, flags) }.ok()?;
        Ok(s)
    }

    unsafe fn stream_destroy(&self, stream: hipStream_t) -> HipResult<()> {
        // SAFETY: the caller guarantees the stream.
        unsafe { (self.fns.stream_destroy)(stream) }.ok()
    }

    unsafe fn stream_synchronize(&self, stream: hipStream_t) -> HipResult<()> {
        // SAFETY: the caller guarantees the stream.
        unsafe { (self.fns.stream_synchronize)(stream) }.ok()
    }

    unsafe fn stream_wait_event(&self, stream: hipStream_t, event: hipEvent_t) -> HipResult<()> {
        // SAFETY: the caller guarantees both handles.
        unsafe { (self.fns.stream_wait_event)(stream, event, 0) }.ok()
    }

    unsafe fn event_create(&self, flags: u32) -> HipResult<hipEvent_t> {
        let mut e = std::ptr::null_mut();
        // SAFETY: the out-pointer is a live local.
        unsafe { (self.fns.event_create_with_flags)(&mut e, flags) }.ok()?;
        Ok(e)
    }

    unsafe fn event_record(&self, event: hipEvent_t, stream: hipStream_t) -> HipResult<()> {
        // SAFETY: the caller guarantees both handles.
        unsafe { (self.fns.event_record)(event, stream) }.ok()
    }

    unsafe fn event_synchronize(&self, event: hipEvent_t) -> HipResult<()> {
        // SAFETY: the caller guarantees the event.
        unsafe { (self.fns.event_synchronize)(event) }.ok()
    }

    unsafe fn event_elapsed_ms(&self, start: hipEvent_t, end: hipEvent_t) -> HipResult<f32> {
        // SAFETY: the out-pointer is a live local; the caller guarantees the events.
        Self::out(|p| unsafe { (self.fns.event_elapsed_time)(p, start, end) })
    }

    unsafe fn event_destroy(&self, event: hipEvent_t) -> HipResult<()> {
        // SAFETY: the caller guarantees the event.
        unsafe { (self.fns.event_destroy)(event) }.ok()
    }

    unsafe fn module_load_data(&self, image: *const c_void) -> HipResult<hipModule_t> {
        let mut m = std::ptr::null_mut();
        // SAFETY: the out-pointer is a live local; the caller guarantees the image.
        unsafe { (self.fns.module_load_data)(&mut m, image) }.ok()?;
        Ok(m)
    }

    unsafe fn module_unload(&self, module: hipModule_t) -> HipResult<()> {
        // SAFETY: the caller guarantees the module.
        unsafe { (self.fns.module_unload)(module) }.ok()
    }

    unsafe fn module_get_function(
        &self,
        module: hipModule_t,
        name: &CStr,
    ) -> HipResult<hipFunction_t> {
        let mut f = std::ptr::null_mut();
        // SAFETY: the out-pointer is a live local; `name` is NUL-terminated.
        unsafe { (self.fns.module_get_function)(&mut f, module, name.as_ptr()) }.ok()?;
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
        unsafe {
            (self.fns.module_launch_kernel)(
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
        }
        .ok()
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
        // SAFETY: the caller guarantees the stream.
        unsafe { (self.fns.stream_begin_capture)(stream, mode as i32) }.ok()
    }

    unsafe fn stream_end_capture(&self, stream: hipStream_t) -> HipResult<hipGraph_t> {
        let mut g = std::ptr::null_mut();
        // SAFETY: the out-pointer is a live local; the caller guarantees the stream.
        unsafe { (self.fns.stream_end_capture)(stream, &mut g) }.ok()?;
        Ok(g)
    }

    unsafe fn graph_instantiate(&self, graph: hipGraph_t) -> HipResult<hipGraphExec_t> {
        let mut exec = std::ptr::null_mut();
        // SAFETY: the out-pointer is a live local; null error node and log are allowed.
        unsafe {
            (self.fns.graph_instantiate)(
                &mut exec,
                graph,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
            )
        }
        .ok()?;
        Ok(exec)
    }

    unsafe fn graph_launch(&self, exec: hipGraphExec_t, stream: hipStream_t) -> HipResult<()> {
        // SAFETY: the caller guarantees both handles.
        unsafe { (self.fns.graph_launch)(exec, stream) }.ok()
    }

    unsafe fn graph_exec_update(&self, exec: hipGraphExec_t, graph: hipGraph_t) -> HipResult<()> {
        let mut node = std::ptr::null_mut();
        let mut result = 0i32;
        // SAFETY: both out-pointers are live locals; the caller guarantees the handles.
        unsafe { (self.fns.graph_exec_update)(exec, graph, &mut node, &mut result) }.ok()
    }

    unsafe fn graph_destroy(&self, graph: hipGraph_t) -> HipResult<()> {
        // SAFETY: the caller guarantees the graph.
        unsafe { (self.fns.graph_destroy)(graph) }.ok()
    }

    unsafe fn graph_exec_destroy(&self, exec: hipGraphExec_t) -> HipResult<()> {
        // SAFETY: the caller guarantees the executable graph.
        unsafe { (self.fns.graph_exec_destroy)(exec) }.ok()
    }
}
