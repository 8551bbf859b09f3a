//! Dot products of weight rows with 8-bit activations, the way llama.cpp's CPU path computes
//! them: each activation row is quantized once per matmul to the block format paired with
//! the weight type ([`ActFormat`], in `act`), then a kernel reads the weight blocks in place
//! and accumulates integer products block by block.
//!
//! Kernels exist per instruction set ([`Isa`]): a portable scalar reference (`scalar`, the
//! oracle), AVX2 (`x86_legacy`, `x86_kquants`) and AVX-512 VNNI (the same code with the
//! VNNI dot instruction), chosen at run time. [`active_isa`] is the best the CPU offers
//! unless `ROCMFORGE_CPU_ISA` or [`force_isa`] says otherwise; [`kernel`] gives the kernel of
//! any supported path, so tests compare every path with the scalar one.

pub mod act;
mod float;
mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86;
#[cfg(target_arch = "x86_64")]
mod x86_kquants;
#[cfg(target_arch = "x86_64")]
mod x86_legacy;

use std::sync::atomic::{AtomicU8, Ordering};

pub use act::ActFormat;

use crate::dtype::GgmlType;

/// Activation rows one kernel call handles at most; longer `out` slices are split.
pub const TILE: usize = 4;

/// An instruction set the kernels are written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Portable scalar code: the reference.
    Scalar,
    /// AVX2 with FMA and F16C.
    Avx2,
    /// AVX2 plus AVX-512 VNNI (256-bit `vpdpbusd`) for the integer products.
    Avx512Vnni,
}

impl Isa {
    /// Every instruction set, best last.
    pub const ALL: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni];

    /// The name `ROCMFORGE_CPU_ISA` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512Vnni => "avx512vnni",
        }
    }

    /// The instruction set called `name`.
    pub fn from_name(name: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|i| i.name() == name)
    }

    /// Whether this CPU runs it.
    pub fn supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => x86::has_avx2(),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => x86::has_avx2() && x86::has_vnni(),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The best instruction set this CPU runs.
    pub fn best() -> Isa {
        Isa::ALL
            .into_iter()
            .rev()
            .find(|i| i.supported())
            .unwrap_or(Isa::Scalar)
    }

    /// Every instruction set this CPU runs.
    pub fn available() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.supported()).collect()
    }
}

/// 0: not chosen yet; otherwise 1 + the index in [`Isa::ALL`].
static ACTIVE: AtomicU8 = AtomicU8::new(0);

/// The instruction set the CPU backend uses: [`force_isa`]'s choice, else
/// `ROCMFORGE_CPU_ISA` when it names a supported one, else [`Isa::best`].
pub fn active_isa() -> Isa {
    let v = ACTIVE.load(Ordering::Relaxed);
    if let Some(isa) = Isa::ALL.get(usize::from(v).wrapping_sub(1)) {
        return *isa;
    }
    let isa = std::env::var("ROCMFORGE_CPU_ISA")
        .ok()
        .and_then(|n| Isa::from_name(n.trim()))
        .filter(|i| i.supported())
        .unwrap_or_else(Isa::best);
    set_active(isa);
    isa
}

fn set_active(isa: Isa) {
    let idx = Isa::ALL.iter().position(|i| *i == isa).unwrap_or(0);
    ACTIVE.store(idx as u8 + 1, Ordering::Relaxed);
}

/// Makes the CPU backend use `isa` (`None`: back to the default choice); refused, returning
/// `false`, when the CPU does not run it.
pub fn force_isa(isa: Option<Isa>) -> bool {
    match isa {
        Some(i) if !i.supported() => false,
        Some(i) => {
            set_active(i);
            true
        }
        None => {
            ACTIVE.store(0, Ordering::Relaxed);
            true
        }
    }
}

/// Weight rows times up to [`TILE`] activation rows: what one kernel call computes.
pub(super) struct Tile<'a> {
    /// Weight rows of `row_bytes` bytes each (whole blocks).
    rows: &'a [u8],
    row_bytes: usize,
    /// Activation rows `stride` bytes apart.
    acts: &'a [u8],
    stride: usize,
    /// Activation rows in the tile (1..=TILE).
    n_acts: usize,
}

impl<'a> Tile<'a> {
    /// The weight rows.
    fn rows(&self) -> std::slice::ChunksExact<'a, u8> {
        self.rows.chunks_exact(self.row_bytes.max(1))
    }

    /// Activation row `t` (shorter or empty where `acts` ends early).
    fn act(&self, t: usize) -> &'a [u8] {
        let a = self.acts.get(t * self.stride..).unwrap_or_default();
        &a[..self.stride.min(a.len())]
    }
}

/// Writes `tile`'s products: `out[r * ostride + t] = row r · act t` (entries past the end of
/// `out` are dropped).
type DotFn = fn(tile: &Tile<'_>, out: &mut [f32], ostride: usize);

/// Stores one weight row's sums at `out[at..at + C]`.
#[inline(always)]
fn store<const C: usize>(out: &mut [f32], at: usize, v: &[f32; C]) {
    if let Some(o) = out.get_mut(at..at + C) {
        o.copy_from_slice(v);
    }
}

/// A dot kernel for one weight type on one instruction set.
#[derive(Clone, Copy)]
pub struct Kernel {
    act: ActFormat,
    dot: DotFn,
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel").field("act", &self.act).finish()
    }
}

impl Kernel {
    /// The activation format the kernel reads.
    pub fn act(&self) -> ActFormat {
        self.act
    }

    /// `out[t] = row · act[t]` for the `out.len()` activation rows at `acts[t * stride..]`.
    /// `row` holds whole weight blocks of `k` elements and each activation row
    /// `act.row_bytes(k)` bytes; rows that are too short contribute only their whole blocks.
    pub fn dot(&self, row: &[u8], acts: &[u8], stride: usize, out: &mut [f32]) {
        let n = out.len();
        self.dot_rows(row, row.len(), acts, stride, n, out, 0);
    }

    /// `out[r * ostride + t] = rows[r] · act[t]` for every weight row `r` (`row_bytes` each)
    /// and the `n_acts` activation rows at `acts[t * stride..]`; four activation rows share
    /// each unpacked weight block.
    #[allow(clippy::too_many_arguments)]
    pub fn dot_rows(
        &self,
        rows: &[u8],
        row_bytes: usize,
        acts: &[u8],
        stride: usize,
        n_acts: usize,
        out: &mut [f32],
        ostride: usize,
    ) {
        for t0 in (0..n_acts).step_by(TILE) {
            let tile = Tile {
                rows,
                row_bytes,
                acts: acts.get(t0 * stride..).unwrap_or_default(),
                stride,
                n_acts: TILE.min(n_acts - t0),
            };
            (self.dot)(&tile, out.get_mut(t0..).unwrap_or_default(), ostride);
        }
    }
}

/// The kernel for weights of type `ty` on `isa`; `None` when `isa` is not supported here or
/// `ty` has no integer-dot kernel (callers then use the f32 path).
pub fn kernel(isa: Isa, ty: GgmlType) -> Option<Kernel> {
    if !isa.supported() {
        return None;
    }
    let act = ActFormat::for_weights(ty)?;
    let dot = match isa {
        Isa::Scalar => scalar::kernel(ty),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => x86_legacy::kernel(ty, false).or_else(|| x86_kquants::kernel(ty)),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => x86_legacy::kernel(ty, true).or_else(|| x86_kquants::kernel(ty)),
        #[cfg(not(target_arch = "x86_64"))]
        _ => None,
    };
    let dot = dot.or_else(|| float::kernel(isa, ty))?;
    Some(Kernel { act, dot })
}

/// Calls `f(row, act)` for each weight row and activation row of `tile`: how kernels
/// without a tiled form serve one.
#[inline(always)]
fn each_act(tile: &Tile<'_>, out: &mut [f32], ostride: usize, f: impl Fn(&[u8], &[u8]) -> f32) {
    for (r, row) in tile.rows().enumerate() {
        for t in 0..tile.n_acts {
            if let Some(o) = out.get_mut(r * ostride + t) {
                *o = f(row, tile.act(t));
            }
        }
    }
}
