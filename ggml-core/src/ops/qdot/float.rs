//! Dot kernels for float weights (F32, F16, BF16) against f32 activations (already rounded
//! to the weight type by `act`): scalar, and AVX2+FMA(+F16C) with eight-wide FMAs.

use super::{each_act, DotFn, Isa};
use crate::dtype::GgmlType;
use crate::quants::blocks::{cast_blocks, Bf16Le, F16Le, F32Le};

/// The kernel for float weights of type `ty` on `isa` (the caller checked the CPU).
pub(super) fn kernel(isa: Isa, ty: GgmlType) -> Option<DotFn> {
    use GgmlType as T;
    Some(match (isa, ty) {
        (Isa::Scalar, T::F32) => |t, o, s| each_act(t, o, s, scalar::<F32Le>),
        (Isa::Scalar, T::F16) => |t, o, s| each_act(t, o, s, scalar::<F16Le>),
        (Isa::Scalar, T::BF16) => |t, o, s| each_act(t, o, s, scalar::<Bf16Le>),
        #[cfg(target_arch = "x86_64")]
        (_, T::F32 | T::F16 | T::BF16) => return x86::kernel(ty),
        _ => return None,
    })
}

/// A float weight element.
trait Float: crate::quants::blocks::RawBlock {
    /// The encoding: 0 f32, 1 f16, 2 bf16.
    const KIND: u8;
    fn f32(self) -> f32;
}

impl Float for F32Le {
    const KIND: u8 = 0;
    fn f32(self) -> f32 {
        self.get()
    }
}

impl Float for F16Le {
    const KIND: u8 = 1;
    fn f32(self) -> f32 {
        self.to_f32()
    }
}

impl Float for Bf16Le {
    const KIND: u8 = 2;
    fn f32(self) -> f32 {
        self.to_f32()
    }
}

/// `Σ w[i] * a[i]` in f32, eight partial sums.
fn scalar<W: Float>(row: &[u8], act: &[u8]) -> f32 {
    let w = cast_blocks::<W>(row).unwrap_or_default();
    let a = cast_blocks::<F32Le>(&act[..act.len() / 4 * 4]).unwrap_or_default();
    let mut s = [0f32; 8];
    for (i, (w, a)) in w.iter().zip(a).enumerate() {
        s[i % 8] += w.f32() * a.get();
    }
    ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m256, _mm256_castsi256_ps, _mm256_cvtepu16_epi32, _mm256_cvtph_ps, _mm256_fmadd_ps,
        _mm256_loadu_ps, _mm256_setzero_ps, _mm256_slli_epi32, _mm_loadu_si128,
    };

    use super::super::x86::hsum;
    use super::{each_act, scalar, DotFn, Float, GgmlType};
    use crate::quants::blocks::{Bf16Le, F16Le, F32Le};

    pub(super) fn kernel(ty: GgmlType) -> Option<DotFn> {
        Some(match ty {
            GgmlType::F32 => |t, o, s| each_act(t, o, s, checked::<F32Le>),
            GgmlType::F16 => |t, o, s| each_act(t, o, s, checked::<F16Le>),
            GgmlType::BF16 => |t, o, s| each_act(t, o, s, checked::<Bf16Le>),
            _ => return None,
        })
    }

    fn checked<W: Float>(row: &[u8], act: &[u8]) -> f32 {
        // SAFETY: `kernel` hands this out only after `Isa::supported` confirmed AVX2, FMA
        // and F16C.
        unsafe { dot::<W>(row, act) }
    }

    /// Eight weights at byte offset `at` of `row` as f32 lanes; `row` holds at least
    /// `at + 8 * size_of::<W>()` bytes.
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    unsafe fn load8<W: Float>(row: &[u8], at: usize) -> __m256 {
        let p = row.as_ptr().wrapping_add(at);
        // SAFETY: the caller guarantees the 8 elements lie inside `row`; loads are unaligned.
        unsafe {
            match W::KIND {
                0 => _mm256_loadu_ps(p.cast()),
                1 => _mm256_cvtph_ps(_mm_loadu_si128(p.cast())),
                _ => _mm256_castsi256_ps(_mm256_slli_epi32(
                    _mm256_cvtepu16_epi32(_mm_loadu_si128(p.cast())),
                    16,
                )),
            }
        }
    }

    /// `Σ w[i] * a[i]` with two eight-wide FMA accumulators.
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dot<W: Float>(row: &[u8], act: &[u8]) -> f32 {
        let ws = size_of::<W>();
        let n = (row.len() / ws).min(act.len() / 4);
        let (mut a0, mut a1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY: elements `i..i + 16` lie inside both rows (`i + 16 <= n`).
            unsafe {
                let x0 = _mm256_loadu_ps(act.as_ptr().add(4 * i).cast());
                let x1 = _mm256_loadu_ps(act.as_ptr().add(4 * i + 32).cast());
                a0 = _mm256_fmadd_ps(load8::<W>(row, ws * i), x0, a0);
                a1 = _mm256_fmadd_ps(load8::<W>(row, ws * i + 8 * ws), x1, a1);
            }
            i += 16;
        }
        let tail = scalar::<W>(&row[ws * i..ws * n], &act[4 * i..4 * n]);
        hsum(a0) + hsum(a1) + tail
    }
}
