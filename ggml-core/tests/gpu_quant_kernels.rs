//! The quantized-weight GPU kernels against ggml-core's scalar block codecs, for every weight
//! type the kernels read: get_rows and f16 dequantization bit-exact, q8_1 activation
//! quantization bit-exact with the Q8_1 quantizer, and the matrix x vector products (1 to 8
//! columns, plain and fused with SiLU/GELU-tanh GLUs) within a stated normalised mean squared
//! error. Weights are random f32 values quantized by ggml-core's quantizers; weights and
//! activations are fresh every run (the seed is printed). Without a GPU each test prints
//! "skipped: no GPU"; `ROCMFORGE_REQUIRE_GPU=1` makes that a failure.

use ggml_core::ops::elementwise::{gelu_tanh, silu};
use ggml_core::quants::blocks::{BlockQ8_1, F16Le};
use ggml_core::quants::device::{ggml_type, ScalarReference};
use ggml_core::quants::{dequantize_row, quantize_row, BlockQuantize};
use hip_runtime::testing::gpu_or_skip;
use hip_runtime::{DeviceBuffer, Stream};
use kernels::check::check_kernel;
use kernels::launch_quant::{q8_1_bytes, MAX_MATVEC_COLS};
use kernels::{Glu, KernelError, KernelId, Kernels, MatVecInput, WeightMatrix, WeightType};

/// Normalised mean squared error allowed for quantized weights with q8_1 activations: the
/// activations' rounding to 8 bits (a uniform error of up to half a step, 1/254 of the block's
/// largest magnitude) gives about 1.5e-5 on uniform inputs; the f16 scales add ~1e-7.
const NMSE_Q8: f64 = 1e-4;
/// The same for the GLU outputs, where the gate's error passes through the activation and
/// multiplies the up projection's.
const NMSE_Q8_GLU: f64 = 3e-4;
/// F32/F16/BF16 weights with f32 activations: only the summation order differs.
const NMSE_PLAIN: f64 = 1e-10;

/// A small xorshift generator; seeded from the clock so every run draws new inputs.
struct Rng(u64);

impl Rng {
    fn from_clock(label: &str) -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        let seed = nanos | 1;
        println!("{label}: seed {seed}");
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [-1, 1).
    fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    /// `n` values, each row of `row` scaled by its own factor in [0.05, 2).
    fn rows(&mut self, n: usize, row: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n / row {
            let scale = 1.025 + 0.975 * self.f32();
            out.extend((0..row).map(|_| self.f32() * scale));
        }
        out
    }
}

struct Gpu {
    kernels: Kernels,
    stream: Stream,
}

fn gpu() -> Option<Gpu> {
    let hip = gpu_or_skip()?;
    let device = hip.device(0).unwrap();
    let kernels = Kernels::new(&device).unwrap();
    let stream = Stream::new(&device).unwrap();
    println!("{} ({})", device.info().name, kernels.arch());
    Some(Gpu { kernels, stream })
}

/// Random weights of `ty` (quantized by ggml-core) and their scalar dequantization.
fn weights(ty: WeightType, rows: usize, row_len: usize, rng: &mut Rng) -> (Vec<u8>, Vec<f32>) {
    let g = ggml_type(ty);
    let x = rng.rows(rows * row_len, row_len);
    let mut bytes = vec![0u8; ty.bytes_for(rows * row_len).unwrap()];
    quantize_row(g, &x, &mut bytes).unwrap();
    let mut values = vec![0f32; rows * row_len];
    dequantize_row(g, &bytes, &mut values).unwrap();
    (bytes, values)
}

fn nmse(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let err: f64 = got
        .iter()
        .zip(want)
        .map(|(&g, &w)| (f64::from(g) - w).powi(2))
        .sum();
    let norm: f64 = want.iter().map(|w| w * w).sum();
    if err.is_nan() {
        f64::INFINITY
    } else {
        err / norm.max(f64::MIN_POSITIVE)
    }
}

/// `W · x[c]` for every column in f64: `[ncols][rows]`.
fn reference_matvec(w: &[f32], rows: usize, k: usize, x: &[f32], ncols: usize) -> Vec<f64> {
    (0..ncols * rows)
        .map(|i| {
            let (c, r) = (i / rows, i % rows);
            w[r * k..(r + 1) * k]
                .iter()
                .zip(&x[c * k..(c + 1) * k])
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum()
        })
        .collect()
}

/// Row lengths for `ty`: one whose rows are not 16-byte aligned (for the 2-byte blocks) or
/// not a multiple of 8 (plain types: the kernel's one-at-a-time path), and a long one.
fn row_lengths(ty: WeightType) -> [usize; 2] {
    match ty.block_elems() {
        1 => [100, 2816],
        32 => [800, 2816],
        _ => [768, 2816],
    }
}

#[test]
fn get_rows_is_bit_exact_for_every_type() {
    let Some(gpu) = gpu() else { return };
    let mut rng = Rng::from_clock("get_rows");
    for ty in WeightType::ALL {
        for row_len in row_lengths(ty) {
            let rows = 37;
            let (bytes, values) = weights(ty, rows, row_len, &mut rng);
            let dw = DeviceBuffer::from_host(&gpu.stream, &bytes).unwrap();
            let w = WeightMatrix {
                ty,
                data: dw.as_slice(),
                n_rows: rows,
                row_len,
            };
            // Random rows with repeats, the first and last, and ids past the end.
            let mut ids: Vec<u32> = (0..20)
                .map(|_| (rng.next_u64() % rows as u64) as u32)
                .collect();
            ids.extend([0, rows as u32 - 1, rows as u32, u32::MAX]);
            let did = DeviceBuffer::from_host(&gpu.stream, &ids).unwrap();
            let mut out = DeviceBuffer::<f32>::zeroed(&gpu.stream, ids.len() * row_len).unwrap();
            gpu.kernels
                .get_rows(&w, &did.as_slice(), &mut out.as_slice_mut())
                .unwrap();
            let got = out.to_vec().unwrap();
            for (i, &id) in ids.iter().enumerate() {
                let row = &got[i * row_len..(i + 1) * row_len];
                let want = values
                    .chunks_exact(row_len)
                    .nth(id as usize)
                    .map_or(vec![0.0; row_len], <[f32]>::to_vec);
                let same = row
                    .iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(
                    same,
                    "{ty} row_len {row_len}: row {id} differs from the scalar dequantizer"
                );
            }
        }
        println!("{ty:<7} get_rows exact");
    }
}

#[test]
fn dequantize_f16_is_the_rounded_scalar_dequantization_for_every_type() {
    let Some(gpu) = gpu() else { return };
    let mut rng = Rng::from_clock("dequantize_f16");
    for ty in WeightType::ALL {
        for row_len in row_lengths(ty) {
            let rows = 29;
            let (bytes, values) = weights(ty, rows, row_len, &mut rng);
            let dw = DeviceBuffer::from_host(&gpu.stream, &bytes).unwrap();
            let w = WeightMatrix {
                ty,
                data: dw.as_slice(),
                n_rows: rows,
                row_len,
            };
            let mut out = DeviceBuffer::<u16>::zeroed(&gpu.stream, rows * row_len).unwrap();
            gpu.kernels
                .dequantize_f16(&w, &mut out.as_slice_mut())
                .unwrap();
            let got = out.to_vec().unwrap();
            for (i, (&g, &v)) in got.iter().zip(&values).enumerate() {
                let want = F16Le::from_f32(v);
                assert_eq!(
                    g.to_le_bytes(),
                    want.0,
                    "{ty} row_len {row_len}: weight {i} ({v})"
                );
            }
        }
        println!("{ty:<7} dequantize_f16 exact");
    }
}

#[test]
fn quantize_q8_1_matches_the_scalar_quantizer_bit_for_bit() {
    let Some(gpu) = gpu() else { return };
    let mut rng = Rng::from_clock("quantize_q8_1");
    for (m, k) in [(1, 4096), (3, 2816), (8, 32), (5, 14336)] {
        let mut x = rng.rows(m * k, k);
        // An all-zero block and a block of one repeated value.
        x[..32].fill(0.0);
        if m * k >= 64 {
            x[32..64].fill(-0.75);
        }
        let dx = DeviceBuffer::from_host(&gpu.stream, &x).unwrap();
        let mut dy = DeviceBuffer::<u8>::zeroed(&gpu.stream, q8_1_bytes(m, k)).unwrap();
        gpu.kernels
            .quantize_q8_1(&dx.as_slice(), k, &mut dy.as_slice_mut())
            .unwrap();
        let y = dy.to_vec().unwrap();
        let (quants, scales) = y.split_at(m * k);
        for (b, xs) in x.chunks_exact(32).enumerate() {
            let want = BlockQ8_1::quantize(xs);
            let got_q: Vec<i8> = quants[32 * b..32 * b + 32]
                .iter()
                .map(|&v| v as i8)
                .collect();
            assert_eq!(got_q, want.qs, "[{m}][{k}] block {b}: quants");
            assert_eq!(
                scales[4 * b..4 * b + 2],
                want.d.0,
                "[{m}][{k}] block {b}: d"
            );
            assert_eq!(
                scales[4 * b + 2..4 * b + 4],
                want.s.0,
                "[{m}][{k}] block {b}: s"
            );
        }
    }
}

/// Runs one matrix x vector (or fused GLU) case and returns the NMSE against the reference.
#[allow(clippy::too_many_arguments)]
fn matvec_case(
    gpu: &Gpu,
    ty: WeightType,
    rows: usize,
    k: usize,
    ncols: usize,
    glu: Option<Glu>,
    rng: &mut Rng,
) -> f64 {
    let (bytes, values) = weights(ty, rows, k, rng);
    let (up_bytes, up_values) = match glu {
        Some(_) => weights(ty, rows, k, rng),
        None => (bytes.clone(), values.clone()),
    };
    let dw = DeviceBuffer::from_host(&gpu.stream, &bytes).unwrap();
    let dup = DeviceBuffer::from_host(&gpu.stream, &up_bytes).unwrap();
    let w = WeightMatrix {
        ty,
        data: dw.as_slice(),
        n_rows: rows,
        row_len: k,
    };
    let up = WeightMatrix {
        data: dup.as_slice(),
        ..w
    };
    let x = rng.rows(ncols * k, k);
    let dx = DeviceBuffer::from_host(&gpu.stream, &x).unwrap();
    let mut q8 = DeviceBuffer::<u8>::zeroed(&gpu.stream, q8_1_bytes(ncols, k)).unwrap();
    let input = if ty.is_plain() {
        MatVecInput::F32(dx.as_slice())
    } else {
        gpu.kernels
            .quantize_q8_1(&dx.as_slice(), k, &mut q8.as_slice_mut())
            .unwrap();
        MatVecInput::Q8_1(q8.as_slice())
    };
    let mut out = DeviceBuffer::<f32>::zeroed(&gpu.stream, ncols * rows).unwrap();
    let gate = reference_matvec(&values, rows, k, &x, ncols);
    let want: Vec<f64> = match glu {
        None => {
            gpu.kernels
                .matvec(&w, input, ncols, &mut out.as_slice_mut())
                .unwrap();
            gate
        }
        Some(kind) => {
            gpu.kernels
                .matvec_glu(&w, &up, kind, input, ncols, &mut out.as_slice_mut())
                .unwrap();
            let upv = reference_matvec(&up_values, rows, k, &x, ncols);
            let act: fn(f32) -> f32 = match kind {
                Glu::Silu => silu,
                Glu::GeluTanh => gelu_tanh,
            };
            gate.iter()
                .zip(&upv)
                .map(|(&g, &u)| f64::from(act(g as f32)) * u)
                .collect()
        }
    };
    nmse(&out.to_vec().unwrap(), &want)
}

#[test]
fn matvec_matches_the_scalar_reference_for_every_type_and_column_count() {
    let Some(gpu) = gpu() else { return };
    let mut rng = Rng::from_clock("matvec");
    for ty in WeightType::ALL {
        let tolerance = if ty.is_plain() { NMSE_PLAIN } else { NMSE_Q8 };
        let mut worst = 0f64;
        for ncols in 1..=MAX_MATVEC_COLS {
            for (i, k) in row_lengths(ty).into_iter().enumerate() {
                // Row counts that leave the last block of warps partly empty.
                let rows = [67, 130][i];
                let e = matvec_case(&gpu, ty, rows, k, ncols, None, &mut rng);
                assert!(
                    e <= tolerance,
                    "{ty} [{rows}][{k}] x {ncols} columns: NMSE {e:.3e} > {tolerance:.0e}"
                );
                worst = worst.max(e);
            }
        }
        println!("{ty:<7} matvec worst NMSE {worst:.2e} (tolerance {tolerance:.0e})");
    }
}

#[test]
fn fused_gate_up_glu_matches_the_scalar_reference() {
    let Some(gpu) = gpu() else { return };
    let mut rng = Rng::from_clock("matvec_glu");
    for ty in WeightType::ALL {
        let tolerance = if ty.is_plain() {
            NMSE_PLAIN
        } else {
            NMSE_Q8_GLU
        };
        let mut worst = 0f64;
        for (ncols, glu) in [
            (1, Glu::Silu),
            (3, Glu::GeluTanh),
            (8, Glu::Silu),
            (5, Glu::GeluTanh),
        ] {
            let k = row_lengths(ty)[1];
            let e = matvec_case(&gpu, ty, 45, k, ncols, Some(glu), &mut rng);
            assert!(
                e <= tolerance,
                "{ty} {glu:?} x {ncols} columns: NMSE {e:.3e} > {tolerance:.0e}"
            );
            worst = worst.max(e);
        }
        println!("{ty:<7} matvec_glu worst NMSE {worst:.2e} (tolerance {tolerance:.0e})");
    }
}

#[test]
fn launchers_reject_bad_shapes_and_work_goes_on() {
    let Some(gpu) = gpu() else { return };
    let s = &gpu.stream;
    let ty = WeightType::Q4_K;
    let dw = DeviceBuffer::<u8>::zeroed(s, ty.bytes_for(4 * 512).unwrap()).unwrap();
    let w = WeightMatrix {
        ty,
        data: dw.as_slice(),
        n_rows: 4,
        row_len: 512,
    };
    let q8 = DeviceBuffer::<u8>::zeroed(s, q8_1_bytes(9, 512) + 16).unwrap();
    let mut out = DeviceBuffer::<f32>::zeroed(s, 9 * 4).unwrap();
    let shape = |e: KernelError| assert!(matches!(e, KernelError::Shape { .. }), "{e}");
    // Column counts out of range.
    for ncols in [0, 9] {
        let x = q8.slice(0..q8_1_bytes(ncols, 512)).unwrap();
        let mut o = out.slice_mut(0..ncols * 4).unwrap();
        shape(
            gpu.kernels
                .matvec(&w, MatVecInput::Q8_1(x), ncols, &mut o)
                .unwrap_err(),
        );
    }
    // f32 activations for a quantized type.
    let xf = DeviceBuffer::<f32>::zeroed(s, 512).unwrap();
    let mut one = DeviceBuffer::<f32>::from_host(s, &[7.0; 4]).unwrap();
    let mut o = one.as_slice_mut();
    shape(
        gpu.kernels
            .matvec(&w, MatVecInput::F32(xf.as_slice()), 1, &mut o)
            .unwrap_err(),
    );
    // A row that is not whole blocks.
    let bad = WeightMatrix { row_len: 500, ..w };
    shape(
        gpu.kernels
            .matvec(&bad, MatVecInput::F32(xf.as_slice()), 1, &mut o)
            .unwrap_err(),
    );
    // Misaligned activations.
    let x = q8.slice(4..4 + q8_1_bytes(1, 512)).unwrap();
    let err = gpu
        .kernels
        .matvec(&w, MatVecInput::Q8_1(x), 1, &mut o)
        .unwrap_err();
    assert!(
        matches!(err, KernelError::Alignment { arg: "x", .. }),
        "{err}"
    );
    // Wrong output length.
    let x = q8.slice(0..q8_1_bytes(1, 512)).unwrap();
    let mut short_buf = DeviceBuffer::<f32>::zeroed(s, 3).unwrap();
    let mut short = short_buf.as_slice_mut();
    let err = gpu
        .kernels
        .matvec(&w, MatVecInput::Q8_1(x), 1, &mut short)
        .unwrap_err();
    assert!(
        matches!(err, KernelError::Length { arg: "out", .. }),
        "{err}"
    );
    // Gate and up of different shapes.
    let up = WeightMatrix { n_rows: 3, ..w };
    shape(
        gpu.kernels
            .matvec_glu(&w, &up, Glu::Silu, MatVecInput::Q8_1(x), 1, &mut o)
            .unwrap_err(),
    );
    // k not a multiple of 32 for the activation quantizer.
    let mut q = DeviceBuffer::<u8>::zeroed(s, 1024).unwrap();
    shape(
        gpu.kernels
            .quantize_q8_1(&xf.as_slice(), 100, &mut q.as_slice_mut())
            .unwrap_err(),
    );
    // The zero matrix still multiplies to zero.
    gpu.kernels
        .matvec(&w, MatVecInput::Q8_1(x), 1, &mut o)
        .unwrap();
    assert_eq!(one.to_vec().unwrap(), [0.0; 4]);
}

#[test]
fn doctor_checks_of_the_quant_kernels_pass() {
    let Some(gpu) = gpu() else { return };
    let mine = KernelId::ALL
        .into_iter()
        .filter(|k| k.per_weight_type() || *k == KernelId::QuantizeQ8_1);
    for kernel in mine {
        let check = check_kernel(&gpu.kernels, &gpu.stream, kernel, Some(&ScalarReference))
            .unwrap_or_else(|e| panic!("{kernel}: {e}"));
        println!(
            "{kernel:<22} max error {:.3e} (tolerance {:.1e})",
            check.max_abs_error, check.tolerance
        );
        assert!(check.passed(), "{kernel}: {check:?}");
    }
}
