//! Code objects and kernels: [`Module`] (loaded from code-object or cubin bytes),
//! [`Kernel`] (a function in it), typed kernel arguments and the one `unsafe` launch.

use std::ffi::{c_void, CString};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use hip_ffi::{hipError_t, hipFunction_t, hipModule_t, DevicePtr, Dim3};

use crate::device::Device;
use crate::error::{Error, Result};
use crate::stream::Stream;

/// A device address of `T` values passed to a kernel (`T*` on the device side).
#[repr(transparent)]
pub struct DevPtr<T> {
    addr: DevicePtr,
    _t: PhantomData<*const T>,
}

impl<T> Clone for DevPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for DevPtr<T> {}

impl<T> fmt::Debug for DevPtr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DevPtr({:#x})", self.addr)
    }
}

impl<T> DevPtr<T> {
    /// Wraps an address.
    pub fn new(addr: DevicePtr) -> Self {
        DevPtr {
            addr,
            _t: PhantomData,
        }
    }

    /// The address.
    pub fn addr(self) -> DevicePtr {
        self.addr
    }
}

/// A value that can be a kernel parameter: passed by address to the launch, read by the
/// kernel as its C++ parameter type.
///
/// # Safety
/// The type must have the size and alignment of the C++ parameter type it stands for and
/// no padding.
pub unsafe trait KernelParam: Copy {}

macro_rules! kernel_param {
    ($($t:ty),*) => { $(
        // SAFETY: a primitive with the same size and alignment as its C++ counterpart.
        unsafe impl KernelParam for $t {}
    )* };
}
kernel_param!(u8, i8, u16, i16, u32, i32, u64, i64, f32, f64);

// SAFETY: `repr(transparent)` over a 64-bit device address, like a C++ pointer.
unsafe impl<T> KernelParam for DevPtr<T> {}

/// Most parameters a kernel launched through [`Kernel::launch`] may take.
pub const MAX_KERNEL_ARGS: usize = 12;

/// A tuple of kernel parameters (up to [`MAX_KERNEL_ARGS`]), in the kernel's order.
pub trait KernelArgs {
    /// Pointers to each value, in order, for `hipModuleLaunchKernel`; unused slots null.
    /// Built on the stack: a launch allocates nothing.
    fn pointers(&mut self) -> [*mut c_void; MAX_KERNEL_ARGS];
}

macro_rules! kernel_args {
    ($($name:ident : $idx:tt),*) => {
        impl<$($name: KernelParam),*> KernelArgs for ($($name,)*) {
            #[allow(unused_mut)]
            fn pointers(&mut self) -> [*mut c_void; MAX_KERNEL_ARGS] {
                let mut out = [std::ptr::null_mut(); MAX_KERNEL_ARGS];
                $(out[$idx] = &mut self.$idx as *mut $name as *mut c_void;)*
                out
            }
        }
    };
}
kernel_args!();
kernel_args!(A: 0);
kernel_args!(A: 0, B: 1);
kernel_args!(A: 0, B: 1, C: 2);
kernel_args!(A: 0, B: 1, C: 2, D: 3);
kernel_args!(A: 0, B: 1, C: 2, D: 3, E: 4);
kernel_args!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5);
kernel_args!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6);
kernel_args!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7);
kernel_args!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8);
kernel_args!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8, J: 9);
kernel_args!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8, J: 9, K: 10);
kernel_args!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8, J: 9, K: 10, L: 11);

/// Launch geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchConfig {
    /// Blocks in the grid.
    pub grid: Dim3,
    /// Threads in a block.
    pub block: Dim3,
    /// Dynamic shared memory per block, in bytes.
    pub shared_mem_bytes: u32,
}

impl LaunchConfig {
    /// One-dimensional launch covering `n` items with `block` threads per block.
    pub fn for_items(n: usize, block: u32) -> Self {
        let block = block.max(1);
        let blocks = n.div_ceil(block as usize).max(1);
        LaunchConfig {
            grid: Dim3::x(u32::try_from(blocks).unwrap_or(u32::MAX)),
            block: Dim3::x(block),
            shared_mem_bytes: 0,
        }
    }
}

impl fmt::Display for LaunchConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = |d: Dim3| format!("({}, {}, {})", d.x, d.y, d.z);
        write!(
            f,
            "grid {} block {} ({} threads) shared {} B",
            d(self.grid),
            d(self.block),
            self.block.volume(),
            self.shared_mem_bytes
        )
    }
}

/// A loaded code object (AMD) or cubin (NVIDIA); unloaded when the last [`Kernel`] from it
/// and the last clone are dropped.
#[derive(Clone)]
pub struct Module {
    inner: Arc<ModuleInner>,
}

struct ModuleInner {
    device: Device,
    handle: hipModule_t,
    name: String,
}

// SAFETY: module handles are usable from any thread once the device is current, which
// every method does first; the handle is never mutated.
unsafe impl Send for ModuleInner {}
// SAFETY: as above.
unsafe impl Sync for ModuleInner {}

impl fmt::Debug for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Module({} on device {})",
            self.inner.name,
            self.inner.device.ordinal()
        )
    }
}

impl Module {
    /// Loads a code object / cubin from memory; `name` is used in messages.
    pub fn load(device: &Device, name: &str, image: &[u8]) -> Result<Module> {
        device.make_current()?;
        let hip = device.hip();
        if image.is_empty() {
            return Err(Error::Hip(hip.error(
                "hipModuleLoadData",
                hipError_t::hipErrorInvalidImage,
                format!("module `{name}`: empty image"),
            )));
        }
        // The runtime may read past what it parses (ELF headers give sizes); hand it an
        // owned copy that is 8-byte aligned as code objects require.
        let mut aligned = vec![0u64; image.len().div_ceil(8) + 1];
        // SAFETY: `aligned` has at least `image.len()` bytes; the ranges do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                image.as_ptr(),
                aligned.as_mut_ptr() as *mut u8,
                image.len(),
            )
        };
        // SAFETY: the image is complete and outlives the call; the device is current.
        let handle = hip.call(
            "hipModuleLoadData",
            unsafe {
                hip.driver()
                    .module_load_data(aligned.as_ptr() as *const c_void)
            },
            || {
                format!(
                    "module `{name}` ({} bytes) on device {} ({})",
                    image.len(),
                    device.ordinal(),
                    device.info().arch
                )
            },
        )?;
        Ok(Module {
            inner: Arc::new(ModuleInner {
                device: device.clone(),
                handle,
                name: name.to_string(),
            }),
        })
    }

    /// The module's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The device it is loaded on.
    pub fn device(&self) -> &Device {
        &self.inner.device
    }

    /// Looks up a kernel by its unmangled (C linkage) name.
    pub fn kernel(&self, name: &str) -> Result<Kernel> {
        let device = &self.inner.device;
        let hip = device.hip();
        let cname = CString::new(name).map_err(|_| {
            Error::Hip(hip.error(
                "hipModuleGetFunction",
                hipError_t::hipErrorInvalidValue,
                format!("kernel name {name:?} contains a NUL byte"),
            ))
        })?;
        device.make_current()?;
        // SAFETY: the module is live (owned by `self`) and the device is current.
        let handle = hip.call(
            "hipModuleGetFunction",
            unsafe { hip.driver().module_get_function(self.inner.handle, &cname) },
            || format!("kernel `{name}` not found in module `{}`", self.inner.name),
        )?;
        Ok(Kernel {
            module: self.clone(),
            handle,
            name: name.to_string(),
        })
    }
}

impl Drop for ModuleInner {
    fn drop(&mut self) {
        let handle = self.handle;
        self.device.hip().release(
            self.device.ordinal(),
            "hipModuleUnload",
            || format!("module `{}`", self.name),
            // SAFETY: the last owner of the module is going away; no kernel outlives it
            // because each kernel holds a clone of the module.
            |d| unsafe { d.module_unload(handle) },
        );
    }
}

/// A kernel of a loaded [`Module`].
#[derive(Clone)]
pub struct Kernel {
    module: Module,
    handle: hipFunction_t,
    name: String,
}

// SAFETY: function handles are immutable and usable from any thread once the device is
// current, which every method does first.
unsafe impl Send for Kernel {}
// SAFETY: as above.
unsafe impl Sync for Kernel {}

impl fmt::Debug for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kernel({} in {})", self.name, self.module.name())
    }
}

impl Kernel {
    /// The kernel's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The module it belongs to.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// Queues the kernel on `stream`.
    ///
    /// # Safety
    /// `args` must match the kernel's parameters in number, order and type, and every
    /// device pointer among them must be valid for everything the kernel reads and writes
    /// with this geometry, until the stream has passed the launch.
    pub unsafe fn launch<A: KernelArgs>(
        &self,
        stream: &Stream,
        config: LaunchConfig,
        mut args: A,
    ) -> Result<()> {
        stream.same_device("hipModuleLaunchKernel", self.module.device())?;
        stream.make_current()?;
        let mut pointers = args.pointers();
        let hip = stream.device().hip();
        // SAFETY: the caller guarantees the arguments; `args` and `pointers` outlive the
        // call, which copies the parameter values.
        let r = unsafe {
            hip.driver().launch_kernel(
                self.handle,
                config.grid,
                config.block,
                config.shared_mem_bytes,
                stream.raw(),
                pointers.as_mut_ptr(),
            )
        };
        stream.call("hipModuleLaunchKernel", r, || {
            let info = stream.device().info();
            format!(
                "kernel `{}` with {config}; device {} allows {} threads per block and {} B \
                 shared memory",
                self.name, info.ordinal, info.max_threads_per_block, info.shared_mem_per_block
            )
        })
    }

    /// How many blocks of `block_size` threads (and `dynamic_shared_bytes` of shared
    /// memory) can be resident on one compute unit.
    pub fn max_active_blocks_per_cu(
        &self,
        block_size: u32,
        dynamic_shared_bytes: usize,
    ) -> Result<u32> {
        let device = self.module.device();
        device.make_current()?;
        let hip = device.hip();
        let block = i32::try_from(block_size).unwrap_or(i32::MAX);
        // SAFETY: the function is live (its module is held by `self`).
        let n = hip.call(
            "hipModuleOccupancyMaxActiveBlocksPerMultiprocessor",
            unsafe {
                hip.driver()
                    .occupancy_max_active_blocks(self.handle, block, dynamic_shared_bytes)
            },
            || format!("kernel `{}` block {block_size}", self.name),
        )?;
        Ok(u32::try_from(n).unwrap_or(0))
    }
}
