//! Doctor checks of the forward-pass kernels (norm, rope, KV stores, GLU, row ops,
//! attention, argmax): small deterministic cases against independent f64 formulas. The
//! full cross-checks against ggml-core's and attention's CPU ops live in those crates' tests.

use half::f16;
use hip_runtime::{DeviceBuffer, Stream};

use crate::check::upload;
use crate::error::KernelError;
use crate::launch_attention::{attention_decode_scratch_len, AttnShape, AttnStep};
use crate::launch_sample::{sample_uniform, SampleParams};
use crate::loader::Kernels;
use crate::reference::{max_abs_diff, test_f32};
use crate::registry::KernelId;
use crate::RopeConsts;

/// (elements, largest absolute error, tolerance) of one check.
type Outcome = (usize, f64, f64);

/// Runs the check of `kernel` (one of this module's).
pub(crate) fn check(
    kernels: &Kernels,
    stream: &Stream,
    kernel: KernelId,
) -> Result<Outcome, KernelError> {
    match kernel {
        KernelId::AddRowF32 | KernelId::MulRowF32 => row_op(kernels, stream, kernel),
        KernelId::SoftcapF32 => {
            let x: Vec<f32> = test_f32(5000, 21).iter().map(|v| v * 80.0).collect();
            let mut dx = upload(stream, &x)?;
            kernels.softcap_f32(&mut dx.as_slice_mut(), x.len(), 30.0)?;
            let want = x.iter().map(|&v| 30.0 * (f64::from(v) / 30.0).tanh());
            Ok((x.len(), max_err(&dx.to_vec()?, want), 3e-5))
        }
        KernelId::SwigluF32 | KernelId::GegluF32 => glu(kernels, stream, kernel),
        KernelId::CopyRowsF32 => {
            let (cols, src) = (100, test_f32(1000, 22));
            let rows = [3u32, 0, 9, 3, 42];
            let (ds, dr) = (upload(stream, &src)?, upload(stream, &rows)?);
            let mut out = DeviceBuffer::<f32>::zeroed(stream, rows.len() * cols)?;
            kernels.copy_rows_f32(
                &ds.as_slice(),
                &dr.as_slice(),
                &mut out.as_slice_mut(),
                rows.len(),
                cols,
            )?;
            let src = &src;
            let want: Vec<f32> = rows
                .iter()
                .flat_map(|&r| {
                    let r = r as usize;
                    (0..cols).map(move |c| if r < 10 { src[r * cols + c] } else { 0.0 })
                })
                .collect();
            Ok((want.len(), max_abs_diff(&out.to_vec()?, &want), 0.0))
        }
        KernelId::Spin => {
            let mut done = DeviceBuffer::<u32>::zeroed(stream, 1)?;
            kernels.spin(&mut done.as_slice_mut(), 10_000)?;
            Ok((1, f64::from(1 - done.to_vec()?[0].min(1)), 0.0))
        }
        KernelId::RmsNormF32 | KernelId::AddRmsNormF32 => norm(kernels, stream, kernel),
        KernelId::RopeF32 | KernelId::RopeStoreKvF16 => rope(kernels, stream, kernel),
        KernelId::StoreKvF16 | KernelId::StoreKvF32 => store(kernels, stream, kernel),
        KernelId::AttnF16 | KernelId::AttnCombine => attention(kernels, stream, kernel),
        KernelId::ArgmaxF32 => argmax(kernels, stream),
        KernelId::SampleF32 => sample(kernels, stream),
        _ => Err(KernelError::Shape {
            kernel,
            detail: "not a forward-pass kernel".to_string(),
        }),
    }
}

/// Largest absolute difference between f32 results and f64 expectations.
fn max_err(got: &[f32], want: impl Iterator<Item = f64>) -> f64 {
    let want: Vec<f32> = want.map(|w| w as f32).collect();
    max_abs_diff(got, &want)
}

fn row_op(kernels: &Kernels, stream: &Stream, kernel: KernelId) -> Result<Outcome, KernelError> {
    let (rows, cols) = (37, 300);
    let (x, v) = (test_f32(rows * cols, 23), test_f32(cols, 24));
    let (mut dx, dv) = (upload(stream, &x)?, upload(stream, &v)?);
    let add = kernel == KernelId::AddRowF32;
    if add {
        kernels.add_row_f32(&mut dx.as_slice_mut(), &dv.as_slice(), rows)?;
    } else {
        kernels.mul_row_f32(&mut dx.as_slice_mut(), &dv.as_slice(), rows)?;
    }
    let want: Vec<f32> = x
        .iter()
        .enumerate()
        .map(|(i, &a)| {
            if add {
                a + v[i % cols]
            } else {
                a * v[i % cols]
            }
        })
        .collect();
    Ok((x.len(), max_abs_diff(&dx.to_vec()?, &want), 0.0))
}

fn glu(kernels: &Kernels, stream: &Stream, kernel: KernelId) -> Result<Outcome, KernelError> {
    let n = 4099;
    let gate: Vec<f32> = test_f32(n, 25).iter().map(|v| v * 8.0).collect();
    let up = test_f32(n, 26);
    let (mut dg, du) = (upload(stream, &gate)?, upload(stream, &up)?);
    let silu = kernel == KernelId::SwigluF32;
    if silu {
        kernels.swiglu_f32(&mut dg.as_slice_mut(), &du.as_slice(), n)?;
    } else {
        kernels.geglu_f32(&mut dg.as_slice_mut(), &du.as_slice(), n)?;
    }
    let want = gate.iter().zip(&up).map(|(&g, &u)| {
        let (g, u) = (f64::from(g), f64::from(u));
        let act = if silu {
            g / (1.0 + (-g).exp())
        } else {
            let inner = (2.0 / std::f64::consts::PI).sqrt() * g * (1.0 + 0.044715 * g * g);
            0.5 * g * (1.0 + inner.tanh())
        };
        act * u
    });
    Ok((n, max_err(&dg.to_vec()?, want), 1e-5))
}

fn norm(kernels: &Kernels, stream: &Stream, kernel: KernelId) -> Result<Outcome, KernelError> {
    let (rows, dim, eps) = (7, 1003, 1e-6f32);
    let (x, y, w) = (
        test_f32(rows * dim, 27),
        test_f32(rows * dim, 28),
        test_f32(dim, 29),
    );
    let (mut dx, dw) = (upload(stream, &x)?, upload(stream, &w)?);
    let fused = kernel == KernelId::AddRmsNormF32;
    let (got, mut err, base) = if fused {
        let dy = upload(stream, &y)?;
        let mut dn = DeviceBuffer::<f32>::zeroed(stream, rows * dim)?;
        kernels.add_rms_norm_f32(
            &mut dx.as_slice_mut(),
            &dy.as_slice(),
            &mut dn.as_slice_mut(),
            Some(&dw.as_slice()),
            rows,
            dim,
            eps,
        )?;
        let sum: Vec<f32> = x.iter().zip(&y).map(|(a, b)| a + b).collect();
        let err = max_abs_diff(&dx.to_vec()?, &sum);
        (dn.to_vec()?, err, sum)
    } else {
        kernels.rms_norm_f32(&mut dx.as_slice_mut(), Some(&dw.as_slice()), rows, dim, eps)?;
        (dx.to_vec()?, 0.0, x)
    };
    let mut want = Vec::with_capacity(rows * dim);
    for row in base.chunks(dim) {
        let ms = row
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            / dim as f64;
        let scale = 1.0 / (ms + f64::from(eps)).sqrt();
        want.extend(
            row.iter()
                .zip(&w)
                .map(|(&v, &w)| f64::from(v) * scale * f64::from(w)),
        );
    }
    err = err.max(max_err(&got, want.into_iter()));
    Ok((rows * dim, err, 1e-5))
}

/// Plain rope (no scaling) in f64: head `[head_dim]` rotated at `pos`.
fn rope_ref(head: &[f32], pos: i32, n_dims: usize, neox: bool, base: f64) -> Vec<f64> {
    let mut out: Vec<f64> = head.iter().map(|&v| f64::from(v)).collect();
    for j in 0..n_dims / 2 {
        let angle = f64::from(pos) * base.powf(-2.0 * j as f64 / n_dims as f64);
        let (a, b) = if neox {
            (j, j + n_dims / 2)
        } else {
            (2 * j, 2 * j + 1)
        };
        let (x0, x1) = (f64::from(head[a]), f64::from(head[b]));
        out[a] = x0 * angle.cos() - x1 * angle.sin();
        out[b] = x0 * angle.sin() + x1 * angle.cos();
    }
    out
}

fn rope(kernels: &Kernels, stream: &Stream, kernel: KernelId) -> Result<Outcome, KernelError> {
    let (n_head, head_dim, n_dims, base) = (3, 64, 48, 10_000f32);
    let pos = [0i32, 1, 17, 99];
    let m = pos.len();
    let x = test_f32(m * n_head * head_dim, 30);
    let dpos = upload(stream, &pos)?;
    let consts = |neox| RopeConsts {
        theta_scale: base.powf(-2.0 / n_dims as f32),
        freq_scale: 1.0,
        ext_factor: 0.0,
        mscale: 1.0,
        corr_lo: 0.0,
        corr_hi: 0.0,
        n_dims,
        neox,
    };
    let mut err = 0f64;
    for neox in [false, true] {
        let want: Vec<f64> = x
            .chunks(head_dim)
            .enumerate()
            .flat_map(|(i, h)| rope_ref(h, pos[i / n_head], n_dims, neox, f64::from(base)))
            .collect();
        let got = if kernel == KernelId::RopeF32 {
            let mut dx = upload(stream, &x)?;
            let c = consts(neox);
            kernels.rope_f32(
                &mut dx.as_slice_mut(),
                &dpos.as_slice(),
                None,
                m,
                n_head,
                head_dim,
                &c,
            )?;
            dx.to_vec()?
        } else {
            // n_head KV heads; V is a copy of K; slots reversed within an 8-slot cache.
            let slots: Vec<u32> = (0..m as u32).map(|t| 7 - t).collect();
            let (dk, ds) = (upload(stream, &x)?, upload(stream, &slots)?);
            let row = n_head * head_dim;
            let mut kc = DeviceBuffer::<u16>::zeroed(stream, 8 * row)?;
            let mut vc = DeviceBuffer::<u16>::zeroed(stream, 8 * row)?;
            kernels.rope_store_kv_f16(
                &dk.as_slice(),
                &dk.as_slice(),
                &dpos.as_slice(),
                &ds.as_slice(),
                None,
                &mut kc.as_slice_mut(),
                &mut vc.as_slice_mut(),
                m,
                n_head,
                (head_dim, head_dim),
                &consts(neox),
            )?;
            let (kc, vc) = (kc.to_vec()?, vc.to_vec()?);
            let mut got = Vec::with_capacity(x.len());
            for (t, &s) in slots.iter().enumerate() {
                let s = s as usize * row;
                got.extend(kc[s..s + row].iter().map(|&h| f16::from_bits(h).to_f32()));
                let v: Vec<f32> = vc[s..s + row]
                    .iter()
                    .map(|&h| f16::from_bits(h).to_f32())
                    .collect();
                let xv: Vec<f32> = x[t * row..(t + 1) * row]
                    .iter()
                    .map(|&v| f16::from_f32(v).to_f32())
                    .collect();
                err = err.max(max_abs_diff(&v, &xv));
            }
            got
        };
        err = err.max(max_err(&got, want.into_iter()));
    }
    // f32 angles built by repeated products drift by ~1e-4 rad at position 99; the f16
    // cache adds half an f16 ulp (≤ 4.9e-4 below 1).
    let tol = if kernel == KernelId::RopeF32 {
        1e-3
    } else {
        2e-3
    };
    Ok((2 * x.len(), err, tol))
}

fn store(kernels: &Kernels, stream: &Stream, kernel: KernelId) -> Result<Outcome, KernelError> {
    let (kw, vw, n_slots) = (96, 80, 9);
    let slots = [5u32, 2, 8, 0, 100];
    let m = slots.len();
    let (k, v) = (test_f32(m * kw, 31), test_f32(m * vw, 32));
    let (dk, dv, ds) = (
        upload(stream, &k)?,
        upload(stream, &v)?,
        upload(stream, &slots)?,
    );
    // Expected caches: the rows at their slots, zeros elsewhere; slot 100 is past the end.
    let mut want_k = vec![0f32; n_slots * kw];
    let mut want_v = vec![0f32; n_slots * vw];
    let half = kernel == KernelId::StoreKvF16;
    let round = |x: f32| if half { f16::from_f32(x).to_f32() } else { x };
    for (t, &s) in slots.iter().enumerate() {
        let s = s as usize;
        if s < n_slots {
            for i in 0..kw {
                want_k[s * kw + i] = round(k[t * kw + i]);
            }
            for i in 0..vw {
                want_v[s * vw + i] = round(v[t * vw + i]);
            }
        }
    }
    let (got_k, got_v) = if half {
        let mut kc = DeviceBuffer::<u16>::zeroed(stream, n_slots * kw)?;
        let mut vc = DeviceBuffer::<u16>::zeroed(stream, n_slots * vw)?;
        kernels.store_kv_f16(
            &dk.as_slice(),
            &dv.as_slice(),
            &ds.as_slice(),
            &mut kc.as_slice_mut(),
            &mut vc.as_slice_mut(),
            m,
            kw,
            vw,
        )?;
        let widen = |b: Vec<u16>| b.into_iter().map(|h| f16::from_bits(h).to_f32()).collect();
        (widen(kc.to_vec()?), widen(vc.to_vec()?))
    } else {
        let mut kc = DeviceBuffer::<f32>::zeroed(stream, n_slots * kw)?;
        let mut vc = DeviceBuffer::<f32>::zeroed(stream, n_slots * vw)?;
        kernels.store_kv_f32(
            &dk.as_slice(),
            &dv.as_slice(),
            &ds.as_slice(),
            &mut kc.as_slice_mut(),
            &mut vc.as_slice_mut(),
            m,
            kw,
            vw,
        )?;
        (kc.to_vec()?, vc.to_vec()?)
    };
    let err: f64 = max_abs_diff(&got_k, &want_k).max(max_abs_diff(&got_v, &want_v));
    Ok((m * (kw + vw), err, 0.0))
}

/// Two sequences (150 and 70 keys) in scattered blocks; GQA 2, head dimension 64, window
/// 100, soft-capping 5: checked whole (prefill launcher, `AttnF16`) or split into key
/// chunks and combined (decode launcher, `AttnCombine`).
fn attention(kernels: &Kernels, stream: &Stream, kernel: KernelId) -> Result<Outcome, KernelError> {
    const BS: usize = crate::KV_BLOCK_SIZE;
    let (n_head, n_kv, d, n_blocks, max_blocks, window) = (4, 2, 64, 16, 10, 100);
    let n_slots = n_blocks * BS;
    let x = u32::MAX;
    let tables: [u32; 20] = [
        15, 3, 8, 1, 12, 6, 0, 10, 4, 13, // sequence 0
        2, 9, 14, 5, 11, x, x, x, x, x, // sequence 1 (unused entries out of range)
    ];
    // Tokens: the last two positions of sequence 0, the last of sequence 1.
    let (pos, tok_row) = ([148i32, 149, 69], [0u32, 0, 1]);
    let m = pos.len();
    let kc: Vec<u16> = test_f32(n_slots * n_kv * d, 33)
        .iter()
        .map(|&v| f16::from_f32(v).to_bits())
        .collect();
    let vc: Vec<u16> = test_f32(n_slots * n_kv * d, 34)
        .iter()
        .map(|&v| f16::from_f32(v).to_bits())
        .collect();
    let q = test_f32(m * n_head * d, 35);
    let shape = AttnShape {
        n_head,
        n_kv_head: n_kv,
        head_dim_k: d,
        head_dim_v: d,
        scale: 0.125,
        window: Some(window),
        softcap: Some(5.0),
    };
    let kv = |i: usize, c: &[u16]| f64::from(f16::from_bits(c[i]).to_f32());
    let mut want = Vec::with_capacity(m * n_head * d);
    for t in 0..m {
        let p = pos[t] as usize;
        let row = &tables[tok_row[t] as usize * max_blocks..][..max_blocks];
        for h in 0..n_head {
            let kvh = h / (n_head / n_kv);
            let qh = &q[(t * n_head + h) * d..][..d];
            let keys: Vec<usize> = (p + 1 - window.min(p + 1)..=p)
                .map(|j| row[j / BS] as usize * BS + j % BS)
                .collect();
            let scores: Vec<f64> = keys
                .iter()
                .map(|&s| {
                    let dot: f64 = (0..d)
                        .map(|i| f64::from(qh[i]) * kv((s * n_kv + kvh) * d + i, &kc))
                        .sum();
                    5.0 * (dot * 0.125 / 5.0).tanh()
                })
                .collect();
            let mx = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = scores.iter().map(|s| (s - mx).exp()).collect();
            let z: f64 = e.iter().sum();
            for i in 0..d {
                want.push(
                    keys.iter()
                        .zip(&e)
                        .map(|(&s, w)| w * kv((s * n_kv + kvh) * d + i, &vc))
                        .sum::<f64>()
                        / z,
                );
            }
        }
    }
    let (dq, dkc, dvc) = (
        upload(stream, &q)?,
        upload(stream, &kc)?,
        upload(stream, &vc)?,
    );
    let (dpos, drow, dtab) = (
        upload(stream, &pos)?,
        upload(stream, &tok_row)?,
        upload(stream, &tables)?,
    );
    let step = AttnStep {
        m,
        pos: dpos.as_slice(),
        tok_row: drow.as_slice(),
        block_tables: dtab.as_slice(),
        max_blocks,
    };
    let mut out = DeviceBuffer::<f32>::zeroed(stream, m * n_head * d)?;
    if kernel == KernelId::AttnF16 {
        kernels.attention_prefill_f16(
            &dq.as_slice(),
            &dkc.as_slice(),
            &dvc.as_slice(),
            &step,
            &shape,
            &mut out.as_slice_mut(),
        )?;
    } else {
        // 150 keys in chunks of 64: three partials per token.
        let max_keys = 150;
        let need = attention_decode_scratch_len(&shape, m, max_keys).max(1);
        let mut scratch = DeviceBuffer::<f32>::zeroed(stream, need)?;
        kernels.attention_decode_f16(
            &dq.as_slice(),
            &dkc.as_slice(),
            &dvc.as_slice(),
            &step,
            &shape,
            max_keys,
            &mut scratch.as_slice_mut(),
            &mut out.as_slice_mut(),
        )?;
    }
    Ok((want.len(), max_err(&out.to_vec()?, want.into_iter()), 1e-5))
}

fn argmax(kernels: &Kernels, stream: &Stream) -> Result<Outcome, KernelError> {
    let (rows, n_vocab) = (3, 50_000);
    let mut logits = test_f32(rows * n_vocab, 36);
    // Row 0: a tie between two maxima (the lower index wins); row 2: a NaN and -inf.
    logits[40_000] = 3.0;
    logits[7] = 3.0;
    logits[2 * n_vocab + 5] = f32::NAN;
    logits[2 * n_vocab + 6] = f32::NEG_INFINITY;
    logits[2 * n_vocab + 49_999] = 2.0;
    let dl = upload(stream, &logits)?;
    let mut ids = DeviceBuffer::<u32>::zeroed(stream, rows)?;
    kernels.argmax_f32(&dl.as_slice(), &mut ids.as_slice_mut(), rows, n_vocab)?;
    let want: Vec<u32> = logits
        .chunks(n_vocab)
        .map(|r| {
            let mut best = 0;
            for (i, &v) in r.iter().enumerate() {
                if v > r[best] || r[best].is_nan() {
                    best = i;
                }
            }
            best as u32
        })
        .collect();
    let wrong = ids
        .to_vec()?
        .iter()
        .zip(&want)
        .filter(|(a, b)| a != b)
        .count();
    Ok((rows * n_vocab, wrong as f64, 0.0))
}

/// The sampling chain on one row, in the CPU sampler's order and float types: sort by
/// (logit desc, id asc), top-k, top-p (f32 probabilities, f64 normaliser), min-p,
/// temperature, draw with `u` (f64 sums).
fn sample_ref(row: &[f32], p: &SampleParams, u: f64) -> u32 {
    let mut c: Vec<(f32, u32)> = row
        .iter()
        .enumerate()
        .map(|(i, &l)| (l, i as u32))
        .collect();
    c.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    c.truncate(p.top_k.max(p.min_keep));
    let mx = c[0].0;
    let z: f64 = c.iter().map(|x| f64::from((x.0 - mx).exp())).sum();
    let inv = (1.0 / z) as f32;
    let mut cum = 0f32;
    for i in 0..c.len() {
        cum += (c[i].0 - mx).exp() * inv;
        if cum >= p.top_p && i + 1 >= p.min_keep {
            c.truncate(i + 1);
            break;
        }
    }
    let thr = mx + p.min_p.ln();
    let kept = c.iter().filter(|x| x.0 >= thr).count();
    c.truncate(if kept >= p.min_keep { kept } else { p.min_keep });
    let w: Vec<f32> = c
        .iter()
        .map(|x| (x.0 / p.temperature - mx / p.temperature).exp())
        .collect();
    let target = u * w.iter().map(|&v| f64::from(v)).sum::<f64>();
    let mut acc = 0f64;
    for (x, &v) in c.iter().zip(&w) {
        acc += f64::from(v);
        if target < acc {
            return x.1;
        }
    }
    c[c.len() - 1].1
}

fn sample(kernels: &Kernels, stream: &Stream) -> Result<Outcome, KernelError> {
    let (rows, n_vocab) = (4, 32_000);
    let logits: Vec<f32> = test_f32(rows * n_vocab, 37)
        .iter()
        .map(|v| v * 8.0)
        .collect();
    let params = SampleParams {
        temperature: 0.8,
        top_k: 40,
        top_p: 0.9,
        min_p: 0.05,
        min_keep: 1,
    };
    let seeds: Vec<u64> = (0..rows as u64).map(|r| 1000 + r).collect();
    let steps: Vec<u32> = (0..rows as u32).map(|r| 3 * r).collect();
    let (dl, ds, dt) = (
        upload(stream, &logits)?,
        upload(stream, &seeds)?,
        upload(stream, &steps)?,
    );
    let mut ids = DeviceBuffer::<u32>::zeroed(stream, rows)?;
    kernels.sample_f32(
        &dl.as_slice(),
        &ds.as_slice(),
        &dt.as_slice(),
        &mut ids.as_slice_mut(),
        rows,
        n_vocab,
        &params,
    )?;
    let wrong = ids
        .to_vec()?
        .iter()
        .enumerate()
        .filter(|&(r, &id)| {
            let row = &logits[r * n_vocab..(r + 1) * n_vocab];
            id != sample_ref(row, &params, sample_uniform(seeds[r], steps[r]))
        })
        .count();
    Ok((rows * n_vocab, wrong as f64, 0.0))
}
