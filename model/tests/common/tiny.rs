//! Tiny random models of every supported architecture, written in memory as GGUF files
//! (shared by the synthetic forward-pass tests on the CPU and the GPU-vs-CPU tests).

#![allow(dead_code)]

use std::sync::Arc;

use ggml_core::gguf::keys::{arch as ak, arch_key, general};
use ggml_core::gguf::{GgufFile, GgufWriter, Value};
use ggml_core::GgmlType;

/// The sizes of a tiny model.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub n_embd: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    pub n_ff: usize,
    pub n_vocab: usize,
    pub n_layer: usize,
    pub n_ctx: usize,
}

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

pub struct Spec {
    pub arch: &'static str,
    pub bias: bool,
    pub qk_norm: bool,
    pub post_norms: bool,
    pub tied: bool,
    pub window: Option<u32>,
    /// Q/K/V and gate/up stored fused (phi3).
    pub fused: bool,
    /// Biases present but zero.
    pub zero_bias: bool,
    pub skip: Option<&'static str>,
}

pub const fn spec(arch: &'static str) -> Spec {
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
fn fuse(
    tensors: &mut Vec<Tensor>,
    il: usize,
    parts: &[&str],
    fused: &str,
    d: &Dims,
    wty: GgmlType,
) {
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
        ty: wty,
        shape: vec![d.n_embd, rows],
        values,
    });
}

/// A tiny model of `s.arch` of size `d`: projections of type `wty`, F32 norms, biases and
/// embeddings.
pub fn build(s: &Spec, d: &Dims, wty: GgmlType) -> Arc<GgufFile> {
    let mut w = GgufWriter::new();
    let md = w.metadata_mut();
    md.insert(general::ARCHITECTURE, Value::String(s.arch.into()));
    let a = s.arch;
    for (k, v) in [
        (ak::EMBEDDING_LENGTH, d.n_embd),
        (ak::BLOCK_COUNT, d.n_layer),
        (ak::ATTENTION_HEAD_COUNT, d.n_head),
        (ak::ATTENTION_HEAD_COUNT_KV, d.n_head_kv),
        (ak::CONTEXT_LENGTH, d.n_ctx),
        (ak::FEED_FORWARD_LENGTH, d.n_ff),
        (ak::ATTENTION_KEY_LENGTH, d.head_dim),
        (ak::ATTENTION_VALUE_LENGTH, d.head_dim),
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
        tensor(
            "token_embd.weight",
            GgmlType::F32,
            vec![d.n_embd, d.n_vocab],
        ),
        tensor("output_norm.weight", GgmlType::F32, vec![d.n_embd]),
    ];
    if !s.tied {
        tensors.push(tensor("output.weight", wty, vec![d.n_embd, d.n_vocab]));
    }
    let (q, kv) = (d.n_head * d.head_dim, d.n_head_kv * d.head_dim);
    for il in 0..d.n_layer {
        let mut add = |n: &str, ty, shape: Vec<usize>| {
            tensors.push(tensor(&format!("blk.{il}.{n}"), ty, shape))
        };
        add("attn_norm.weight", GgmlType::F32, vec![d.n_embd]);
        add("attn_q.weight", wty, vec![d.n_embd, q]);
        add("attn_k.weight", wty, vec![d.n_embd, kv]);
        add("attn_v.weight", wty, vec![d.n_embd, kv]);
        add("attn_output.weight", wty, vec![q, d.n_embd]);
        add("ffn_norm.weight", GgmlType::F32, vec![d.n_embd]);
        add("ffn_gate.weight", wty, vec![d.n_embd, d.n_ff]);
        add("ffn_up.weight", wty, vec![d.n_embd, d.n_ff]);
        add("ffn_down.weight", wty, vec![d.n_ff, d.n_embd]);
        if s.bias {
            add("attn_q.bias", GgmlType::F32, vec![q]);
            add("attn_k.bias", GgmlType::F32, vec![kv]);
            add("attn_v.bias", GgmlType::F32, vec![kv]);
        }
        if s.qk_norm {
            add("attn_q_norm.weight", GgmlType::F32, vec![d.head_dim]);
            add("attn_k_norm.weight", GgmlType::F32, vec![d.head_dim]);
        }
        if s.post_norms {
            add("post_attention_norm.weight", GgmlType::F32, vec![d.n_embd]);
            add("post_ffw_norm.weight", GgmlType::F32, vec![d.n_embd]);
        }
        if s.fused {
            fuse(
                &mut tensors,
                il,
                &["attn_q", "attn_k", "attn_v"],
                "attn_qkv",
                d,
                wty,
            );
            fuse(&mut tensors, il, &["ffn_gate", "ffn_up"], "ffn_up", d, wty);
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

pub fn all_specs() -> Vec<Spec> {
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
