//! The model and its forward pass: loading a GGUF file into an architecture's weights on a
//! backend, and evaluating batches of tokens (several sequences at different positions)
//! through the transformer blocks, the paged KV cache and the output head.

use std::path::Path;
use std::sync::Arc;

use attention::{AttentionBackend, AttnParams, KvType, SeqId, TokenPos};
use ggml_core::backend::CpuBackend;
use ggml_core::gguf::GgufFile;
use ggml_core::ops::RopeParams;

use crate::arch::tensor_names as tn;
use crate::arch::ArchSpec;
use crate::batch::Batch;
use crate::config::ModelConfig;
use crate::error::ModelError;
use crate::kv_cache::{Context, Scratch, MICRO_BATCH};
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
        let backend = CpuBackend::new(opts.threads)?;
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

    /// The backend's name ("cpu").
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
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
        // Reuse the context's batch so decoding a token allocates nothing.
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
            let end = (start + MICRO_BATCH).min(batch.len());
            let rows = self.micro_batch(ctx, batch, start..end, done_rows)?;
            done_rows += rows;
            start = end;
        }
        Ok(&ctx.logits)
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

    /// Runs tokens `range` of `batch` through the model; writes their logits after
    /// `done_rows` rows of `ctx.logits` and returns how many rows it wrote.
    fn micro_batch(
        &self,
        ctx: &mut Context<B>,
        batch: &Batch,
        range: std::ops::Range<usize>,
        done_rows: usize,
    ) -> Result<usize, ModelError> {
        let (be, c, w) = (&self.backend, &self.config, &self.weights);
        let m = range.len();
        let s: &mut Scratch<B> = &mut ctx.scratch;
        s.slots.clear();
        s.tokens.clear();
        s.positions.clear();
        s.out_rows.clear();
        for (row, i) in range.clone().enumerate() {
            let (seq, pos): (SeqId, usize) = (batch.seqs[i], batch.positions[i]);
            s.slots.push(ctx.blocks.assign(seq, pos)?);
            s.tokens.push(TokenPos { seq, pos });
            s.positions
                .push(i32::try_from(pos).map_err(|_| ModelError::ContextFull {
                    seq,
                    pos,
                    n_ctx: ctx.n_ctx,
                })?);
            if batch.logits[i] {
                s.out_rows.push(row as u32);
            }
        }

        be.get_rows(&w.tok_embd, &batch.tokens[range], &mut s.x)?;
        if self.spec.scale_embeddings {
            be.scale(&mut s.x, m * c.n_embd, (c.n_embd as f32).sqrt())?;
        }
        for (il, lw) in w.layers.iter().enumerate() {
            let eps = c.rms_eps;
            // Attention block.
            be.copy(&s.x, &mut s.xn, m * c.n_embd)?;
            be.rms_norm(&mut s.xn, m, c.n_embd, eps, Some(&lw.attn_norm))?;
            be.mul_mat(&lw.wq, &s.xn, m, &mut s.q)?;
            be.mul_mat(&lw.wk, &s.xn, m, &mut s.k)?;
            be.mul_mat(&lw.wv, &s.xn, m, &mut s.v)?;
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
            let ff = w.rope_freqs.as_ref();
            be.rope(
                &mut s.q,
                c.n_head,
                c.head_dim_k,
                &s.positions,
                &self.rope[il],
                ff,
            )?;
            be.rope(
                &mut s.k,
                c.n_head_kv,
                c.head_dim_k,
                &s.positions,
                &self.rope[il],
                ff,
            )?;
            be.store_kv(&mut ctx.kv, il, &s.k, &s.v, &s.slots)?;
            be.attend(
                &ctx.kv,
                &ctx.blocks,
                il,
                &s.q,
                &s.tokens,
                &self.attn[il],
                &mut s.attn,
            )?;
            be.mul_mat(&lw.wo, &s.attn, m, &mut s.proj)?;
            if let Some(bo) = &lw.bo {
                be.add_row(&mut s.proj, bo, m)?;
            }
            if let Some(n) = &lw.post_attn_norm {
                be.rms_norm(&mut s.proj, m, c.n_embd, eps, Some(n))?;
            }
            be.add(&mut s.x, &s.proj, m * c.n_embd)?;
            // Feed-forward block.
            be.copy(&s.x, &mut s.xn, m * c.n_embd)?;
            be.rms_norm(&mut s.xn, m, c.n_embd, eps, Some(&lw.ffn_norm))?;
            be.mul_mat(&lw.gate, &s.xn, m, &mut s.gate)?;
            be.mul_mat(&lw.up, &s.xn, m, &mut s.up)?;
            be.glu(self.spec.glu, &mut s.gate, &s.up, m * c.n_ff)?;
            be.mul_mat(&lw.down, &s.gate, m, &mut s.proj)?;
            if let Some(n) = &lw.post_ffn_norm {
                be.rms_norm(&mut s.proj, m, c.n_embd, eps, Some(n))?;
            }
            be.add(&mut s.x, &s.proj, m * c.n_embd)?;
        }

        let n_out = s.out_rows.len();
        if n_out == 0 {
            return Ok(0);
        }
        be.copy_rows(&s.x, &s.out_rows, c.n_embd, &mut s.out_x)?;
        be.rms_norm(
            &mut s.out_x,
            n_out,
            c.n_embd,
            c.rms_eps,
            Some(&w.output_norm),
        )?;
        if n_out > s.logits_rows {
            s.logits = be.alloc(n_out * c.n_vocab)?;
            s.logits_rows = n_out;
        }
        be.mul_mat(&w.output, &s.out_x, n_out, &mut s.logits)?;
        if let Some(cap) = c.final_logit_softcap {
            be.softcap(&mut s.logits, n_out * c.n_vocab, cap)?;
        }
        let dst = &mut ctx.logits[done_rows * c.n_vocab..(done_rows + n_out) * c.n_vocab];
        be.read(&s.logits, 0, dst)?;
        Ok(n_out)
    }
}
