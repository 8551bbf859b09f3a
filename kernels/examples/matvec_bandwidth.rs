//! Batch-1 (and batch-8) decode matrix x vector speed on the first GPU, for a 4096 x 14336
//! weight matrix in both orientations (FFN up: 14336 rows of 4096; FFN down: 4096 rows of
//! 14336) and Q4_0, Q4_K, Q8_0, with every launch shape of the config table's range; prints
//! the weight bytes read per second beside a device-to-device copy's bandwidth (read + write).
//! Each timed launch reads a different copy of the matrix (at least 256 MiB in all), so the
//! weights come from memory, not from the L2 cache.
//! A measurement to read, not a test: `cargo run --release -p kernels --example
//! matvec_bandwidth`.

use hip_runtime::{DeviceBuffer, Event, Hip, Stream};
use kernels::launch_quant::{matvec_config, q8_1_bytes, MatVecConfig};
use kernels::{Kernels, MatVecInput, WeightMatrix, WeightType};

/// Launches timed per measurement (after a warm-up of the same count).
const REPS: usize = 200;

/// Random bytes (a 64-bit LCG) with every f16 scale field set to a small valid value, so
/// the blocks are valid weights of `ty`.
fn random_blocks(ty: WeightType, blocks: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut bytes: Vec<u8> = (0..blocks * ty.block_bytes())
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect();
    // f16 0.01 (0x211f) at the scale offsets of each block.
    let scales: &[usize] = match ty {
        WeightType::Q4_0 | WeightType::Q8_0 => &[0],
        WeightType::Q4_K => &[0, 2],
        _ => &[],
    };
    for block in bytes.chunks_exact_mut(ty.block_bytes()) {
        for &at in scales {
            block[at..at + 2].copy_from_slice(&0x211fu16.to_le_bytes());
        }
    }
    bytes
}

/// Milliseconds per call of `f`, timed with events over REPS calls after REPS warm-ups.
fn time_ms(stream: &Stream, mut f: impl FnMut()) -> Result<f64, Box<dyn std::error::Error>> {
    for _ in 0..REPS {
        f();
    }
    let (start, end) = (Event::new(stream.device())?, Event::new(stream.device())?);
    start.record(stream)?;
    for _ in 0..REPS {
        f();
    }
    end.record(stream)?;
    end.synchronize()?;
    Ok(f64::from(start.elapsed_ms(&end)?) / REPS as f64)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let hip = Hip::global()?;
    let device = hip.device(0)?;
    let kernels = Kernels::new(&device)?;
    let stream = Stream::new(&device)?;
    println!("{} ({})", device.info().name, kernels.arch());

    let copy_len = 1usize << 30;
    let src = DeviceBuffer::<u8>::zeroed(&stream, copy_len)?;
    let mut dst = DeviceBuffer::<u8>::zeroed(&stream, copy_len)?;
    let ms = time_ms(&stream, || {
        dst.as_slice_mut()
            .copy_from_device_async(&src.as_slice())
            .expect("device copy");
    })?;
    let copy_gbs = 2.0 * copy_len as f64 / ms / 1e6;
    println!("device copy 1 GiB: {ms:.3} ms, {copy_gbs:.0} GB/s (read + write)");

    for ty in [WeightType::Q4_0, WeightType::Q4_K, WeightType::Q8_0] {
        for (n_rows, k) in [(14336usize, 4096usize), (4096, 14336)] {
            let bytes = random_blocks(ty, n_rows * k / ty.block_elems());
            let copies = (256usize << 20).div_ceil(bytes.len());
            let dws = (0..copies)
                .map(|_| DeviceBuffer::from_host(&stream, &bytes))
                .collect::<Result<Vec<_>, _>>()?;
            let ws: Vec<WeightMatrix<'_>> = dws
                .iter()
                .map(|dw| WeightMatrix {
                    ty,
                    data: dw.as_slice(),
                    n_rows,
                    row_len: k,
                })
                .collect();
            for ncols in [1usize, 8] {
                let x: Vec<f32> = (0..ncols * k)
                    .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                    .collect();
                let dx = DeviceBuffer::from_host(&stream, &x)?;
                let mut q8 = DeviceBuffer::<u8>::zeroed(&stream, q8_1_bytes(ncols, k))?;
                kernels.quantize_q8_1(&dx.as_slice(), k, &mut q8.as_slice_mut())?;
                let mut out = DeviceBuffer::<f32>::zeroed(&stream, ncols * n_rows)?;
                let tuned = matvec_config(ty).warps;
                for warps in [1u32, 2, 4, 8] {
                    let config = MatVecConfig { warps };
                    let input = MatVecInput::Q8_1(q8.as_slice());
                    let mut next = 0;
                    let ms = time_ms(&stream, || {
                        let w = &ws[next % ws.len()];
                        next += 1;
                        kernels
                            .matvec_with(config, w, None, input, ncols, &mut out.as_slice_mut())
                            .expect("matvec launch");
                    })?;
                    let gbs = bytes.len() as f64 / ms / 1e6;
                    println!(
                        "{ty:<5} [{n_rows}][{k}] x{ncols} warps {warps}{}: {:.1} us, {gbs:.0} GB/s of weights ({:.0}% of copy)",
                        if warps == tuned { " (table)" } else { "" },
                        ms * 1e3,
                        100.0 * gbs / copy_gbs
                    );
                }
                // The same matrix every launch, for comparison: partly served by the L2.
                let input = MatVecInput::Q8_1(q8.as_slice());
                let config = MatVecConfig { warps: tuned };
                let ms = time_ms(&stream, || {
                    kernels
                        .matvec_with(config, &ws[0], None, input, ncols, &mut out.as_slice_mut())
                        .expect("matvec launch");
                })?;
                println!(
                    "{ty:<5} [{n_rows}][{k}] x{ncols} one copy (L2-warm): {:.1} us, {:.0} GB/s",
                    ms * 1e3,
                    bytes.len() as f64 / ms / 1e6
                );
            }
        }
    }
    Ok(())
}
