//! CPU reference attention over the paged KV cache: per-layer K/V storage in f16 or f32,
//! GQA (several query heads per KV head), causal masking, sliding windows, optional
//! logit soft-capping, one-pass (online) softmax so no score buffer is needed.

use ggml_core::backend::{Backend, CpuBackend};
use ggml_core::ops::simd;
use half::f16;
use rayon::prelude::*;

use crate::paged::BlockManager;
use crate::{AttentionBackend, AttnError, AttnParams, KvCacheConfig, KvType, TokenPos};

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
        slots: &[usize],
    ) -> Result<(), AttnError> {
        let c = &self.cfg;
        let (kw, vw) = (c.n_kv_head * c.head_dim_k, c.n_kv_head * c.head_dim_v);
        check_layer(layer, c.n_layer)?;
        check_len("k", slots.len() * kw, k.len())?;
        check_len("v", slots.len() * vw, v.len())?;
        for (t, &slot) in slots.iter().enumerate() {
            if slot >= c.n_slots {
                return Err(AttnError::SlotOutOfRange {
                    slot,
                    n_slots: c.n_slots,
                });
            }
            self.k[layer].write(slot * kw, &k[t * kw..(t + 1) * kw]);
            self.v[layer].write(slot * vw, &v[t * vw..(t + 1) * vw]);
        }
        Ok(())
    }

    /// Attention of every query head of every token in `tokens` over its sequence's cached
    /// keys and values in `layer`. `q` is `[token][n_head][head_dim_k]`, `out` receives
    /// `[token][n_head][head_dim_v]`. Runs on the current rayon pool.
    pub fn attend(
        &self,
        blocks: &BlockManager,
        layer: usize,
        q: &[f32],
        tokens: &[TokenPos],
        p: &AttnParams,
        out: &mut [f32],
    ) -> Result<(), AttnError> {
        let c = &self.cfg;
        check_layer(layer, c.n_layer)?;
        if p.n_head == 0 || p.n_head % c.n_kv_head != 0 {
            return Err(AttnError::Heads {
                n_head: p.n_head,
                n_kv_head: c.n_kv_head,
            });
        }
        let (dk, dv) = (c.head_dim_k, c.head_dim_v);
        check_len("q", tokens.len() * p.n_head * dk, q.len())?;
        check_len("out", tokens.len() * p.n_head * dv, out.len())?;
        for tok in tokens {
            let len = blocks.seq_len(tok.seq);
            if tok.pos >= len {
                return Err(AttnError::PositionGap {
                    seq: tok.seq,
                    pos: tok.pos,
                    len,
                });
            }
        }
        let group = p.n_head / c.n_kv_head;
        let bs = blocks.block_size();
        let (kplane, vplane) = (&self.k[layer], &self.v[layer]);
        out[..tokens.len() * p.n_head * dv]
            .par_chunks_mut(dv)
            .enumerate()
            .for_each(|(i, acc)| {
                let (t, h) = (i / p.n_head, i % p.n_head);
                let tok = tokens[t];
                let kvh = h / group;
                let qh = &q[(t * p.n_head + h) * dk..(t * p.n_head + h + 1) * dk];
                // Checked above: every token's sequence holds its position.
                let table = blocks
                    .table(tok.seq)
                    .map(|t| t.blocks())
                    .unwrap_or_default();
                let first = p.window.map_or(0, |w| (tok.pos + 1).saturating_sub(w));
                let (mut max, mut sum) = (f32::NEG_INFINITY, 0f32);
                acc.iter_mut().for_each(|a| *a = 0.0);
                for j in first..=tok.pos {
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

fn check_layer(layer: usize, n_layer: usize) -> Result<(), AttnError> {
    if layer >= n_layer {
        return Err(AttnError::LayerOutOfRange { layer, n_layer });
    }
    Ok(())
}

fn check_len(what: &'static str, need: usize, have: usize) -> Result<(), AttnError> {
    if have < need {
        return Err(AttnError::BufferTooSmall { what, need, have });
    }
    Ok(())
}

impl AttentionBackend for CpuBackend {
    type KvStore = CpuKvStore;

    fn new_kv_store(&self, cfg: &KvCacheConfig) -> Result<CpuKvStore, AttnError> {
        Ok(CpuKvStore::new(cfg))
    }

    fn store_kv(
        &self,
        store: &mut CpuKvStore,
        layer: usize,
        k: &<Self as Backend>::Buffer,
        v: &<Self as Backend>::Buffer,
        slots: &[usize],
    ) -> Result<(), AttnError> {
        let c = &store.cfg;
        let (kn, vn) = (
            slots.len() * c.n_kv_head * c.head_dim_k,
            slots.len() * c.n_kv_head * c.head_dim_v,
        );
        check_len("k", kn, k.len())?;
        check_len("v", vn, v.len())?;
        store.store(layer, &k[..kn], &v[..vn], slots)
    }

    fn attend(
        &self,
        store: &CpuKvStore,
        blocks: &BlockManager,
        layer: usize,
        q: &<Self as Backend>::Buffer,
        tokens: &[TokenPos],
        params: &AttnParams,
        out: &mut <Self as Backend>::Buffer,
    ) -> Result<(), AttnError> {
        self.install(|| store.attend(blocks, layer, q, tokens, params, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(ty: KvType) -> KvCacheConfig {
        KvCacheConfig {
            n_layer: 1,
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
                        let slot = blocks.assign(seq, pos).unwrap();
                        be.store_kv(&mut store, 0, &k, &v, &[slot]).unwrap();
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
                let tokens = [TokenPos { seq: 0, pos: 5 }, TokenPos { seq: 1, pos: 2 }];
                let q: Vec<f32> = (0..2 * 4 * 4).map(|i| val(i, 9)).collect();
                let mut out = vec![0.0; 2 * 4 * 3];
                be.attend(&store, &blocks, 0, &q, &tokens, &p, &mut out)
                    .unwrap();
                for (t, tok) in tokens.iter().enumerate() {
                    for h in 0..4 {
                        let qh = &q[(t * 4 + h) * 4..(t * 4 + h + 1) * 4];
                        let s = tok.seq as usize;
                        let want = naive(&ks[s], &vs[s], qh, h, 2, tok.pos, &p);
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
    fn rejects_positions_not_in_the_cache_and_bad_heads() {
        let be = CpuBackend::new(1).unwrap();
        let c = cfg(KvType::F16);
        let store = be.new_kv_store(&c).unwrap();
        let blocks = BlockManager::new(8, 2);
        let p = AttnParams {
            n_head: 4,
            scale: 1.0,
            window: None,
            softcap: None,
        };
        let q = vec![0.0; 16];
        let mut out = vec![0.0; 12];
        let err = be.attend(
            &store,
            &blocks,
            0,
            &q,
            &[TokenPos { seq: 3, pos: 0 }],
            &p,
            &mut out,
        );
        assert_eq!(
            err,
            Err(AttnError::PositionGap {
                seq: 3,
                pos: 0,
                len: 0
            })
        );
        let bad = AttnParams { n_head: 3, ..p };
        let err = be.attend(&store, &blocks, 0, &q, &[], &bad, &mut out);
        assert_eq!(
            err,
            Err(AttnError::Heads {
                n_head: 3,
                n_kv_head: 2
            })
        );
    }
}
