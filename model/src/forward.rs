//! The model and its forward pass: loading a GGUF file into an architecture's weights on a
//! backend, and evaluating batches of tokens (several sequences at different positions)
//! through the transformer blocks, the paged KV cache and the output head.

use std::path::Path;
use std::sync::Arc;

use attention::{AttentionBackend, AttnParams, KvType, RopeHeads, SeqId};
use ggml_core::backend::CpuBackend;
use ggml_core::gguf::GgufFile;
use ggml_core::ops::qmatmul::Numerics;
use ggml_core::ops::RopeParams;

use crate::arch::tensor_names as tn;
use crate::arch::ArchSpec;
use crate::batch::Batch;
use crate::config::ModelConfig;
use crate::error::ModelError;
use crate::kv_cache::Context;
use crate::weights::{TensorSource, Weights};

/// How to load a model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Context length for new contexts (default: the training context length); larger
    /// values are capped at the training length.
    pub n_ctx: Option<usize>,
    /// CPU threads (0: one per core).
    pub threads: usize,
    /// KV cache element type (default f16).
    pub kv_type: KvType,
    /// How the CPU backend computes matrix products (default: 8-bit activations as
    /// llama.cpp; `Numerics::F32` is the f32 reference).
    pub numerics: Numerics,
}

/// A loaded model: hyperparameters, architecture, weights on a backend.
pub struct Model<B: AttentionBackend = CpuBackend> {
    file: Arc<GgufFile>,
    config: ModelConfig,
    spec: &'static ArchSpec,
    backend: B,
    weights: Weights<B>,
    n_ctx: usize,
    kv_type: KvType,
    rope: Vec<RopeParams>,
    attn: Vec<AttnParams>,
}

impl Model<CpuBackend> {
    /// Opens the GGUF file at `path` and builds its architecture on the CPU backend. The
    /// weights stay in the memory-mapped file.
    pub fn load(path: &Path, opts: &LoadOptions) -> Result<Model<CpuBackend>, ModelError> {
        let file = Arc::new(GgufFile::open(path)?);
        let backend = CpuBackend::with_numerics(opts.threads, opts.numerics)?;
        Model::from_file(file, backend, opts)
    }
}

impl<B: AttentionBackend> Model<B> {
    /// Builds the model in `file` on `backend`.
    pub fn from_file(
        file: Arc<GgufFile>,
        backend: B,
        opts: &LoadOptions,
    ) -> Result<Model<B>, ModelError> {
        let md = file.metadata();
        let spec = ModelConfig::arch_spec(md)?;
        let src = TensorSource::new(Arc::clone(&file));
        let embd = src
            .get(tn::TOKEN_EMBD)?
            .ok_or_else(|| ModelError::MissingTensor {
                name: tn::TOKEN_EMBD.to_string(),
            })?;
        let config = ModelConfig::from_metadata(md, spec, embd.n_rows())?;
        let weights = Weights::load(&src, &backend, spec, &config)?;
        let rope = (0..config.n_layer)
            .map(|il| config.rope_params(spec, il))
            .collect();
        let scale = (spec.attn_scale)(&config);
        let attn = (0..config.n_layer)
            .map(|il| AttnParams {
                n_head: config.n_head,
                scale,
                window: config.sliding_window.filter(|_| config.swa_layers[il]),
                softcap: config.attn_logit_softcap,
            })
            .collect();
        let n_ctx = opts
            .n_ctx
            .unwrap_or(config.n_ctx_train)
            .clamp(1, config.n_ctx_train);
        tracing::debug!(
            arch = spec.name,
            n_ctx,
            bytes = weights.n_bytes,
            "model loaded"
        );
        Ok(Model {
            file,
            config,
            spec,
            backend,
            weights,
            n_ctx,
            kv_type: opts.kv_type,
            rope,
            attn,
        })
    }

    /// The hyperparameters.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The GGUF file the model was loaded from (metadata for the tokenizer and templates).
    pub fn gguf(&self) -> &GgufFile {
        &self.file
    }

    /// The default context length for [`Model::new_context`] callers that have no other.
    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    /// Bytes of weights as stored in the file.
    pub fn weight_bytes(&self) -> usize {
        self.weights.n_bytes
    }

    /// The backend's name ("cpu", "hip").
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// The backend the model runs on.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// A new evaluation context holding up to `n_ctx` positions (0: the model's default).
    pub fn new_context(&self, n_ctx: usize) -> Result<Context<B>, ModelError> {
        let n_ctx = if n_ctx == 0 { self.n_ctx } else { n_ctx };
        Context::new(&self.backend, &self.config, n_ctx, self.kv_type)
    }

    /// Appends `tokens` to sequence 0 of `ctx` (after the positions it already holds) and
    /// returns the logits of the last token, or of every token when `all_logits`.
    pub fn eval<'c>(
        &self,
        ctx: &'c mut Context<B>,
        tokens: &[u32],
        all_logits: bool,
    ) -> Result<&'c [f32], ModelError> {
        let start = ctx.seq_len(0);
        // Reuse the context's batch rather than building one per call.
        let mut batch = std::mem::take(&mut ctx.batch);
        batch.clear();
        for (i, &t) in tokens.iter().enumerate() {
            batch.add(t, start + i, 0, all_logits || i + 1 == tokens.len());
        }
        let result = self.decode(ctx, &batch).map(|_| ());
        ctx.batch = batch;
        result?;
        Ok(&ctx.logits)
    }

    /// Evaluates `batch` and returns its logits: `n_outputs × n_vocab`, row-major, one row
    /// per token that asked for logits, in batch order. Each token's K/V enter the cache of
    /// its sequence. On error the sequences touched may hold partial state; truncate them.
    pub fn decode<'c>(
        &self,
        ctx: &'c mut Context<B>,
        batch: &Batch,
    ) -> Result<&'c [f32], ModelError> {
        self.check_batch(ctx, batch)?;
        let n_vocab = self.config.n_vocab;
        ctx.logits.resize(batch.n_outputs() * n_vocab, 0.0);
        let mut done_rows = 0;
        let mut start = 0;
        while start < batch.len() {
            let end = (start + ctx.micro_batch).min(batch.len());
            let rows = self.micro_batch(ctx, batch, start..end)?;
            let dst = &mut ctx.logits[done_rows * n_vocab..(done_rows + rows) * n_vocab];
            self.backend.read(&ctx.scratch.logits, 0, dst)?;
            done_rows += rows;
            start = end;
        }
        Ok(&ctx.logits)
    }

    /// Evaluates `batch` like [`decode`](Self::decode) but returns, for each token that asked
    /// for logits, the id of its most likely next token, computed on the backend: the
    /// logits never leave it. `ids` is cleared and refilled.
    pub fn decode_greedy(
        &self,
        ctx: &mut Context<B>,
        batch: &Batch,
        ids: &mut Vec<u32>,
    ) -> Result<(), ModelError> {
        self.check_batch(ctx, batch)?;
        ids.clear();
        let mut start = 0;
        while start < batch.len() {
            let end = (start + ctx.micro_batch).min(batch.len());
            let rows = self.micro_batch(ctx, batch, start..end)?;
            let have = ids.len();
            ids.resize(have + rows, 0);
            self.backend.argmax(
                &ctx.scratch.logits,
                rows,
                self.config.n_vocab,
                &mut ids[have..],
            )?;
            start = end;
        }
        Ok(())
    }

    fn check_batch(&self, ctx: &Context<B>, batch: &Batch) -> Result<(), ModelError> {
        if batch.is_empty() {
            return Err(ModelError::Batch("no tokens".into()));
        }
        for i in 0..batch.len() {
            let token = batch.tokens[i];
            if token as usize >= self.config.n_vocab {
                return Err(ModelError::TokenOutOfRange {
                    token,
                    n_vocab: self.config.n_vocab,
                });
            }
            let (seq, pos) = (batch.seqs[i], batch.positions[i]);
            if pos >= ctx.n_ctx {
                return Err(ModelError::ContextFull {
                    seq,
                    pos,
                    n_ctx: ctx.n_ctx,
                });
            }
            // The previous token of the same sequence (usually the one just before).
            if let Some(j) = (0..i).rev().find(|&j| batch.seqs[j] == seq) {
                if batch.positions[j] >= pos {
                    return Err(ModelError::Batch(format!(
                        "positions of sequence {seq} must increase along the batch \
                         (position {pos} after {})",
                        batch.positions[j]
                    )));
                }
            }
        }
        Ok(())
    }

    /// Runs tokens `range` of `batch` through the model, leaving the logits of the tokens
    /// that asked for them in the context's logits buffer on the backend; returns how many
    /// rows that is.
    fn micro_batch(
        &self,
        ctx: &mut Context<B>,
        batch: &Batch,
        range: std::ops::Range<usize>,
    ) -> Result<usize, ModelError> {
        self.fill_step(ctx, batch, range)?;
        let be = &self.backend;
        let s = &mut ctx.scratch;
        be.upload_step(&mut s.step, &s.input)?;
        let shape = s.input.shape();
        if !be.replay_step(ctx.key, shape)? {
            be.begin_step(ctx.key, shape)?;
            let ran = self.layers(ctx, shape.n_tokens, shape.n_out);
            let ended = be.end_step();
            ran?;
            ended?;
        }
        Ok(shape.n_out)
    }

    /// Gives every token of `range` a cache slot and lays out the step input: one block-table
    /// row per distinct sequence, then the tokens.
    fn fill_step(
        &self,
        ctx: &mut Context<B>,
        batch: &Batch,
        range: std::ops::Range<usize>,
    ) -> Result<(), ModelError> {
        let s = &mut ctx.scratch;
        s.input.clear();
        s.slots.clear();
        s.seq_rows.clear();
        for i in range.clone() {
            let (seq, pos): (SeqId, usize) = (batch.seqs[i], batch.positions[i]);
            let slot = ctx.blocks.assign(seq, pos)?;
            s.slots
                .push(u32::try_from(slot).map_err(|_| ModelError::ContextFull {
                    seq,
                    pos,
                    n_ctx: ctx.n_ctx,
                })?);
            if !s.seq_rows.iter().any(|&(q, _)| q == seq) {
                s.seq_rows.push((seq, 0));
            }
        }
        for (seq, row) in s.seq_rows.iter_mut() {
            let table = ctx
                .blocks
                .table(*seq)
                .map(|t| t.blocks())
                .unwrap_or_default();
            *row = s.input.push_table(table)?;
        }
        for (t, i) in range.enumerate() {
            let (seq, pos) = (batch.seqs[i], batch.positions[i]);
            let row = s
                .seq_rows
                .iter()
                .find(|&&(q, _)| q == seq)
                .map_or(0, |&(_, r)| r);
            let pos = i32::try_from(pos).map_err(|_| ModelError::ContextFull {
                seq,
                pos,
                n_ctx: ctx.n_ctx,
            })?;
            s.input
                .push(batch.tokens[i], pos, s.slots[t], row, batch.logits[i]);
        }
        Ok(())
    }

    /// The ops of one step: embedding, every block, the output head.
    fn layers(&self, ctx: &mut Context<B>, m: usize, n_out: usize) -> Result<(), ModelError> {
        let (be, c, w) = (&self.backend, &self.config, &self.weights);
        let s = &mut ctx.scratch;
        let (eps, d) = (c.rms_eps, c.n_embd);
        be.get_rows(&w.tok_embd, &s.step, m, &mut s.x)?;
        if self.spec.scale_embeddings {
            be.scale(&mut s.x, m * d, (d as f32).sqrt())?;
        }
        let heads = RopeHeads {
            n_head: c.n_head,
            n_kv_head: c.n_head_kv,
            head_dim: c.head_dim_k,
        };
        if let Some(first) = w.layers.first() {
            be.norm_into(&s.x, &mut s.xn, m, d, eps, &first.attn_norm)?;
        }
        for (il, lw) in w.layers.iter().enumerate() {
            // Attention block (`xn` holds the normed input).
            be.qkv(
                [&lw.wq, &lw.wk, &lw.wv],
                &s.xn,
                m,
                &mut s.q,
                &mut s.k,
                &mut s.v,
            )?;
            for (b, buf) in [(&lw.bq, &mut s.q), (&lw.bk, &mut s.k), (&lw.bv, &mut s.v)] {
                if let Some(b) = b {
                    be.add_row(buf, b, m)?;
                }
            }
            if let Some(qn) = &lw.q_norm {
                be.rms_norm(&mut s.q, m * c.n_head, c.head_dim_k, eps, Some(qn))?;
            }
            if let Some(kn) = &lw.k_norm {
                be.rms_norm(&mut s.k, m * c.n_head_kv, c.head_dim_k, eps, Some(kn))?;
            }
            be.rope_store_kv(
                &mut ctx.kv,
                il,
                [&mut s.q, &mut s.k, &mut s.v],
                &s.step,
                m,
                heads,
                &self.rope[il],
                w.rope_freqs.as_ref(),
            )?;
            be.attend(
                &mut ctx.kv,
                il,
                &s.q,
                &s.step,
                m,
                &self.attn[il],
                &mut s.attn,
            )?;
            be.mul_mat(&lw.wo, &s.attn, m, &mut s.proj)?;
            if let Some(bo) = &lw.bo {
                be.add_row(&mut s.proj, bo, m)?;
            }
            if let Some(n) = &lw.post_attn_norm {
                be.rms_norm(&mut s.proj, m, d, eps, Some(n))?;
            }
            be.add_norm(&mut s.x, &s.proj, &mut s.xn, m, d, eps, &lw.ffn_norm)?;
            // Feed-forward block.
            be.ffn_glu(
                self.spec.glu,
                &lw.gate,
                &lw.up,
                &s.xn,
                m,
                c.n_ff,
                &mut s.gate,
                &mut s.up,
            )?;
            be.mul_mat(&lw.down, &s.gate, m, &mut s.proj)?;
            if let Some(n) = &lw.post_ffn_norm {
                be.rms_norm(&mut s.proj, m, d, eps, Some(n))?;
            }
            match w.layers.get(il + 1) {
                Some(next) => {
                    be.add_norm(&mut s.x, &s.proj, &mut s.xn, m, d, eps, &next.attn_norm)?
                }
                None => be.add(&mut s.x, &s.proj, m * d)?,
            }
        }
        if n_out == 0 {
            return Ok(());
        }
        be.copy_out_rows(&s.x, &s.step, n_out, d, &mut s.out_x)?;
        be.rms_norm(&mut s.out_x, n_out, d, eps, Some(&w.output_norm))?;
        be.mul_mat(w.output(), &s.out_x, n_out, &mut s.logits)?;
        if let Some(cap) = c.final_logit_softcap {
            be.softcap(&mut s.logits, n_out * c.n_vocab, cap)?;
        }
        Ok(())
    }
}
