//! The scale searches of ggml's reference k-quant and IQ4 quantizers: for a group of
//! weights, find a scale (and for the asymmetric formats a min) and the integer levels
//! that minimise a weighted squared (or absolute) error.

/// Groups whose largest magnitude is below this are stored as zeros (ggml's
/// `GROUP_MAX_EPS`).
pub(crate) const GROUP_MAX_EPS: f32 = 1e-15;

/// The largest group the searches handle (k-quant sub-blocks have 16 or 32 weights).
const MAX_GROUP: usize = 32;

/// Rounds to the nearest integer, ties to even, as ggml's `nearest_int`: adding
/// 1.5 * 2^23 leaves the rounded integer in the low mantissa bits. Exact for
/// |v| < 2^22, which every caller guarantees for finite inputs; other inputs give some
/// integer, which callers clamp.
#[inline]
pub(crate) fn nearest_int(v: f32) -> i32 {
    let bits = (v + 12_582_912.0).to_bits() as i32;
    (bits & 0x007f_ffff) - 0x0040_0000
}

/// The value of largest magnitude (the first one on ties) and that magnitude.
pub(crate) fn signed_absmax(x: &[f32]) -> (f32, f32) {
    let (mut max, mut amax) = (0.0f32, 0.0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    (max, amax)
}

/// Symmetric levels `l` in `-nmax..nmax` for `x` (stored as `l + nmax` in `levels`) and
/// the scale that goes with them, weighting each weight's squared error by `x^2`: the
/// start scale `-nmax / max` and nine nudges either way, keeping whichever maximises
/// `(sum w x l)^2 / sum w l^2` (ggml's `make_qx_quants` with `rmse_type` 1).
pub(crate) fn make_qx_quants(nmax: i32, x: &[f32], levels: &mut [u8]) -> f32 {
    let (max, amax) = signed_absmax(x);
    if amax < GROUP_MAX_EPS {
        levels.fill(0);
        return 0.0;
    }
    let level = |iscale: f32, v: f32| nearest_int(iscale * v).clamp(-nmax, nmax - 1);
    let sums = |iscale: f32| {
        x.iter().fold((0.0f32, 0.0f32), |(sumlx, suml2), &v| {
            let l = level(iscale, v) as f32;
            let w = v * v;
            (sumlx + w * v * l, suml2 + w * l * l)
        })
    };
    let store = |iscale: f32, levels: &mut [u8]| {
        for (q, &v) in levels.iter_mut().zip(x) {
            *q = (level(iscale, v) + nmax) as u8;
        }
    };

    let iscale = -(nmax as f32) / max;
    store(iscale, levels);
    let (sumlx, suml2) = sums(iscale);
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for step in (-9..=9).filter(|&s| s != 0) {
        let iscale = -(nmax as f32 + 0.1 * step as f32) / max;
        let (sumlx, suml2) = sums(iscale);
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            store(iscale, levels);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// Symmetric levels in `-nmax..nmax` (stored as `l + nmax`) and their scale for Q3_K:
/// round at `-nmax / max`, then up to five passes that move single levels while that
/// improves the `x^2`-weighted fit (ggml's `make_q3_quants` with `do_rmse`).
pub(crate) fn make_q3_quants(nmax: i32, x: &[f32], levels: &mut [u8]) -> f32 {
    let (max, amax) = signed_absmax(x);
    if amax < GROUP_MAX_EPS {
        levels.fill(0);
        return 0.0;
    }
    let iscale = -(nmax as f32) / max;
    let mut l = [0i32; MAX_GROUP];
    let l = &mut l[..x.len()];
    for (li, &v) in l.iter_mut().zip(x) {
        *li = nearest_int(iscale * v).clamp(-nmax, nmax - 1);
    }
    let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
    for (&v, &li) in x.iter().zip(l.iter()) {
        let w = v * v;
        sumlx += w * v * li as f32;
        suml2 += w * (li * li) as f32;
    }
    for _ in 0..5 {
        let mut changed = false;
        for (i, &v) in x.iter().enumerate() {
            let w = v * v;
            let old = l[i] as f32;
            let mut slx = sumlx - w * v * old;
            if slx > 0.0 {
                let mut sl2 = suml2 - w * old * old;
                let new_l = nearest_int(v * sl2 / slx).clamp(-nmax, nmax - 1);
                if new_l != l[i] {
                    slx += w * v * new_l as f32;
                    sl2 += w * (new_l * new_l) as f32;
                    if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                        l[i] = new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    for (q, &li) in levels.iter_mut().zip(l.iter()) {
        *q = (li + nmax) as u8;
    }
    sumlx / suml2
}

/// Parameters of the asymmetric search ([`make_qkx2_quants`]).
pub(crate) struct Qkx2Search {
    /// Largest level.
    pub nmax: i32,
    /// Offset of the first trial scale, in levels.
    pub rmin: f32,
    /// Step between trial scales, in levels.
    pub rdelta: f32,
    /// Number of steps after the first trial.
    pub nstep: i32,
    /// Whether the error is absolute (else squared).
    pub use_mad: bool,
}

/// Asymmetric levels in `0..=nmax` for `x` (written to `levels`), returning `(scale,
/// min)` such that `x ≈ scale * l - min` with `min >= 0`: a start from the range, then
/// `nstep + 1` trial scales, each refit by weighted least squares for scale and min,
/// keeping the one with the least weighted error (ggml's `make_qkx2_quants`).
pub(crate) fn make_qkx2_quants(
    p: &Qkx2Search,
    x: &[f32],
    weights: &[f32],
    levels: &mut [u8],
) -> (f32, f32) {
    let n = x.len();
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        min = if x[i] < min { x[i] } else { min };
        max = if x[i] > max { x[i] } else { max };
        sum_w += weights[i];
        sum_x += weights[i] * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        levels.fill(0);
        return (0.0, -min);
    }
    let nmax = p.nmax;
    let error = |d: f32| if p.use_mad { d.abs() } else { d * d };
    let mut iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
        levels[i] = l as u8;
        best_error += weights[i] * error(scale * l as f32 + min - x[i]);
    }
    let mut trial = [0u8; MAX_GROUP];
    let trial = &mut trial[..n];
    for step in 0..=p.nstep {
        iscale = (p.rmin + p.rdelta * step as f32 + nmax as f32) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0.0f32, 0.0f32, 0.0f32);
        for i in 0..n {
            let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
            trial[i] = l as u8;
            let (w, lf) = (weights[i], l as f32);
            sum_l += w * lf;
            sum_l2 += w * lf * lf;
            sum_xl += w * lf * x[i];
        }
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0.0f32;
            for i in 0..n {
                cur_error += weights[i] * error(this_scale * trial[i] as f32 + this_min - x[i]);
            }
            if cur_error < best_error {
                levels.copy_from_slice(trial);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// Index of the entry of the sorted table `values` nearest to `x` (the upper one on
/// ties), as ggml's `best_index_int8`.
pub(crate) fn best_index_int8(values: &[i8], x: f32) -> usize {
    let n = values.len();
    if x <= f32::from(values[0]) {
        return 0;
    }
    if x >= f32::from(values[n - 1]) {
        return n - 1;
    }
    let (mut lo, mut hi) = (0, n - 1);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if x < f32::from(values[mid]) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    if x - f32::from(values[hi - 1]) < f32::from(values[hi]) - x {
        hi - 1
    } else {
        hi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_int_rounds_ties_to_even() {
        assert_eq!(nearest_int(0.5), 0);
        assert_eq!(nearest_int(1.5), 2);
        assert_eq!(nearest_int(-2.5), -2);
        assert_eq!(nearest_int(-2.6), -3);
        assert_eq!(nearest_int(31.49), 31);
    }

    #[test]
    fn best_index_picks_the_nearest_entry() {
        let values = [-10i8, -2, 1, 7];
        assert_eq!(best_index_int8(&values, -50.0), 0);
        assert_eq!(best_index_int8(&values, 0.0), 2);
        assert_eq!(best_index_int8(&values, -0.5), 2);
        assert_eq!(best_index_int8(&values, 4.0), 3);
        assert_eq!(best_index_int8(&values, 3.9), 2);
        assert_eq!(best_index_int8(&values, 99.0), 3);
    }

    #[test]
    fn qkx2_fits_an_affine_grid_exactly() {
        // x = 0.5 * l - 1 for l in 0..=15: the search must find scale 0.5 and min 1.
        let x: Vec<f32> = (0..32).map(|i| 0.5 * (i % 16) as f32 - 1.0).collect();
        let w = vec![1.0; 32];
        let mut levels = vec![0u8; 32];
        let p = Qkx2Search {
            nmax: 15,
            rmin: -1.0,
            rdelta: 0.1,
            nstep: 20,
            use_mad: false,
        };
        let (scale, min) = make_qkx2_quants(&p, &x, &w, &mut levels);
        assert!((scale - 0.5).abs() < 1e-6 && (min - 1.0).abs() < 1e-6);
        for (i, &l) in levels.iter().enumerate() {
            assert_eq!(usize::from(l), i % 16);
        }
    }
}
