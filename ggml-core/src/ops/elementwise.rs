//! Row-wise and element-wise CPU reference ops on f32 slices: RMS norm, softmax, GLU
//! variants, add/mul/scale and tanh soft-capping.

/// The gated linear unit variants: `act(gate) * up`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GluKind {
    /// SiLU gate (llama, qwen, mistral).
    SwiGlu,
    /// GELU gate with ggml's tanh approximation (gemma).
    GeGluTanh,
}

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_COEF_A: f32 = 0.044715;

/// SiLU: `x * sigmoid(x)`.
pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// GELU, tanh approximation as ggml computes it.
pub fn gelu_tanh(x: f32) -> f32 {
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (1.0 + GELU_COEF_A * x * x)).tanh())
}

/// RMS-normalises each row of `dim` elements of `x` in place (sum of squares accumulated
/// in f64 as ggml does), then multiplies by `weight` when given.
pub fn rms_norm(x: &mut [f32], dim: usize, eps: f32, weight: Option<&[f32]>) {
    for row in x.chunks_exact_mut(dim) {
        let sum: f64 = row.iter().map(|&v| f64::from(v * v)).sum();
        let mean = (sum / dim as f64) as f32;
        let scale = 1.0 / (mean + eps).sqrt();
        match weight {
            Some(w) => row.iter_mut().zip(w).for_each(|(v, w)| *v = *v * scale * w),
            None => row.iter_mut().for_each(|v| *v *= scale),
        }
    }
}

/// Softmax of each row of `dim` elements of `x`, in place, after multiplying by `scale`.
pub fn softmax(x: &mut [f32], dim: usize, scale: f32) {
    for row in x.chunks_exact_mut(dim) {
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v * scale));
        if max == f32::NEG_INFINITY {
            row.iter_mut().for_each(|v| *v = 0.0);
            continue;
        }
        let mut sum = 0f64;
        for v in row.iter_mut() {
            *v = (*v * scale - max).exp();
            sum += f64::from(*v);
        }
        let inv = (1.0 / sum) as f32;
        row.iter_mut().for_each(|v| *v *= inv);
    }
}

/// `gate = act(gate) * up`, element-wise.
pub fn glu(kind: GluKind, gate: &mut [f32], up: &[f32]) {
    let act: fn(f32) -> f32 = match kind {
        GluKind::SwiGlu => silu,
        GluKind::GeGluTanh => gelu_tanh,
    };
    gate.iter_mut().zip(up).for_each(|(g, u)| *g = act(*g) * u);
}

/// `dst += src`, element-wise.
pub fn add(dst: &mut [f32], src: &[f32]) {
    dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
}

/// `dst[r] += row` for every row `r` of `row.len()` elements (bias broadcast).
pub fn add_row(dst: &mut [f32], row: &[f32]) {
    for d in dst.chunks_exact_mut(row.len()) {
        add(d, row);
    }
}

/// `dst[r] *= row` for every row `r` of `row.len()` elements.
pub fn mul_row(dst: &mut [f32], row: &[f32]) {
    for d in dst.chunks_exact_mut(row.len()) {
        d.iter_mut().zip(row).for_each(|(d, s)| *d *= s);
    }
}

/// `x *= s`, element-wise.
pub fn scale(x: &mut [f32], s: f32) {
    x.iter_mut().for_each(|v| *v *= s);
}

/// Tanh soft-capping: `x = cap * tanh(x / cap)`.
pub fn softcap(x: &mut [f32], cap: f32) {
    x.iter_mut().for_each(|v| *v = cap * (*v / cap).tanh());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_makes_unit_rms_and_applies_weight() {
        let mut x = vec![3.0, 4.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0];
        rms_norm(&mut x, 4, 0.0, Some(&[1.0, 2.0, 1.0, 1.0]));
        let expect = 1.0 / (25.0f32 / 4.0).sqrt();
        assert!((x[0] - 3.0 * expect).abs() < 1e-6);
        assert!((x[1] - 8.0 * expect).abs() < 1e-6);
        assert_eq!(&x[4..], &[1.0, 2.0, 1.0, 1.0]);
    }

    #[test]
    fn softmax_sums_to_one_and_handles_masked_rows() {
        let mut x = vec![
            1.0,
            2.0,
            3.0,
            f32::NEG_INFINITY,
            f32::NEG_INFINITY,
            f32::NEG_INFINITY,
        ];
        softmax(&mut x, 3, 2.0);
        let s: f32 = x[..3].iter().sum();
        assert!((s - 1.0).abs() < 1e-6);
        assert!((x[2] / x[1] - 2f32.exp()).abs() < 1e-4);
        assert_eq!(&x[3..], &[0.0, 0.0, 0.0]);
    }

    #[test]
    fn activations_match_known_values() {
        assert!((silu(1.0) - 0.731_058_6).abs() < 1e-6);
        assert!((gelu_tanh(1.0) - 0.841_192).abs() < 1e-5);
        assert!((gelu_tanh(-3.0) + 0.003_637).abs() < 1e-5);
        let mut g = vec![1.0, 1.0];
        glu(GluKind::SwiGlu, &mut g, &[2.0, 0.0]);
        assert!((g[0] - 2.0 * silu(1.0)).abs() < 1e-6 && g[1] == 0.0);
        let mut c = vec![100.0, -1.0];
        softcap(&mut c, 30.0);
        assert!((c[0] - 30.0 * (100.0f32 / 30.0).tanh()).abs() < 1e-5 && c[0] < 30.0);
        let mut r = vec![1.0, 2.0, 3.0, 4.0];
        add_row(&mut r, &[1.0, -1.0]);
        mul_row(&mut r, &[2.0, 1.0]);
        scale(&mut r, 0.5);
        assert_eq!(r, vec![2.0, 0.5, 4.0, 1.5]);
    }
}
