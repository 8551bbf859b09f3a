//! Launchers of `sample.hip`: token choice on the device, so only ids cross to the host.
//!
//! API: [`Kernels::argmax_f32`] writes, for each of `rows` logits rows of `n_vocab`
//! values, the index of the largest logit (ties: the lowest index, as the CPU sampler's
//! greedy path) into a device `u32` buffer. No sync, no alloc.

use hip_runtime::{DeviceSlice, DeviceSliceMut, Dim3, LaunchConfig};

use crate::error::KernelError;
use crate::launch::{check_device, check_len, index_len};
use crate::loader::Kernels;
use crate::registry::KernelId;

/// Threads per logits row.
const SAMPLE_BLOCK: u32 = 1024;

impl Kernels {
    /// `ids[r] = argmax(logits[r])` for the first `rows` rows of `n_vocab` logits.
    pub fn argmax_f32(
        &self,
        logits: &DeviceSlice<'_, f32>,
        ids: &mut DeviceSliceMut<'_, u32>,
        rows: usize,
        n_vocab: usize,
    ) -> Result<(), KernelError> {
        let id = KernelId::ArgmaxF32;
        check_len(id, "logits", rows * n_vocab, logits.len(), true)?;
        check_len(id, "ids", rows, ids.len(), true)?;
        let stream = ids.as_slice().stream();
        check_device(id, logits, stream)?;
        index_len(id, rows * n_vocab)?;
        if rows == 0 {
            return Ok(());
        }
        let config = LaunchConfig {
            grid: Dim3::x(index_len(id, rows)?),
            block: Dim3::x(SAMPLE_BLOCK),
            shared_mem_bytes: 0,
        };
        let n = index_len(id, n_vocab)?;
        // SAFETY: rf_argmax_f32(const float*, unsigned*, unsigned n_vocab) reads rows rows
        // of n_vocab logits (checked) and writes ids[0..rows) (checked).
        unsafe { self.launch(id, stream, config, (logits.arg(), ids.arg(), n)) }
    }
}
