//! The whole model on the GPU against the CPU backend, on tiny random models of every
//! supported architecture and several weight types: prompt logits within a stated
//! tolerance, greedy continuations token-identical (decoded through captured and replayed
//! step graphs, one host–device synchronisation per token), batched decoding equal to
//! each sequence alone. Skips (printing why) without a GPU; `ROCMFORGE_REQUIRE_GPU=1`
//! turns the skip into a failure.

mod common;

use common::tiny::{all_specs, build, Dims};
use ggml_core::backend::hip::HipBackend;
use ggml_core::backend::{argmax_row, CpuBackend};
use ggml_core::GgmlType;
use model::{Batch, LoadOptions, Model};

/// Sizes whose rows are whole K-quant blocks (256 weights).
const DIMS: Dims = Dims {
    n_embd: 256,
    n_head: 4,
    n_head_kv: 2,
    head_dim: 64,
    n_ff: 512,
    n_vocab: 384,
    n_layer: 2,
    n_ctx: 160,
};

/// Normalised mean squared error of the GPU's prompt logits against the CPU's, at most.
/// The GPU rounds activations to 8 bits before quantized products (the CPU keeps f32), a
/// relative error of a few 1e-3 per product.
const LOGITS_NMSE: f64 = 2e-3;

const PROMPT: [u32; 9] = [1, 5, 9, 3, 33, 2, 17, 250, 101];
const GENERATE: usize = 64;

fn nmse(got: &[f32], want: &[f32]) -> f64 {
    let (mut err, mut norm) = (0f64, 0f64);
    for (g, w) in got.iter().zip(want) {
        err += f64::from(g - w).powi(2);
        norm += f64::from(*w).powi(2);
    }
    err / norm.max(1e-30)
}

/// Greedy continuation on the CPU: logits read, argmax on the host.
fn greedy_cpu(m: &Model<CpuBackend>) -> Vec<u32> {
    let mut ctx = m.new_context(0).unwrap();
    let mut next = argmax_row(m.eval(&mut ctx, &PROMPT, false).unwrap());
    let mut out = vec![next];
    for _ in 1..GENERATE {
        next = argmax_row(m.eval(&mut ctx, &[next], false).unwrap());
        out.push(next);
    }
    out
}

/// Greedy continuation on the GPU: argmax on the device, only ids read back.
fn greedy_gpu(m: &Model<HipBackend>) -> Vec<u32> {
    let mut ctx = m.new_context(0).unwrap();
    let mut ids = Vec::new();
    m.decode_greedy(
        &mut ctx,
        &Batch::for_sequence(&PROMPT, 0, 0, false),
        &mut ids,
    )
    .unwrap();
    let mut out = ids.clone();
    for i in 1..GENERATE {
        let pos = PROMPT.len() + i - 1;
        m.decode_greedy(
            &mut ctx,
            &Batch::for_sequence(&ids, pos, 0, false),
            &mut ids,
        )
        .unwrap();
        out.push(ids[0]);
    }
    out
}

#[test]
fn gpu_matches_the_cpu_backend_on_every_architecture() {
    let Some(_hip) = hip_runtime::testing::gpu_or_skip() else {
        return;
    };
    let opts = LoadOptions::default();
    for wty in [
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q4_K,
        GgmlType::Q6_K,
        GgmlType::F16,
    ] {
        for s in all_specs() {
            let what = format!("{} {}", s.arch, wty.name());
            let file = build(&s, &DIMS, wty);
            let cpu = Model::from_file(file.clone(), CpuBackend::new(0).unwrap(), &opts).unwrap();
            let gpu = Model::from_file(file, HipBackend::new(0).unwrap(), &opts).unwrap();
            gpu.backend().finish_uploads().unwrap();

            let mut cc = cpu.new_context(0).unwrap();
            let mut gc = gpu.new_context(0).unwrap();
            let want = cpu.eval(&mut cc, &PROMPT, true).unwrap().to_vec();
            let got = gpu.eval(&mut gc, &PROMPT, true).unwrap().to_vec();
            assert!(
                got.iter().all(|x| x.is_finite()),
                "{what}: non-finite GPU logits"
            );
            let e = nmse(&got, &want);
            println!("{what}: prompt logits NMSE {e:.2e}");
            assert!(
                e < LOGITS_NMSE,
                "{what}: logits NMSE {e:.2e} ≥ {LOGITS_NMSE:.0e}"
            );

            let before = gpu.backend().step_stats();
            let g = greedy_gpu(&gpu);
            let after = gpu.backend().step_stats();
            let c = greedy_cpu(&cpu);
            assert_eq!(g, c, "{what}: greedy continuations differ");
            // Every decode step after the first of its shape replays a captured graph, and
            // reading the chosen id is the step's only synchronisation.
            let steps = GENERATE as u64;
            assert_eq!(after.syncs - before.syncs, steps, "{what}: syncs per token");
            assert!(
                after.replays - before.replays >= steps - 2,
                "{what}: {after:?}"
            );
        }
    }
}

/// Index of the largest logit and its lead over the runner-up.
fn top_and_gap(logits: &[f32]) -> (usize, f32) {
    let top = argmax_row(logits) as usize;
    let second = logits
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != top)
        .map(|(_, &l)| l)
        .fold(f32::NEG_INFINITY, f32::max);
    (top, logits[top] - second)
}

/// Decode steps fed the CPU's tokens (so one wrong step cannot derail the rest): the GPU's
/// logits stay within the tolerance at every step, through captured and replayed graphs
/// and with graphs off, and prompts fed in chunks of every decode width agree too. Prints
/// the worst step and the CPU's smallest top-1 lead, so a greedy mismatch can be told
/// apart from a near-tie.
#[test]
fn teacher_forced_decode_tracks_the_cpu_at_every_step() {
    let Some(_hip) = hip_runtime::testing::gpu_or_skip() else {
        return;
    };
    let opts = LoadOptions::default();
    for wty in [GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::F16] {
        for s in all_specs() {
            let file = build(&s, &DIMS, wty);
            let cpu = Model::from_file(file.clone(), CpuBackend::new(0).unwrap(), &opts).unwrap();
            let gpu = Model::from_file(file, HipBackend::new(0).unwrap(), &opts).unwrap();
            for graphs in [true, false] {
                gpu.backend().set_graphs(graphs);
                let what = format!("{} {} graphs {graphs}", s.arch, wty.name());
                let mut cc = cpu.new_context(0).unwrap();
                let mut gc = gpu.new_context(0).unwrap();
                let mut want = cpu.eval(&mut cc, &PROMPT, false).unwrap().to_vec();
                let mut got = gpu.eval(&mut gc, &PROMPT, false).unwrap().to_vec();
                let (mut worst, mut worst_step, mut min_gap) = (0f64, 0, f32::INFINITY);
                let mut differ = Vec::new();
                for step in 0..GENERATE {
                    let e = nmse(&got, &want);
                    if e > worst {
                        (worst, worst_step) = (e, step);
                    }
                    let (top, gap) = top_and_gap(&want);
                    min_gap = min_gap.min(gap);
                    if argmax_row(&got) as usize != top {
                        differ.push((step, gap));
                    }
                    let next = top as u32;
                    want = cpu.eval(&mut cc, &[next], false).unwrap().to_vec();
                    got = gpu.eval(&mut gc, &[next], false).unwrap().to_vec();
                }
                println!(
                    "{what}: worst step NMSE {worst:.2e} at step {worst_step}, smallest CPU \
                     top-1 lead {min_gap:.3e}, argmax differs at (step, CPU lead) {differ:?}"
                );
                assert!(
                    worst < LOGITS_NMSE,
                    "{what}: step {worst_step} logits NMSE {worst:.2e}"
                );
            }
            gpu.backend().set_graphs(true);
            // The prompt in chunks of each decode width, against the CPU's whole prompt.
            let mut cc = cpu.new_context(0).unwrap();
            let want = cpu.eval(&mut cc, &PROMPT, true).unwrap().to_vec();
            for width in [1, 2, 3, 4, 8] {
                let mut gc = gpu.new_context(0).unwrap();
                let mut got = Vec::new();
                for chunk in PROMPT.chunks(width) {
                    got.extend_from_slice(gpu.eval(&mut gc, chunk, true).unwrap());
                }
                let e = nmse(&got, &want);
                println!(
                    "{} {} prompt in chunks of {width}: NMSE {e:.2e}",
                    s.arch,
                    wty.name()
                );
                assert!(
                    e < LOGITS_NMSE,
                    "{} {} chunks of {width}: NMSE {e:.2e}",
                    s.arch,
                    wty.name()
                );
            }
        }
    }
}

#[test]
fn batched_gpu_decoding_equals_each_sequence_alone() {
    let Some(_hip) = hip_runtime::testing::gpu_or_skip() else {
        return;
    };
    let s = all_specs().remove(0);
    let gpu = Model::from_file(
        build(&s, &DIMS, GgmlType::Q4_K),
        HipBackend::new(0).unwrap(),
        &LoadOptions::default(),
    )
    .unwrap();
    let prompts: [&[u32]; 3] = [&PROMPT, &[7, 8, 9, 10], &[300, 2]];
    let alone: Vec<Vec<f32>> = prompts
        .iter()
        .map(|p| {
            let mut ctx = gpu.new_context(0).unwrap();
            gpu.eval(&mut ctx, p, false).unwrap().to_vec()
        })
        .collect();
    let mut ctx = gpu.new_context(0).unwrap();
    let mut batch = Batch::new();
    for (seq, p) in prompts.iter().enumerate() {
        for (i, &t) in p.iter().enumerate() {
            batch.add(t, i, seq as u32, i + 1 == p.len());
        }
    }
    let out = gpu.decode(&mut ctx, &batch).unwrap().to_vec();
    let cpu = Model::from_file(
        build(&s, &DIMS, GgmlType::Q4_K),
        CpuBackend::new(0).unwrap(),
        &LoadOptions::default(),
    )
    .unwrap();
    let mut failures = Vec::new();
    for (seq, want) in alone.iter().enumerate() {
        let got = &out[seq * DIMS.n_vocab..(seq + 1) * DIMS.n_vocab];
        let mut cc = cpu.new_context(0).unwrap();
        let reference = cpu.eval(&mut cc, prompts[seq], false).unwrap();
        let (e, alone_cpu, batched_cpu) =
            (nmse(got, want), nmse(want, reference), nmse(got, reference));
        println!(
            "sequence {seq}: batched vs alone NMSE {e:.2e}; against the CPU: alone \
             {alone_cpu:.2e}, batched {batched_cpu:.2e}"
        );
        if e >= 1e-6 {
            failures.push(format!("sequence {seq}: batched NMSE {e:.2e}"));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}
