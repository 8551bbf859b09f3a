//! The GPU kernels of the forward pass against ggml-core's CPU ops: RMS norm (alone and
//! fused with the residual add), RoPE in every mode and scaling variant (and fused with
//! the f16 KV store), SwiGLU/GeGLU, row broadcasts, in-place add/scale, soft-capping, row
//! gathers and argmax. Fresh random inputs every run (the seed is printed); results
//! compared by normalised mean squared error, `Σ(gpu - cpu)² / Σ cpu²`, with the tolerance
//! stated per op. Without a GPU each test prints "skipped: no GPU";
//! `ROCMFORGE_REQUIRE_GPU=1` makes that a failure.

use ggml_core::ops::elementwise::{self, GluKind};
use ggml_core::ops::rope::{rope, RopeMode, RopeParams};
use half::f16;
use hip_runtime::testing::gpu_or_skip;
use hip_runtime::{DeviceBuffer, DeviceRepr, Stream};
use kernels::reference::test_f32;
use kernels::Kernels;

/// f32 element-wise ops whose only difference from the CPU is libm vs device math.
const TOL_EXACTISH: f64 = 1e-10;
/// RMS norm: a tree-ordered f32 sum of squares against an f64 one.
const TOL_NORM: f64 = 1e-10;
/// RoPE: the same f32 angle arithmetic (a contracted multiply-add may round one step
/// differently) and device cos/sin; ~4e-12 seen on an H200 with angles up to ~8000 rad.
const TOL_ROPE: f64 = 1e-9;
/// RoPE then the f16 cache: f16 rounding dominates (relative 2^-11 per element, ~8e-8).
const TOL_ROPE_F16: f64 = 3e-7;

struct Gpu {
    kernels: Kernels,
    stream: Stream,
    seed: u64,
}

impl Gpu {
    fn new() -> Option<Gpu> {
        let hip = gpu_or_skip()?;
        let device = hip.device(0).unwrap();
        let kernels = Kernels::new(&device).unwrap();
        let stream = Stream::new(&device).unwrap();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        println!("{} seed {seed}", device.info());
        Some(Gpu {
            kernels,
            stream,
            seed,
        })
    }

    /// Fresh random values in `[-scale, scale)`; `salt` separates the inputs of one test.
    fn rand(&self, len: usize, salt: u64, scale: f32) -> Vec<f32> {
        test_f32(len, self.seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .into_iter()
            .map(|v| v * scale)
            .collect()
    }

    fn up<T: DeviceRepr>(&self, data: &[T]) -> DeviceBuffer<T> {
        DeviceBuffer::from_host(&self.stream, data).unwrap()
    }
}

/// Normalised mean squared error of `got` against `want`.
fn nmse(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let (mut num, mut den) = (0f64, 0f64);
    for (&g, &w) in got.iter().zip(want) {
        num += (f64::from(g) - f64::from(w)).powi(2);
        den += f64::from(w).powi(2);
    }
    if den == 0.0 {
        num
    } else {
        num / den
    }
}

fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f64) {
    let e = nmse(got, want);
    println!("{what:<48} nmse {e:.3e} (tolerance {tol:.0e})");
    assert!(e <= tol, "{what}: nmse {e:.3e} > {tol:.0e}");
}

#[test]
fn rms_norm_and_fused_residual_norm_match_the_cpu() {
    let Some(g) = Gpu::new() else { return };
    let eps = 1e-6;
    for (rows, dim) in [(1, 576), (5, 2048), (3, 4099)] {
        let (x, y, w) = (
            g.rand(rows * dim, 1, 4.0),
            g.rand(rows * dim, 2, 1.0),
            g.rand(dim, 3, 1.0),
        );
        for weight in [false, true] {
            let mut want = x.clone();
            elementwise::rms_norm(&mut want, dim, eps, weight.then_some(&w[..]));
            // A buffer longer than the rows used: the tail stays untouched.
            let mut padded = x.clone();
            padded.extend([7.0; 5]);
            let (mut dx, dw) = (g.up(&padded), g.up(&w));
            let dws = dw.as_slice();
            g.kernels
                .rms_norm_f32(
                    &mut dx.as_slice_mut(),
                    weight.then_some(&dws),
                    rows,
                    dim,
                    eps,
                )
                .unwrap();
            let got = dx.to_vec().unwrap();
            assert_eq!(&got[rows * dim..], &[7.0; 5]);
            assert_close(
                &format!("rms_norm {rows}x{dim} weight={weight}"),
                &got[..rows * dim],
                &want,
                TOL_NORM,
            );
        }
        let mut sum = x.clone();
        elementwise::add(&mut sum, &y);
        let mut want = sum.clone();
        elementwise::rms_norm(&mut want, dim, eps, Some(&w));
        let (mut dx, dy, dw) = (g.up(&x), g.up(&y), g.up(&w));
        let mut dn = DeviceBuffer::<f32>::zeroed(&g.stream, rows * dim).unwrap();
        g.kernels
            .add_rms_norm_f32(
                &mut dx.as_slice_mut(),
                &dy.as_slice(),
                &mut dn.as_slice_mut(),
                Some(&dw.as_slice()),
                rows,
                dim,
                eps,
            )
            .unwrap();
        assert_close(
            &format!("add (residual) {rows}x{dim}"),
            &dx.to_vec().unwrap(),
            &sum,
            0.0,
        );
        assert_close(
            &format!("add_rms_norm {rows}x{dim}"),
            &dn.to_vec().unwrap(),
            &want,
            TOL_NORM,
        );
    }
}

/// Every pairing with every scaling variant the CPU supports.
fn rope_variants(head_dim: usize) -> Vec<(String, RopeParams, bool)> {
    let mut out = Vec::new();
    for mode in [RopeMode::Norm, RopeMode::Neox] {
        for n_dims in [head_dim, head_dim / 2] {
            let plain = RopeParams::plain(n_dims, mode, 10_000.0);
            let linear = RopeParams {
                freq_scale: 0.25,
                freq_base: 500_000.0,
                ..plain
            };
            let yarn = RopeParams {
                freq_scale: 0.25,
                ext_factor: 1.0,
                attn_factor: 1.0,
                beta_fast: 32.0,
                beta_slow: 1.0,
                n_ctx_orig: 4096,
                freq_base: 1_000_000.0,
                ..plain
            };
            let scaled_attn = RopeParams {
                attn_factor: 0.75,
                ..plain
            };
            for (name, p, ff) in [
                ("plain", plain, false),
                ("linear", linear, false),
                ("yarn", yarn, false),
                ("attn_factor", scaled_attn, false),
                ("freq_factors", plain, true),
            ] {
                out.push((format!("{mode:?} n_dims={n_dims} {name}"), p, ff));
            }
        }
    }
    out
}

#[test]
fn rope_matches_the_cpu_in_every_mode_and_scaling() {
    let Some(g) = Gpu::new() else { return };
    for (n_head, head_dim) in [(4, 64), (2, 128), (1, 256)] {
        let m = 7;
        let pos: Vec<i32> = g
            .rand(m, 4, 4000.0)
            .iter()
            .map(|v| (v.abs() * 2.0) as i32)
            .chain([0])
            .take(m)
            .collect();
        let dpos = g.up(&pos);
        let x = g.rand(m * n_head * head_dim, 5, 2.0);
        for (name, p, with_ff) in rope_variants(head_dim) {
            let ff: Vec<f32> = g
                .rand(p.n_dims / 2, 6, 1.0)
                .iter()
                .map(|v| 1.0 + 7.0 * v.abs())
                .collect();
            let mut want = x.clone();
            rope(
                &mut want,
                n_head,
                head_dim,
                &pos,
                &p,
                with_ff.then_some(&ff[..]),
            );
            let (mut dx, dff) = (g.up(&x), g.up(&ff));
            let ffs = dff.as_slice();
            g.kernels
                .rope_f32(
                    &mut dx.as_slice_mut(),
                    &dpos.as_slice(),
                    with_ff.then_some(&ffs),
                    m,
                    n_head,
                    head_dim,
                    &p.gpu_consts(),
                )
                .unwrap();
            let what = format!("rope {name} heads={n_head}x{head_dim}");
            assert_close(&what, &dx.to_vec().unwrap(), &want, TOL_ROPE);

            // Fused with the f16 KV store: n_head KV heads, V = x reversed, scattered slots.
            let v: Vec<f32> = x.iter().rev().copied().collect();
            let slots: Vec<u32> = (0..m as u32).map(|t| (t * 5 + 3) % 11).collect();
            let n_slots = 11;
            let row = n_head * head_dim;
            let (dk, dv, ds) = (g.up(&x), g.up(&v), g.up(&slots));
            let mut kc = DeviceBuffer::<u16>::zeroed(&g.stream, n_slots * row).unwrap();
            let mut vc = DeviceBuffer::<u16>::zeroed(&g.stream, n_slots * row).unwrap();
            g.kernels
                .rope_store_kv_f16(
                    &dk.as_slice(),
                    &dv.as_slice(),
                    &dpos.as_slice(),
                    &ds.as_slice(),
                    with_ff.then_some(&ffs),
                    &mut kc.as_slice_mut(),
                    &mut vc.as_slice_mut(),
                    m,
                    n_head,
                    (head_dim, head_dim),
                    &p.gpu_consts(),
                )
                .unwrap();
            let (kc, vc) = (kc.to_vec().unwrap(), vc.to_vec().unwrap());
            let widen = |c: &[u16], s: u32| -> Vec<f32> {
                c[s as usize * row..][..row]
                    .iter()
                    .map(|&h| f16::from_bits(h).to_f32())
                    .collect()
            };
            let got_k: Vec<f32> = slots.iter().flat_map(|&s| widen(&kc, s)).collect();
            let got_v: Vec<f32> = slots.iter().flat_map(|&s| widen(&vc, s)).collect();
            assert_close(
                &format!("rope+store K {name} {n_head}x{head_dim}"),
                &got_k,
                &want,
                TOL_ROPE_F16,
            );
            let v16: Vec<f32> = v.iter().map(|&a| f16::from_f32(a).to_f32()).collect();
            assert_close(
                &format!("rope+store V {name} {n_head}x{head_dim}"),
                &got_v,
                &v16,
                0.0,
            );
        }
    }
}

#[test]
fn glu_row_ops_and_elementwise_match_the_cpu() {
    let Some(g) = Gpu::new() else { return };
    let (rows, cols) = (3, 1500);
    let n = rows * cols;
    let (gate, up) = (g.rand(n, 7, 10.0), g.rand(n, 8, 3.0));
    for kind in [GluKind::SwiGlu, GluKind::GeGluTanh] {
        let mut want = gate.clone();
        elementwise::glu(kind, &mut want, &up);
        let (mut dg, du) = (g.up(&gate), g.up(&up));
        match kind {
            GluKind::SwiGlu => g
                .kernels
                .swiglu_f32(&mut dg.as_slice_mut(), &du.as_slice(), n),
            GluKind::GeGluTanh => g
                .kernels
                .geglu_f32(&mut dg.as_slice_mut(), &du.as_slice(), n),
        }
        .unwrap();
        assert_close(
            &format!("{kind:?}"),
            &dg.to_vec().unwrap(),
            &want,
            TOL_EXACTISH,
        );
    }

    let v = g.rand(cols, 9, 2.0);
    let dv = g.up(&v);
    let mut want = gate.clone();
    elementwise::add_row(&mut want, &v);
    let mut dx = g.up(&gate);
    g.kernels
        .add_row_f32(&mut dx.as_slice_mut(), &dv.as_slice(), rows)
        .unwrap();
    assert_close("add_row", &dx.to_vec().unwrap(), &want, 0.0);

    let mut want = gate.clone();
    elementwise::mul_row(&mut want, &v);
    let mut dx = g.up(&gate);
    g.kernels
        .mul_row_f32(&mut dx.as_slice_mut(), &dv.as_slice(), rows)
        .unwrap();
    assert_close("mul_row", &dx.to_vec().unwrap(), &want, 0.0);

    let mut want = gate.clone();
    elementwise::add(&mut want, &up);
    let (mut dx, du) = (g.up(&gate), g.up(&up));
    g.kernels
        .add_assign_f32(&mut dx.as_slice_mut(), &du.as_slice(), n)
        .unwrap();
    assert_close("add (in place)", &dx.to_vec().unwrap(), &want, 0.0);

    let mut want = gate.clone();
    elementwise::scale(&mut want, -0.3);
    let mut dx = g.up(&gate);
    g.kernels
        .scale_assign_f32(&mut dx.as_slice_mut(), n, -0.3)
        .unwrap();
    assert_close("scale (in place)", &dx.to_vec().unwrap(), &want, 0.0);

    for cap in [30.0, 50.0] {
        let big: Vec<f32> = gate.iter().map(|x| x * 8.0).collect();
        let mut want = big.clone();
        elementwise::softcap(&mut want, cap);
        let mut dx = g.up(&big);
        g.kernels
            .softcap_f32(&mut dx.as_slice_mut(), n, cap)
            .unwrap();
        assert_close(
            &format!("softcap {cap}"),
            &dx.to_vec().unwrap(),
            &want,
            TOL_EXACTISH,
        );
    }

    // Row gather: out[i] = src[rows[i]], repeats allowed.
    let idx = [2u32, 0, 2, 1];
    let want: Vec<f32> = idx
        .iter()
        .flat_map(|&r| gate[r as usize * cols..][..cols].to_vec())
        .collect();
    let (ds, di) = (g.up(&gate), g.up(&idx));
    let mut dout = DeviceBuffer::<f32>::zeroed(&g.stream, idx.len() * cols).unwrap();
    g.kernels
        .copy_rows_f32(
            &ds.as_slice(),
            &di.as_slice(),
            &mut dout.as_slice_mut(),
            idx.len(),
            cols,
        )
        .unwrap();
    assert_close("copy_rows", &dout.to_vec().unwrap(), &want, 0.0);
}

#[test]
fn argmax_picks_the_lowest_index_among_equal_maxima() {
    let Some(g) = Gpu::new() else { return };
    for (rows, n_vocab) in [(1, 49_152), (4, 151_936), (3, 1000)] {
        let mut logits = g.rand(rows * n_vocab, 10, 20.0);
        // A tie in every row at two random places; the lower index must win.
        let spots = g.rand(2 * rows, 11, 1.0);
        for r in 0..rows {
            let a = (spots[2 * r].abs() * n_vocab as f32) as usize % n_vocab;
            let b = (spots[2 * r + 1].abs() * n_vocab as f32) as usize % n_vocab;
            logits[r * n_vocab + a] = 100.0;
            logits[r * n_vocab + b] = 100.0;
        }
        // The greedy rule of the CPU sampler: strictly larger replaces, so the first wins.
        let want: Vec<u32> = logits
            .chunks(n_vocab)
            .map(|row| {
                let mut best = 0;
                for (i, &v) in row.iter().enumerate() {
                    if v > row[best] {
                        best = i;
                    }
                }
                best as u32
            })
            .collect();
        let dl = g.up(&logits);
        let mut ids = DeviceBuffer::<u32>::zeroed(&g.stream, rows).unwrap();
        g.kernels
            .argmax_f32(&dl.as_slice(), &mut ids.as_slice_mut(), rows, n_vocab)
            .unwrap();
        assert_eq!(ids.to_vec().unwrap(), want, "{rows}x{n_vocab}");
        println!("argmax {rows}x{n_vocab}: {want:?}");
    }
}
