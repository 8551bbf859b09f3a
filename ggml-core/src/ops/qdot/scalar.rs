//! The portable reference kernels: integer sums per block (or group) scaled in f32, the
//! formulas of ggml's generic `vec_dot` for each weight type. The SIMD kernels are checked
//! against these.

use super::{each_act, DotFn};
use crate::dtype::{GgmlType, QK_K};
use crate::quants::blocks::{
    cast_blocks, BlockIQ4NL, BlockIQ4XS, BlockMXFP4, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0,
    BlockQ4_1, BlockQ5K, BlockQ5_0, BlockQ5_1, BlockQ6K, BlockQ8K, BlockQ8_0, BlockQ8_1, RawBlock,
    QK32,
};
use crate::quants::{
    crumb, e8m0_to_f32_half, nibble_k, q3k_high_bit, q3k_scales, q6k_level, scale_min_k4,
    KVALUES_IQ4NL, KVALUES_MXFP4,
};

/// The scalar kernel for `ty` (quantized types; floats live in `float`).
pub(super) fn kernel(ty: GgmlType) -> Option<DotFn> {
    use GgmlType as T;
    Some(match ty {
        T::Q4_0 => |t, o, s| each_act(t, o, s, q4_0),
        T::Q4_1 => |t, o, s| each_act(t, o, s, q4_1),
        T::Q5_0 => |t, o, s| each_act(t, o, s, q5_0),
        T::Q5_1 => |t, o, s| each_act(t, o, s, q5_1),
        T::Q8_0 => |t, o, s| each_act(t, o, s, q8_0),
        T::IQ4_NL => |t, o, s| each_act(t, o, s, iq4_nl),
        T::MXFP4 => |t, o, s| each_act(t, o, s, mxfp4),
        T::Q2_K => |t, o, s| each_act(t, o, s, q2_k),
        T::Q3_K => |t, o, s| each_act(t, o, s, q3_k),
        T::Q4_K => |t, o, s| each_act(t, o, s, q4_k),
        T::Q5_K => |t, o, s| each_act(t, o, s, q5_k),
        T::Q6_K => |t, o, s| each_act(t, o, s, q6_k),
        T::IQ4_XS => |t, o, s| each_act(t, o, s, iq4_xs),
        _ => return None,
    })
}

/// `Σ f(weight block, activation block)` over the blocks both rows hold.
#[inline(always)]
fn blocks<W: RawBlock, A: RawBlock>(row: &[u8], act: &[u8], f: impl Fn(&W, &A) -> f32) -> f32 {
    let w = cast_blocks::<W>(row).unwrap_or_default();
    let a = act
        .get(..act.len() / size_of::<A>() * size_of::<A>())
        .and_then(cast_blocks::<A>)
        .unwrap_or_default();
    w.iter().zip(a).map(|(w, a)| f(w, a)).sum()
}

/// `Σ level(j) * q[j]` over a 32-element block of 4-bit weights packed as in Q4_0 (byte `j`:
/// element `j` low nibble, `j + 16` high nibble).
#[inline(always)]
fn sum32(qs: &[u8; 16], q: &[i8], level: impl Fn(usize, u8) -> i32) -> i32 {
    (0..16)
        .map(|j| {
            level(j, qs[j] & 15) * i32::from(q[j])
                + level(j + 16, qs[j] >> 4) * i32::from(q[j + 16])
        })
        .sum()
}

fn q4_0(row: &[u8], act: &[u8]) -> f32 {
    blocks(row, act, |w: &BlockQ4_0, a: &BlockQ8_0| {
        let s = sum32(&w.qs, &a.qs, |_, n| i32::from(n) - 8);
        s as f32 * (w.d.to_f32() * a.d.to_f32())
    })
}

fn q4_1(row: &[u8], act: &[u8]) -> f32 {
    blocks(row, act, |w: &BlockQ4_1, a: &BlockQ8_1| {
        let s = sum32(&w.qs, &a.qs, |_, n| i32::from(n));
        s as f32 * (w.d.to_f32() * a.d.to_f32()) + w.m.to_f32() * a.s.to_f32()
    })
}

/// The fifth bit of element `j` of a Q5 block, as 16 or 0.
fn bit5(qh: [u8; 4], j: usize) -> i32 {
    ((u32::from_le_bytes(qh) >> j) as i32 & 1) << 4
}

fn q5_0(row: &[u8], act: &[u8]) -> f32 {
    blocks(row, act, |w: &BlockQ5_0, a: &BlockQ8_0| {
        let s = sum32(&w.qs, &a.qs, |j, n| (i32::from(n) | bit5(w.qh, j)) - 16);
        s as f32 * (w.d.to_f32() * a.d.to_f32())
    })
}

fn q5_1(row: &[u8], act: &[u8]) -> f32 {
    blocks(row, act, |w: &BlockQ5_1, a: &BlockQ8_1| {
        let s = sum32(&w.qs, &a.qs, |j, n| i32::from(n) | bit5(w.qh, j));
        s as f32 * (w.d.to_f32() * a.d.to_f32()) + w.m.to_f32() * a.s.to_f32()
    })
}

fn q8_0(row: &[u8], act: &[u8]) -> f32 {
    blocks(row, act, |w: &BlockQ8_0, a: &BlockQ8_0| {
        let s: i32 =
            w.qs.iter()
                .zip(&a.qs)
                .map(|(&x, &y)| i32::from(x) * i32::from(y))
                .sum();
        s as f32 * (w.d.to_f32() * a.d.to_f32())
    })
}

fn iq4_nl(row: &[u8], act: &[u8]) -> f32 {
    blocks(row, act, |w: &BlockIQ4NL, a: &BlockQ8_0| {
        let s = sum32(&w.qs, &a.qs, |_, n| {
            i32::from(KVALUES_IQ4NL[usize::from(n)])
        });
        s as f32 * (w.d.to_f32() * a.d.to_f32())
    })
}

fn mxfp4(row: &[u8], act: &[u8]) -> f32 {
    blocks(row, act, |w: &BlockMXFP4, a: &BlockQ8_0| {
        let s = sum32(&w.qs, &a.qs, |_, n| {
            i32::from(KVALUES_MXFP4[usize::from(n)])
        });
        s as f32 * (e8m0_to_f32_half(w.e) * a.d.to_f32())
    })
}

/// `Σ_g scale(g) * Σ_{i in group g} level(i) * q[i]` over the 256 elements of a Q8_K block
/// in groups of `group` elements.
#[inline(always)]
fn grouped(
    a: &BlockQ8K,
    group: usize,
    scale: impl Fn(usize) -> i32,
    level: impl Fn(usize) -> i32,
) -> i32 {
    (0..QK_K / group)
        .map(|g| {
            let s: i32 = (g * group..(g + 1) * group)
                .map(|i| level(i) * i32::from(a.qs[i]))
                .sum();
            scale(g) * s
        })
        .sum()
}

/// `Σ_g m(g) * (sum of the Q8_K quants in group g)` for groups of `group` elements.
fn min_sum(a: &BlockQ8K, group: usize, m: impl Fn(usize) -> i32) -> i32 {
    let per = group / 16;
    (0..QK_K / group)
        .map(|g| {
            let s: i32 = a.bsums[g * per..(g + 1) * per]
                .iter()
                .map(|b| i32::from(b.get()))
                .sum();
            m(g) * s
        })
        .sum()
}

fn q2_k(row: &[u8], act: &[u8]) -> f32 {
    blocks(row, act, |w: &BlockQ2K, a: &BlockQ8K| {
        let s = grouped(
            a,
            16,
            |g| i32::from(w.scales[g] & 15),
            |i| i32::from(crumb(&w.qs, i)),
        );
        let m = min_sum(a, 16, |g| i32::from(w.scales[g] >> 4));
        let d = a.d.get();
        d * w.d.to_f32() * s as f32 - d * w.dmin.to_f32() * m as f32
    })
}

fn q3_k(row: &[u8], act: &[u8]) -> f32 {
    blocks(row, act, |w: &BlockQ3K, a: &BlockQ8K| {
        let sc = q3k_scales(&w.scales);
        let s = grouped(
            a,
            16,
            |g| i32::from(sc[g]),
            |i| i32::from(crumb(&w.qs, i)) - if q3k_high_bit(&w.hmask, i) { 0 } else { 4 },
        );
        a.d.get() * w.d.to_f32() * s as f32
    })
}

fn q4_k(row: &[u8], act: &[u8]) -> f32 {
    blocks(row, act, |w: &BlockQ4K, a: &BlockQ8K| {
        let sm = |g| scale_min_k4(g, &w.scales);
        let s = grouped(
            a,
            32,
            |g| i32::from(sm(g).0),
            |i| i32::from(nibble_k(&w.qs, i)),
        );
        let m = min_sum(a, 32, |g| i32::from(sm(g).1));
        let d = a.d.get();
        d * w.d.to_f32() * s as f32 - d * w.dmin.to_f32() * m as f32
    })
}

fn q5_k(row: &[u8], act: &[u8]) -> f32 {
    blocks(row, act, |w: &BlockQ5K, a: &BlockQ8K| {
        let sm = |g| scale_min_k4(g, &w.scales);
        let level = |i: usize| {
            i32::from(nibble_k(&w.qs, i)) | (i32::from((w.qh[i % 32] >> (i / 32)) & 1) << 4)
        };
        let s = grouped(a, 32, |g| i32::from(sm(g).0), level);
        let m = min_sum(a, 32, |g| i32::from(sm(g).1));
        let d = a.d.get();
        d * w.d.to_f32() * s as f32 - d * w.dmin.to_f32() * m as f32
    })
}

fn q6_k(row: &[u8], act: &[u8]) -> f32 {
    blocks(row, act, |w: &BlockQ6K, a: &BlockQ8K| {
        let s = grouped(
            a,
            16,
            |g| i32::from(w.scales[g]),
            |i| i32::from(q6k_level(&w.ql, &w.qh, i)) - 32,
        );
        a.d.get() * w.d.to_f32() * s as f32
    })
}

/// The 6-bit scale of group `j` (0..8) of an IQ4_XS block, minus 32.
pub(super) fn iq4_xs_scale(w: &BlockIQ4XS, j: usize) -> i32 {
    let low = (w.scales_l[j / 2] >> (4 * (j % 2))) & 15;
    let high = (w.scales_h.get() >> (2 * j)) & 3;
    (i32::from(low) | (i32::from(high) << 4)) - 32
}

fn iq4_xs(row: &[u8], act: &[u8]) -> f32 {
    blocks(row, act, |w: &BlockIQ4XS, a: &BlockQ8K| {
        let s: i32 = (0..QK_K / QK32)
            .map(|j| {
                let qs: &[u8; 16] = w.qs[16 * j..16 * j + 16].try_into().unwrap_or(&[0; 16]);
                let q = &a.qs[QK32 * j..QK32 * (j + 1)];
                iq4_xs_scale(w, j) * sum32(qs, q, |_, n| i32::from(KVALUES_IQ4NL[usize::from(n)]))
            })
            .sum();
        a.d.get() * w.d.to_f32() * s as f32
    })
}
