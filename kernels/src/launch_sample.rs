//! Launchers of `sample.hip`: token choice on the device, so only ids cross to the host.
//!
//! API:
//! - [`Kernels::argmax_f32`] writes, for each of `rows` logits rows of `n_vocab` values, the
//!   index of the largest logit (ties: the lowest index, as the CPU sampler's greedy path)
//!   into a device `u32` buffer;
//! - [`Kernels::sample_f32`] runs the CPU sampler's chain per row — top-k, top-p, min-p
//!   (with `min_keep`), temperature, then a draw with the uniform number
//!   [`sample_uniform`]`(seeds[r], steps[r])` (device buffers, so a captured graph stays
//!   valid as steps advance). Penalties, logit bias and typical-p are not on the device:
//!   use the CPU sampler for those. A row whose survivors run past the
//!   [`SAMPLE_CAP`] best tokens the kernel sorts (top-k above it, or top-p without top-k
//!   cutting beyond it), or that has nothing to sample, gets [`SAMPLE_ON_HOST`]: sample that
//!   row on the host from its logits.
//!
//! No sync, no alloc.

use hip_runtime::{DeviceSlice, DeviceSliceMut, Dim3, KernelParam, LaunchConfig};

use crate::error::KernelError;
use crate::launch::{check_device, check_len, index_len};
use crate::loader::Kernels;
use crate::registry::KernelId;

/// Threads per logits row (`RF_SAMPLE_THREADS` in sample.hip).
const SAMPLE_BLOCK: u32 = 1024;

/// Tokens the sampling kernel sorts at most (`RF_SAMPLE_CAP` in sample.hip).
pub const SAMPLE_CAP: usize = 2048;

/// The id [`Kernels::sample_f32`] writes for a row the host must sample itself.
pub const SAMPLE_ON_HOST: u32 = u32::MAX;

/// The sampling chain's parameters (the CPU sampler's meaning and order).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleParams {
    /// Divides the logits before the draw; `<= 0` is greedy.
    pub temperature: f32,
    /// Keep the `top_k` most likely tokens (0: off).
    pub top_k: usize,
    /// Keep the smallest most-likely prefix reaching this probability (1: off).
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the best (0: off).
    pub min_p: f32,
    /// Every truncating step keeps at least this many tokens.
    pub min_keep: usize,
}

/// `struct rf_sample` of sample.hip, passed by value.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct SampleArgs {
    temperature: f32,
    top_p: f32,
    min_p: f32,
    top_k: u32,
    min_keep: u32,
    n_vocab: u32,
}

// SAFETY: repr(C) of six 4-byte fields, no padding: the layout of `struct rf_sample`.
unsafe impl KernelParam for SampleArgs {}

/// SplitMix64's finaliser.
fn mix64(z: u64) -> u64 {
    let z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The uniform number in `[0, 1)` the sampling kernel draws with for step `step` of a
/// sequence seeded `seed` (counter-based, so any step can be reproduced on the host).
pub fn sample_uniform(seed: u64, step: u32) -> f64 {
    let z = mix64(mix64(seed).wrapping_add(u64::from(step).wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    (z >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

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

    /// `ids[r]` = a token drawn from logits row `r` (of `rows` rows of `n_vocab`) through
    /// the sampling chain with [`sample_uniform`]`(seeds[r], steps[r])`, or
    /// [`SAMPLE_ON_HOST`].
    #[allow(clippy::too_many_arguments)]
    pub fn sample_f32(
        &self,
        logits: &DeviceSlice<'_, f32>,
        seeds: &DeviceSlice<'_, u64>,
        steps: &DeviceSlice<'_, u32>,
        ids: &mut DeviceSliceMut<'_, u32>,
        rows: usize,
        n_vocab: usize,
        params: &SampleParams,
    ) -> Result<(), KernelError> {
        let id = KernelId::SampleF32;
        check_len(id, "logits", rows * n_vocab, logits.len(), true)?;
        check_len(id, "seeds", rows, seeds.len(), true)?;
        check_len(id, "steps", rows, steps.len(), true)?;
        check_len(id, "ids", rows, ids.len(), true)?;
        let stream = ids.as_slice().stream();
        check_device(id, logits, stream)?;
        check_device(id, seeds, stream)?;
        check_device(id, steps, stream)?;
        index_len(id, rows * n_vocab)?;
        let bad = |detail: String| KernelError::Shape { kernel: id, detail };
        if !(0.0..=1.0).contains(&params.top_p) || !(0.0..=1.0).contains(&params.min_p) {
            return Err(bad(format!(
                "top_p {} and min_p {} must lie in [0, 1]",
                params.top_p, params.min_p
            )));
        }
        if params.temperature.is_nan() {
            return Err(bad("temperature is NaN".to_string()));
        }
        if rows == 0 || n_vocab == 0 {
            return Ok(());
        }
        let args = SampleArgs {
            temperature: params.temperature,
            top_p: params.top_p,
            min_p: params.min_p,
            top_k: u32::try_from(params.top_k).unwrap_or(u32::MAX),
            min_keep: u32::try_from(params.min_keep.max(1)).unwrap_or(u32::MAX),
            n_vocab: index_len(id, n_vocab)?,
        };
        let config = LaunchConfig {
            grid: Dim3::x(index_len(id, rows)?),
            block: Dim3::x(SAMPLE_BLOCK),
            shared_mem_bytes: 0,
        };
        // SAFETY: rf_sample_f32(const float*, unsigned*, const unsigned long long*, const
        // unsigned*, rf_sample) reads rows rows of n_vocab logits, rows seeds and steps
        // (all checked) and writes ids[0..rows) (checked).
        unsafe {
            self.launch(
                id,
                stream,
                config,
                (logits.arg(), ids.arg(), seeds.arg(), steps.arg(), args),
            )
        }
    }
}
