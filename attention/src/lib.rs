//! Attention and the KV cache: CPU reference, decode and prefill attention, paged KV blocks.
//!
//! The cache is split in two: [`paged::BlockManager`] (host-side bookkeeping: a block pool
//! and one block table per sequence) and the per-layer K/V storage owned by a backend
//! ([`AttentionBackend::KvStore`]). A forward step assigns a slot to every new token, stores
//! its K/V rows there, then attends each query over its own sequence through its table.

#![forbid(unsafe_code)]

pub mod cpu;
pub mod hip;
pub mod paged;

pub use cpu::CpuKvStore;
pub use hip::HipKvStore;
pub use paged::{BlockManager, BlockTable, SeqId};

use ggml_core::backend::{Backend, BackendError};
use ggml_core::ops::RopeParams;

/// Element type of the KV cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KvType {
    /// Half precision (the default, as in llama.cpp).
    #[default]
    F16,
    /// Single precision.
    F32,
}

impl std::str::FromStr for KvType {
    type Err = AttnError;

    fn from_str(s: &str) -> Result<KvType, AttnError> {
        match s.to_ascii_lowercase().as_str() {
            "f16" => Ok(KvType::F16),
            "f32" => Ok(KvType::F32),
            _ => Err(AttnError::UnknownKvType(s.to_string())),
        }
    }
}

/// Shape of a KV cache: the same for every layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvCacheConfig {
    /// Layers.
    pub n_layer: usize,
    /// Query heads per layer (sizes a device backend's attention scratch).
    pub n_head: usize,
    /// KV heads per layer.
    pub n_kv_head: usize,
    /// Key head dimension.
    pub head_dim_k: usize,
    /// Value head dimension.
    pub head_dim_v: usize,
    /// Slots (token positions across all sequences); a multiple of the block size.
    pub n_slots: usize,
    /// Element type.
    pub ty: KvType,
}

/// Per-layer attention parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttnParams {
    /// Query heads (a multiple of the KV heads: GQA when larger).
    pub n_head: usize,
    /// Multiplier of `q · k` before the softmax (usually `1/sqrt(head_dim)`).
    pub scale: f32,
    /// Sliding window: a query at position `p` sees keys at `p - window + 1 ..= p`.
    pub window: Option<usize>,
    /// Tanh soft-capping of the scaled scores.
    pub softcap: Option<f32>,
}

/// Why an attention or cache call failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AttnError {
    /// The pool has no free block for a new position.
    #[error("KV cache full: no free block for position {pos} of sequence {seq} ({n_slots} slots in all)")]
    OutOfBlocks {
        /// Sequence.
        seq: SeqId,
        /// Position that needed a slot.
        pos: usize,
        /// Slots in the cache.
        n_slots: usize,
    },
    /// A position beyond the end of its sequence (positions must be contiguous from 0).
    #[error("position {pos} of sequence {seq} is not in the cache (it holds {len} positions)")]
    PositionGap {
        /// Sequence.
        seq: SeqId,
        /// Position asked for.
        pos: usize,
        /// Positions the sequence holds.
        len: usize,
    },
    /// A KV cache type name that is neither `f16` nor `f32`.
    #[error("unknown KV cache type `{0}` (expected f16 or f32)")]
    UnknownKvType(String),
}

/// Attention on a [`Backend`]: KV storage on the backend and the attention op over it.
/// Slots, positions and block tables come from the step input
/// ([`Backend::upload_step`]), so a captured step stays valid as they change.
pub trait AttentionBackend: Backend {
    /// Per-layer K/V storage.
    type KvStore: Send;

    /// Storage for a cache of shape `cfg`.
    fn new_kv_store(&self, cfg: &KvCacheConfig) -> Result<Self::KvStore, BackendError>;

    /// Writes the K and V rows of token `t` (`[token][n_kv_head][dim]`) to the step's slot
    /// of token `t`, for the first `n_tokens` tokens.
    fn store_kv(
        &self,
        store: &mut Self::KvStore,
        layer: usize,
        k: &Self::Buffer,
        v: &Self::Buffer,
        step: &Self::Step,
        n_tokens: usize,
    ) -> Result<(), BackendError>;

    /// Causal (optionally windowed) attention of each token's query heads over its own
    /// sequence (its block-table row of the step, keys `0..=pos`): `q` is
    /// `[token][n_head][head_dim_k]`, `out` `[token][n_head][head_dim_v]`.
    #[allow(clippy::too_many_arguments)]
    fn attend(
        &self,
        store: &mut Self::KvStore,
        layer: usize,
        q: &Self::Buffer,
        step: &Self::Step,
        n_tokens: usize,
        params: &AttnParams,
        out: &mut Self::Buffer,
    ) -> Result<(), BackendError>;

    /// Rope on `q` and `k` at the step's positions, then the K/V store: one composite a
    /// device backend may fuse.
    #[allow(clippy::too_many_arguments)]
    fn rope_store_kv(
        &self,
        store: &mut Self::KvStore,
        layer: usize,
        qkv: [&mut Self::Buffer; 3],
        step: &Self::Step,
        n_tokens: usize,
        heads: RopeHeads,
        rope: &RopeParams,
        freq_factors: Option<&Self::Vector>,
    ) -> Result<(), BackendError> {
        let [q, k, v] = qkv;
        let (n, d) = (n_tokens, heads.head_dim);
        self.rope(q, step, n, heads.n_head, d, rope, freq_factors)?;
        self.rope(k, step, n, heads.n_kv_head, d, rope, freq_factors)?;
        self.store_kv(store, layer, k, v, step, n)
    }
}

/// Head counts and the rotated head dimension of a rope + KV store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RopeHeads {
    /// Query heads.
    pub n_head: usize,
    /// KV heads.
    pub n_kv_head: usize,
    /// Key head dimension.
    pub head_dim: usize,
}
