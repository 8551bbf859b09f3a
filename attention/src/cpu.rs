//! CPU reference attention over the paged KV cache: per-layer K/V storage in f16 or f32,
//! GQA (several query heads per KV head), causal masking, sliding windows, optional
//! logit soft-capping, one-pass (online) softmax so no score buffer is needed.

use ggml_core::backend::{BackendError, CpuBackend, StepInput};
use ggml_core::ops::simd;
use half::f16;
use rayon::prelude::*;

use crate::{AttentionBackend, AttnParams, KvCacheConfig, KvType};

/// One layer's keys or values: `[slot][n_kv_head][head_dim]`.
#[derive(Clone, Debug)]
enum Plane {
    F16(Vec<u16>),
    F32(Vec<f32>),
}

impl Plane {
    fn zeroed(ty: KvType, len: usize) -> Plane {
        // Zeroed allocations map lazily: memory is committed as slots are written.
        match ty {
            KvType::F16 => Plane::F16(vec![0; len]),
            KvType::F32 => Plane::F32(vec![0.0; len]),
        }
    }

    fn write(&mut self, start: usize, src: &[f32]) {
        match self {
            Plane::F16(d) => d[start..start + src.len()]
                .iter_mut()
                .zip(src)
                .for_each(|(d, s)| *d = f16::from_f32(*s).to_bits()),
            Plane::F32(d) => d[start..start + src.len()].copy_from_slice(src),
        }
    }

    /// `sum_i q[i] * self[start + i]`.
    fn dot(&self, start: usize, q: &[f32]) -> f32 {
        match self {
            Plane::F16(d) => simd::dot_f16(&d[start..start + q.len()], q),
            Plane::F32(d) => simd::dot(&d[start..start + q.len()], q),
        }
    }

    /// `acc[i] = acc[i] * keep + w * self[start + i]`.
    fn axpby(&self, start: usize, keep: f32, w: f32, acc: &mut [f32]) {
        let end = start + acc.len();
        match self {
            Plane::F16(d) => simd::scale_add_f16(acc, keep, w, &d[start..end]),
            Plane::F32(d) => acc
                .iter_mut()
                .zip(&d[start..end])
                .for_each(|(a, v)| *a = *a * keep + w * v),
        }
    }
}

/// KV storage of every layer in host memory.
#[derive(Clone, Debug)]
pub struct CpuKvStore {
    cfg: KvCacheConfig,
    k: Vec<Plane>,
    v: Vec<Plane>,
}

impl CpuKvStore {
    /// Storage for `cfg.n_slots` slots of every layer.
    pub fn new(cfg: &KvCacheConfig) -> CpuKvStore {
        let k_len = cfg.n_slots * cfg.n_kv_head * cfg.head_dim_k;
        let v_len = cfg.n_slots * cfg.n_kv_head * cfg.head_dim_v;
        CpuKvStore {
            cfg: cfg.clone(),
            k: (0..cfg.n_layer)
                .map(|_| Plane::zeroed(cfg.ty, k_len))
                .collect(),
            v: (0..cfg.n_layer)
                .map(|_| Plane::zeroed(cfg.ty, v_len))
                .collect(),
        }
    }

    /// Writes the K and V rows of token `t` (of `k`, `v` laid out `[token][n_kv_head][dim]`)
    /// to `slots[t]` of `layer`.
    pub fn store(
        &mut self,
        layer: usize,
        k: &[f32],
        v: &[f32],
        slots: &[u32],
    ) -> Result<(), BackendError> {
        let c = &self.cfg;
        let (kw, vw) = (c.n_kv_head * c.head_dim_k, c.n_kv_head * c.head_dim_v);
        check_layer(layer, c.n_layer)?;
        ensure_len("store_kv k", slots.len() * kw, k.len())?;
        ensure_len("store_kv v", slots.len() * vw, v.len())?;
        for (t, &slot) in slots.iter().enumerate() {
            let slot = check_slot(slot, c.n_slots)?;
            self.k[layer].write(slot * kw, &k[t * kw..(t + 1) * kw]);
            self.v[layer].write(slot * vw, &v[t * vw..(t + 1) * vw]);
        }
        Ok(())
    }

    /// Attention of every query head of the first `n_tokens` tokens of `step` over its
    /// sequence's cached keys and values in `layer` (the token's block-table row, keys
    /// `0..=pos`). `q` is `[token][n_head][head_dim_k]`, `out` receives
    /// `[token][n_head][head_dim_v]`. Runs on the current rayon pool.
    pub fn attend(
        &self,
        layer: usize,
        q: &[f32],
        step: &StepInput,
        n_tokens: usize,
        p: &AttnParams,
        out: &mut [f32],
    ) -> Result<(), BackendError> {
        let c = &self.cfg;
        check_layer(layer, c.n_layer)?;
        if p.n_head == 0 || c.n_kv_head == 0 || p.n_head % c.n_kv_head != 0 {
            return Err(invalid(format!(
                "{} query heads cannot share {} KV heads",
                p.n_head, c.n_kv_head
            )));
        }
        let (dk, dv) = (c.head_dim_k, c.head_dim_v);
        ensure_len("attend tokens", n_tokens, step.n_tokens())?;
        ensure_len("attend q", n_tokens * p.n_head * dk, q.len())?;
        ensure_len("attend out", n_tokens * p.n_head * dv, out.len())?;
        let bs = step.block_size.max(1);
        // Every slot a token will read must exist: check once, before the parallel loop.
        for t in 0..n_tokens {
            let pos = step.positions[t].max(0) as usize;
            let table = step.table(step.tok_row[t] as usize);
            let used = table.get(..=pos / bs).ok_or_else(|| {
                invalid(format!(
                    "position {pos} needs block {} of a {}-block table",
                    pos / bs,
                    table.len()
                ))
            })?;
            for &b in used {
                check_slot(b.saturating_mul(bs as u32), c.n_slots)?;
            }
        }
        let group = p.n_head / c.n_kv_head;
        let (kplane, vplane) = (&self.k[layer], &self.v[layer]);
        out[..n_tokens * p.n_head * dv]
            .par_chunks_mut(dv)
            .enumerate()
            .for_each(|(i, acc)| {
                let (t, h) = (i / p.n_head, i % p.n_head);
                let pos = step.positions[t].max(0) as usize;
                let table = step.table(step.tok_row[t] as usize);
                let kvh = h / group;
                let qh = &q[(t * p.n_head + h) * dk..(t * p.n_head + h + 1) * dk];
                let first = p.window.map_or(0, |w| (pos + 1).saturating_sub(w));
                let (mut max, mut sum) = (f32::NEG_INFINITY, 0f32);
                acc.iter_mut().for_each(|a| *a = 0.0);
                for j in first..=pos {
                    let slot = table[j / bs] as usize * bs + j % bs;
                    let mut s = kplane.dot((slot * c.n_kv_head + kvh) * dk, qh) * p.scale;
                    if let Some(cap) = p.softcap {
                        s = cap * (s / cap).tanh();
                    }
                    let (keep, w) = if s > max {
                        let keep = (max - s).exp();
                        max = s;
                        (keep, 1.0)
                    } else {
                        (1.0, (s - max).exp())
                    };
                    sum = sum * keep + w;
                    vplane.axpby((slot * c.n_kv_head + kvh) * dv, keep, w, acc);
                }
                let inv = 1.0 / sum;
                acc.iter_mut().for_each(|a| *a *= inv);
            });
        Ok(())
    }
}

fn invalid(detail: String) -> BackendError {
    BackendError::Invalid {
        op: "attention",
        detail,
    }
}

fn check_layer(layer: usize, n_layer: usize) -> Result<(), BackendError> {
    if layer >= n_layer {
        return Err(invalid(format!("layer {layer} of {n_layer}")));
    }
    Ok(())
}

fn check_slot(slot: u32, n_slots: usize) -> Result<usize, BackendError> {
    let slot = slot as usize;
    if slot >= n_slots {
        return Err(invalid(format!(
            "KV slot {slot} out of range ({n_slots} slots)"
        )));
    }
    Ok(slot)
}

fn ensure_len(what: &'static str, need: usize, have: usize) -> Result<(), BackendError> {
    if have < need {
        return Err(BackendError::BufferTooSmall {
            op: what,
            need,
            have,
        });
    }
    Ok(())
}

impl AttentionBackend for CpuBackend {
    type KvStore = CpuKvStore;

    fn new_kv_store(&self, cfg: &KvCacheConfig) -> Result<CpuKvStore, BackendError> {
        Ok(CpuKvStore::new(cfg))
    }

    fn store_kv(
        &self,
        store: &mut CpuKvStore,
        layer: usize,
        k: &Vec<f32>,
        v: &Vec<f32>,
        step: &StepInput,
        n_tokens: usize,
    ) -> Result<(), BackendError> {
        let c = &store.cfg;
        let (kn, vn) = (
            n_tokens * c.n_kv_head * c.head_dim_k,
            n_tokens * c.n_kv_head * c.head_dim_v,
        );
        ensure_len("store_kv k", kn, k.len())?;
        ensure_len("store_kv v", vn, v.len())?;
        let slots = step
            .slots
            .get(..n_tokens)
            .ok_or(BackendError::BufferTooSmall {
                op: "store_kv slots",
                need: n_tokens,
                have: step.slots.len(),
            })?;
        store.store(layer, &k[..kn], &v[..vn], slots)
    }

    fn attend(
        &self,
        store: &mut CpuKvStore,
        layer: usize,
        q: &Vec<f32>,
        step: &StepInput,
        n_tokens: usize,
        params: &AttnParams,
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        self.install(|| store.attend(layer, q, step, n_tokens, params, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paged::BlockManager;
    use ggml_core::backend::StepLimits;

    fn cfg(ty: KvType) -> KvCacheConfig {
        KvCacheConfig {
            n_layer: 1,
            n_head: 4,
            n_kv_head: 2,
            head_dim_k: 4,
            head_dim_v: 3,
            n_slots: 16,
            ty,
        }
    }

    fn val(i: usize, salt: usize) -> f32 {
        ((i * 31 + salt * 17) % 23) as f32 / 11.0 - 1.0
    }

    /// Straightforward two-pass attention for one token of one sequence.
    #[allow(clippy::too_many_arguments)]
    fn naive(
        ks: &[Vec<f32>],
        vs: &[Vec<f32>],
        q: &[f32],
        h: usize,
        group: usize,
        pos: usize,
        p: &AttnParams,
    ) -> Vec<f32> {
        let kvh = h / group;
        let first = p.window.map_or(0, |w| (pos + 1).saturating_sub(w));
        let scores: Vec<f32> = (first..=pos)
            .map(|j| (0..4).map(|i| q[i] * ks[j][kvh * 4 + i]).sum::<f32>() * p.scale)
            .collect();
        let max = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
        let z: f32 = e.iter().sum();
        (0..3)
            .map(|d| {
                (first..=pos)
                    .map(|j| e[j - first] / z * vs[j][kvh * 3 + d])
                    .sum()
            })
            .collect()
    }

    /// A step holding `tokens` (sequence, position) with their sequences' block tables.
    fn step_for(blocks: &BlockManager, tokens: &[(u32, usize)]) -> StepInput {
        let mut step = StepInput::with_limits(StepLimits {
            max_tokens: tokens.len(),
            max_blocks: 8,
            block_size: blocks.block_size(),
        });
        for &(seq, pos) in tokens {
            let table = blocks.table(seq).map(|t| t.blocks()).unwrap_or_default();
            let row = step.push_table(table).unwrap();
            let slot = table.get(pos / blocks.block_size()).copied().unwrap_or(0) as usize
                * blocks.block_size()
                + pos % blocks.block_size();
            step.push(0, pos as i32, slot as u32, row, true);
        }
        step
    }

    #[test]
    fn matches_naive_attention_with_gqa_windows_and_paging() {
        for (ty, tol) in [(KvType::F32, 1e-5), (KvType::F16, 2e-3)] {
            for window in [None, Some(3)] {
                let be = CpuBackend::new(2).unwrap();
                let c = cfg(ty);
                let mut store = be.new_kv_store(&c).unwrap();
                let mut blocks = BlockManager::new(8, 2);
                // Interleave two sequences so their blocks are not contiguous.
                let n = 6;
                let mut ks = [vec![], vec![]];
                let mut vs = [vec![], vec![]];
                for pos in 0..n {
                    for seq in 0..2u32 {
                        let k: Vec<f32> = (0..8).map(|i| val(i + pos * 8, seq as usize)).collect();
                        let v: Vec<f32> =
                            (0..6).map(|i| val(i + pos * 6, 5 + seq as usize)).collect();
                        blocks.assign(seq, pos).unwrap();
                        let step = step_for(&blocks, &[(seq, pos)]);
                        be.store_kv(&mut store, 0, &k, &v, &step, 1).unwrap();
                        ks[seq as usize].push(k);
                        vs[seq as usize].push(v);
                    }
                }
                let p = AttnParams {
                    n_head: 4,
                    scale: 0.5,
                    window,
                    softcap: None,
                };
                let tokens = [(0u32, 5usize), (1, 2)];
                let step = step_for(&blocks, &tokens);
                let q: Vec<f32> = (0..2 * 4 * 4).map(|i| val(i, 9)).collect();
                let mut out = vec![0.0; 2 * 4 * 3];
                be.attend(&mut store, 0, &q, &step, 2, &p, &mut out)
                    .unwrap();
                for (t, &(seq, pos)) in tokens.iter().enumerate() {
                    for h in 0..4 {
                        let qh = &q[(t * 4 + h) * 4..(t * 4 + h + 1) * 4];
                        let s = seq as usize;
                        let want = naive(&ks[s], &vs[s], qh, h, 2, pos, &p);
                        let got = &out[(t * 4 + h) * 3..(t * 4 + h + 1) * 3];
                        for (g, w) in got.iter().zip(&want) {
                            assert!(
                                (g - w).abs() < tol,
                                "{ty:?} {window:?} t{t} h{h}: {got:?} vs {want:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn rejects_blocks_past_the_table_slots_past_the_cache_and_bad_heads() {
        let be = CpuBackend::new(1).unwrap();
        let c = cfg(KvType::F16);
        let mut store = be.new_kv_store(&c).unwrap();
        let blocks = BlockManager::new(8, 2);
        let p = AttnParams {
            n_head: 4,
            scale: 1.0,
            window: None,
            softcap: None,
        };
        let q = vec![0.0; 16];
        let mut out = vec![0.0; 12];
        // Sequence 3 holds nothing: position 0 needs a block its (empty) table lacks.
        let mut step = step_for(&blocks, &[(3, 0)]);
        step.block_tables.iter_mut().for_each(|b| *b = 0);
        let mut short = StepInput::with_limits(StepLimits {
            max_tokens: 1,
            max_blocks: 1,
            block_size: 2,
        });
        let row = short.push_table(&[0]).unwrap();
        short.push(0, 4, 0, row, true);
        let err = be.attend(&mut store, 0, &q, &short, 1, &p, &mut out);
        assert!(matches!(err, Err(BackendError::Invalid { .. })), "{err:?}");
        // A block whose slots lie past the cache's 16.
        step.block_tables[0] = 9;
        let err = be.attend(&mut store, 0, &q, &step, 1, &p, &mut out);
        assert!(matches!(err, Err(BackendError::Invalid { .. })), "{err:?}");
        step.slots[0] = 16;
        let err = be.store_kv(&mut store, 0, &vec![0.0; 8], &vec![0.0; 6], &step, 1);
        assert!(matches!(err, Err(BackendError::Invalid { .. })), "{err:?}");
        let bad = AttnParams { n_head: 3, ..p };
        let err = be.attend(&mut store, 0, &q, &step, 0, &bad, &mut out);
        assert!(matches!(err, Err(BackendError::Invalid { .. })), "{err:?}");
    }
}
