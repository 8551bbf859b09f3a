//! Runtime-dispatched SIMD helpers for the CPU ops: f32 and f16×f32 dot products and the
//! f16 scaled accumulate of attention, with AVX2+FMA(+F16C) on x86-64 when the CPU has
//! them, and portable fallbacks (the reference).

/// `a · b` over `min(a.len(), b.len())` elements, with the fastest kernel the CPU supports.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        return unsafe { dot_avx2_fma(a, b) };
    }
    dot_portable(a, b)
}

/// `Σ f16(a[i]) * b[i]`: `a` holds IEEE half-precision bit patterns (a KV cache row).
pub fn dot_f16(a: &[u16], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma_f16c() {
        // SAFETY: the CPU supports AVX2, FMA and F16C, checked just above.
        return unsafe { x86::dot_f16(a, b) };
    }
    a.iter()
        .zip(b)
        .map(|(h, x)| half::f16::from_bits(*h).to_f32() * x)
        .sum()
}

/// `acc[i] = acc[i] * keep + w * f16(v[i])` over `acc.len()` elements (`v` at least as
/// long): the running update of attention's weighted value sum.
pub fn scale_add_f16(acc: &mut [f32], keep: f32, w: f32, v: &[u16]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma_f16c() && v.len() >= acc.len() {
        // SAFETY: the CPU supports AVX2, FMA and F16C, checked just above.
        return unsafe { x86::scale_add_f16(acc, keep, w, v) };
    }
    acc.iter_mut()
        .zip(v)
        .for_each(|(a, h)| *a = *a * keep + w * half::f16::from_bits(*h).to_f32());
}

#[cfg(target_arch = "x86_64")]
fn has_avx2_fma_f16c() -> bool {
    std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
        && std::is_x86_feature_detected!("f16c")
}

/// AVX2/FMA/F16C kernels over half-precision rows.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        _mm256_cvtph_ps, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_mul_ps, _mm256_set1_ps,
        _mm256_setzero_ps, _mm256_storeu_ps, _mm_loadu_si128,
    };

    /// See [`super::dot_f16`].
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn dot_f16(a: &[u16], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let mut i = 0;
        let mut acc = _mm256_setzero_ps();
        while i + 8 <= n {
            // SAFETY: both loads read 8 elements at offset `i`, `i + 8 <= n`, inside both
            // slices; unaligned loads need no alignment.
            let (h, x) = unsafe {
                (
                    _mm256_cvtph_ps(_mm_loadu_si128(a.as_ptr().add(i).cast())),
                    _mm256_loadu_ps(b.as_ptr().add(i)),
                )
            };
            acc = _mm256_fmadd_ps(h, x, acc);
            i += 8;
        }
        let mut l = [0f32; 8];
        // SAFETY: `l` holds the 8 floats the unaligned store writes.
        unsafe { _mm256_storeu_ps(l.as_mut_ptr(), acc) };
        let tail: f32 = a[i..n]
            .iter()
            .zip(&b[i..n])
            .map(|(h, x)| half::f16::from_bits(*h).to_f32() * x)
            .sum();
        ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])) + tail
    }

    /// See [`super::scale_add_f16`]; `v.len() >= acc.len()`.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn scale_add_f16(acc: &mut [f32], keep: f32, w: f32, v: &[u16]) {
        let n = acc.len();
        let (kv, wv) = (_mm256_set1_ps(keep), _mm256_set1_ps(w));
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: loads and the store touch 8 elements at offset `i`, `i + 8 <= n`,
            // inside `acc` and `v` (`v.len() >= n`); unaligned access needs no alignment.
            unsafe {
                let p = acc.as_mut_ptr().add(i);
                let h = _mm256_cvtph_ps(_mm_loadu_si128(v.as_ptr().add(i).cast()));
                let r = _mm256_fmadd_ps(wv, h, _mm256_mul_ps(_mm256_loadu_ps(p), kv));
                _mm256_storeu_ps(p, r);
            }
            i += 8;
        }
        for (a, h) in acc[i..].iter_mut().zip(&v[i..]) {
            *a = *a * keep + w * half::f16::from_bits(*h).to_f32();
        }
    }
}

/// `out[t][j] = w[j] · x[t]` for four weight rows and two activation rows, over
/// `min` of the lengths: a 4×2 register tile, so each load feeds two or four products.
pub fn dot4x2(w: [&[f32]; 4], x: [&[f32]; 2]) -> [[f32; 4]; 2] {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        return unsafe { dot4x2_avx2_fma(w, x) };
    }
    x.map(|x| w.map(|w| dot_portable(w, x)))
}

/// `a · b` with eight independent partial sums: vectorisable by the compiler on any target.
pub fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut s = [0f32; 8];
    let (ca, cb) = (a[..n].chunks_exact(8), b[..n].chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            s[i] += x[i] * y[i];
        }
    }
    ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])) + tail
}

/// AVX2+FMA dot product: two 8-wide fused multiply-add accumulators.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2_fma(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::{
        _mm256_add_ps, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut lanes = [0f32; 8];
    let mut i = 0;
    // SAFETY: every load reads 8 floats at offset `i` with `i + 8 <= n`, inside both
    // slices; unaligned loads and stores need no alignment; the features are enabled.
    unsafe {
        let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        while i + 16 <= n {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
            acc1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(pa.add(i + 8)),
                _mm256_loadu_ps(pb.add(i + 8)),
                acc1,
            );
            i += 16;
        }
        if i + 8 <= n {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
            i += 8;
        }
        _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_add_ps(acc0, acc1));
    }
    let tail: f32 = a[i..n].iter().zip(&b[i..n]).map(|(x, y)| x * y).sum();
    ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
        + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
        + tail
}

/// AVX2+FMA 4×2 tile of dot products: eight 8-wide accumulators.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot4x2_avx2_fma(w: [&[f32]; 4], x: [&[f32]; 2]) -> [[f32; 4]; 2] {
    use std::arch::x86_64::{
        _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };
    let n = w.iter().chain(&x).fold(usize::MAX, |n, v| n.min(v.len()));
    let (x0, x1) = (x[0].as_ptr(), x[1].as_ptr());
    let (p0, p1, p2, p3) = (w[0].as_ptr(), w[1].as_ptr(), w[2].as_ptr(), w[3].as_ptr());
    let mut lanes = [[0f32; 8]; 8];
    let mut i = 0;
    // SAFETY: every load reads 8 floats at offset `i` with `i + 8 <= n`, inside each `x[t]`
    // and `w[j]`; unaligned loads and stores need no alignment; the features are enabled.
    unsafe {
        let z = _mm256_setzero_ps();
        let (mut a00, mut a01, mut a02, mut a03) = (z, z, z, z);
        let (mut a10, mut a11, mut a12, mut a13) = (z, z, z, z);
        while i + 8 <= n {
            let (v0, v1) = (_mm256_loadu_ps(x0.add(i)), _mm256_loadu_ps(x1.add(i)));
            let w0 = _mm256_loadu_ps(p0.add(i));
            a00 = _mm256_fmadd_ps(w0, v0, a00);
            a10 = _mm256_fmadd_ps(w0, v1, a10);
            let w1 = _mm256_loadu_ps(p1.add(i));
            a01 = _mm256_fmadd_ps(w1, v0, a01);
            a11 = _mm256_fmadd_ps(w1, v1, a11);
            let w2 = _mm256_loadu_ps(p2.add(i));
            a02 = _mm256_fmadd_ps(w2, v0, a02);
            a12 = _mm256_fmadd_ps(w2, v1, a12);
            let w3 = _mm256_loadu_ps(p3.add(i));
            a03 = _mm256_fmadd_ps(w3, v0, a03);
            a13 = _mm256_fmadd_ps(w3, v1, a13);
            i += 8;
        }
        for (l, a) in lanes
            .iter_mut()
            .zip([a00, a01, a02, a03, a10, a11, a12, a13])
        {
            _mm256_storeu_ps(l.as_mut_ptr(), a);
        }
    }
    let mut out = [[0f32; 4]; 2];
    for (t, row) in out.iter_mut().enumerate() {
        for (j, o) in row.iter_mut().enumerate() {
            let l = &lanes[t * 4 + j];
            let tail: f32 = w[j][i..n].iter().zip(&x[t][i..n]).map(|(a, b)| a * b).sum();
            *o = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])) + tail;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatched_dot_matches_the_portable_reference() {
        for n in [0, 1, 7, 8, 15, 16, 17, 33, 300] {
            let a: Vec<f32> = (0..n).map(|i| ((i * 7 % 13) as f32 - 6.0) / 8.0).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0).collect();
            let exact: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| f64::from(*x) * f64::from(*y))
                .sum();
            for got in [dot(&a, &b), dot_portable(&a, &b)] {
                assert!(
                    (f64::from(got) - exact).abs() < 1e-4,
                    "n={n}: {got} vs {exact}"
                );
            }
        }
        assert_eq!(
            dot(&[1.0, 2.0, 3.0], &[4.0, 5.0]),
            14.0,
            "shorter slice bounds the sum"
        );
    }

    #[test]
    fn f16_kernels_match_the_portable_math() {
        for n in [0, 3, 8, 19, 64] {
            let a: Vec<u16> = (0..n)
                .map(|i| half::f16::from_f32((i % 9) as f32 * 0.25 - 1.0).to_bits())
                .collect();
            let b: Vec<f32> = (0..n).map(|i| (i % 7) as f32 * 0.5 - 1.5).collect();
            let want: f32 = a
                .iter()
                .zip(&b)
                .map(|(h, x)| half::f16::from_bits(*h).to_f32() * x)
                .sum();
            assert!((dot_f16(&a, &b) - want).abs() < 1e-4, "dot n={n}");
            let mut acc = b.clone();
            scale_add_f16(&mut acc, 0.5, 2.0, &a);
            for i in 0..n {
                let expect = b[i] * 0.5 + 2.0 * half::f16::from_bits(a[i]).to_f32();
                assert!((acc[i] - expect).abs() < 1e-5, "scale_add n={n} i={i}");
            }
        }
    }

    #[test]
    fn dot4x2_matches_single_dots() {
        for n in [0, 5, 8, 21, 64] {
            let rows: Vec<Vec<f32>> = (0..6)
                .map(|j| (0..n).map(|i| ((i * 3 + j * 5) % 7) as f32 - 3.0).collect())
                .collect();
            let got = dot4x2(
                [&rows[0], &rows[1], &rows[2], &rows[3]],
                [&rows[4], &rows[5]],
            );
            for t in 0..2 {
                for j in 0..4 {
                    let want = dot_portable(&rows[j], &rows[4 + t]);
                    assert!((got[t][j] - want).abs() < 1e-4, "n={n} t={t} row {j}");
                }
            }
        }
    }
}
