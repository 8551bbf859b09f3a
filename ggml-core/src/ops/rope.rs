//! Rotary position embedding as ggml defines it: NORM (adjacent pairs) and NEOX (split
//! halves) modes, frequency scaling (linear, YaRN) and per-dimension frequency factors
//! (llama3-style scaling, stored as `rope_freqs.weight`).

use std::f32::consts::PI;

/// Which elements of a head form a rotated pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeMode {
    /// ggml mode 0: pairs `(x[2i], x[2i+1])` (llama, mistral).
    Norm,
    /// ggml mode 2 (GPT-NeoX): pairs `(x[i], x[i + n_dims/2])` (qwen2/3, gemma3, phi3).
    Neox,
}

/// Parameters of one rope application, as ggml's `ggml_rope_ext` takes them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RopeParams {
    /// Rotated dimensions per head (the rest pass through unchanged).
    pub n_dims: usize,
    /// Pairing mode.
    pub mode: RopeMode,
    /// Base of the geometric frequency sequence.
    pub freq_base: f32,
    /// Position interpolation factor (`1/scaling factor`; 1 for none).
    pub freq_scale: f32,
    /// YaRN extrapolation mix (0 disables YaRN).
    pub ext_factor: f32,
    /// Magnitude scale applied to cos/sin.
    pub attn_factor: f32,
    /// YaRN low correction dimension parameter (ggml default 32).
    pub beta_fast: f32,
    /// YaRN high correction dimension parameter (ggml default 1).
    pub beta_slow: f32,
    /// Context length the model was trained with (YaRN correction dims).
    pub n_ctx_orig: usize,
}

impl RopeParams {
    /// Plain rope with base `freq_base` over `n_dims` dimensions, no scaling.
    pub fn plain(n_dims: usize, mode: RopeMode, freq_base: f32) -> RopeParams {
        RopeParams {
            n_dims,
            mode,
            freq_base,
            freq_scale: 1.0,
            ext_factor: 0.0,
            attn_factor: 1.0,
            beta_fast: 32.0,
            beta_slow: 1.0,
            n_ctx_orig: 0,
        }
    }

    fn corr_dim(&self, n_rot: f32) -> f32 {
        self.n_dims as f32 * (self.n_ctx_orig as f32 / (n_rot * 2.0 * PI)).ln()
            / (2.0 * self.freq_base.ln())
    }

    /// YaRN correction range `[low, high]` of dimensions.
    fn corr_dims(&self) -> [f32; 2] {
        let start = self.corr_dim(self.beta_fast).floor();
        let end = self.corr_dim(self.beta_slow).ceil();
        [start.max(0.0), end.min(self.n_dims as f32 - 1.0)]
    }
}

impl RopeParams {
    /// The constants the GPU rope kernels take: the same host-side arithmetic as
    /// [`rope`] (theta scale, YaRN correction range, magnitude), computed once.
    pub fn gpu_consts(&self) -> kernels::RopeConsts {
        let [corr_lo, corr_hi] = self.corr_dims();
        let mut mscale = self.attn_factor;
        if self.ext_factor != 0.0 {
            mscale *= yarn_mscale(self.freq_scale);
        }
        kernels::RopeConsts {
            theta_scale: self.freq_base.powf(-2.0 / self.n_dims as f32),
            freq_scale: self.freq_scale,
            ext_factor: self.ext_factor,
            mscale,
            corr_lo,
            corr_hi,
            n_dims: self.n_dims,
            neox: self.mode == RopeMode::Neox,
        }
    }
}

/// YaRN's magnitude correction for interpolation factor `freq_scale`.
fn yarn_mscale(freq_scale: f32) -> f32 {
    1.0 + 0.1 * (1.0 / freq_scale).ln()
}

fn yarn_ramp(low: f32, high: f32, i0: usize) -> f32 {
    let y = ((i0 / 2) as f32 - low) / (high - low).max(0.001);
    1.0 - y.clamp(0.0, 1.0)
}

/// cos and sin of the angle for pair index `i0` (even) at base angle `theta_extrap`.
fn yarn_cos_sin(p: &RopeParams, corr: [f32; 2], theta_extrap: f32, i0: usize) -> (f32, f32) {
    let theta_interp = p.freq_scale * theta_extrap;
    let mut theta = theta_interp;
    let mut mscale = p.attn_factor;
    if p.ext_factor != 0.0 {
        let mix = yarn_ramp(corr[0], corr[1], i0) * p.ext_factor;
        theta = theta_interp * (1.0 - mix) + theta_extrap * mix;
        mscale *= yarn_mscale(p.freq_scale);
    }
    (theta.cos() * mscale, theta.sin() * mscale)
}

/// Applies rope in place to `x`, laid out `[n_tokens][n_head][head_dim]`, token `t` at
/// position `positions[t]`. `freq_factors`, when given, has `n_dims / 2` entries that divide
/// each pair's angle. Callers check `positions.len() * n_head * head_dim == x.len()`,
/// `n_dims <= head_dim` and `n_dims` even.
pub fn rope(
    x: &mut [f32],
    n_head: usize,
    head_dim: usize,
    positions: &[i32],
    p: &RopeParams,
    freq_factors: Option<&[f32]>,
) {
    let theta_scale = p.freq_base.powf(-2.0 / p.n_dims as f32);
    let corr = p.corr_dims();
    let half = p.n_dims / 2;
    for (t, tok) in x.chunks_exact_mut(n_head * head_dim).enumerate() {
        let pos = positions[t] as f32;
        for head in tok.chunks_exact_mut(head_dim) {
            let mut theta = pos;
            for i0 in (0..p.n_dims).step_by(2) {
                let ff = freq_factors.map_or(1.0, |f| f[i0 / 2]);
                let (c, s) = yarn_cos_sin(p, corr, theta / ff, i0);
                theta *= theta_scale;
                let (a, b) = match p.mode {
                    RopeMode::Norm => (i0, i0 + 1),
                    RopeMode::Neox => (i0 / 2, i0 / 2 + half),
                };
                let (x0, x1) = (head[a], head[b]);
                head[a] = x0 * c - x1 * s;
                head[b] = x0 * s + x1 * c;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_zero_is_identity_and_rotation_keeps_norm() {
        let orig: Vec<f32> = (0..16).map(|i| i as f32 * 0.25 - 1.0).collect();
        for mode in [RopeMode::Norm, RopeMode::Neox] {
            let p = RopeParams::plain(8, mode, 10000.0);
            let mut x = orig.clone();
            rope(&mut x, 2, 8, &[0], &p, None);
            assert_eq!(x, orig);
            let mut x = orig.clone();
            rope(&mut x, 1, 16, &[7], &p, None);
            let n0: f32 = orig[..8].iter().map(|v| v * v).sum();
            let n1: f32 = x[..8].iter().map(|v| v * v).sum();
            assert!((n0 - n1).abs() < 1e-4);
            assert_eq!(x[8..], orig[8..], "dims past n_dims pass through");
        }
    }

    #[test]
    fn norm_and_neox_pair_different_elements() {
        // One pair at dimension 0 rotates by exactly `pos` radians.
        let mut x = vec![1.0, 0.0, 0.0, 0.0];
        rope(
            &mut x,
            1,
            4,
            &[1],
            &RopeParams::plain(4, RopeMode::Norm, 10000.0),
            None,
        );
        assert!((x[0] - 1f32.cos()).abs() < 1e-6 && (x[1] - 1f32.sin()).abs() < 1e-6);
        let mut x = vec![1.0, 0.0, 0.0, 0.0];
        rope(
            &mut x,
            1,
            4,
            &[1],
            &RopeParams::plain(4, RopeMode::Neox, 10000.0),
            None,
        );
        assert!((x[0] - 1f32.cos()).abs() < 1e-6 && (x[2] - 1f32.sin()).abs() < 1e-6);
        assert_eq!(x[1], 0.0);
    }

    #[test]
    fn linear_scaling_and_freq_factors_slow_the_rotation() {
        let mut a = vec![1.0, 0.0];
        let mut p = RopeParams::plain(2, RopeMode::Norm, 10000.0);
        p.freq_scale = 0.5;
        rope(&mut a, 1, 2, &[2], &p, None);
        let mut b = vec![1.0, 0.0];
        rope(
            &mut b,
            1,
            2,
            &[2],
            &RopeParams::plain(2, RopeMode::Norm, 10000.0),
            Some(&[2.0]),
        );
        let mut c = vec![1.0, 0.0];
        rope(
            &mut c,
            1,
            2,
            &[1],
            &RopeParams::plain(2, RopeMode::Norm, 10000.0),
            None,
        );
        for v in [&a, &b] {
            assert!((v[0] - c[0]).abs() < 1e-6 && (v[1] - c[1]).abs() < 1e-6);
        }
    }
}
