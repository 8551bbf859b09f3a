//! Launchers of `attention.hip`: causal attention over the paged f16 KV cache.
//!
//! API: describe the layer with [`AttnShape`] and the step's device input with [`AttnStep`]
//! (positions `i32[m]`, `tok_row: u32[m]`, block tables `u32[n_rows][max_blocks]`, blocks of
//! [`KV_BLOCK_SIZE`] slots; a token at position `p` attends keys `0..=p` of its row's
//! sequence, or the last `window` of them). Caches are `f16 [n_slots][n_kv_head][d]`,
//! `q` is `f32 [m][n_head][dk]`, `out` `f32 [m][n_head][dv]`.
//! - [`Kernels::attention_prefill_f16`]: query tiles (several tokens × the GQA heads of one
//!   KV head per block) share each K/V tile staged in shared memory;
//! - [`Kernels::attention_decode_f16`]: split-K (flash-decoding) over chunks of keys sized
//!   from `max_keys` (the context length), then a combine kernel; `scratch` holds
//!   [`attention_decode_scratch_len`] floats. Keys past `max_keys` are still attended (the
//!   last chunk is open-ended), just with less parallelism.
//!
//! Everything read per step comes from device buffers, so the launches can be captured in a
//! graph and replayed as positions and tables change; out-of-range device indices are
//! masked by the kernel. No sync, no alloc.

use hip_runtime::{DevPtr, DeviceSlice, DeviceSliceMut, Dim3, KernelParam, LaunchConfig};

use crate::error::KernelError;
use crate::launch::{check_device, check_len, index_len, MAX_GRID_Y};
use crate::loader::Kernels;
use crate::registry::KernelId;

/// Cache slots per KV block (the block tables' granularity), fixed by the kernels.
pub const KV_BLOCK_SIZE: usize = 16;

/// Threads per attention block.
const ATTN_BLOCK: u32 = 128;

/// Shared memory a block may use without opting in (both vendors).
const MAX_SHARED: usize = 48 * 1024;

/// Queries (tokens × GQA heads) a prefill block aims to serve from each K/V tile. Few, so
/// that a micro-batch spreads over many blocks (32 queries left a 128-token micro-batch of
/// an 8-KV-head model with 128 blocks, under one per multiprocessor of an H200); the K/V
/// tiles the extra blocks re-read come from the L2 cache.
const PREFILL_QUERIES: usize = 8;

/// Blocks a decode launch aims for, so that the chunks of few tokens fill the GPU.
const DECODE_BLOCKS: usize = 256;

/// Smallest decode chunk, in keys: one tile, so that a short sequence in a large cache
/// still spreads over many blocks (a block walks its tiles one after another; 64-key
/// chunks left a 128-token decode at about 50 µs per layer on an H200).
const MIN_CHUNK: usize = KV_BLOCK_SIZE;

/// One attention layer's shape and scalars.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttnShape {
    /// Query heads (a positive multiple of `n_kv_head`).
    pub n_head: usize,
    /// KV heads.
    pub n_kv_head: usize,
    /// Query/key head dimension.
    pub head_dim_k: usize,
    /// Value/output head dimension.
    pub head_dim_v: usize,
    /// Multiplier of `q · k`.
    pub scale: f32,
    /// Sliding window in keys (`None`: the whole causal prefix).
    pub window: Option<usize>,
    /// Tanh soft-capping of the scaled scores.
    pub softcap: Option<f32>,
}

/// The device step input attention reads.
#[derive(Clone, Copy, Debug)]
pub struct AttnStep<'a> {
    /// Tokens in the micro-batch.
    pub m: usize,
    /// `i32[m]`: each token's position in its sequence.
    pub pos: DeviceSlice<'a, i32>,
    /// `u32[m]`: each token's block-table row.
    pub tok_row: DeviceSlice<'a, u32>,
    /// `u32[n_rows][max_blocks]`: block ids of each row's sequence, in position order.
    pub block_tables: DeviceSlice<'a, u32>,
    /// Length of a block-table row.
    pub max_blocks: usize,
}

/// `struct rf_attn` of attention.hip, passed by value.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct AttnArgs {
    n_head: u32,
    n_kv_head: u32,
    dk: u32,
    dv: u32,
    max_blocks: u32,
    n_rows: u32,
    n_slots: u32,
    m: u32,
    q_tokens: u32,
    chunk_keys: u32,
    window: u32,
    scale: f32,
    softcap: f32,
}

// SAFETY: repr(C) of thirteen 4-byte fields, no padding: the layout of `struct rf_attn`.
unsafe impl KernelParam for AttnArgs {}

/// Dynamic shared memory of a block serving `nq` queries (attention.hip's layout).
fn shared_bytes(nq: usize, dk: usize, dv: usize) -> usize {
    4 * (nq * (dk + dv + KV_BLOCK_SIZE + 6)) + 2 * KV_BLOCK_SIZE * (dk + dv)
}

/// Keys per chunk and chunks of a decode launch of `m` tokens over `max_keys` keys.
fn decode_split(shape: &AttnShape, m: usize, max_keys: usize) -> (usize, usize) {
    let per_chunk_blocks = (shape.n_kv_head * m).max(1);
    let wanted = DECODE_BLOCKS.div_ceil(per_chunk_blocks).max(1);
    let chunk = max_keys
        .div_ceil(wanted)
        .next_multiple_of(KV_BLOCK_SIZE)
        .max(MIN_CHUNK);
    (chunk, max_keys.div_ceil(chunk).max(1))
}

/// Floats of scratch [`Kernels::attention_decode_f16`] needs for `m` tokens over
/// `max_keys` keys (0 when it needs no split).
pub fn attention_decode_scratch_len(shape: &AttnShape, m: usize, max_keys: usize) -> usize {
    let (_, n_chunks) = decode_split(shape, m, max_keys);
    if n_chunks == 1 {
        0
    } else {
        m * shape.n_head * n_chunks * (shape.head_dim_v + 2)
    }
}

/// The checked operands of one attention launch.
struct Checked {
    args: AttnArgs,
    group: usize,
}

fn shape_err(detail: String) -> KernelError {
    KernelError::Shape {
        kernel: KernelId::AttnF16,
        detail,
    }
}

/// Checks every host-known size of an attention call.
fn check(
    q: &DeviceSlice<'_, f32>,
    k_cache: &DeviceSlice<'_, u16>,
    v_cache: &DeviceSlice<'_, u16>,
    step: &AttnStep<'_>,
    shape: &AttnShape,
    out: &DeviceSliceMut<'_, f32>,
) -> Result<Checked, KernelError> {
    let id = KernelId::AttnF16;
    let s = shape;
    if s.n_kv_head == 0 || s.n_head == 0 || s.n_head % s.n_kv_head != 0 {
        return Err(shape_err(format!(
            "{} query heads cannot share {} KV heads",
            s.n_head, s.n_kv_head
        )));
    }
    if s.head_dim_k == 0 || s.head_dim_v == 0 || step.max_blocks == 0 {
        return Err(shape_err("empty head or block-table row".to_string()));
    }
    let m = step.m;
    check_len(id, "q", m * s.n_head * s.head_dim_k, q.len(), true)?;
    check_len(id, "out", m * s.n_head * s.head_dim_v, out.len(), true)?;
    check_len(id, "pos", m, step.pos.len(), true)?;
    check_len(id, "tok_row", m, step.tok_row.len(), true)?;
    let n_slots = k_cache.len() / (s.n_kv_head * s.head_dim_k);
    check_len(
        id,
        "v_cache",
        n_slots * s.n_kv_head * s.head_dim_v,
        v_cache.len(),
        true,
    )?;
    let stream = out.as_slice().stream();
    check_device(id, q, stream)?;
    check_device(id, k_cache, stream)?;
    check_device(id, v_cache, stream)?;
    check_device(id, &step.pos, stream)?;
    check_device(id, &step.tok_row, stream)?;
    check_device(id, &step.block_tables, stream)?;
    for len in [
        q.len(),
        out.len(),
        k_cache.len(),
        v_cache.len(),
        step.block_tables.len(),
    ] {
        index_len(id, len)?;
    }
    let u = |v: usize| index_len(id, v);
    Ok(Checked {
        args: AttnArgs {
            n_head: u(s.n_head)?,
            n_kv_head: u(s.n_kv_head)?,
            dk: u(s.head_dim_k)?,
            dv: u(s.head_dim_v)?,
            max_blocks: u(step.max_blocks)?,
            n_rows: u(step.block_tables.len() / step.max_blocks)?,
            n_slots: u(n_slots)?,
            m: u(m)?,
            q_tokens: 1,
            chunk_keys: 0,
            window: u(s.window.unwrap_or(0))?,
            scale: s.scale,
            softcap: s.softcap.unwrap_or(0.0),
        },
        group: s.n_head / s.n_kv_head,
    })
}

impl Kernels {
    /// Attention of the step's `m` tokens (any number; best for prefill), several tokens
    /// per block sharing each staged K/V tile.
    pub fn attention_prefill_f16(
        &self,
        q: &DeviceSlice<'_, f32>,
        k_cache: &DeviceSlice<'_, u16>,
        v_cache: &DeviceSlice<'_, u16>,
        step: &AttnStep<'_>,
        shape: &AttnShape,
        out: &mut DeviceSliceMut<'_, f32>,
    ) -> Result<(), KernelError> {
        let mut c = check(q, k_cache, v_cache, step, shape, out)?;
        let (dk, dv) = (shape.head_dim_k, shape.head_dim_v);
        let mut qt = (PREFILL_QUERIES / c.group).clamp(1, step.m.max(1));
        while qt > 1 && shared_bytes(qt * c.group, dk, dv) > MAX_SHARED {
            qt -= 1;
        }
        c.args.q_tokens = qt as u32;
        self.attend(q, k_cache, v_cache, step, out, c, 1, None)
    }

    /// Attention of the step's `m` tokens (few per sequence: decode), each token's keys
    /// split into chunks sized from `max_keys` and merged by a second kernel through
    /// `scratch` ([`attention_decode_scratch_len`] floats).
    #[allow(clippy::too_many_arguments)]
    pub fn attention_decode_f16(
        &self,
        q: &DeviceSlice<'_, f32>,
        k_cache: &DeviceSlice<'_, u16>,
        v_cache: &DeviceSlice<'_, u16>,
        step: &AttnStep<'_>,
        shape: &AttnShape,
        max_keys: usize,
        scratch: &mut DeviceSliceMut<'_, f32>,
        out: &mut DeviceSliceMut<'_, f32>,
    ) -> Result<(), KernelError> {
        let mut c = check(q, k_cache, v_cache, step, shape, out)?;
        let (chunk, n_chunks) = decode_split(shape, step.m, max_keys);
        c.args.chunk_keys = index_len(KernelId::AttnF16, chunk)?;
        let need = attention_decode_scratch_len(shape, step.m, max_keys);
        check_len(KernelId::AttnF16, "scratch", need, scratch.len(), true)?;
        check_device(
            KernelId::AttnF16,
            &scratch.as_slice(),
            out.as_slice().stream(),
        )?;
        index_len(KernelId::AttnF16, need)?;
        let part = (n_chunks > 1).then_some(scratch);
        self.attend(q, k_cache, v_cache, step, out, c, n_chunks, part)
    }

    /// The attention launch (and the combine when split).
    #[allow(clippy::too_many_arguments)]
    fn attend(
        &self,
        q: &DeviceSlice<'_, f32>,
        k_cache: &DeviceSlice<'_, u16>,
        v_cache: &DeviceSlice<'_, u16>,
        step: &AttnStep<'_>,
        out: &mut DeviceSliceMut<'_, f32>,
        c: Checked,
        n_chunks: usize,
        part: Option<&mut DeviceSliceMut<'_, f32>>,
    ) -> Result<(), KernelError> {
        let id = KernelId::AttnF16;
        let a = c.args;
        if step.m == 0 {
            return Ok(());
        }
        let nq = a.q_tokens as usize * c.group;
        let shared = shared_bytes(nq, a.dk as usize, a.dv as usize);
        if shared > MAX_SHARED {
            return Err(shape_err(format!(
                "{nq} queries of head dimensions {}/{} need {shared} bytes of shared memory",
                a.dk, a.dv
            )));
        }
        let tiles = step.m.div_ceil(a.q_tokens as usize);
        if tiles > MAX_GRID_Y || a.n_kv_head as usize > MAX_GRID_Y {
            return Err(shape_err(format!("{tiles} query tiles exceed the grid")));
        }
        let config = LaunchConfig {
            grid: Dim3 {
                x: index_len(id, n_chunks)?,
                y: a.n_kv_head,
                z: tiles as u32,
            },
            block: Dim3::x(ATTN_BLOCK),
            shared_mem_bytes: shared as u32,
        };
        let stream = out.as_slice().stream();
        let part_arg = part
            .as_ref()
            .map_or(DevPtr::new(0), |p| DevPtr::<f32>::new(p.device_ptr()));
        // SAFETY: rf_attn_f16(const float* q, const unsigned short* kc, const unsigned
        // short* vc, const unsigned* tables, const unsigned* tok_row, const int* pos,
        // float* out, float* part, rf_attn) reads m tokens of q, pos and tok_row (checked),
        // cache slots below n_slots and table entries below n_rows*max_blocks (the kernel
        // masks device indices outside them), writes m tokens of out (checked) when not
        // split, or the partials (scratch checked to hold them) when split.
        unsafe {
            self.launch(
                id,
                stream,
                config,
                (
                    q.arg(),
                    k_cache.arg(),
                    v_cache.arg(),
                    step.block_tables.arg(),
                    step.tok_row.arg(),
                    step.pos.arg(),
                    out.arg(),
                    part_arg,
                    a,
                ),
            )?
        }
        if part.is_none() {
            return Ok(());
        }
        let combine = LaunchConfig {
            grid: Dim3 {
                x: a.n_head,
                y: a.m,
                z: 1,
            },
            block: Dim3::x(ATTN_BLOCK),
            shared_mem_bytes: 0,
        };
        let chunks = index_len(KernelId::AttnCombine, n_chunks)?;
        // SAFETY: rf_attn_combine(const float* part, float* out, unsigned n_head, unsigned
        // dv, unsigned n_chunks, unsigned m) reads the m*n_head*n_chunks*(dv+2) partials
        // just written (scratch checked to hold them) and writes m*n_head*dv of out
        // (checked).
        unsafe {
            self.launch(
                KernelId::AttnCombine,
                stream,
                combine,
                (part_arg, out.arg(), a.n_head, a.dv, chunks, a.m),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(n_head: usize, n_kv_head: usize, d: usize) -> AttnShape {
        AttnShape {
            n_head,
            n_kv_head,
            head_dim_k: d,
            head_dim_v: d,
            scale: 1.0,
            window: None,
            softcap: None,
        }
    }

    #[test]
    fn decode_splits_cover_the_keys_in_block_multiples() {
        for (s, m, keys) in [
            (shape(32, 8, 128), 1, 4096),
            (shape(8, 1, 64), 4, 100),
            (shape(16, 16, 256), 32, 32768),
        ] {
            let (chunk, n) = decode_split(&s, m, keys);
            assert_eq!(chunk % KV_BLOCK_SIZE, 0);
            assert!(chunk * n >= keys && chunk * (n - 1) < keys.max(1));
        }
        assert_eq!(attention_decode_scratch_len(&shape(8, 8, 64), 64, 64), 0);
    }

    #[test]
    fn the_largest_tiles_fit_shared_memory() {
        // GQA 8 at head dimension 256 (gemma-like) still fits one token per block.
        assert!(shared_bytes(8, 256, 256) <= MAX_SHARED);
        assert!(shared_bytes(PREFILL_QUERIES, 128, 128) <= MAX_SHARED);
    }
}
