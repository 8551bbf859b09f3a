//! Launchers of `rope.hip`: RoPE in place, the KV-cache stores, and RoPE(K) fused with
//! the f16 store.
//!
//! API: build a [`RopeConsts`] once per layer type from ggml's rope parameters
//! (`ggml_core::ops::RopeParams::gpu_consts`), then
//! - [`Kernels::rope_f32`]: `x` `[m][n_head][head_dim]` rotated in place, token `t` at
//!   position `pos[t]` (a device `i32` buffer);
//! - [`Kernels::store_kv_f16`] / [`Kernels::store_kv_f32`]: token `t`'s K and V rows
//!   (`[m][n_kv_head][d]`) into cache slot `slots[t]` (a device `u32` buffer); caches are
//!   `[n_slots][n_kv_head][d]`;
//! - [`Kernels::rope_store_kv_f16`]: the same store with K rotated on the way (K itself is
//!   left unrotated).
//!
//! Slots at or past the cache's end are skipped by the kernels (device data the host
//! cannot check). No sync, no alloc: capturable in a graph.

use hip_runtime::{DevPtr, DeviceRepr, DeviceSlice, DeviceSliceMut, KernelParam, Stream};

use crate::error::KernelError;
use crate::launch::{check_device, check_len, grid_rows, index_len};
use crate::loader::Kernels;
use crate::registry::KernelId;

/// Threads per block of the rope and store kernels.
const ROPE_BLOCK: u32 = 128;

/// The constants of one rope application, derived on the host from ggml's parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RopeConsts {
    /// `freq_base^(-2 / n_dims)`: the ratio between consecutive pairs' frequencies.
    pub theta_scale: f32,
    /// Position interpolation factor.
    pub freq_scale: f32,
    /// YaRN extrapolation mix (0: no YaRN).
    pub ext_factor: f32,
    /// Magnitude of cos/sin: `attn_factor`, times YaRN's correction when `ext_factor != 0`.
    pub mscale: f32,
    /// YaRN correction range of pair indices, low end.
    pub corr_lo: f32,
    /// YaRN correction range of pair indices, high end.
    pub corr_hi: f32,
    /// Rotated dimensions per head (even; the rest pass through).
    pub n_dims: usize,
    /// NEOX pairing (`i`, `i + n_dims/2`) instead of adjacent pairs.
    pub neox: bool,
}

/// `struct rf_rope` of rope.hip, passed by value.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct RopeArgs {
    theta_scale: f32,
    freq_scale: f32,
    ext_factor: f32,
    mscale: f32,
    corr_lo: f32,
    corr_hi: f32,
    n_dims: u32,
    neox: u32,
}

// SAFETY: repr(C) of eight 4-byte fields, no padding: the layout of `struct rf_rope`.
unsafe impl KernelParam for RopeArgs {}

impl RopeConsts {
    /// Checks the rotary dimensions against `head_dim` and packs the kernel argument.
    fn args(&self, kernel: KernelId, head_dim: usize) -> Result<RopeArgs, KernelError> {
        if self.n_dims % 2 != 0 || self.n_dims > head_dim {
            return Err(KernelError::Shape {
                kernel,
                detail: format!(
                    "{} rotary dimensions with head dimension {head_dim}",
                    self.n_dims
                ),
            });
        }
        Ok(RopeArgs {
            theta_scale: self.theta_scale,
            freq_scale: self.freq_scale,
            ext_factor: self.ext_factor,
            mscale: self.mscale,
            corr_lo: self.corr_lo,
            corr_hi: self.corr_hi,
            n_dims: index_len(kernel, self.n_dims)?,
            neox: u32::from(self.neox),
        })
    }
}

/// Checks the optional frequency factors (`n_dims / 2` of them); null when absent.
fn factors_arg(
    kernel: KernelId,
    ff: Option<&DeviceSlice<'_, f32>>,
    n_dims: usize,
    stream: &Stream,
) -> Result<DevPtr<f32>, KernelError> {
    match ff {
        Some(f) => {
            check_len(kernel, "freq_factors", n_dims / 2, f.len(), true)?;
            check_device(kernel, f, stream)?;
            Ok(f.arg())
        }
        None => Ok(DevPtr::new(0)),
    }
}

/// The K/V operands of a store: `m` tokens of `kw` / `vw` values into caches of
/// `n_slots` slots. Returns `n_slots` as the kernel's bound.
#[allow(clippy::too_many_arguments)]
fn check_store<T: DeviceRepr>(
    id: KernelId,
    k: &DeviceSlice<'_, f32>,
    v: &DeviceSlice<'_, f32>,
    slots: &DeviceSlice<'_, u32>,
    k_cache: &DeviceSliceMut<'_, T>,
    v_cache: &DeviceSliceMut<'_, T>,
    m: usize,
    kw: usize,
    vw: usize,
) -> Result<u32, KernelError> {
    if kw == 0 || vw == 0 {
        return Err(KernelError::Shape {
            kernel: id,
            detail: "empty K or V rows".to_string(),
        });
    }
    check_len(id, "k", m * kw, k.len(), true)?;
    check_len(id, "v", m * vw, v.len(), true)?;
    check_len(id, "slots", m, slots.len(), true)?;
    let n_slots = k_cache.len() / kw;
    check_len(id, "v_cache", n_slots * vw, v_cache.len(), true)?;
    let stream = k_cache.as_slice().stream();
    for s in [k, v] {
        check_device(id, s, stream)?;
    }
    check_device(id, slots, stream)?;
    check_device(id, &v_cache.as_slice(), stream)?;
    index_len(id, k_cache.len().max(v_cache.len()))?;
    index_len(id, m * kw.max(vw) + kw + vw)?;
    index_len(id, n_slots)
}

impl Kernels {
    /// Rope in place on the first `m` tokens of `x` (`[m][n_head][head_dim]`), token `t`
    /// at position `pos[t]`; `freq_factors` (`n_dims / 2` values) divide each pair's angle.
    #[allow(clippy::too_many_arguments)]
    pub fn rope_f32(
        &self,
        x: &mut DeviceSliceMut<'_, f32>,
        pos: &DeviceSlice<'_, i32>,
        freq_factors: Option<&DeviceSlice<'_, f32>>,
        m: usize,
        n_head: usize,
        head_dim: usize,
        consts: &RopeConsts,
    ) -> Result<(), KernelError> {
        let id = KernelId::RopeF32;
        let args = consts.args(id, head_dim)?;
        check_len(id, "x", m * n_head * head_dim, x.len(), true)?;
        check_len(id, "pos", m, pos.len(), true)?;
        let stream = x.as_slice().stream();
        check_device(id, pos, stream)?;
        let ff = factors_arg(id, freq_factors, consts.n_dims, stream)?;
        index_len(id, m * n_head * head_dim)?;
        let pairs = n_head * consts.n_dims / 2;
        if m == 0 || pairs == 0 {
            return Ok(());
        }
        let config = grid_rows(id, pairs, m, ROPE_BLOCK)?;
        let (nh, hd) = (index_len(id, n_head)?, index_len(id, head_dim)?);
        // SAFETY: rf_rope_f32(float*, const int*, const float*, unsigned, unsigned, rf_rope)
        // rotates pairs within the first m*n_head*head_dim elements of x (checked), reads
        // pos[0..m) (checked) and n_dims/2 factors (checked) or none (null).
        unsafe { self.launch(id, stream, config, (x.arg(), pos.arg(), ff, nh, hd, args)) }
    }

    /// Stores token `t`'s K row (`kw = n_kv_head * head_dim_k` values of `k`) and V row
    /// (`vw` values) as f16 into cache slot `slots[t]`, for the first `m` tokens.
    #[allow(clippy::too_many_arguments)]
    pub fn store_kv_f16(
        &self,
        k: &DeviceSlice<'_, f32>,
        v: &DeviceSlice<'_, f32>,
        slots: &DeviceSlice<'_, u32>,
        k_cache: &mut DeviceSliceMut<'_, u16>,
        v_cache: &mut DeviceSliceMut<'_, u16>,
        m: usize,
        kw: usize,
        vw: usize,
    ) -> Result<(), KernelError> {
        self.store_kv(
            KernelId::StoreKvF16,
            k,
            v,
            slots,
            k_cache,
            v_cache,
            m,
            kw,
            vw,
        )
    }

    /// [`Kernels::store_kv_f16`] into an f32 cache.
    #[allow(clippy::too_many_arguments)]
    pub fn store_kv_f32(
        &self,
        k: &DeviceSlice<'_, f32>,
        v: &DeviceSlice<'_, f32>,
        slots: &DeviceSlice<'_, u32>,
        k_cache: &mut DeviceSliceMut<'_, f32>,
        v_cache: &mut DeviceSliceMut<'_, f32>,
        m: usize,
        kw: usize,
        vw: usize,
    ) -> Result<(), KernelError> {
        self.store_kv(
            KernelId::StoreKvF32,
            k,
            v,
            slots,
            k_cache,
            v_cache,
            m,
            kw,
            vw,
        )
    }

    /// The store launch; `T` is the cache element of `id` (u16 for f16, f32).
    #[allow(clippy::too_many_arguments)]
    fn store_kv<T: DeviceRepr>(
        &self,
        id: KernelId,
        k: &DeviceSlice<'_, f32>,
        v: &DeviceSlice<'_, f32>,
        slots: &DeviceSlice<'_, u32>,
        k_cache: &mut DeviceSliceMut<'_, T>,
        v_cache: &mut DeviceSliceMut<'_, T>,
        m: usize,
        kw: usize,
        vw: usize,
    ) -> Result<(), KernelError> {
        let n_slots = check_store(id, k, v, slots, k_cache, v_cache, m, kw, vw)?;
        if m == 0 {
            return Ok(());
        }
        let stream = k_cache.as_slice().stream();
        let config = grid_rows(id, kw + vw, m, ROPE_BLOCK)?;
        let (kw32, vw32) = (index_len(id, kw)?, index_len(id, vw)?);
        // SAFETY: rf_store_kv_{f16,f32}(const float*, const float*, const unsigned*, T*, T*,
        // unsigned, unsigned, unsigned) reads m rows of k and v and m slots (checked) and
        // writes rows only at slots < n_slots, which both caches hold (checked); the public
        // wrappers pair each id with its element type.
        unsafe {
            self.launch(
                id,
                stream,
                config,
                (
                    k.arg(),
                    v.arg(),
                    slots.arg(),
                    k_cache.arg(),
                    v_cache.arg(),
                    kw32,
                    vw32,
                    n_slots,
                ),
            )
        }
    }

    /// [`Kernels::store_kv_f16`] with K rotated by rope on the way (`k` is not modified):
    /// `k` is `[m][n_kv_head][head_dim_k]`, `v` `[m][n_kv_head][head_dim_v]`.
    #[allow(clippy::too_many_arguments)]
    pub fn rope_store_kv_f16(
        &self,
        k: &DeviceSlice<'_, f32>,
        v: &DeviceSlice<'_, f32>,
        pos: &DeviceSlice<'_, i32>,
        slots: &DeviceSlice<'_, u32>,
        freq_factors: Option<&DeviceSlice<'_, f32>>,
        k_cache: &mut DeviceSliceMut<'_, u16>,
        v_cache: &mut DeviceSliceMut<'_, u16>,
        m: usize,
        n_kv_head: usize,
        head_dims: (usize, usize),
        consts: &RopeConsts,
    ) -> Result<(), KernelError> {
        let id = KernelId::RopeStoreKvF16;
        let (dk, dv) = head_dims;
        let args = consts.args(id, dk)?;
        let (kw, vw) = (n_kv_head * dk, n_kv_head * dv);
        let n_slots = check_store(id, k, v, slots, k_cache, v_cache, m, kw, vw)?;
        check_len(id, "pos", m, pos.len(), true)?;
        let stream = k_cache.as_slice().stream();
        check_device(id, pos, stream)?;
        let ff = factors_arg(id, freq_factors, consts.n_dims, stream)?;
        if m == 0 {
            return Ok(());
        }
        let config = grid_rows(id, kw + vw, m, ROPE_BLOCK)?;
        let (nkv, dk32, dv32) = (
            index_len(id, n_kv_head)?,
            index_len(id, dk)?,
            index_len(id, dv)?,
        );
        // SAFETY: rf_rope_store_kv_f16(const float* k, const float* v, const int* pos,
        // const unsigned* slots, const float* ff, unsigned short* kc, unsigned short* vc,
        // unsigned, unsigned, unsigned, unsigned, rf_rope) reads m rows of k, v, pos and
        // slots (checked), n_dims/2 factors or none, and writes only slots < n_slots of
        // both caches (checked to hold them).
        unsafe {
            self.launch(
                id,
                stream,
                config,
                (
                    k.arg(),
                    v.arg(),
                    pos.arg(),
                    slots.arg(),
                    ff,
                    k_cache.arg(),
                    v_cache.arg(),
                    nkv,
                    dk32,
                    dv32,
                    n_slots,
                    args,
                ),
            )
        }
    }
}
