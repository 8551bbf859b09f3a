//! The GPU sampling kernels against the CPU sampler: argmax against the greedy path, and
//! the device chain (top-k, top-p, min-p, min_keep, temperature, seeded draw) against
//! `Sampler::sample_with_uniform` given the kernel's own uniform number
//! (`kernels::sample_uniform(seed, step)`), so every drawn token must be identical. Fresh
//! random logits every run (seed printed). Rows the kernel hands back to the host
//! (`SAMPLE_ON_HOST`) are allowed only where its documented limits say so. Without a GPU
//! each test prints "skipped: no GPU"; `ROCMFORGE_REQUIRE_GPU=1` makes that a failure.

use hip_runtime::testing::gpu_or_skip;
use hip_runtime::{DeviceBuffer, Stream};
use kernels::reference::test_f32;
use kernels::{sample_uniform, Kernels, SampleParams, SAMPLE_CAP, SAMPLE_ON_HOST};
use model::sampler::{Sampler, SamplerConfig};

fn config(p: &SampleParams) -> SamplerConfig {
    SamplerConfig {
        temperature: p.temperature,
        top_k: p.top_k,
        top_p: p.top_p,
        min_p: p.min_p,
        min_keep: p.min_keep,
        seed: Some(0),
        ..SamplerConfig::default()
    }
}

/// Whether the kernel may hand this configuration's rows to the host.
fn may_defer(p: &SampleParams, n_vocab: usize) -> bool {
    let k = p.top_k.max(p.min_keep);
    let sorted_all = (p.top_k == 0 && p.top_p < 1.0) || k >= n_vocab;
    n_vocab > SAMPLE_CAP && (sorted_all || (p.top_k > 0 && k > SAMPLE_CAP))
}

#[test]
fn the_device_chain_draws_what_the_cpu_sampler_draws() {
    let Some(hip) = gpu_or_skip() else { return };
    let device = hip.device(0).unwrap();
    let kernels = Kernels::new(&device).unwrap();
    let stream = Stream::new(&device).unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("{} seed {seed}", device.info());
    let p = |temperature, top_k, top_p, min_p, min_keep| SampleParams {
        temperature,
        top_k,
        top_p,
        min_p,
        min_keep,
    };
    let configs = [
        p(0.0, 40, 0.95, 0.05, 1),  // greedy
        p(0.8, 40, 0.95, 0.05, 1),  // llama.cpp's defaults
        p(1.0, 1, 1.0, 0.0, 1),     // top-1
        p(1.3, 200, 0.7, 0.0, 3),   // top-k + top-p, min_keep
        p(0.6, 0, 1.0, 0.1, 1),     // min-p alone: id-order draw over the whole row
        p(1.0, 0, 1.0, 0.0, 1),     // pure temperature over the whole row
        p(0.9, 0, 1.0, 0.999, 5),   // min-p keeping fewer than min_keep
        p(0.7, 0, 0.5, 0.0, 1),     // top-p without top-k (sorted whole row)
        p(1.0, 5000, 0.9, 0.02, 1), // top-k beyond the kernel's cap
        p(1.1, 2048, 1.0, 0.0, 1),  // top-k at the cap
    ];
    let rows = 4;
    let mut deferred = 0;
    let mut drawn = 0;
    for n_vocab in [1000, 49_152, 151_936] {
        for (ci, params) in configs.iter().enumerate() {
            // Peaked and flat rows: logits scaled differently per row.
            let mut logits = Vec::with_capacity(rows * n_vocab);
            for r in 0..rows {
                let scale = [2.0, 6.0, 15.0, 0.5][r];
                logits.extend(
                    test_f32(n_vocab, seed ^ ((ci * 8 + r) as u64) << 20)
                        .into_iter()
                        .map(|v| v * scale),
                );
            }
            let seeds: Vec<u64> = (0..rows as u64)
                .map(|r| seed.wrapping_add(r * 7919))
                .collect();
            let dl = DeviceBuffer::from_host(&stream, &logits).unwrap();
            let ds = DeviceBuffer::from_host(&stream, &seeds).unwrap();
            for step in [0u32, 1, 77] {
                let steps = vec![step; rows];
                let dst = DeviceBuffer::from_host(&stream, &steps).unwrap();
                let mut ids = DeviceBuffer::<u32>::zeroed(&stream, rows).unwrap();
                kernels
                    .sample_f32(
                        &dl.as_slice(),
                        &ds.as_slice(),
                        &dst.as_slice(),
                        &mut ids.as_slice_mut(),
                        rows,
                        n_vocab,
                        params,
                    )
                    .unwrap();
                let got = ids.to_vec().unwrap();
                for r in 0..rows {
                    let row = &logits[r * n_vocab..(r + 1) * n_vocab];
                    let mut cpu = Sampler::new(config(params), n_vocab).unwrap();
                    let want = cpu
                        .sample_with_uniform(row, sample_uniform(seeds[r], step))
                        .unwrap();
                    if got[r] == SAMPLE_ON_HOST {
                        assert!(
                            may_defer(params, n_vocab),
                            "{params:?} vocab {n_vocab} row {r}: deferred to the host"
                        );
                        deferred += 1;
                        continue;
                    }
                    assert_eq!(
                        got[r], want,
                        "{params:?} vocab {n_vocab} row {r} step {step}"
                    );
                    drawn += 1;
                }
            }
        }
    }
    println!(
        "{drawn} rows drawn on the device equal the CPU sampler's; {deferred} handed to the host"
    );
    assert!(
        drawn > deferred * 4,
        "most rows must be drawn on the device"
    );
}

#[test]
fn argmax_equals_the_greedy_sampler() {
    let Some(hip) = gpu_or_skip() else { return };
    let device = hip.device(0).unwrap();
    let kernels = Kernels::new(&device).unwrap();
    let stream = Stream::new(&device).unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let (rows, n_vocab) = (8, 32_000);
    // Coarse values so that ties between maxima are common.
    let logits: Vec<f32> = test_f32(rows * n_vocab, seed)
        .into_iter()
        .map(|v| (v * 20.0).round())
        .collect();
    let dl = DeviceBuffer::from_host(&stream, &logits).unwrap();
    let mut ids = DeviceBuffer::<u32>::zeroed(&stream, rows).unwrap();
    kernels
        .argmax_f32(&dl.as_slice(), &mut ids.as_slice_mut(), rows, n_vocab)
        .unwrap();
    let got = ids.to_vec().unwrap();
    for (r, row) in logits.chunks(n_vocab).enumerate() {
        let mut cpu = Sampler::new(SamplerConfig::greedy(), n_vocab).unwrap();
        assert_eq!(got[r], cpu.sample(row).unwrap(), "row {r} (seed {seed})");
    }
}
