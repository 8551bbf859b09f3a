//! [`Kernels`]: the registry's modules loaded on one device — each compiled (or found
//! embedded or cached) and loaded on first use — and typed kernel lookup.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use hip_runtime::{Device, Kernel, Module};

use crate::arch::GpuArch;
use crate::cache::DiskCache;
use crate::code::{module_code, Embedded, Origin};
use crate::error::KernelError;
use crate::jit::RuntimeCompiler;
use crate::profile::Profiler;
use crate::registry::{KernelId, ModuleId};

/// How one module was loaded.
#[derive(Clone, Debug)]
pub struct ModuleLoad {
    /// The module.
    pub module: ModuleId,
    /// Where its code object came from.
    pub origin: Origin,
    /// Time to obtain the code object (compiling included) and load it on the device.
    pub elapsed: Duration,
    /// Size of the code object in bytes.
    pub bytes: usize,
}

struct Loaded {
    handle: Module,
    load: ModuleLoad,
}

/// The kernels of the registry on one device.
pub struct Kernels {
    device: Device,
    arch: GpuArch,
    cache: Option<DiskCache>,
    embedded: Embedded,
    compiler: OnceLock<RuntimeCompiler>,
    modules: Mutex<HashMap<ModuleId, Loaded>>,
    kernels: Mutex<HashMap<KernelId, Kernel>>,
    profiler: Mutex<Profiler>,
}

impl std::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kernels(device {} {})", self.device.ordinal(), self.arch)
    }
}

impl Kernels {
    /// The kernels for `device`, cached in the default cache directory
    /// (`ROCMFORGE_KERNEL_CACHE`, else `~/.cache/rocmforge/kernels`).
    pub fn new(device: &Device) -> Result<Self, KernelError> {
        Self::with_options(device, DiskCache::from_env(), Embedded::Use)
    }

    /// The kernels for `device` with an explicit cache (`None`: compile every time) and
    /// embedded-object policy.
    pub fn with_options(
        device: &Device,
        cache: Option<DiskCache>,
        embedded: Embedded,
    ) -> Result<Self, KernelError> {
        let info = device.info();
        let arch = GpuArch::parse(&info.arch_full)?;
        if info.warp_size != arch.warp_size() {
            return Err(KernelError::WarpSize {
                ordinal: info.ordinal,
                arch: arch.to_string(),
                device: info.warp_size,
                expected: arch.warp_size(),
            });
        }
        Ok(Self {
            device: device.clone(),
            arch,
            cache,
            embedded,
            compiler: OnceLock::new(),
            modules: Mutex::new(HashMap::new()),
            kernels: Mutex::new(HashMap::new()),
            profiler: Mutex::new(Profiler::default()),
        })
    }

    /// The device the kernels run on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The target the kernels are built for.
    pub fn arch(&self) -> &GpuArch {
        &self.arch
    }

    /// Loads `module` (once; later calls return the first load's record).
    pub fn load(&self, module: ModuleId) -> Result<ModuleLoad, KernelError> {
        self.with_module(module, |loaded| loaded.load.clone())
    }

    /// The kernel `id`, loading its module on first use.
    pub fn kernel(&self, id: KernelId) -> Result<Kernel, KernelError> {
        if let Some(kernel) = lock(&self.kernels).get(&id) {
            return Ok(kernel.clone());
        }
        let kernel = self.with_module(id.module(), |loaded| resolve(loaded, id))??;
        lock(&self.kernels).insert(id, kernel.clone());
        Ok(kernel)
    }

    pub(crate) fn profiler(&self) -> std::sync::MutexGuard<'_, Profiler> {
        lock(&self.profiler)
    }

    fn with_module<R>(
        &self,
        module: ModuleId,
        f: impl FnOnce(&Loaded) -> R,
    ) -> Result<R, KernelError> {
        let mut modules = lock(&self.modules);
        if let Some(loaded) = modules.get(&module) {
            return Ok(f(loaded));
        }
        let loaded = self.load_uncached(module)?;
        let result = f(&loaded);
        modules.insert(module, loaded);
        Ok(result)
    }

    fn load_uncached(&self, module: ModuleId) -> Result<Loaded, KernelError> {
        let compiler = || -> Result<&RuntimeCompiler, KernelError> {
            if let Some(c) = self.compiler.get() {
                return Ok(c);
            }
            let loaded = RuntimeCompiler::load(self.arch.vendor())?;
            Ok(self.compiler.get_or_init(|| loaded))
        };
        let started = Instant::now();
        let code = module_code(
            module,
            &self.arch,
            self.embedded,
            compiler,
            self.cache.as_ref(),
        )?;
        let handle = Module::load(&self.device, &module.to_string(), &code.bytes)?;
        let load = ModuleLoad {
            module,
            origin: code.origin,
            elapsed: started.elapsed(),
            bytes: code.bytes.len(),
        };
        Ok(Loaded { handle, load })
    }
}

// The server shares one `Kernels` per device between its threads.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<Kernels>();
};

/// Looks `id` up in `loaded`'s code object.
fn resolve(loaded: &Loaded, id: KernelId) -> Result<Kernel, KernelError> {
    loaded
        .handle
        .kernel(id.symbol())
        .map_err(|source| KernelError::MissingKernel {
            kernel: id,
            module: loaded.load.module,
            origin: loaded.load.origin,
            source,
        })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_missing_from_its_code_object_is_a_clear_error() {
        let Some(hip) = hip_runtime::testing::gpu_or_skip() else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let device = hip.device(0).unwrap();
        let kernels =
            Kernels::with_options(&device, Some(DiskCache::at(dir.path())), Embedded::Use).unwrap();
        // rf_sum_f32 lives in reduce.hip, not in elementwise.hip's code object.
        let err = kernels
            .with_module(ModuleId::Elementwise, |loaded| {
                resolve(loaded, KernelId::SumF32)
            })
            .unwrap()
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, KernelError::MissingKernel { .. }), "{text}");
        assert!(
            text.contains("rf_sum_f32") && text.contains("elementwise.hip"),
            "{text}"
        );
        // The registry still resolves the real kernels.
        kernels.kernel(KernelId::FillF32).unwrap();
        kernels.kernel(KernelId::SumF32).unwrap();
    }
}
