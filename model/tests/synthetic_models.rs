//! Synthetic models (`model::synthetic`) of every shape, at test scale, in every offered mix:
//! the file loads through `Model::load`, its tokenizer loads, and decoding gives finite,
//! unit-scale logits — also through 32 layers, so the weight scales keep activations sane
//! at full depth.

use model::synthetic::{Shape, SyntheticModel, SHAPES};
use model::tokenizer::Tokenizer;
use model::{Batch, LoadOptions, Model};

const MIXES: [&str; 4] = ["Q4_K_M", "Q4_0", "Q8_0", "F16"];

/// Writes `m`, loads it, evaluates a 6-token prompt and 3 decode steps; returns the last
/// logits.
fn decode(m: &SyntheticModel) -> Vec<f32> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    let mut last = (0, 0);
    let size = m
        .write(&path, &mut |done, total| last = (done, total))
        .unwrap();
    assert_eq!(last.0, last.1, "{m}: progress reaches the total");
    assert!(size > last.1, "{m}: file holds the tensor data");
    let model = Model::load(&path, &LoadOptions::default()).unwrap();
    assert_eq!(model.config().n_layer, m.shape.n_layer);
    assert_eq!(model.config().n_vocab, m.shape.n_vocab);
    let tok = Tokenizer::from_gguf(model.gguf()).unwrap();
    let prompt = tok.encode("Hello, world\n", true, false).unwrap();
    assert_eq!(prompt[0], 1, "{m}: BOS");
    let mut ctx = model.new_context(64).unwrap();
    let mut logits = model.eval(&mut ctx, &prompt, false).unwrap().to_vec();
    for t in [7u32, 300, 5] {
        let batch = Batch::for_sequence(&[t], ctx.seq_len(0), 0, false);
        logits = model.decode(&mut ctx, &batch).unwrap().to_vec();
    }
    logits
}

fn assert_sane(m: &SyntheticModel, logits: &[f32]) {
    assert!(
        logits.iter().all(|v| v.is_finite()),
        "{m}: non-finite logits"
    );
    let n = logits.len() as f32;
    let mean = logits.iter().sum::<f32>() / n;
    let sd = (logits.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt();
    assert!(sd > 0.05 && sd < 20.0, "{m}: logits sd {sd}");
}

#[test]
fn every_shape_and_mix_loads_and_decodes_finitely() {
    for shape in SHAPES {
        for mix in MIXES {
            let m: SyntheticModel = format!("{}-tiny:{mix}", shape.name).parse().unwrap();
            let logits = decode(&m);
            assert_eq!(logits.len(), m.shape.n_vocab);
            assert_sane(&m, &logits);
        }
    }
}

#[test]
fn activations_stay_sane_through_32_layers() {
    let tiny: SyntheticModel = "llama-8b-tiny:Q4_K_M".parse().unwrap();
    let m = SyntheticModel {
        shape: Shape {
            n_layer: 32,
            ..tiny.shape
        },
        ..tiny
    };
    assert_sane(&m, &decode(&m));
}
