//! Matrix products with 8-bit activations on the CPU pool: the activation rows are quantized
//! once per product into a reused buffer, then the weight rows are split into chunks that the
//! pool's threads claim; inside a chunk each group of up to four activation rows is dotted
//! with every weight row of the chunk, so a weight block is unpacked once for four tokens and
//! an activation tile stays in L1 across the rows.

use super::pool::{Chunks, Pool};
use super::qdot::Kernel;
use super::OpError;
use crate::tensor::Tensor;

/// How the CPU backend rounds activations in matrix products. The default is `F32` unless
/// `ROCMFORGE_CPU_NUMERICS` says `q8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Numerics {
    /// Activations quantized to 8 bits per matmul and integer dot products, as llama.cpp's
    /// CPU path computes (the fast path; not yet the default: Gemma 3's logits still differ
    /// from llama.cpp's by up to 1.35, see `model/tests/logits_reference.rs`).
    Q8,
    /// f32 activations against weights dequantized to f32: the reference, which agrees with
    /// an f32 transformers forward pass (the default).
    F32,
}

impl Default for Numerics {
    fn default() -> Numerics {
        match std::env::var("ROCMFORGE_CPU_NUMERICS").as_deref() {
            Ok("q8") => Numerics::Q8,
            _ => Numerics::F32,
        }
    }
}

/// Output chunks per thread for a product (more chunks even out uneven threads).
const CHUNKS_PER_THREAD: usize = 8;

/// `out_t[r * m + t] = w.row(r) · x[t]` for every weight row `r` and each of the `m`
/// activation rows of `x` (`m × k`, row-major), with `kern` (whose activation format
/// `acts` is filled with). `out_t` is weight-row-major (`n × m`): for one activation row it
/// is the output row itself.
pub fn mul_mat_q(
    pool: &Pool,
    kern: Kernel,
    w: &Tensor,
    x: &[f32],
    m: usize,
    out_t: &mut [f32],
    acts: &mut Vec<u8>,
) -> Result<(), OpError> {
    let (k, n) = (w.row_len(), w.n_rows());
    let shape = |detail: String| OpError::Shape {
        op: "mul_mat",
        tensor: w.name().to_string(),
        detail,
    };
    let fmt = kern.act();
    let stride = fmt
        .row_bytes(k)
        .ok_or_else(|| shape(format!("rows of {k} are not whole {fmt:?} blocks")))?;
    if x.len() < m * k || out_t.len() < m * n {
        return Err(shape(format!(
            "{m} activation rows of {k} need {} inputs (have {}) and {} outputs (have {})",
            m * k,
            x.len(),
            m * n,
            out_t.len()
        )));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if acts.len() < m * stride {
        acts.resize(m * stride, 0);
    }
    let acts = &mut acts[..m * stride];
    let threads = pool.threads();
    if m == 1 {
        fmt.quantize(&x[..k], acts);
    } else {
        let rows_per = m.div_ceil(threads * 2).max(1);
        let chunks = Chunks::new(acts, rows_per * stride);
        pool.run(&|_| {
            while let Some((i, out)) = chunks.next() {
                let first = i * rows_per;
                for (t, a) in out.chunks_exact_mut(stride).enumerate() {
                    fmt.quantize(&x[(first + t) * k..(first + t + 1) * k], a);
                }
            }
        })
        .map_err(|e| shape(e.to_string()))?;
    }
    let acts: &[u8] = acts;
    let rb = w.row_bytes();
    let data = w.data();
    let rows_per = n
        .div_ceil(threads * CHUNKS_PER_THREAD)
        .next_multiple_of(4)
        .max(4);
    let chunks = Chunks::new(&mut out_t[..m * n], rows_per * m);
    pool.run(&|_| {
        while let Some((i, out)) = chunks.next() {
            let first = i * rows_per;
            let rows = &data[first * rb..(first + out.len() / m) * rb];
            kern.dot_rows(rows, rb, acts, stride, m, out, m);
        }
    })
    .map_err(|e| shape(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::GgmlType;
    use crate::ops::qdot::{kernel, Isa};

    #[test]
    fn pooled_product_equals_row_by_row_dots() {
        let pool = Pool::new(2).unwrap();
        let (k, n) = (256, 37);
        let wv: Vec<f32> = (0..k * n)
            .map(|i| ((i * 7 % 23) as f32 - 11.0) / 8.0)
            .collect();
        for ty in [GgmlType::Q4_1, GgmlType::Q4_K, GgmlType::F16] {
            let mut bytes = vec![0u8; ty.bytes_for((k * n) as u64).unwrap() as usize];
            crate::quants::quantize_row(ty, &wv, &mut bytes).unwrap();
            let w = Tensor::from_bytes("w", ty, vec![k, n], bytes).unwrap();
            let kern = kernel(Isa::best(), ty).unwrap();
            for m in [1, 3, 6] {
                let x: Vec<f32> = (0..k * m)
                    .map(|i| ((i * 5 % 19) as f32 - 9.0) / 4.0)
                    .collect();
                let mut out_t = vec![0f32; n * m];
                let mut acts = Vec::new();
                mul_mat_q(&pool, kern, &w, &x, m, &mut out_t, &mut acts).unwrap();
                let stride = kern.act().row_bytes(k).unwrap();
                for t in 0..m {
                    let mut a = vec![0u8; stride];
                    assert!(kern.act().quantize(&x[t * k..(t + 1) * k], &mut a));
                    for r in 0..n {
                        let mut one = [0f32];
                        kern.dot(w.row(r).unwrap(), &a, stride, &mut one);
                        assert_eq!(out_t[r * m + t], one[0], "{ty} m={m} t={t} r={r}");
                    }
                }
                let mut short = vec![0f32; n * m - 1];
                assert!(mul_mat_q(&pool, kern, &w, &x, m, &mut short, &mut acts).is_err());
            }
        }
    }
}
