//! Attention on the HIP backend: per-layer f16 K/V planes in device memory, the RoPE(K) +
//! KV store fused in one kernel, and attention over the paged cache reading slots,
//! positions and block tables from the device step input — a split-K decode kernel for
//! small steps, a query-tiled kernel for prefill.

use ggml_core::backend::hip::{HipBackend, HipStep};
use ggml_core::backend::{Backend, BackendError};
use ggml_core::ops::RopeParams;
use hip_runtime::DeviceBuffer;
use kernels::{AttnShape, AttnStep};

use crate::{AttentionBackend, AttnParams, KvCacheConfig, KvType, RopeHeads};

/// Steps of at most this many tokens use the split-K decode kernel, one token per block:
/// decode steps, and batched decode of many sequences, whose tokens the query-tiled
/// prefill kernel would serve one sequence at a time. Larger steps (prefill) use the
/// prefill kernel.
const DECODE_MAX_TOKENS: usize = 32;

/// KV storage of every layer on the device.
pub struct HipKvStore {
    cfg: KvCacheConfig,
    k: Vec<DeviceBuffer<u16>>,
    v: Vec<DeviceBuffer<u16>>,
    /// Partial results of the split-K decode kernel.
    scratch: DeviceBuffer<f32>,
}

impl std::fmt::Debug for HipKvStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HipKvStore({:?})", self.cfg)
    }
}

fn dev(op: &'static str) -> impl Fn(hip_runtime::Error) -> BackendError {
    move |e| BackendError::device(op, e)
}

fn kern(op: &'static str) -> impl Fn(kernels::KernelError) -> BackendError {
    move |e| BackendError::device(op, e)
}

fn invalid(detail: String) -> BackendError {
    BackendError::Invalid {
        op: "attention",
        detail,
    }
}

impl HipKvStore {
    fn layer(
        &self,
        layer: usize,
    ) -> Result<(&DeviceBuffer<u16>, &DeviceBuffer<u16>), BackendError> {
        match (self.k.get(layer), self.v.get(layer)) {
            (Some(k), Some(v)) => Ok((k, v)),
            _ => Err(invalid(format!("layer {layer} of {}", self.cfg.n_layer))),
        }
    }

    fn shape(&self, p: &AttnParams) -> AttnShape {
        AttnShape {
            n_head: p.n_head,
            n_kv_head: self.cfg.n_kv_head,
            head_dim_k: self.cfg.head_dim_k,
            head_dim_v: self.cfg.head_dim_v,
            scale: p.scale,
            window: p.window,
            softcap: p.softcap,
        }
    }
}

/// The step input attention reads, for the first `n` tokens.
fn attn_step(step: &HipStep, n: usize) -> Result<AttnStep<'_>, BackendError> {
    Ok(AttnStep {
        m: n,
        pos: step.positions(n)?,
        tok_row: step.tok_rows(n)?,
        block_tables: step.tables()?,
        max_blocks: step.limits().max_blocks,
    })
}

impl AttentionBackend for HipBackend {
    type KvStore = HipKvStore;

    fn new_kv_store(&self, cfg: &KvCacheConfig) -> Result<HipKvStore, BackendError> {
        if cfg.ty != KvType::F16 {
            return Err(BackendError::Invalid {
                op: "new_kv_store",
                detail: format!("the GPU keeps its KV cache in f16 (asked for {:?})", cfg.ty),
            });
        }
        let plane = |d: usize| {
            cfg.n_slots
                .checked_mul(cfg.n_kv_head)
                .and_then(|n| n.checked_mul(d))
                .ok_or_else(|| invalid(format!("KV cache of {cfg:?} overflows")))
        };
        let (kl, vl) = (plane(cfg.head_dim_k)?, plane(cfg.head_dim_v)?);
        let alloc = |len: usize| {
            DeviceBuffer::<u16>::zeroed(self.stream(), len.max(1)).map_err(dev("KV cache"))
        };
        let k = (0..cfg.n_layer)
            .map(|_| alloc(kl))
            .collect::<Result<_, _>>()?;
        let v = (0..cfg.n_layer)
            .map(|_| alloc(vl))
            .collect::<Result<_, _>>()?;
        // Scratch of the split-K kernel for any decode step.
        let widest = AttnShape {
            n_head: cfg.n_head,
            n_kv_head: cfg.n_kv_head,
            head_dim_k: cfg.head_dim_k,
            head_dim_v: cfg.head_dim_v,
            scale: 1.0,
            window: None,
            softcap: None,
        };
        let n = (1..=DECODE_MAX_TOKENS)
            .map(|m| kernels::attention_decode_scratch_len(&widest, m, cfg.n_slots))
            .max()
            .unwrap_or(0);
        let scratch = DeviceBuffer::zeroed(self.stream(), n.max(1)).map_err(dev("KV cache"))?;
        Ok(HipKvStore {
            cfg: cfg.clone(),
            k,
            v,
            scratch,
        })
    }

    fn store_kv(
        &self,
        store: &mut HipKvStore,
        layer: usize,
        k: &DeviceBuffer<f32>,
        v: &DeviceBuffer<f32>,
        step: &HipStep,
        n_tokens: usize,
    ) -> Result<(), BackendError> {
        let c = store.cfg.clone();
        store.layer(layer)?;
        let slots = step.slots(n_tokens)?;
        let (kc, vc) = (&mut store.k[layer], &mut store.v[layer]);
        self.kernels()
            .store_kv_f16(
                &k.as_slice(),
                &v.as_slice(),
                &slots,
                &mut kc.as_slice_mut(),
                &mut vc.as_slice_mut(),
                n_tokens,
                c.n_kv_head * c.head_dim_k,
                c.n_kv_head * c.head_dim_v,
            )
            .map_err(kern("store_kv"))
    }

    fn attend(
        &self,
        store: &mut HipKvStore,
        layer: usize,
        q: &DeviceBuffer<f32>,
        step: &HipStep,
        n_tokens: usize,
        params: &AttnParams,
        out: &mut DeviceBuffer<f32>,
    ) -> Result<(), BackendError> {
        let shape = store.shape(params);
        let n_slots = store.cfg.n_slots;
        store.layer(layer)?;
        let st = attn_step(step, n_tokens)?;
        let (kc, vc, scratch) = (&store.k[layer], &store.v[layer], &mut store.scratch);
        let (k, v, q, mut o) = (
            kc.as_slice(),
            vc.as_slice(),
            q.as_slice(),
            out.as_slice_mut(),
        );
        if n_tokens <= DECODE_MAX_TOKENS {
            let need = kernels::attention_decode_scratch_len(&shape, n_tokens, n_slots);
            if need > scratch.len() {
                return Err(invalid(format!(
                    "decode scratch of {} floats, {need} needed",
                    scratch.len()
                )));
            }
            let mut part = scratch.as_slice_mut();
            self.kernels()
                .attention_decode_f16(&q, &k, &v, &st, &shape, n_slots, &mut part, &mut o)
                .map_err(kern("attend"))
        } else {
            self.kernels()
                .attention_prefill_f16(&q, &k, &v, &st, &shape, &mut o)
                .map_err(kern("attend"))
        }
    }

    fn rope_store_kv(
        &self,
        store: &mut HipKvStore,
        layer: usize,
        qkv: [&mut DeviceBuffer<f32>; 3],
        step: &HipStep,
        n_tokens: usize,
        heads: RopeHeads,
        rope: &RopeParams,
        freq_factors: Option<&DeviceBuffer<f32>>,
    ) -> Result<(), BackendError> {
        let [q, k, v] = qkv;
        self.rope(
            q,
            step,
            n_tokens,
            heads.n_head,
            heads.head_dim,
            rope,
            freq_factors,
        )?;
        store.layer(layer)?;
        let c = store.cfg.clone();
        let ff = freq_factors.map(|f| f.as_slice());
        let (kc, vc) = (&mut store.k[layer], &mut store.v[layer]);
        self.kernels()
            .rope_store_kv_f16(
                &k.as_slice(),
                &v.as_slice(),
                &step.positions(n_tokens)?,
                &step.slots(n_tokens)?,
                ff.as_ref(),
                &mut kc.as_slice_mut(),
                &mut vc.as_slice_mut(),
                n_tokens,
                c.n_kv_head,
                (c.head_dim_k, c.head_dim_v),
                &rope.gpu_consts(),
            )
            .map_err(kern("rope_store_kv"))
    }
}
