//! Forward-pass invariants on tiny random models of every supported architecture, built in
//! memory as GGUF files: batched prefill equals token-by-token decoding, sequences batched
//! together equal each run alone, and load errors name what is wrong.

mod common;

use common::tiny::{all_specs, build, spec, Dims, Spec};
use ggml_core::backend::CpuBackend;
use ggml_core::GgmlType;
use model::{Batch, LoadOptions, Model, ModelError};

const N_EMBD: usize = 64;
const N_HEAD: usize = 4;
const N_HEAD_KV: usize = 2;
const HEAD_DIM: usize = 16;
const N_FF: usize = 96;
const N_VOCAB: usize = 40;
const N_LAYER: usize = 2;

const DIMS: Dims = Dims {
    n_embd: N_EMBD,
    n_head: N_HEAD,
    n_head_kv: N_HEAD_KV,
    head_dim: HEAD_DIM,
    n_ff: N_FF,
    n_vocab: N_VOCAB,
    n_layer: N_LAYER,
    n_ctx: 64,
};

fn load(s: &Spec) -> Result<Model, ModelError> {
    Model::from_file(
        build(s, &DIMS, GgmlType::Q8_0),
        CpuBackend::new(2).unwrap(),
        &LoadOptions::default(),
    )
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

const PROMPT: [u32; 7] = [1, 5, 9, 3, 33, 2, 17];

#[test]
fn prefill_equals_token_by_token_decoding_for_every_architecture() {
    for s in all_specs() {
        let m = load(&s).unwrap_or_else(|e| panic!("{}: {e}", s.arch));
        assert_eq!(m.config().arch, s.arch);
        let mut ctx = m.new_context(32).unwrap();
        let all = m.eval(&mut ctx, &PROMPT, true).unwrap().to_vec();
        assert_eq!(all.len(), PROMPT.len() * N_VOCAB);
        assert!(all.iter().all(|x| x.is_finite()), "{}", s.arch);
        let mut ctx = m.new_context(32).unwrap();
        for (i, &t) in PROMPT.iter().enumerate() {
            let one = m.eval(&mut ctx, &[t], false).unwrap();
            let d = max_diff(one, &all[i * N_VOCAB..(i + 1) * N_VOCAB]);
            assert!(d < 1e-4, "{} position {i}: {d}", s.arch);
        }
        assert_eq!(ctx.seq_len(0), PROMPT.len());
    }
}

#[test]
fn sequences_batched_together_equal_each_alone() {
    for s in all_specs() {
        let m = load(&s).unwrap();
        let other = [7u32, 8, 9, 10];
        let mut ctx = m.new_context(64).unwrap();
        let a = m.eval(&mut ctx, &PROMPT, false).unwrap().to_vec();
        ctx.clear();
        let b = m.eval(&mut ctx, &other, false).unwrap().to_vec();
        let mut ctx = m.new_context(64).unwrap();
        let mut batch = Batch::new();
        // Interleave the two sequences token by token.
        for (i, &t) in PROMPT.iter().enumerate() {
            batch.add(t, i, 3, i + 1 == PROMPT.len());
            if let Some(&t) = other.get(i) {
                batch.add(t, i, 5, i + 1 == other.len());
            }
        }
        let out = m.decode(&mut ctx, &batch).unwrap();
        // Output rows follow batch order: sequence 5 finishes first.
        assert!(max_diff(&out[..N_VOCAB], &b) < 1e-4, "{}", s.arch);
        assert!(max_diff(&out[N_VOCAB..], &a) < 1e-4, "{}", s.arch);
        assert_eq!(
            (ctx.seq_len(3), ctx.seq_len(5)),
            (PROMPT.len(), other.len())
        );
        // Rewinding a sequence and replaying gives the same logits again.
        ctx.truncate_seq(3, 4);
        let again = m
            .decode(&mut ctx, &Batch::for_sequence(&PROMPT[4..], 4, 3, false))
            .unwrap();
        assert!(max_diff(again, &a) < 1e-4, "{}", s.arch);
    }
}

#[test]
fn load_and_decode_errors_name_the_problem() {
    let err = load(&spec("gpt-neo")).err().expect("unknown arch");
    assert!(
        err.to_string()
            .contains("unsupported architecture `gpt-neo`"),
        "{err}"
    );
    let err = load(&Spec {
        skip: Some("blk.1.ffn_up.weight"),
        ..spec("llama")
    })
    .err()
    .expect("missing");
    assert!(
        matches!(&err, ModelError::MissingTensor { name } if name == "blk.1.ffn_up.weight"),
        "{err}"
    );
    let err = load(&Spec {
        skip: Some("blk.0.attn_q.bias"),
        bias: true,
        ..spec("qwen2")
    })
    .err()
    .expect("bias");
    assert!(err.to_string().contains("blk.0.attn_q.bias"), "{err}");
    let m = load(&spec("llama")).unwrap();
    // A context past MAX_CTX is refused before its KV cache is sized.
    let err = m.new_context(usize::MAX / 2).err().expect("huge context");
    assert!(err.to_string().contains("a context of"), "{err}");
    let mut ctx = m.new_context(8).unwrap();
    let err = m.eval(&mut ctx, &[N_VOCAB as u32], false).unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::TokenOutOfRange {
                token: 40,
                n_vocab: 40
            }
        ),
        "{err}"
    );
    let err = m.eval(&mut ctx, &[1; 9], false).unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::ContextFull {
                pos: 8,
                n_ctx: 8,
                ..
            }
        ),
        "{err}"
    );
    let mut backwards = Batch::new();
    backwards.add(1, 1, 4, false);
    backwards.add(2, 0, 4, true);
    let err = m.decode(&mut ctx, &backwards).unwrap_err();
    assert!(err.to_string().contains("must increase"), "{err}");
    let err = m
        .decode(&mut ctx, &Batch::for_sequence(&[1], 3, 0, false))
        .unwrap_err();
    assert!(
        err.to_string().contains("position 3 of sequence 0"),
        "{err}"
    );
}

#[test]
fn fused_phi3_matrices_equal_the_separate_ones() {
    // phi3 with fused QKV and gate/up is qwen2's block (NEOX rope, SwiGLU) with zero biases.
    let phi3 = load(&Spec {
        fused: true,
        ..spec("phi3")
    })
    .unwrap();
    let qwen2 = load(&Spec {
        bias: true,
        zero_bias: true,
        ..spec("qwen2")
    })
    .unwrap();
    let mut a = phi3.new_context(16).unwrap();
    let mut b = qwen2.new_context(16).unwrap();
    let la = phi3.eval(&mut a, &PROMPT, true).unwrap();
    let lb = qwen2.eval(&mut b, &PROMPT, true).unwrap();
    assert!(max_diff(la, lb) < 1e-5);
    // The same bytes, less qwen2's f32 Q/K/V biases.
    let bias_bytes = N_LAYER * (N_HEAD + 2 * N_HEAD_KV) * HEAD_DIM * 4;
    assert_eq!(phi3.weight_bytes() + bias_bytes, qwen2.weight_bytes());
}
