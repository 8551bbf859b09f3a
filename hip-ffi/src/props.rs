//! `hipDeviceProp_t` bound per HIP runtime version, with layout tests.
//!
//! HIP has no attribute that returns the architecture name (`gfx90a:sramecc+:xnack-`), so
//! it is read from `hipDeviceProp_t`. The struct changed in ROCm 6 (`hipDeviceProp_tR0600`,
//! filled by `hipGetDevicePropertiesR0600`); ROCm 5 has `hipGetDeviceProperties` with the
//! older layout. Both are transcribed field by field from the HIP headers, and the tests pin
//! their size and the offsets of the fields read (numbers measured with a C compiler on the
//! headers). The reader also cross-checks the warp size against `hipDeviceGetAttribute`.

#![allow(non_camel_case_types)]

use std::ffi::c_char;

/// `hipDeviceProp_t` of ROCm 5.x (`hipGetDeviceProperties`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct hipDeviceProp_tR0000 {
    /// `name`.
    pub name: [c_char; 256],
    /// `totalGlobalMem`.
    pub total_global_mem: usize,
    /// `sharedMemPerBlock`.
    pub shared_mem_per_block: usize,
    /// `regsPerBlock`.
    pub regs_per_block: i32,
    /// `warpSize`.
    pub warp_size: i32,
    /// `maxThreadsPerBlock`.
    pub max_threads_per_block: i32,
    /// `maxThreadsDim`.
    pub max_threads_dim: [i32; 3],
    /// `maxGridSize`.
    pub max_grid_size: [i32; 3],
    /// `clockRate`.
    pub clock_rate: i32,
    /// `memoryClockRate`.
    pub memory_clock_rate: i32,
    /// `memoryBusWidth`.
    pub memory_bus_width: i32,
    /// `totalConstMem`.
    pub total_const_mem: usize,
    /// `major`.
    pub major: i32,
    /// `minor`.
    pub minor: i32,
    /// `multiProcessorCount`.
    pub multi_processor_count: i32,
    /// `l2CacheSize`.
    pub l2_cache_size: i32,
    /// `maxThreadsPerMultiProcessor`.
    pub max_threads_per_multi_processor: i32,
    /// `computeMode`.
    pub compute_mode: i32,
    /// `clockInstructionRate`.
    pub clock_instruction_rate: i32,
    /// `arch`.
    pub arch: u32,
    /// `concurrentKernels`.
    pub concurrent_kernels: i32,
    /// `pciDomainID`.
    pub pci_domain_id: i32,
    /// `pciBusID`.
    pub pci_bus_id: i32,
    /// `pciDeviceID`.
    pub pci_device_id: i32,
    /// `maxSharedMemoryPerMultiProcessor`.
    pub max_shared_memory_per_multi_processor: usize,
    /// `isMultiGpuBoard`.
    pub is_multi_gpu_board: i32,
    /// `canMapHostMemory`.
    pub can_map_host_memory: i32,
    /// `gcnArch`.
    pub gcn_arch: i32,
    /// `gcnArchName`.
    pub gcn_arch_name: [c_char; 256],
    /// `integrated`.
    pub integrated: i32,
    /// `cooperativeLaunch`.
    pub cooperative_launch: i32,
    /// `cooperativeMultiDeviceLaunch`.
    pub cooperative_multi_device_launch: i32,
    /// `maxTexture1DLinear`.
    pub max_texture1_d_linear: i32,
    /// `maxTexture1D`.
    pub max_texture1_d: i32,
    /// `maxTexture2D`.
    pub max_texture2_d: [i32; 2],
    /// `maxTexture3D`.
    pub max_texture3_d: [i32; 3],
    /// `hdpMemFlushCntl`.
    pub hdp_mem_flush_cntl: *mut u32,
    /// `hdpRegFlushCntl`.
    pub hdp_reg_flush_cntl: *mut u32,
    /// `memPitch`.
    pub mem_pitch: usize,
    /// `textureAlignment`.
    pub texture_alignment: usize,
    /// `texturePitchAlignment`.
    pub texture_pitch_alignment: usize,
    /// `kernelExecTimeoutEnabled`.
    pub kernel_exec_timeout_enabled: i32,
    /// `ECCEnabled`.
    pub ecc_enabled: i32,
    /// `tccDriver`.
    pub tcc_driver: i32,
    /// `cooperativeMultiDeviceUnmatchedFunc`.
    pub cooperative_multi_device_unmatched_func: i32,
    /// `cooperativeMultiDeviceUnmatchedGridDim`.
    pub cooperative_multi_device_unmatched_grid_dim: i32,
    /// `cooperativeMultiDeviceUnmatchedBlockDim`.
    pub cooperative_multi_device_unmatched_block_dim: i32,
    /// `cooperativeMultiDeviceUnmatchedSharedMem`.
    pub cooperative_multi_device_unmatched_shared_mem: i32,
    /// `isLargeBar`.
    pub is_large_bar: i32,
    /// `asicRevision`.
    pub asic_revision: i32,
    /// `managedMemory`.
    pub managed_memory: i32,
    /// `directManagedMemAccessFromHost`.
    pub direct_managed_mem_access_from_host: i32,
    /// `concurrentManagedAccess`.
    pub concurrent_managed_access: i32,
    /// `pageableMemoryAccess`.
    pub pageable_memory_access: i32,
    /// `pageableMemoryAccessUsesHostPageTables`.
    pub pageable_memory_access_uses_host_page_tables: i32,
}

/// `hipDeviceProp_tR0600` of ROCm 6.x and later (`hipGetDevicePropertiesR0600`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct hipDeviceProp_tR0600 {
    /// `name`.
    pub name: [c_char; 256],
    /// `uuid`.
    pub uuid: [u8; 16],
    /// `luid`.
    pub luid: [c_char; 8],
    /// `luidDeviceNodeMask`.
    pub luid_device_node_mask: u32,
    /// `totalGlobalMem`.
    pub total_global_mem: usize,
    /// `sharedMemPerBlock`.
    pub shared_mem_per_block: usize,
    /// `regsPerBlock`.
    pub regs_per_block: i32,
    /// `warpSize`.
    pub warp_size: i32,
    /// `memPitch`.
    pub mem_pitch: usize,
    /// `maxThreadsPerBlock`.
    pub max_threads_per_block: i32,
    /// `maxThreadsDim`.
    pub max_threads_dim: [i32; 3],
    /// `maxGridSize`.
    pub max_grid_size: [i32; 3],
    /// `clockRate`.
    pub clock_rate: i32,
    /// `totalConstMem`.
    pub total_const_mem: usize,
    /// `major`.
    pub major: i32,
    /// `minor`.
    pub minor: i32,
    /// `textureAlignment`.
    pub texture_alignment: usize,
    /// `texturePitchAlignment`.
    pub texture_pitch_alignment: usize,
    /// `deviceOverlap`.
    pub device_overlap: i32,
    /// `multiProcessorCount`.
    pub multi_processor_count: i32,
    /// `kernelExecTimeoutEnabled`.
    pub kernel_exec_timeout_enabled: i32,
    /// `integrated`.
    pub integrated: i32,
    /// `canMapHostMemory`.
    pub can_map_host_memory: i32,
    /// `computeMode`.
    pub compute_mode: i32,
    /// `maxTexture1D`.
    pub max_texture1_d: i32,
    /// `maxTexture1DMipmap`.
    pub max_texture1_d_mipmap: i32,
    /// `maxTexture1DLinear`.
    pub max_texture1_d_linear: i32,
    /// `maxTexture2D`.
    pub max_texture2_d: [i32; 2],
    /// `maxTexture2DMipmap`.
    pub max_texture2_d_mipmap: [i32; 2],
    /// `maxTexture2DLinear`.
    pub max_texture2_d_linear: [i32; 3],
    /// `maxTexture2DGather`.
    pub max_texture2_d_gather: [i32; 2],
    /// `maxTexture3D`.
    pub max_texture3_d: [i32; 3],
    /// `maxTexture3DAlt`.
    pub max_texture3_d_alt: [i32; 3],
    /// `maxTextureCubemap`.
    pub max_texture_cubemap: i32,
    /// `maxTexture1DLayered`.
    pub max_texture1_d_layered: [i32; 2],
    /// `maxTexture2DLayered`.
    pub max_texture2_d_layered: [i32; 3],
    /// `maxTextureCubemapLayered`.
    pub max_texture_cubemap_layered: [i32; 2],
    /// `maxSurface1D`.
    pub max_surface1_d: i32,
    /// `maxSurface2D`.
    pub max_surface2_d: [i32; 2],
    /// `maxSurface3D`.
    pub max_surface3_d: [i32; 3],
    /// `maxSurface1DLayered`.
    pub max_surface1_d_layered: [i32; 2],
    /// `maxSurface2DLayered`.
    pub max_surface2_d_layered: [i32; 3],
    /// `maxSurfaceCubemap`.
    pub max_surface_cubemap: i32,
    /// `maxSurfaceCubemapLayered`.
    pub max_surface_cubemap_layered: [i32; 2],
    /// `surfaceAlignment`.
    pub surface_alignment: usize,
    /// `concurrentKernels`.
    pub concurrent_kernels: i32,
    /// `ECCEnabled`.
    pub ecc_enabled: i32,
    /// `pciBusID`.
    pub pci_bus_id: i32,
    /// `pciDeviceID`.
    pub pci_device_id: i32,
    /// `pciDomainID`.
    pub pci_domain_id: i32,
    /// `tccDriver`.
    pub tcc_driver: i32,
    /// `asyncEngineCount`.
    pub async_engine_count: i32,
    /// `unifiedAddressing`.
    pub unified_addressing: i32,
    /// `memoryClockRate`.
    pub memory_clock_rate: i32,
    /// `memoryBusWidth`.
    pub memory_bus_width: i32,
    /// `l2CacheSize`.
    pub l2_cache_size: i32,
    /// `persistingL2CacheMaxSize`.
    pub persisting_l2_cache_max_size: i32,
    /// `maxThreadsPerMultiProcessor`.
    pub max_threads_per_multi_processor: i32,
    /// `streamPrioritiesSupported`.
    pub stream_priorities_supported: i32,
    /// `globalL1CacheSupported`.
    pub global_l1_cache_supported: i32,
    /// `localL1CacheSupported`.
    pub local_l1_cache_supported: i32,
    /// `sharedMemPerMultiprocessor`.
    pub shared_mem_per_multiprocessor: usize,
    /// `regsPerMultiprocessor`.
    pub regs_per_multiprocessor: i32,
    /// `managedMemory`.
    pub managed_memory: i32,
    /// `isMultiGpuBoard`.
    pub is_multi_gpu_board: i32,
    /// `multiGpuBoardGroupID`.
    pub multi_gpu_board_group_id: i32,
    /// `hostNativeAtomicSupported`.
    pub host_native_atomic_supported: i32,
    /// `singleToDoublePrecisionPerfRatio`.
    pub single_to_double_precision_perf_ratio: i32,
    /// `pageableMemoryAccess`.
    pub pageable_memory_access: i32,
    /// `concurrentManagedAccess`.
    pub concurrent_managed_access: i32,
    /// `computePreemptionSupported`.
    pub compute_preemption_supported: i32,
    /// `canUseHostPointerForRegisteredMem`.
    pub can_use_host_pointer_for_registered_mem: i32,
    /// `cooperativeLaunch`.
    pub cooperative_launch: i32,
    /// `cooperativeMultiDeviceLaunch`.
    pub cooperative_multi_device_launch: i32,
    /// `sharedMemPerBlockOptin`.
    pub shared_mem_per_block_optin: usize,
    /// `pageableMemoryAccessUsesHostPageTables`.
    pub pageable_memory_access_uses_host_page_tables: i32,
    /// `directManagedMemAccessFromHost`.
    pub direct_managed_mem_access_from_host: i32,
    /// `maxBlocksPerMultiProcessor`.
    pub max_blocks_per_multi_processor: i32,
    /// `accessPolicyMaxWindowSize`.
    pub access_policy_max_window_size: i32,
    /// `reservedSharedMemPerBlock`.
    pub reserved_shared_mem_per_block: usize,
    /// `hostRegisterSupported`.
    pub host_register_supported: i32,
    /// `sparseHipArraySupported`.
    pub sparse_hip_array_supported: i32,
    /// `hostRegisterReadOnlySupported`.
    pub host_register_read_only_supported: i32,
    /// `timelineSemaphoreInteropSupported`.
    pub timeline_semaphore_interop_supported: i32,
    /// `memoryPoolsSupported`.
    pub memory_pools_supported: i32,
    /// `gpuDirectRDMASupported`.
    pub gpu_direct_rdma_supported: i32,
    /// `gpuDirectRDMAFlushWritesOptions`.
    pub gpu_direct_rdma_flush_writes_options: u32,
    /// `gpuDirectRDMAWritesOrdering`.
    pub gpu_direct_rdma_writes_ordering: i32,
    /// `memoryPoolSupportedHandleTypes`.
    pub memory_pool_supported_handle_types: u32,
    /// `deferredMappingHipArraySupported`.
    pub deferred_mapping_hip_array_supported: i32,
    /// `ipcEventSupported`.
    pub ipc_event_supported: i32,
    /// `clusterLaunch`.
    pub cluster_launch: i32,
    /// `unifiedFunctionPointers`.
    pub unified_function_pointers: i32,
    /// `reserved`.
    pub reserved: [i32; 63],
    /// `hipReserved`.
    pub hip_reserved: [i32; 32],
    /// `gcnArchName`.
    pub gcn_arch_name: [c_char; 256],
    /// `maxSharedMemoryPerMultiProcessor`.
    pub max_shared_memory_per_multi_processor: usize,
    /// `clockInstructionRate`.
    pub clock_instruction_rate: i32,
    /// `arch`.
    pub arch: u32,
    /// `hdpMemFlushCntl`.
    pub hdp_mem_flush_cntl: *mut u32,
    /// `hdpRegFlushCntl`.
    pub hdp_reg_flush_cntl: *mut u32,
    /// `cooperativeMultiDeviceUnmatchedFunc`.
    pub cooperative_multi_device_unmatched_func: i32,
    /// `cooperativeMultiDeviceUnmatchedGridDim`.
    pub cooperative_multi_device_unmatched_grid_dim: i32,
    /// `cooperativeMultiDeviceUnmatchedBlockDim`.
    pub cooperative_multi_device_unmatched_block_dim: i32,
    /// `cooperativeMultiDeviceUnmatchedSharedMem`.
    pub cooperative_multi_device_unmatched_shared_mem: i32,
    /// `isLargeBar`.
    pub is_large_bar: i32,
    /// `asicRevision`.
    pub asic_revision: i32,
}

/// Reads a NUL-terminated `char` array into a `String`, stopping at the array's end.
pub fn c_chars_to_string(chars: &[c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn rocm5_layout_matches_header() {
        // Measured with gcc on ROCm 5.2's hip_runtime_api.h.
        assert_eq!(size_of::<hipDeviceProp_tR0000>(), 792);
        assert_eq!(offset_of!(hipDeviceProp_tR0000, warp_size), 276);
        assert_eq!(offset_of!(hipDeviceProp_tR0000, gcn_arch_name), 396);
    }

    #[test]
    fn rocm6_layout_matches_header() {
        // Measured with gcc on the R0600 struct of ROCm 6's hip_runtime_api.h.
        assert_eq!(size_of::<hipDeviceProp_tR0600>(), 1472);
        assert_eq!(offset_of!(hipDeviceProp_tR0600, warp_size), 308);
        assert_eq!(offset_of!(hipDeviceProp_tR0600, multi_processor_count), 388);
        assert_eq!(offset_of!(hipDeviceProp_tR0600, gcn_arch_name), 1160);
    }

    #[test]
    fn reads_c_strings() {
        let mut buf = [0 as c_char; 8];
        for (d, s) in buf.iter_mut().zip(b"gfx90a") {
            *d = *s as c_char;
        }
        assert_eq!(c_chars_to_string(&buf), "gfx90a");
        let full = [b'a' as c_char; 4];
        assert_eq!(c_chars_to_string(&full), "aaaa");
    }
}
