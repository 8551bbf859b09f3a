//! Quantized-weight ops on the CPU: `get_rows` (dequantizing embedding rows) and `mul_mat`
//! (weights in any supported ggml type, kept in their block layout, times f32 activations).
//!
//! Precision: weight blocks are dequantized to f32 and dotted with the f32 activations in
//! f32, which matches an f64 reference of the same model to ~1e-3 in the logits. llama.cpp's
//! CPU path instead rounds activations to 8 bits (Q8_0/Q8_1/Q8_K) for integer dot products;
//! on small models that rounding alone moves logits by up to ~0.5, so llama.cpp's outputs
//! and ours differ by that much (see `model/tests/logits_reference.rs`).

use rayon::prelude::*;

use super::fused;
use super::simd::{dot, dot4x2};
use super::OpError;
use crate::dtype::GgmlType;
use crate::tensor::Tensor;

/// Elements of a weight row dequantized at a time (a multiple of every block size).
const CHUNK: usize = 4096;

/// Dequantizes `src` (whole blocks of `ty`) into `dst`, whose length is the element count.
pub fn dequantize(ty: GgmlType, src: &[u8], dst: &mut [f32]) -> Result<(), OpError> {
    crate::quants::dequantize_row(ty, src, dst).map_err(|e| OpError::Convert {
        ty,
        reason: e.to_string(),
    })
}

/// Dequantizes rows `ids` of `table` into `out` (`ids.len()` rows of `table.row_len()`).
pub fn get_rows(table: &Tensor, ids: &[u32], out: &mut [f32]) -> Result<(), OpError> {
    let k = table.row_len();
    if out.len() < ids.len() * k {
        return Err(OpError::Shape {
            op: "get_rows",
            tensor: table.name().to_string(),
            detail: format!(
                "output holds {} elements, need {}",
                out.len(),
                ids.len() * k
            ),
        });
    }
    out.par_chunks_mut(k)
        .zip(ids.par_iter())
        .try_for_each(|(dst, &id)| {
            let row = table
                .row(id as usize)
                .ok_or_else(|| OpError::RowOutOfRange {
                    tensor: table.name().to_string(),
                    row: id as usize,
                    n_rows: table.n_rows(),
                })?;
            dequantize(table.ty(), row, dst)
        })
}

/// One weight row of a type with a fused kernel dotted with `acc.len()` activation rows,
/// four at a time: `acc[t] = row · x[t]`, each bit-identical to the row alone. `None` when
/// the lengths do not fit the kernel.
fn fused_row_times_activations(
    ty: GgmlType,
    row: &[u8],
    x: &[f32],
    k: usize,
    acc: &mut [f32],
) -> Option<()> {
    let xs = |t: usize| x.get(t * k..(t + 1) * k);
    let done = acc.len() / 4 * 4;
    let mut quads = acc.chunks_exact_mut(4);
    for (q, out) in quads.by_ref().enumerate() {
        let t = q * 4;
        let v = fused::dot_rows(ty, row, [xs(t)?, xs(t + 1)?, xs(t + 2)?, xs(t + 3)?])?;
        out.copy_from_slice(&v);
    }
    for (i, a) in quads.into_remainder().iter_mut().enumerate() {
        *a = fused::dot_row(ty, row, xs(done + i)?)?;
    }
    Some(())
}

/// One weight row dotted with `m` activation rows of `k` elements: `acc[t] = row · x[t]`.
fn row_times_activations(
    ty: GgmlType,
    row: &[u8],
    x: &[f32],
    k: usize,
    acc: &mut [f32],
) -> Result<(), OpError> {
    if fused::has_kernel(ty) && fused_row_times_activations(ty, row, x, k, acc).is_some() {
        return Ok(());
    }
    let bs = ty.block_size();
    let step = (CHUNK / bs).max(1) * bs;
    let mut buf = [0f32; CHUNK];
    acc.iter_mut().for_each(|a| *a = 0.0);
    let mut off = 0;
    while off < k {
        let n = step.min(k - off);
        let bytes = &row[off / bs * ty.type_size()..(off + n) / bs * ty.type_size()];
        dequantize(ty, bytes, &mut buf[..n])?;
        for (t, a) in acc.iter_mut().enumerate() {
            *a += dot(&buf[..n], &x[t * k + off..t * k + off + n]);
        }
        off += n;
    }
    Ok(())
}

/// Weight rows sharing each activation load in a batched product.
const GROUP: usize = 4;
/// Elements per row dequantized at a time in a group (a multiple of every block size).
const GROUP_CHUNK: usize = 1024;

/// Four weight rows dotted with `m` activation rows: `out[j * m + t] = rows[j] · x[t]`.
/// Each activation element is loaded once for the four rows.
fn group_times_activations(
    ty: GgmlType,
    rows: [&[u8]; GROUP],
    x: &[f32],
    k: usize,
    out: &mut [f32],
) -> Result<(), OpError> {
    let m = out.len() / GROUP;
    let bs = ty.block_size();
    let step = (GROUP_CHUNK / bs).max(1) * bs;
    let mut buf = [[0f32; GROUP_CHUNK]; GROUP];
    out.iter_mut().for_each(|a| *a = 0.0);
    let mut off = 0;
    while off < k {
        let n = step.min(k - off);
        let bytes = off / bs * ty.type_size()..(off + n) / bs * ty.type_size();
        for (row, b) in rows.iter().zip(buf.iter_mut()) {
            dequantize(ty, &row[bytes.clone()], &mut b[..n])?;
        }
        let w = [&buf[0][..n], &buf[1][..n], &buf[2][..n], &buf[3][..n]];
        let xs = |t: usize| &x[t * k + off..t * k + off + n];
        for t in (0..m).step_by(2) {
            // An odd last row pairs with itself; its second result is dropped.
            let t1 = (t + 1).min(m - 1);
            let s = dot4x2(w, [xs(t), xs(t1)]);
            for (tt, st) in [(t, s[0]), (t1, s[1])].into_iter().take(1 + t1 - t) {
                for (j, v) in st.iter().enumerate() {
                    out[j * m + tt] += v;
                }
            }
        }
        off += n;
    }
    Ok(())
}

/// `out_t[r * m + t] = w.row(r) · x[t]` for every weight row `r` and each of the `m`
/// activation rows in `x` (`m × k`, row-major): the product laid out weight-row-major
/// (`n × m`), which for a single activation row is the output row itself.
/// Runs over the current rayon pool, split by weight rows.
///
/// Batch-invariant: each output is computed by the same operations in the same order
/// whatever `m` is and wherever its activation row sits (types with a fused kernel go
/// through it row by row; the others through the 4×2 tile, an odd row paired with itself),
/// so a token's result does not depend on what else is in the batch.
pub fn mul_mat_t(w: &Tensor, x: &[f32], m: usize, out_t: &mut [f32]) -> Result<(), OpError> {
    let k = w.row_len();
    let n = w.n_rows();
    if x.len() < m * k || out_t.len() < m * n {
        return Err(OpError::Shape {
            op: "mul_mat",
            tensor: w.name().to_string(),
            detail: format!(
                "{m} activation rows of {k} need {} inputs (have {}) and {} outputs (have {})",
                m * k,
                x.len(),
                m * n,
                out_t.len()
            ),
        });
    }
    if m == 0 {
        return Ok(());
    }
    let rows_per_task = (n / (rayon::current_num_threads() * 8))
        .max(1)
        .next_multiple_of(GROUP);
    let ty = w.ty();
    let fused = fused::has_kernel(ty);
    let rb = w.row_bytes();
    let data = w.data();
    out_t[..m * n]
        .par_chunks_mut(m * rows_per_task)
        .enumerate()
        .try_for_each(|(task, out)| {
            let first = task * rows_per_task;
            for (g, group) in out.chunks_mut(GROUP * m).enumerate() {
                let r0 = first + g * GROUP;
                if !fused && group.len() == GROUP * m {
                    let row = |j: usize| &data[(r0 + j) * rb..(r0 + j + 1) * rb];
                    group_times_activations(ty, [row(0), row(1), row(2), row(3)], x, k, group)?;
                    continue;
                }
                for (i, acc) in group.chunks_exact_mut(m).enumerate() {
                    let r = r0 + i;
                    row_times_activations(ty, &data[r * rb..(r + 1) * rb], x, k, acc)?;
                }
            }
            Ok(())
        })
}

/// Transposes `src` (`rows × cols`, row-major) into `dst` (`cols × rows`).
pub fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    for r in 0..rows {
        for c in 0..cols {
            dst[c * rows + r] = src[r * cols + c];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16_bytes(v: &[f32]) -> Vec<u8> {
        v.iter()
            .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
            .collect()
    }

    #[test]
    fn mul_mat_matches_naive_product() {
        let (k, n, m) = (300, 5, 3);
        let wv: Vec<f32> = (0..k * n)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 8.0)
            .collect();
        let x: Vec<f32> = (0..k * m)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0)
            .collect();
        for w in [
            Tensor::from_f32("w", vec![k, n], &wv).unwrap(),
            Tensor::from_bytes("w16", GgmlType::F16, vec![k, n], f16_bytes(&wv)).unwrap(),
        ] {
            let mut out_t = vec![0.0; n * m];
            mul_mat_t(&w, &x, m, &mut out_t).unwrap();
            let mut out = vec![0.0; n * m];
            transpose(&out_t, n, m, &mut out);
            for t in 0..m {
                for r in 0..n {
                    let want: f32 = (0..k).map(|i| wv[r * k + i] * x[t * k + i]).sum();
                    assert!(
                        (out[t * n + r] - want).abs() < 1e-3,
                        "{} t{t} r{r}",
                        w.name()
                    );
                }
            }
        }
    }

    #[test]
    fn get_rows_dequantizes_and_rejects_bad_ids() {
        let w = Tensor::from_bytes(
            "e",
            GgmlType::F16,
            vec![2, 3],
            f16_bytes(&[1., 2., 3., 4., 5., 6.]),
        )
        .unwrap();
        let mut out = vec![0.0; 4];
        get_rows(&w, &[2, 0], &mut out).unwrap();
        assert_eq!(out, vec![5., 6., 1., 2.]);
        let err = get_rows(&w, &[3], &mut out).unwrap_err();
        assert!(matches!(
            err,
            OpError::RowOutOfRange {
                row: 3,
                n_rows: 3,
                ..
            }
        ));
        let mut small = vec![0.0; 1];
        assert!(matches!(
            mul_mat_t(&w, &[1.0, 1.0], 1, &mut small),
            Err(OpError::Shape { .. })
        ));
    }

    #[test]
    fn each_output_is_the_same_whatever_the_batch() {
        let (k, n) = (64, 9);
        let wv: Vec<f32> = (0..k * n)
            .map(|i| ((i * 7 % 23) as f32 - 11.0) / 6.0)
            .collect();
        let x: Vec<f32> = (0..k * 7)
            .map(|i| ((i * 5 % 17) as f32 - 8.0) / 3.0)
            .collect();
        for ty in [GgmlType::Q4_1, GgmlType::Q8_0, GgmlType::F16, GgmlType::F32] {
            let mut bytes = vec![0u8; ty.bytes_for((k * n) as u64).unwrap() as usize];
            crate::quants::quantize_row(ty, &wv, &mut bytes).unwrap();
            let w = Tensor::from_bytes("w", ty, vec![k, n], bytes).unwrap();
            let mut all = vec![0.0; n * 7];
            mul_mat_t(&w, &x, 7, &mut all).unwrap();
            for t in 0..7 {
                let mut one = vec![0.0; n];
                mul_mat_t(&w, &x[t * k..(t + 1) * k], 1, &mut one).unwrap();
                for r in 0..n {
                    assert_eq!(one[r].to_bits(), all[r * 7 + t].to_bits(), "{ty} t{t} r{r}");
                }
            }
        }
    }
}
