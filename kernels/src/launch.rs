//! Safe typed launchers, one per kernel: they check lengths, alignment, devices and index
//! ranges, then queue the kernel on the output's stream. Inputs must be ready on that
//! stream (written on it, or synchronised).

use hip_runtime::{
    DeviceRepr, DeviceSlice, DeviceSliceMut, Dim3, KernelArgs, LaunchConfig, Stream,
};

use crate::error::KernelError;
use crate::loader::Kernels;
use crate::registry::KernelId;

/// Threads per block of the grid-stride kernels (a multiple of 64, so of every warp size).
pub(crate) const BLOCK: u32 = 256;

/// The most blocks a grid-stride launch uses; each thread then loops over the rest.
const MAX_BLOCKS: usize = 4096;

/// Partial sums the first pass of a reduction writes (at most one per block), and the
/// number of threads of the single block of the second pass.
pub const REDUCE_PARTIALS: usize = 1024;

/// Checks that `len` fits the kernels' 32-bit element index.
pub(crate) fn index_len(kernel: KernelId, len: usize) -> Result<u32, KernelError> {
    u32::try_from(len).map_err(|_| KernelError::TooLong { kernel, len })
}

/// Checks that argument `arg` has `actual` elements where the kernel needs `expected`
/// (`at_least`: or more).
pub(crate) fn check_len(
    kernel: KernelId,
    arg: &'static str,
    expected: usize,
    actual: usize,
    at_least: bool,
) -> Result<(), KernelError> {
    let ok = if at_least {
        actual >= expected
    } else {
        actual == expected
    };
    if ok {
        Ok(())
    } else {
        Err(KernelError::Length {
            kernel,
            arg,
            expected,
            actual,
        })
    }
}

/// Checks that argument `arg` at `address` is aligned to `align` bytes.
pub(crate) fn check_align(
    kernel: KernelId,
    arg: &'static str,
    address: u64,
    align: usize,
) -> Result<(), KernelError> {
    if address % align as u64 == 0 {
        Ok(())
    } else {
        Err(KernelError::Alignment {
            kernel,
            arg,
            address: address as usize,
            align,
        })
    }
}

/// Checks that an input lives on the device the output's stream runs on.
pub(crate) fn check_device<T: DeviceRepr>(
    kernel: KernelId,
    input: &DeviceSlice<'_, T>,
    stream: &Stream,
) -> Result<(), KernelError> {
    let (a, b) = (input.stream().device().ordinal(), stream.device().ordinal());
    if a == b {
        Ok(())
    } else {
        Err(KernelError::Runtime(hip_runtime::Error::DeviceMismatch {
            op: kernel.symbol(),
            a,
            b,
        }))
    }
}

/// A grid-stride launch over `n` elements.
pub(crate) fn grid_for(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(BLOCK as usize).clamp(1, MAX_BLOCKS);
    LaunchConfig {
        grid: Dim3::x(blocks as u32),
        block: Dim3::x(BLOCK),
        shared_mem_bytes: 0,
    }
}

/// The most rows a kernel takes along the grid's y dimension (its hardware limit).
pub(crate) const MAX_GRID_Y: usize = 65_535;

/// A launch of `block` threads per block: grid-stride blocks over `items` along x, one
/// grid row per row along y (at most [`MAX_GRID_Y`]).
pub(crate) fn grid_rows(
    kernel: KernelId,
    items: usize,
    rows: usize,
    block: u32,
) -> Result<LaunchConfig, KernelError> {
    if rows > MAX_GRID_Y {
        return Err(KernelError::Shape {
            kernel,
            detail: format!("{rows} rows exceed the grid's {MAX_GRID_Y}"),
        });
    }
    let blocks = items.div_ceil(block as usize).clamp(1, MAX_BLOCKS);
    Ok(LaunchConfig {
        grid: Dim3 {
            x: blocks as u32,
            y: rows as u32,
            z: 1,
        },
        block: Dim3::x(block),
        shared_mem_bytes: 0,
    })
}

impl Kernels {
    /// Queues kernel `id` on `stream`.
    ///
    /// # Safety
    /// `args` must match the kernel's parameters in number, order and C++ type, and every
    /// device range the kernel touches with `config` must be live memory of this device
    /// until the stream has run the kernel.
    pub(crate) unsafe fn launch<A: KernelArgs>(
        &self,
        id: KernelId,
        stream: &Stream,
        config: LaunchConfig,
        args: A,
    ) -> Result<(), KernelError> {
        let kernel = self.kernel(id)?;
        self.timed(stream, id.symbol(), || {
            // SAFETY: forwarded from this function's contract.
            unsafe { kernel.launch(stream, config, args) }.map_err(KernelError::from)
        })
    }

    /// `y[i] = value` for every element of `y`.
    pub fn fill_f32(&self, y: &mut DeviceSliceMut<'_, f32>, value: f32) -> Result<(), KernelError> {
        let id = KernelId::FillF32;
        let n = index_len(id, y.len())?;
        let stream = y.as_slice().stream();
        // SAFETY: rf_fill_f32(float*, float, unsigned) writes y[0..n), which `y` owns.
        unsafe { self.launch(id, stream, grid_for(y.len()), (y.arg(), value, n)) }
    }

    /// `y[i] = x[i]`; lengths must match.
    pub fn copy_f32(
        &self,
        x: &DeviceSlice<'_, f32>,
        y: &mut DeviceSliceMut<'_, f32>,
    ) -> Result<(), KernelError> {
        let id = KernelId::CopyF32;
        self.map_args(id, x, y)?;
        let n = index_len(id, y.len())?;
        let stream = y.as_slice().stream();
        // SAFETY: rf_copy_f32(const float*, float*, unsigned) reads x[0..n), writes
        // y[0..n); both views have n elements on this stream's device.
        unsafe { self.launch(id, stream, grid_for(y.len()), (x.arg(), y.arg(), n)) }
    }

    /// `z[i] = x[i] + y[i]`; lengths must match.
    pub fn add_f32(
        &self,
        x: &DeviceSlice<'_, f32>,
        y: &DeviceSlice<'_, f32>,
        z: &mut DeviceSliceMut<'_, f32>,
    ) -> Result<(), KernelError> {
        let id = KernelId::AddF32;
        self.map_args(id, x, z)?;
        self.map_args(id, y, z)?;
        let n = index_len(id, z.len())?;
        let stream = z.as_slice().stream();
        // SAFETY: rf_add_f32(const float*, const float*, float*, unsigned) reads x and y,
        // writes z, each n elements long on this stream's device.
        unsafe {
            self.launch(
                id,
                stream,
                grid_for(z.len()),
                (x.arg(), y.arg(), z.arg(), n),
            )
        }
    }

    /// `y[i] = x[i] * factor`; lengths must match.
    pub fn scale_f32(
        &self,
        x: &DeviceSlice<'_, f32>,
        y: &mut DeviceSliceMut<'_, f32>,
        factor: f32,
    ) -> Result<(), KernelError> {
        let id = KernelId::ScaleF32;
        self.map_args(id, x, y)?;
        let n = index_len(id, y.len())?;
        let stream = y.as_slice().stream();
        // SAFETY: rf_scale_f32(const float*, float*, float, unsigned) reads x, writes y,
        // each n elements long on this stream's device.
        unsafe { self.launch(id, stream, grid_for(y.len()), (x.arg(), y.arg(), factor, n)) }
    }

    /// `y[i] = f32(x[i])` for IEEE half bit patterns `x`; lengths must match.
    pub fn f16_to_f32(
        &self,
        x: &DeviceSlice<'_, u16>,
        y: &mut DeviceSliceMut<'_, f32>,
    ) -> Result<(), KernelError> {
        self.convert(KernelId::F16ToF32, x, y)
    }

    /// `y[i] = f16(x[i])` as IEEE half bit patterns (round to nearest even).
    pub fn f32_to_f16(
        &self,
        x: &DeviceSlice<'_, f32>,
        y: &mut DeviceSliceMut<'_, u16>,
    ) -> Result<(), KernelError> {
        self.convert(KernelId::F32ToF16, x, y)
    }

    /// `y[i] = f32(x[i])` for bfloat16 bit patterns `x`; lengths must match.
    pub fn bf16_to_f32(
        &self,
        x: &DeviceSlice<'_, u16>,
        y: &mut DeviceSliceMut<'_, f32>,
    ) -> Result<(), KernelError> {
        self.convert(KernelId::Bf16ToF32, x, y)
    }

    /// `y[i] = bf16(x[i])` as bfloat16 bit patterns (round to nearest even).
    pub fn f32_to_bf16(
        &self,
        x: &DeviceSlice<'_, f32>,
        y: &mut DeviceSliceMut<'_, u16>,
    ) -> Result<(), KernelError> {
        self.convert(KernelId::F32ToBf16, x, y)
    }

    /// The conversion kernels: `(const X*, Y*, unsigned n)`.
    fn convert<X: DeviceRepr, Y: DeviceRepr>(
        &self,
        id: KernelId,
        x: &DeviceSlice<'_, X>,
        y: &mut DeviceSliceMut<'_, Y>,
    ) -> Result<(), KernelError> {
        self.map_args(id, x, y)?;
        let n = index_len(id, y.len())?;
        let stream = y.as_slice().stream();
        // SAFETY: every conversion kernel takes (const X*, Y*, unsigned) with X and Y the
        // 16- or 32-bit types of its registry entry, which `id` and the public wrappers
        // pair; it reads x[0..n) and writes y[0..n), both n long on this device.
        unsafe { self.launch(id, stream, grid_for(y.len()), (x.arg(), y.arg(), n)) }
    }

    /// `out[0] = Σ x[i]`, in two deterministic passes through `partials` (at least
    /// [`REDUCE_PARTIALS`] elements).
    pub fn sum_f32(
        &self,
        x: &DeviceSlice<'_, f32>,
        partials: &mut DeviceSliceMut<'_, f32>,
        out: &mut DeviceSliceMut<'_, f32>,
    ) -> Result<(), KernelError> {
        self.reduce(KernelId::SumF32, KernelId::SumF32, x, None, partials, out)
    }

    /// `out[0] = Σ x[i]` (wrapping 32-bit integer sum), as [`Kernels::sum_f32`].
    pub fn sum_i32(
        &self,
        x: &DeviceSlice<'_, i32>,
        partials: &mut DeviceSliceMut<'_, i32>,
        out: &mut DeviceSliceMut<'_, i32>,
    ) -> Result<(), KernelError> {
        self.reduce(KernelId::SumI32, KernelId::SumI32, x, None, partials, out)
    }

    /// `out[0] = Σ a[i]·b[i]` over signed bytes, with 4-way int8 dot products: lengths
    /// equal and a multiple of 4, both views 4-byte aligned; `partials` as for sums.
    pub fn dot_i8(
        &self,
        a: &DeviceSlice<'_, i8>,
        b: &DeviceSlice<'_, i8>,
        partials: &mut DeviceSliceMut<'_, i32>,
        out: &mut DeviceSliceMut<'_, i32>,
    ) -> Result<(), KernelError> {
        let id = KernelId::DotI8;
        check_len(id, "b", a.len(), b.len(), false)?;
        check_len(id, "a", a.len().next_multiple_of(4), a.len(), false)?;
        check_align(id, "a", a.device_ptr(), 4)?;
        check_align(id, "b", b.device_ptr(), 4)?;
        check_device(id, b, out.as_slice().stream())?;
        let words = |s: &DeviceSlice<'_, i8>| hip_runtime::DevPtr::<i32>::new(s.device_ptr());
        self.reduce(id, KernelId::SumI32, a, Some(words(b)), partials, out)
    }

    /// Two-pass reduction: `first` over `x` (and `y`, for two-input kernels) into one partial
    /// per block, then `second` with one block over the partials into `out[0]`.
    fn reduce<T: DeviceRepr, P: DeviceRepr>(
        &self,
        first: KernelId,
        second: KernelId,
        x: &DeviceSlice<'_, T>,
        y: Option<hip_runtime::DevPtr<i32>>,
        partials: &mut DeviceSliceMut<'_, P>,
        out: &mut DeviceSliceMut<'_, P>,
    ) -> Result<(), KernelError> {
        check_len(first, "partials", REDUCE_PARTIALS, partials.len(), true)?;
        check_len(first, "out", 1, out.len(), true)?;
        let stream = out.as_slice().stream();
        check_device(first, x, stream)?;
        check_device(first, &partials.as_slice(), stream)?;
        // Elements the kernel indexes: 32-bit words for the int8 dot product.
        let items = if y.is_some() { x.len() / 4 } else { x.len() };
        let n = index_len(first, items)?;
        let mut config = grid_for(items);
        config.grid = Dim3::x(config.grid.x.min(REDUCE_PARTIALS as u32));
        let blocks = config.grid.x;
        match y {
            // SAFETY: rf_dot_i8(const int*, const int*, int*, unsigned) reads n words of a
            // and b (checked: equal lengths, multiples of 4, 4-byte aligned) and writes one
            // partial per block (partials has REDUCE_PARTIALS ≥ blocks).
            Some(y) => unsafe {
                let x = hip_runtime::DevPtr::<i32>::new(x.device_ptr());
                self.launch(first, stream, config, (x, y, partials.arg(), n))?
            },
            // SAFETY: rf_sum_*(const T*, T*, unsigned) reads x[0..n) and writes one
            // partial per block (partials has REDUCE_PARTIALS ≥ blocks).
            None => unsafe { self.launch(first, stream, config, (x.arg(), partials.arg(), n))? },
        }
        let last = LaunchConfig {
            grid: Dim3::x(1),
            block: Dim3::x(REDUCE_PARTIALS as u32),
            shared_mem_bytes: 0,
        };
        // SAFETY: rf_sum_*(const P*, P*, unsigned) reads the `blocks` partials just written
        // and writes out[0]; P matches the partial type of `first`.
        unsafe { self.launch(second, stream, last, (partials.arg(), out.arg(), blocks)) }
    }

    /// Checks an input against an output: same length, same device.
    pub(crate) fn map_args<X: DeviceRepr, Y: DeviceRepr>(
        &self,
        id: KernelId,
        x: &DeviceSlice<'_, X>,
        y: &DeviceSliceMut<'_, Y>,
    ) -> Result<(), KernelError> {
        check_len(id, "x", y.len(), x.len(), false)?;
        check_device(id, x, y.as_slice().stream())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_checks_name_the_kernel_and_argument() {
        let e = check_len(KernelId::AddF32, "y", 10, 9, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "rf_add_f32: argument `y` has 9 elements, needs 10"
        );
        assert!(check_len(KernelId::SumF32, "partials", 1024, 2048, true).is_ok());
        assert!(check_len(KernelId::SumF32, "partials", 1024, 2048, false).is_err());
        let e = check_align(KernelId::DotI8, "b", 0x1002, 4).unwrap_err();
        assert_eq!(
            e.to_string(),
            "rf_dot_i8: argument `b` at 0x1002 is not aligned to 4 bytes"
        );
        assert!(check_align(KernelId::DotI8, "b", 0x1004, 4).is_ok());
        let e = index_len(KernelId::FillF32, 1 << 33).unwrap_err();
        assert!(e.to_string().contains("32-bit index"), "{e}");
    }

    #[test]
    fn grids_cover_the_elements_within_limits() {
        assert_eq!(grid_for(0).grid.x, 1);
        assert_eq!(grid_for(256).grid.x, 1);
        assert_eq!(grid_for(257).grid.x, 2);
        assert_eq!(grid_for(usize::MAX).grid.x, MAX_BLOCKS as u32);
        assert_eq!(BLOCK % 64, 0);
    }
}
