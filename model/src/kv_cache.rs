//! A model's evaluation context: the paged KV cache (block manager + backend storage), the
//! scratch buffers of one forward step (sized once, for the largest micro-batch) and the
//! logits of the last step. Sequences are managed here (length, truncate, remove).

use std::sync::atomic::{AtomicU64, Ordering};

use attention::{AttentionBackend, BlockManager, KvCacheConfig, KvType, SeqId};
use ggml_core::backend::{StepInput, StepLimits};

use crate::config::ModelConfig;
use crate::error::ModelError;

/// Slots per KV block.
pub const KV_BLOCK_SIZE: usize = 16;

/// Activation buffers of one micro-batch on backend `B`, and its step input.
pub(crate) struct Scratch<B: AttentionBackend> {
    pub x: B::Buffer,
    pub xn: B::Buffer,
    pub q: B::Buffer,
    pub k: B::Buffer,
    pub v: B::Buffer,
    pub attn: B::Buffer,
    pub proj: B::Buffer,
    pub gate: B::Buffer,
    pub up: B::Buffer,
    pub out_x: B::Buffer,
    /// Output logits of the micro-batch: one row of `n_vocab` per token of the micro-batch.
    pub logits: B::Buffer,
    /// The step input as the host builds it.
    pub input: StepInput,
    /// The step input on the backend.
    pub step: B::Step,
    /// Cache slot of each token of the micro-batch, before the tables are laid out.
    pub slots: Vec<u32>,
    /// Distinct sequences of the micro-batch and their block-table rows.
    pub seq_rows: Vec<(SeqId, u32)>,
}

impl<B: AttentionBackend> Scratch<B> {
    fn new(backend: &B, c: &ModelConfig, limits: StepLimits) -> Result<Scratch<B>, ModelError> {
        let ub = limits.max_tokens;
        let buf = |n: usize| {
            ub.checked_mul(n)
                .ok_or_else(|| ModelError::Batch(format!("{ub} × {n} activations overflow")))
                .and_then(|len| Ok(backend.alloc(len)?))
        };
        Ok(Scratch {
            x: buf(c.n_embd)?,
            xn: buf(c.n_embd)?,
            q: buf(c.n_head * c.head_dim_k)?,
            k: buf(c.n_head_kv * c.head_dim_k)?,
            v: buf(c.n_head_kv * c.head_dim_v)?,
            attn: buf(c.n_head * c.head_dim_v)?,
            proj: buf(c.n_embd)?,
            gate: buf(c.n_ff)?,
            up: buf(c.n_ff)?,
            out_x: buf(c.n_embd)?,
            logits: buf(c.n_vocab)?,
            input: StepInput::with_limits(limits),
            step: backend.alloc_step(limits)?,
            slots: Vec::with_capacity(ub),
            seq_rows: Vec::with_capacity(ub),
        })
    }
}

/// A process-wide unique key per context: names its buffers to a backend that captures steps.
fn next_context_key() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Evaluation state for one model: KV cache, scratch and the last logits. Create it with
/// [`Model::new_context`](crate::Model::new_context).
pub struct Context<B: AttentionBackend = ggml_core::backend::CpuBackend> {
    /// Names this context's buffers to the backend (captured steps).
    pub(crate) key: u64,
    pub(crate) n_ctx: usize,
    pub(crate) n_vocab: usize,
    pub(crate) blocks: BlockManager,
    pub(crate) kv: B::KvStore,
    pub(crate) scratch: Scratch<B>,
    pub(crate) logits: Vec<f32>,
    /// The batch [`Model::eval`](crate::Model::eval) fills, kept to reuse its allocation.
    pub(crate) batch: crate::batch::Batch,
    /// Tokens evaluated together in one pass through the layers (the backend's
    /// [`max_step_tokens`](ggml_core::backend::Backend::max_step_tokens)); larger batches
    /// are split.
    pub(crate) micro_batch: usize,
}

impl<B: AttentionBackend> Context<B> {
    pub(crate) fn new(
        backend: &B,
        c: &ModelConfig,
        n_ctx: usize,
        ty: KvType,
    ) -> Result<Context<B>, ModelError> {
        // Bounded before anything is sized from it: a context past MAX_CTX positions, or
        // whose KV cache size does not fit a usize, is refused.
        if n_ctx > crate::config::MAX_CTX || c.kv_cache_bytes(n_ctx, 4).is_none() {
            return Err(ModelError::Unsupported {
                what: format!(
                    "a context of {n_ctx} positions (at most {})",
                    crate::config::MAX_CTX
                ),
            });
        }
        let n_blocks = n_ctx.max(1).div_ceil(KV_BLOCK_SIZE);
        let micro_batch = backend.max_step_tokens().max(1);
        let cfg = KvCacheConfig {
            n_layer: c.n_layer,
            n_head: c.n_head,
            n_kv_head: c.n_head_kv,
            head_dim_k: c.head_dim_k,
            head_dim_v: c.head_dim_v,
            n_slots: n_blocks * KV_BLOCK_SIZE,
            ty,
        };
        let limits = StepLimits {
            max_tokens: micro_batch,
            max_blocks: n_blocks,
            block_size: KV_BLOCK_SIZE,
        };
        Ok(Context {
            key: next_context_key(),
            n_ctx,
            n_vocab: c.n_vocab,
            blocks: BlockManager::new(n_blocks, KV_BLOCK_SIZE),
            kv: backend.new_kv_store(&cfg)?,
            scratch: Scratch::new(backend, c, limits)?,
            logits: Vec::new(),
            batch: crate::batch::Batch::with_capacity(micro_batch),
            micro_batch,
        })
    }

    /// Context length: the most positions a sequence may hold, and the cache's capacity.
    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    /// Positions sequence `seq` holds (0 if unknown).
    pub fn seq_len(&self, seq: SeqId) -> usize {
        self.blocks.seq_len(seq)
    }

    /// Keeps positions `0..len` of `seq`, freeing the rest of its cache.
    pub fn truncate_seq(&mut self, seq: SeqId, len: usize) {
        self.blocks.truncate(seq, len);
    }

    /// Drops sequence `seq` and frees its cache.
    pub fn remove_seq(&mut self, seq: SeqId) {
        self.blocks.remove(seq);
    }

    /// Gives sequence `dst` (empty) the first `n_blocks` full KV blocks of `src`, shared, and
    /// returns the positions `dst` now holds ([`KV_BLOCK_SIZE`] per block).
    pub fn share_prefix(
        &mut self,
        src: SeqId,
        dst: SeqId,
        n_blocks: usize,
    ) -> Result<usize, ModelError> {
        Ok(self.blocks.share_prefix(src, dst, n_blocks)?)
    }

    /// KV blocks: in the pool, free, and held by more than one sequence.
    pub fn kv_blocks(&self) -> (usize, usize, usize) {
        (
            self.blocks.n_blocks(),
            self.blocks.free_blocks(),
            self.blocks.shared_blocks(),
        )
    }

    /// Drops every sequence.
    pub fn clear(&mut self) {
        self.blocks.clear();
    }

    /// Logits of the last decode: one row of `n_vocab` per token that asked for them.
    pub fn logits(&self) -> &[f32] {
        &self.logits
    }

    /// Vocabulary size (length of a logits row).
    pub fn n_vocab(&self) -> usize {
        self.n_vocab
    }
}
