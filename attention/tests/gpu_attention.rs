//! The GPU attention kernels against attention's CPU reference (`CpuKvStore::attend`):
//! several sequences of different lengths whose KV blocks are scattered through the pool,
//! GQA 1/2/4/8, head dimensions 64/128/256, sliding windows and soft-capping, through both
//! launchers (prefill tiles; split-K decode + combine), for decode steps (one token per
//! sequence) and prefill steps (every position of several sequences). The K/V rows reach
//! the GPU cache through the f16 KV-store kernel, the CPU cache through `store`. Fresh
//! random inputs every run (seed printed); normalised mean squared error against the CPU.
//! Without a GPU each test prints "skipped: no GPU"; `ROCMFORGE_REQUIRE_GPU=1` fails it.

use attention::{AttnParams, BlockManager, CpuKvStore, KvCacheConfig, KvType};
use ggml_core::backend::{StepInput, StepLimits};
use hip_runtime::testing::gpu_or_skip;
use hip_runtime::{DeviceBuffer, DeviceRepr, Stream};
use kernels::reference::test_f32;
use kernels::{attention_decode_scratch_len, AttnShape, AttnStep, Kernels, KV_BLOCK_SIZE};

/// Both sides read the same f16 cache; what differs is f32 summation order and exp
/// (~4e-14 seen on an H200).
const TOL_ATTN: f64 = 1e-10;

/// Slots in the pool (a context of 1024 positions).
const N_SLOTS: usize = 1024;

struct Case {
    group: usize,
    d: usize,
    window: Option<usize>,
    softcap: Option<f32>,
}

fn nmse(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let (mut num, mut den) = (0f64, 0f64);
    for (&g, &w) in got.iter().zip(want) {
        num += (f64::from(g) - f64::from(w)).powi(2);
        den += f64::from(w).powi(2);
    }
    num / den.max(f64::MIN_POSITIVE)
}

fn up<T: DeviceRepr>(stream: &Stream, data: &[T]) -> DeviceBuffer<T> {
    DeviceBuffer::from_host(stream, data).unwrap()
}

/// Sequence lengths and a pool whose blocks are handed out interleaved and partly
/// recycled, so no sequence's blocks are contiguous.
fn fill_pool(lens: &[usize]) -> (BlockManager, Vec<(u32, usize, usize)>) {
    let mut blocks = BlockManager::new(N_SLOTS / KV_BLOCK_SIZE, KV_BLOCK_SIZE);
    // A throwaway sequence takes early blocks and is dropped midway: freed blocks come
    // back in a different order.
    for p in 0..40 {
        blocks.assign(99, p).unwrap();
    }
    let mut writes = Vec::new();
    let longest = lens.iter().copied().max().unwrap_or(0);
    for p in 0..longest {
        if p == 20 {
            blocks.remove(99);
        }
        for (s, &len) in lens.iter().enumerate() {
            if p < len {
                let slot = blocks.assign(s as u32, p).unwrap();
                writes.push((s as u32, p, slot));
            }
        }
    }
    (blocks, writes)
}

fn run_case(kernels: &Kernels, stream: &Stream, seed: u64, case: &Case, lens: &[usize]) {
    let n_kv = 2;
    let n_head = n_kv * case.group;
    let d = case.d;
    let cfg = KvCacheConfig {
        n_layer: 1,
        n_head,
        n_kv_head: n_kv,
        head_dim_k: d,
        head_dim_v: d,
        n_slots: N_SLOTS,
        ty: KvType::F16,
    };
    let (blocks, writes) = fill_pool(lens);
    let (kw, vw) = (n_kv * d, n_kv * d);
    let k = test_f32(writes.len() * kw, seed ^ 1);
    let v = test_f32(writes.len() * vw, seed ^ 2);
    let slots: Vec<u32> = writes.iter().map(|w| w.2 as u32).collect();
    let mut cpu = CpuKvStore::new(&cfg);
    cpu.store(0, &k, &v, &slots).unwrap();

    let (dk, dv) = (up(stream, &k), up(stream, &v));
    let ds = up(stream, &slots);
    let mut kc = DeviceBuffer::<u16>::zeroed(stream, N_SLOTS * kw).unwrap();
    let mut vc = DeviceBuffer::<u16>::zeroed(stream, N_SLOTS * vw).unwrap();
    kernels
        .store_kv_f16(
            &dk.as_slice(),
            &dv.as_slice(),
            &ds.as_slice(),
            &mut kc.as_slice_mut(),
            &mut vc.as_slice_mut(),
            writes.len(),
            kw,
            vw,
        )
        .unwrap();

    // Block tables: one row per sequence; on the device, unused entries out of range.
    let max_blocks = N_SLOTS / KV_BLOCK_SIZE;
    let mut tables = vec![u32::MAX; lens.len() * max_blocks];
    for s in 0..lens.len() {
        let t = blocks.table(s as u32).unwrap().blocks();
        tables[s * max_blocks..][..t.len()].copy_from_slice(t);
    }
    let dtab = up(stream, &tables);
    let params = AttnParams {
        n_head,
        scale: 1.0 / (d as f32).sqrt(),
        window: case.window,
        softcap: case.softcap,
    };
    let shape = AttnShape {
        n_head,
        n_kv_head: n_kv,
        head_dim_k: d,
        head_dim_v: d,
        scale: params.scale,
        window: case.window,
        softcap: case.softcap,
    };
    // Decode: the last position of every sequence. Prefill: every position of them all.
    let decode: Vec<(u32, usize)> = lens
        .iter()
        .enumerate()
        .map(|(s, &len)| (s as u32, len - 1))
        .collect();
    let prefill: Vec<(u32, usize)> = writes.iter().map(|&(seq, pos, _)| (seq, pos)).collect();
    for (step_name, tokens) in [("decode", decode), ("prefill", prefill)] {
        let m = tokens.len();
        let q = test_f32(m * n_head * d, seed ^ 3 ^ m as u64);
        let mut step = StepInput::with_limits(StepLimits {
            max_tokens: m,
            max_blocks,
            block_size: KV_BLOCK_SIZE,
        });
        for s in 0..lens.len() {
            step.push_table(blocks.table(s as u32).unwrap().blocks())
                .unwrap();
        }
        for &(seq, pos) in &tokens {
            let slot = blocks.table(seq).unwrap().slot(pos, KV_BLOCK_SIZE).unwrap();
            step.push(0, pos as i32, slot as u32, seq, false);
        }
        let mut want = vec![0f32; m * n_head * d];
        cpu.attend(0, &q, &step, m, &params, &mut want).unwrap();
        let (dq, dpos, drow) = (
            up(stream, &q),
            up(stream, &step.positions),
            up(stream, &step.tok_row),
        );
        let step = AttnStep {
            m,
            pos: dpos.as_slice(),
            tok_row: drow.as_slice(),
            block_tables: dtab.as_slice(),
            max_blocks,
        };
        for launcher in ["prefill", "decode"] {
            let mut out = DeviceBuffer::<f32>::zeroed(stream, m * n_head * d).unwrap();
            if launcher == "prefill" {
                kernels
                    .attention_prefill_f16(
                        &dq.as_slice(),
                        &kc.as_slice(),
                        &vc.as_slice(),
                        &step,
                        &shape,
                        &mut out.as_slice_mut(),
                    )
                    .unwrap();
            } else {
                let need = attention_decode_scratch_len(&shape, m, N_SLOTS).max(1);
                let mut scratch = DeviceBuffer::<f32>::zeroed(stream, need).unwrap();
                kernels
                    .attention_decode_f16(
                        &dq.as_slice(),
                        &kc.as_slice(),
                        &vc.as_slice(),
                        &step,
                        &shape,
                        N_SLOTS,
                        &mut scratch.as_slice_mut(),
                        &mut out.as_slice_mut(),
                    )
                    .unwrap();
            }
            let e = nmse(&out.to_vec().unwrap(), &want);
            let what = format!(
                "{step_name:<7} via {launcher:<7} gqa={} d={d} window={:?} softcap={:?} m={m}",
                case.group, case.window, case.softcap
            );
            println!("{what:<72} nmse {e:.3e} (tolerance {TOL_ATTN:.0e})");
            assert!(e <= TOL_ATTN, "{what}: nmse {e:.3e}");
        }
    }
}

#[test]
fn gpu_attention_matches_the_cpu_reference() {
    let Some(hip) = gpu_or_skip() else { return };
    let device = hip.device(0).unwrap();
    let kernels = Kernels::new(&device).unwrap();
    let stream = Stream::new(&device).unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("{} seed {seed}", device.info());
    // Lengths drawn per run: one short (under a block), one mid, one long.
    let r = test_f32(3, seed);
    let lens = [
        1 + (r[0].abs() * 14.0) as usize,
        40 + (r[1].abs() * 100.0) as usize,
        300 + (r[2].abs() * 200.0) as usize,
    ];
    println!("sequence lengths {lens:?}");
    let extras = [
        (None, None),
        (Some(50), None),
        (None, Some(30.0)),
        (Some(20), Some(50.0)),
    ];
    let mut i = 0;
    for group in [1, 2, 4, 8] {
        for d in [64, 128, 256] {
            let (window, softcap) = extras[i % extras.len()];
            i += 1;
            let case = Case {
                group,
                d,
                window,
                softcap,
            };
            run_case(&kernels, &stream, seed ^ (i as u64) << 32, &case, &lens);
        }
    }
}
