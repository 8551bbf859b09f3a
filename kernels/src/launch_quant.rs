//! Launchers of the quantized-weight kernels (`quant_rows.hip`, `matvec.hip`).
//!
//! API (every call only queues work on the stream of its output: no sync, no allocation, no
//! host read, so all of them can be captured in a graph):
//! - [`WeightMatrix`] `{ ty, data, n_rows, row_len }`: a weight tensor on the device, the GGUF
//!   bytes unchanged (`n_rows` rows of `row_len` weights, each row whole blocks of `ty`);
//!   `data` must start 16-byte aligned.
//! - [`Kernels::get_rows`]`(w, ids, out)`: `out` f32 `[ids.len()][row_len]` = rows `ids[i]` of
//!   `w`, `ids` a device `u32` buffer (an id ≥ `n_rows` gives a row of zeros). Bit-exact with
//!   ggml-core's scalar dequantizer.
//! - [`Kernels::dequantize_f16`]`(w, out)`: `out` f16 bits `[n_rows][row_len]`, each weight the
//!   scalar dequantizer's value rounded to nearest even (for dequantize + GEMM prefill).
//! - [`Kernels::quantize_q8_1`]`(x, k, out)`: f32 activations `[m][k]` (`m = x.len() / k`,
//!   `k % 32 == 0`) to split q8_1 in `out` ([`q8_1_bytes`]`(m, k)` bytes, 16-byte aligned):
//!   the int8 quants `[m][k]`, then one u32 per 32 values `[m][k/32]` holding f16 `d` (low
//!   half) and f16 `s = d · Σq` (high half) — ggml's `block_q8_1` values, stored as arrays
//!   so the kernels load them 16 bytes at a time. Once per matmul input.
//! - [`Kernels::matvec`]`(w, x, ncols, out)`: `out[c][r] = W[r] · x[c]`, `out` f32
//!   `[ncols][n_rows]`, `ncols` in 1..=8; `x` is [`MatVecInput::Q8_1`] (quantized `ty`, from
//!   `quantize_q8_1` with `k = row_len`) or [`MatVecInput::F32`] (F32/F16/BF16 weights,
//!   `[ncols][row_len]` f32). [`MatVecInput::for_type`] says which a type takes.
//! - [`Kernels::matvec_glu`]`(gate, up, glu, x, ncols, out)`: `out[c][r] = act(Wg[r]·x[c]) ·
//!   (Wu[r]·x[c])`, act [`Glu::Silu`] or [`Glu::GeluTanh`] as ggml-core's `ops::glu`; gate and
//!   up of one type and shape.

use hip_runtime::{DeviceSlice, DeviceSliceMut, Dim3, LaunchConfig};

use crate::error::KernelError;
use crate::launch::{check_align, check_device, check_len, grid_for, index_len};
use crate::loader::Kernels;
use crate::registry::KernelId;
use crate::weight::WeightType;

/// Alignment (bytes) the kernels need of weight and activation buffers (16-byte loads).
pub const QUANT_ALIGN: usize = 16;

/// Most activation columns one matrix x vector launch takes.
pub const MAX_MATVEC_COLS: usize = 8;

/// Bytes of split q8_1 activations for `m` rows of `k` values (`k % 32 == 0`).
pub fn q8_1_bytes(m: usize, k: usize) -> usize {
    m * k + m * (k / 32) * 4
}

/// A weight matrix on the device: `n_rows` rows of `row_len` weights of `ty`, GGUF layout.
#[derive(Clone, Copy, Debug)]
pub struct WeightMatrix<'a> {
    /// The storage type.
    pub ty: WeightType,
    /// The bytes, exactly `n_rows` rows of whole blocks, 16-byte aligned.
    pub data: DeviceSlice<'a, u8>,
    /// Rows.
    pub n_rows: usize,
    /// Weights per row.
    pub row_len: usize,
}

/// The activations of a matrix x vector product.
#[derive(Clone, Copy, Debug)]
pub enum MatVecInput<'a> {
    /// Split q8_1 bytes from [`Kernels::quantize_q8_1`] (quantized weight types).
    Q8_1(DeviceSlice<'a, u8>),
    /// f32 `[ncols][row_len]` (F32, F16 and BF16 weights).
    F32(DeviceSlice<'a, f32>),
}

/// Which kind of [`MatVecInput`] a weight type takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// Split q8_1 activations.
    Q8_1,
    /// f32 activations.
    F32,
}

impl MatVecInput<'_> {
    /// The input kind the matrix x vector kernels of `ty` read.
    pub fn for_type(ty: WeightType) -> InputKind {
        if ty.is_plain() {
            InputKind::F32
        } else {
            InputKind::Q8_1
        }
    }
}

/// The activation of the fused gate/up product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Glu {
    /// SiLU gate: `x / (1 + e^-x)` (llama, qwen, mistral).
    Silu,
    /// GELU with the tanh approximation (gemma).
    GeluTanh,
}

/// Launch shape of the matrix x vector kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatVecConfig {
    /// Warps per block, one weight row each (1..=8).
    pub warps: u32,
}

/// Sub-blocks of 32 weights each lane stages per step (`RF_MV_UPL` in matvec.hip).
const MV_UNITS_PER_LANE: usize = 2;

/// Shared memory of one warp of the quantized matrix x vector kernels (`RF_MV_STAGE_BYTES`).
fn mv_stage_bytes(warp_size: u32) -> u32 {
    warp_size * MV_UNITS_PER_LANE as u32 * 36 + 32
}

/// The tuned launch shape per weight family (the small config table). Measured on an H200
/// (`examples/matvec_bandwidth.rs`, 4096 x 14336, batch 1): two rows per block beat one,
/// four and eight for 4-bit types; one row per block is best for Q8_0.
pub fn matvec_config(ty: WeightType) -> MatVecConfig {
    let warps = match ty {
        WeightType::F32 | WeightType::F16 | WeightType::BF16 => 4,
        WeightType::Q8_0 => 1,
        WeightType::Q4_0
        | WeightType::Q4_1
        | WeightType::Q5_0
        | WeightType::Q5_1
        | WeightType::IQ4_NL
        | WeightType::MXFP4
        | WeightType::Q2_K
        | WeightType::Q3_K
        | WeightType::Q4_K
        | WeightType::Q5_K
        | WeightType::Q6_K
        | WeightType::IQ4_XS => 2,
    };
    MatVecConfig { warps }
}

fn shape_error(kernel: KernelId, reason: String) -> KernelError {
    KernelError::Shape {
        kernel,
        detail: reason,
    }
}

impl WeightMatrix<'_> {
    /// Checks the matrix for `kernel`: whole blocks per row, the byte length, the alignment,
    /// 32-bit sizes; returns `(n_rows, row_len)` as kernel arguments.
    fn check(&self, kernel: KernelId) -> Result<(u32, u32), KernelError> {
        let Some(row_bytes) = self.ty.bytes_for(self.row_len) else {
            return Err(shape_error(
                kernel,
                format!(
                    "a row of {} weights is not a whole number of {} blocks of {}",
                    self.row_len,
                    self.ty,
                    self.ty.block_elems()
                ),
            ));
        };
        let bytes = row_bytes
            .checked_mul(self.n_rows)
            .ok_or(KernelError::TooLong {
                kernel,
                len: usize::MAX,
            })?;
        check_len(kernel, "w", bytes, self.data.len(), false)?;
        check_align(kernel, "w", self.data.device_ptr(), QUANT_ALIGN)?;
        Ok((
            index_len(kernel, self.n_rows)?,
            index_len(kernel, self.row_len)?,
        ))
    }
}

/// Rows of a 2-D grid over (elements of a row, output rows).
fn rows_grid(row_len: usize, rows: usize) -> LaunchConfig {
    const THREADS: u32 = 256;
    LaunchConfig {
        grid: Dim3 {
            x: row_len.div_ceil(THREADS as usize).clamp(1, 4096) as u32,
            y: rows.clamp(1, 65535) as u32,
            z: 1,
        },
        block: Dim3::x(THREADS),
        shared_mem_bytes: 0,
    }
}

impl Kernels {
    /// `out[i] = row ids[i] of w` as f32 (`out` holds `ids.len() * w.row_len` values).
    pub fn get_rows(
        &self,
        w: &WeightMatrix<'_>,
        ids: &DeviceSlice<'_, u32>,
        out: &mut DeviceSliceMut<'_, f32>,
    ) -> Result<(), KernelError> {
        let id = KernelId::GetRows(w.ty);
        let (n_rows, row_len) = w.check(id)?;
        let n_ids = index_len(id, ids.len())?;
        check_len(id, "out", ids.len() * w.row_len, out.len(), false)?;
        index_len(id, out.len())?;
        let stream = out.as_slice().stream();
        check_device(id, &w.data, stream)?;
        check_device(id, ids, stream)?;
        let config = rows_grid(w.row_len, ids.len());
        // SAFETY: rf_get_rows_<ty>(const u8* w, const u32* ids, u32 n_rows, u32 row_len,
        // float* out, u32 n_ids) reads w (n_rows whole rows, checked), ids[0..n_ids) and
        // writes out[0..n_ids * row_len) (checked); ids past n_rows are never dereferenced.
        unsafe {
            self.launch(
                id,
                stream,
                config,
                (w.data.arg(), ids.arg(), n_rows, row_len, out.arg(), n_ids),
            )
        }
    }

    /// Every row of `w` as f16 bit patterns into `out` (`n_rows * row_len` values).
    pub fn dequantize_f16(
        &self,
        w: &WeightMatrix<'_>,
        out: &mut DeviceSliceMut<'_, u16>,
    ) -> Result<(), KernelError> {
        let id = KernelId::DequantF16(w.ty);
        let (n_rows, row_len) = w.check(id)?;
        check_len(id, "out", w.n_rows * w.row_len, out.len(), false)?;
        index_len(id, out.len())?;
        let stream = out.as_slice().stream();
        check_device(id, &w.data, stream)?;
        let config = rows_grid(w.row_len, w.n_rows);
        // SAFETY: rf_dequant_f16_<ty>(const u8* w, u32 n_rows, u32 row_len, u16* out) reads
        // the n_rows whole rows of w and writes out[0..n_rows * row_len), both checked.
        unsafe {
            self.launch(
                id,
                stream,
                config,
                (w.data.arg(), n_rows, row_len, out.arg()),
            )
        }
    }

    /// Quantizes f32 activations `[m][k]` (`m = x.len() / k`) to split q8_1 in `out`.
    pub fn quantize_q8_1(
        &self,
        x: &DeviceSlice<'_, f32>,
        k: usize,
        out: &mut DeviceSliceMut<'_, u8>,
    ) -> Result<(), KernelError> {
        let id = KernelId::QuantizeQ8_1;
        if k == 0 || k % 32 != 0 || x.len() % k != 0 {
            return Err(shape_error(
                id,
                format!(
                    "{} values are not rows of k = {k}, a non-zero multiple of 32",
                    x.len()
                ),
            ));
        }
        let n = index_len(id, x.len())?;
        check_len(id, "out", q8_1_bytes(x.len() / k, k), out.len(), false)?;
        check_align(id, "out", out.device_ptr(), QUANT_ALIGN)?;
        let stream = out.as_slice().stream();
        check_device(id, x, stream)?;
        // SAFETY: rf_quantize_q8_1(const float* x, u8* y, u32 n) reads x[0..n) and writes
        // y[0..n) and n / 32 u32 after them: q8_1_bytes(n / k, k) bytes, checked; the u32s
        // start at y + n, 4-byte aligned because n is a multiple of 32 and y is 16-aligned.
        unsafe { self.launch(id, stream, grid_for(x.len()), (x.arg(), out.arg(), n)) }
    }

    /// `out[c][r] = W[r] · x[c]` for `c < ncols` (`out` f32 `[ncols][n_rows]`).
    pub fn matvec(
        &self,
        w: &WeightMatrix<'_>,
        x: MatVecInput<'_>,
        ncols: usize,
        out: &mut DeviceSliceMut<'_, f32>,
    ) -> Result<(), KernelError> {
        self.matvec_with(matvec_config(w.ty), w, None, x, ncols, out)
    }

    /// `out[c][r] = act(Wg[r] · x[c]) · (Wu[r] · x[c])`: the FFN's gate and up projections
    /// fused with the GLU; `gate` and `up` of one type and shape.
    pub fn matvec_glu(
        &self,
        gate: &WeightMatrix<'_>,
        up: &WeightMatrix<'_>,
        glu: Glu,
        x: MatVecInput<'_>,
        ncols: usize,
        out: &mut DeviceSliceMut<'_, f32>,
    ) -> Result<(), KernelError> {
        self.matvec_with(matvec_config(gate.ty), gate, Some((up, glu)), x, ncols, out)
    }

    /// [`Kernels::matvec`] / [`Kernels::matvec_glu`] with an explicit launch shape (for
    /// tuning the config table).
    pub fn matvec_with(
        &self,
        config: MatVecConfig,
        w: &WeightMatrix<'_>,
        up: Option<(&WeightMatrix<'_>, Glu)>,
        x: MatVecInput<'_>,
        ncols: usize,
        out: &mut DeviceSliceMut<'_, f32>,
    ) -> Result<(), KernelError> {
        let id = KernelId::MatVec(w.ty);
        let (n_rows, k) = w.check(id)?;
        if !(1..=MAX_MATVEC_COLS).contains(&ncols) {
            return Err(shape_error(
                id,
                format!("{ncols} columns; 1 to {MAX_MATVEC_COLS} are supported"),
            ));
        }
        if !(1..=8).contains(&config.warps) {
            return Err(shape_error(
                id,
                format!("{} warps per block; 1 to 8 are supported", config.warps),
            ));
        }
        let stream = out.as_slice().stream();
        check_device(id, &w.data, stream)?;
        check_len(id, "out", ncols * w.n_rows, out.len(), false)?;
        index_len(id, out.len())?;
        let (up_arg, glu_kind) = match up {
            Some((u, glu)) => {
                if (u.ty, u.n_rows, u.row_len) != (w.ty, w.n_rows, w.row_len) {
                    return Err(shape_error(
                        id,
                        format!(
                            "gate is {} [{}][{}] but up is {} [{}][{}]",
                            w.ty, w.n_rows, w.row_len, u.ty, u.n_rows, u.row_len
                        ),
                    ));
                }
                u.check(id)?;
                check_device(id, &u.data, stream)?;
                let kind = match glu {
                    Glu::Silu => 0u32,
                    Glu::GeluTanh => 1,
                };
                (u.data.arg(), kind)
            }
            None => (hip_runtime::DevPtr::new(0), 0),
        };
        let x_arg = match (x, MatVecInput::for_type(w.ty)) {
            (MatVecInput::Q8_1(x), InputKind::Q8_1) => {
                check_len(id, "x", q8_1_bytes(ncols, w.row_len), x.len(), false)?;
                check_align(id, "x", x.device_ptr(), QUANT_ALIGN)?;
                check_device(id, &x, stream)?;
                x.arg()
            }
            (MatVecInput::F32(x), InputKind::F32) => {
                check_len(id, "x", ncols * w.row_len, x.len(), false)?;
                check_align(id, "x", x.device_ptr(), QUANT_ALIGN)?;
                check_device(id, &x, stream)?;
                hip_runtime::DevPtr::new(x.device_ptr())
            }
            (_, kind) => {
                return Err(shape_error(
                    id,
                    format!("{} weights take {kind:?} activations", w.ty),
                ))
            }
        };
        let warp_size = self.arch().warp_size();
        let shared_mem_bytes = if w.ty.is_plain() {
            0
        } else {
            config.warps * mv_stage_bytes(warp_size)
        };
        let launch = LaunchConfig {
            grid: Dim3::x(w.n_rows.div_ceil(config.warps as usize) as u32),
            block: Dim3::x(config.warps * warp_size),
            shared_mem_bytes,
        };
        let ncols_arg = ncols as u32;
        // SAFETY: rf_mv_<ty>(const u8* w, const u8* up, const u8* x, float* out, u32 n_rows,
        // u32 k, u32 ncols, u32 glu_kind) reads w (and up when non-null: same type and shape,
        // checked) as n_rows whole rows of k weights, never past their end; x as ncols columns
        // of k activations in the layout the type takes (length and 16-byte alignment
        // checked); writes out[0..ncols * n_rows) (checked). Each block of `warps` warps uses
        // `warps` stages of dynamic shared memory, which the launch provides.
        unsafe {
            self.launch(
                id,
                stream,
                launch,
                (
                    w.data.arg(),
                    up_arg,
                    x_arg,
                    out.arg(),
                    n_rows,
                    k,
                    ncols_arg,
                    glu_kind,
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_1_bytes_match_ggml_blocks() {
        // A block_q8_1 is 36 bytes per 32 values.
        assert_eq!(q8_1_bytes(3, 4096), 3 * 4096 / 32 * 36);
        assert_eq!(mv_stage_bytes(32) % 16, 0);
        assert_eq!(mv_stage_bytes(64) % 16, 0);
        // The widest type's stage fits: UPL * warp sub-blocks of 34 bytes plus 15 of slack.
        for warp in [32u32, 64] {
            assert!(warp * 2 * 34 + 15 <= mv_stage_bytes(warp));
        }
    }

    #[test]
    fn every_type_has_a_config_in_range() {
        for ty in WeightType::ALL {
            assert!((1..=8).contains(&matvec_config(ty).warps), "{ty}");
        }
        assert_eq!(MatVecInput::for_type(WeightType::BF16), InputKind::F32);
        assert_eq!(MatVecInput::for_type(WeightType::Q6_K), InputKind::Q8_1);
    }
}
