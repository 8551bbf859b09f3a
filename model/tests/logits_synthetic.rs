//! Forward-pass invariants on tiny random models of every supported architecture, built in
//! memory as GGUF files: batched prefill equals token-by-token decoding, sequences batched
//! together equal each run alone, and load errors name what is wrong.

use std::sync::Arc;

use ggml_core::backend::CpuBackend;
use ggml_core::gguf::keys::{arch as ak, arch_key, general};
use ggml_core::gguf::{GgufFile, GgufWriter, Value};
use ggml_core::GgmlType;
use model::{Batch, LoadOptions, Model, ModelError};

const N_EMBD: usize = 64;
const N_HEAD: usize = 4;
const N_HEAD_KV: usize = 2;
const HEAD_DIM: usize = 16;
const N_FF: usize = 96;
const N_VOCAB: usize = 40;
const N_LAYER: usize = 2;

/// Deterministic pseudo-random values in [-scale, scale].
fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

struct Spec {
    arch: &'static str,
    bias: bool,
    qk_norm: bool,
    post_norms: bool,
    tied: bool,
    window: Option<u32>,
    /// Q/K/V and gate/up stored fused (phi3).
    fused: bool,
    /// Biases present but zero.
    zero_bias: bool,
    skip: Option<&'static str>,
}

const fn spec(arch: &'static str) -> Spec {
    Spec {
        arch,
        bias: false,
        qk_norm: false,
        post_norms: false,
        tied: true,
        window: None,
        fused: false,
        zero_bias: false,
        skip: None,
    }
}

/// A tensor to write: values depend only on the name, so two models share weights.
struct Tensor {
    name: String,
    ty: GgmlType,
    shape: Vec<usize>,
    values: Vec<f32>,
}

fn tensor(name: &str, ty: GgmlType, shape: Vec<usize>) -> Tensor {
    let n = shape.iter().product();
    let seed = name
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let is_norm = name.contains("norm");
    let mut values = values(n, seed, if is_norm { 0.2 } else { 0.5 });
    if is_norm {
        values.iter_mut().for_each(|v| *v += 1.0);
    }
    Tensor {
        name: name.to_string(),
        ty,
        shape,
        values,
    }
}

/// Replaces layer `il`'s matrices `parts` by one matrix `fused` holding their rows in order.
fn fuse(tensors: &mut Vec<Tensor>, il: usize, parts: &[&str], fused: &str) {
    let names: Vec<String> = parts
        .iter()
        .map(|p| format!("blk.{il}.{p}.weight"))
        .collect();
    let mut rows = 0;
    let mut values = Vec::new();
    for name in &names {
        let t = tensors
            .iter()
            .find(|t| &t.name == name)
            .expect("part exists");
        rows += t.shape[1];
        values.extend_from_slice(&t.values);
    }
    tensors.retain(|t| !names.contains(&t.name));
    tensors.push(Tensor {
        name: format!("blk.{il}.{fused}.weight"),
        ty: GgmlType::Q8_0,
        shape: vec![N_EMBD, rows],
        values,
    });
}

/// A tiny model of `s.arch`: Q8_0 projections, F32 norms/biases/embeddings.
fn build(s: &Spec) -> Arc<GgufFile> {
    let mut w = GgufWriter::new();
    let md = w.metadata_mut();
    md.insert(general::ARCHITECTURE, Value::String(s.arch.into()));
    let a = s.arch;
    for (k, v) in [
        (ak::EMBEDDING_LENGTH, N_EMBD),
        (ak::BLOCK_COUNT, N_LAYER),
        (ak::ATTENTION_HEAD_COUNT, N_HEAD),
        (ak::ATTENTION_HEAD_COUNT_KV, N_HEAD_KV),
        (ak::CONTEXT_LENGTH, 64),
        (ak::FEED_FORWARD_LENGTH, N_FF),
        (ak::ATTENTION_KEY_LENGTH, HEAD_DIM),
        (ak::ATTENTION_VALUE_LENGTH, HEAD_DIM),
    ] {
        md.insert(arch_key(a, k), Value::U32(v as u32));
    }
    md.insert(
        arch_key(a, ak::ATTENTION_LAYER_NORM_RMS_EPSILON),
        Value::F32(1e-5),
    );
    if let Some(win) = s.window {
        md.insert(arch_key(a, ak::ATTENTION_SLIDING_WINDOW), Value::U32(win));
    }
    let mut tensors: Vec<Tensor> = vec![
        tensor("token_embd.weight", GgmlType::F32, vec![N_EMBD, N_VOCAB]),
        tensor("output_norm.weight", GgmlType::F32, vec![N_EMBD]),
    ];
    if !s.tied {
        tensors.push(tensor(
            "output.weight",
            GgmlType::Q8_0,
            vec![N_EMBD, N_VOCAB],
        ));
    }
    let (q, kv) = (N_HEAD * HEAD_DIM, N_HEAD_KV * HEAD_DIM);
    for il in 0..N_LAYER {
        let mut add = |n: &str, ty, shape: Vec<usize>| {
            tensors.push(tensor(&format!("blk.{il}.{n}"), ty, shape))
        };
        add("attn_norm.weight", GgmlType::F32, vec![N_EMBD]);
        add("attn_q.weight", GgmlType::Q8_0, vec![N_EMBD, q]);
        add("attn_k.weight", GgmlType::Q8_0, vec![N_EMBD, kv]);
        add("attn_v.weight", GgmlType::Q8_0, vec![N_EMBD, kv]);
        add("attn_output.weight", GgmlType::Q8_0, vec![q, N_EMBD]);
        add("ffn_norm.weight", GgmlType::F32, vec![N_EMBD]);
        add("ffn_gate.weight", GgmlType::Q8_0, vec![N_EMBD, N_FF]);
        add("ffn_up.weight", GgmlType::Q8_0, vec![N_EMBD, N_FF]);
        add("ffn_down.weight", GgmlType::Q8_0, vec![N_FF, N_EMBD]);
        if s.bias {
            add("attn_q.bias", GgmlType::F32, vec![q]);
            add("attn_k.bias", GgmlType::F32, vec![kv]);
            add("attn_v.bias", GgmlType::F32, vec![kv]);
        }
        if s.qk_norm {
            add("attn_q_norm.weight", GgmlType::F32, vec![HEAD_DIM]);
            add("attn_k_norm.weight", GgmlType::F32, vec![HEAD_DIM]);
        }
        if s.post_norms {
            add("post_attention_norm.weight", GgmlType::F32, vec![N_EMBD]);
            add("post_ffw_norm.weight", GgmlType::F32, vec![N_EMBD]);
        }
        if s.fused {
            fuse(
                &mut tensors,
                il,
                &["attn_q", "attn_k", "attn_v"],
                "attn_qkv",
            );
            fuse(&mut tensors, il, &["ffn_gate", "ffn_up"], "ffn_up");
        }
    }
    if s.zero_bias {
        for t in tensors.iter_mut().filter(|t| t.name.ends_with(".bias")) {
            t.values.iter_mut().for_each(|v| *v = 0.0);
        }
    }
    tensors.retain(|t| Some(t.name.as_str()) != s.skip);
    for t in &tensors {
        let shape: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
        w.add_tensor(t.name.clone(), t.ty, &shape).unwrap();
    }
    let mut out = w.begin(Vec::new()).unwrap();
    for t in &tensors {
        let mut bytes = vec![0u8; t.ty.bytes_for(t.values.len() as u64).unwrap() as usize];
        ggml_core::quants::quantize_row(t.ty, &t.values, &mut bytes).unwrap();
        out.write_tensor(&bytes).unwrap();
    }
    Arc::new(GgufFile::from_bytes(out.finish().unwrap()).unwrap())
}

fn load(s: &Spec) -> Result<Model, ModelError> {
    Model::from_file(
        build(s),
        CpuBackend::new(2).unwrap(),
        &LoadOptions::default(),
    )
}

fn all_specs() -> Vec<Spec> {
    vec![
        Spec {
            tied: false,
            ..spec("llama")
        },
        Spec {
            window: Some(3),
            ..spec("mistral")
        },
        Spec {
            bias: true,
            ..spec("qwen2")
        },
        Spec {
            qk_norm: true,
            ..spec("qwen3")
        },
        Spec {
            qk_norm: true,
            post_norms: true,
            window: Some(3),
            ..spec("gemma3")
        },
        Spec {
            post_norms: true,
            window: Some(3),
            ..spec("gemma2")
        },
        Spec {
            fused: true,
            ..spec("phi3")
        },
    ]
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
