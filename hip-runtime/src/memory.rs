//! Device memory: [`DeviceBuffer`] (owned, freed on its own stream and device), borrowed
//! views [`DeviceSlice`] / [`DeviceSliceMut`], copies, memset, and pinned host memory.

use std::ffi::c_void;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut, Range};
use std::sync::Arc;

use hip_ffi::DevicePtr;

use crate::alloc::PoolInner;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::module::DevPtr;
use crate::stream::Stream;

/// Plain data that may be copied to and from a GPU byte for byte.
///
/// # Safety
/// Every bit pattern of `size_of::<Self>()` bytes must be a valid value, and the type must
/// hold no pointers to host memory or padding whose contents matter.
pub unsafe trait DeviceRepr: Copy + Send + Sync + 'static {}

macro_rules! device_repr {
    ($($t:ty),*) => { $(
        // SAFETY: a primitive number: every bit pattern is a valid value, no padding.
        unsafe impl DeviceRepr for $t {}
    )* };
}
device_repr!(u8, i8, u16, i16, u32, i32, u64, i64, f32, f64);

// SAFETY: an array of such values has no padding and every bit pattern is valid.
unsafe impl<T: DeviceRepr, const N: usize> DeviceRepr for [T; N] {}

/// Bytes for `len` elements of `T`, or an overflow error.
pub(crate) fn byte_len<T>(op: &'static str, len: usize) -> Result<usize> {
    len.checked_mul(std::mem::size_of::<T>())
        .ok_or(Error::SizeOverflow {
            op,
            len,
            elem_size: std::mem::size_of::<T>(),
        })
}

/// How a buffer's memory is given back.
pub(crate) enum Origin {
    /// `hipMalloc`: `hipFree`.
    Malloc,
    /// `hipMallocAsync`: `hipFreeAsync` on the buffer's stream.
    Async,
    /// From a caching allocator: back into its pool (a block of `block_bytes`).
    Pool {
        pool: Arc<PoolInner>,
        block_bytes: usize,
    },
}

/// Formats a byte count for messages: `1.50 GiB (1610612736 bytes)`.
pub fn format_bytes(bytes: usize) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.2} {} ({bytes} bytes)", UNITS[unit])
    }
}

/// Allocates `bytes` with `hipMalloc` on the stream's device; an allocation that does not
/// fit says how much was asked and how much is free.
pub(crate) fn raw_malloc(stream: &Stream, bytes: usize) -> Result<DevicePtr> {
    if bytes == 0 {
        return Ok(0);
    }
    stream.make_current()?;
    let device = stream.device();
    // SAFETY: the device is current on this thread.
    let result = unsafe { device.hip().driver().malloc(bytes) };
    result.map_err(|code| {
        let memory = match device.memory_info() {
            Ok((free, total)) => format!("{} free of {}", format_bytes(free), format_bytes(total)),
            Err(e) => format!("free memory unknown ({e})"),
        };
        Error::Hip(device.hip().error(
            "hipMalloc",
            code,
            format!(
                "asked for {} on device {} ({}); {memory}",
                format_bytes(bytes),
                device.ordinal(),
                device.info().name
            ),
        ))
    })
}

/// Device memory holding `len` values of `T`, tied to the stream it was made on.
pub struct DeviceBuffer<T: DeviceRepr> {
    ptr: DevicePtr,
    len: usize,
    stream: Stream,
    origin: Origin,
    _t: PhantomData<T>,
}

impl<T: DeviceRepr> std::fmt::Debug for DeviceBuffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DeviceBuffer<{}>[{}] at {:#x} on device {}",
            std::any::type_name::<T>(),
            self.len,
            self.ptr,
            self.stream.device().ordinal()
        )
    }
}

impl<T: DeviceRepr> DeviceBuffer<T> {
    pub(crate) fn from_parts(ptr: DevicePtr, len: usize, stream: &Stream, origin: Origin) -> Self {
        DeviceBuffer {
            ptr,
            len,
            stream: stream.clone(),
            origin,
            _t: PhantomData,
        }
    }

    /// Allocates room for `len` values (contents unspecified) with `hipMalloc`.
    pub fn new(stream: &Stream, len: usize) -> Result<Self> {
        let bytes = byte_len::<T>("DeviceBuffer::new", len)?;
        let ptr = raw_malloc(stream, bytes)?;
        Ok(Self::from_parts(ptr, len, stream, Origin::Malloc))
    }

    /// Allocates `len` zeroed values.
    pub fn zeroed(stream: &Stream, len: usize) -> Result<Self> {
        let mut buf = Self::new(stream, len)?;
        buf.as_slice_mut().memset_async(0)?;
        Ok(buf)
    }

    /// Allocates and fills from host memory; returns when the copy is done.
    pub fn from_host(stream: &Stream, data: &[T]) -> Result<Self> {
        let mut buf = Self::new(stream, data.len())?;
        buf.as_slice_mut().copy_from_host(data)?;
        Ok(buf)
    }

    /// Allocates in stream order (`hipMallocAsync`): usable by work queued after this on
    /// `stream`, and freed in stream order when dropped.
    pub fn new_async(stream: &Stream, len: usize) -> Result<Self> {
        let bytes = byte_len::<T>("DeviceBuffer::new_async", len)?;
        if bytes == 0 {
            return Ok(Self::from_parts(0, 0, stream, Origin::Malloc));
        }
        stream.make_current()?;
        // SAFETY: the stream is live and its device is current.
        let ptr = stream.call(
            "hipMallocAsync",
            unsafe {
                stream
                    .device()
                    .hip()
                    .driver()
                    .malloc_async(bytes, stream.raw())
            },
            || format!("asked for {}", format_bytes(bytes)),
        )?;
        Ok(Self::from_parts(ptr, len, stream, Origin::Async))
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Size in bytes.
    pub fn bytes(&self) -> usize {
        self.len * std::mem::size_of::<T>()
    }

    /// The device address.
    pub fn device_ptr(&self) -> DevicePtr {
        self.ptr
    }

    /// The stream the buffer belongs to.
    pub fn stream(&self) -> &Stream {
        &self.stream
    }

    /// The device the buffer lives on.
    pub fn device(&self) -> &Device {
        self.stream.device()
    }

    /// The whole buffer as a read-only view.
    pub fn as_slice(&self) -> DeviceSlice<'_, T> {
        DeviceSlice {
            ptr: self.ptr,
            len: self.len,
            stream: &self.stream,
            _t: PhantomData,
        }
    }

    /// The whole buffer as a writable view.
    pub fn as_slice_mut(&mut self) -> DeviceSliceMut<'_, T> {
        DeviceSliceMut {
            ptr: self.ptr,
            len: self.len,
            stream: &self.stream,
            _t: PhantomData,
        }
    }

    /// A read-only view of `range`.
    pub fn slice(&self, range: Range<usize>) -> Result<DeviceSlice<'_, T>> {
        self.as_slice().slice(range)
    }

    /// A writable view of `range`.
    pub fn slice_mut(&mut self, range: Range<usize>) -> Result<DeviceSliceMut<'_, T>> {
        let (ptr, len) = sub_range::<T>(self.ptr, self.len, range)?;
        Ok(DeviceSliceMut {
            ptr,
            len,
            stream: &self.stream,
            _t: PhantomData,
        })
    }

    /// Copies the whole buffer into a new vector (waits for the copy).
    pub fn to_vec(&self) -> Result<Vec<T>> {
        self.as_slice().to_vec()
    }

    /// Copies `data` into the buffer (waits for the copy); lengths must match.
    pub fn copy_from_host(&mut self, data: &[T]) -> Result<()> {
        self.as_slice_mut().copy_from_host(data)
    }

    /// The address as a kernel argument.
    pub fn arg(&self) -> DevPtr<T> {
        self.as_slice().arg()
    }
}

fn sub_range<T>(ptr: DevicePtr, len: usize, range: Range<usize>) -> Result<(DevicePtr, usize)> {
    if range.start > range.end || range.end > len {
        return Err(Error::OutOfRange {
            op: "slice",
            start: range.start,
            end: range.end,
            len,
        });
    }
    let offset = (range.start * std::mem::size_of::<T>()) as DevicePtr;
    Ok((ptr + offset, range.end - range.start))
}

impl<T: DeviceRepr> Drop for DeviceBuffer<T> {
    fn drop(&mut self) {
        if self.ptr == 0 {
            return;
        }
        let (ptr, stream) = (self.ptr, self.stream.raw());
        let device = self.stream.device();
        let what = || {
            format!(
                "{} on device {}",
                format_bytes(self.bytes()),
                device.ordinal()
            )
        };
        match &self.origin {
            // SAFETY: the buffer owns `ptr`, allocated with hipMalloc, unused after this.
            Origin::Malloc => device
                .hip()
                .release(device.ordinal(), "hipFree", what, |d| unsafe {
                    d.free(ptr)
                }),
            Origin::Async => device
                .hip()
                .release(device.ordinal(), "hipFreeAsync", what, |d| {
                    // SAFETY: the buffer owns `ptr`, allocated in stream order on `stream`.
                    unsafe { d.free_async(ptr, stream) }
                }),
            Origin::Pool { pool, block_bytes } => pool.give_back(ptr, *block_bytes),
        }
    }
}

/// A read-only view of device memory.
#[derive(Clone, Copy)]
pub struct DeviceSlice<'a, T: DeviceRepr> {
    ptr: DevicePtr,
    len: usize,
    stream: &'a Stream,
    _t: PhantomData<&'a T>,
}

/// A writable view of device memory.
pub struct DeviceSliceMut<'a, T: DeviceRepr> {
    ptr: DevicePtr,
    len: usize,
    stream: &'a Stream,
    _t: PhantomData<&'a mut T>,
}

impl<T: DeviceRepr> std::fmt::Debug for DeviceSlice<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceSlice[{}] at {:#x}", self.len, self.ptr)
    }
}

impl<T: DeviceRepr> std::fmt::Debug for DeviceSliceMut<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceSliceMut[{}] at {:#x}", self.len, self.ptr)
    }
}

impl<'a, T: DeviceRepr> DeviceSlice<'a, T> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the view is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The device address.
    pub fn device_ptr(&self) -> DevicePtr {
        self.ptr
    }

    /// The stream of the buffer viewed.
    pub fn stream(&self) -> &'a Stream {
        self.stream
    }

    /// A narrower view.
    pub fn slice(&self, range: Range<usize>) -> Result<DeviceSlice<'a, T>> {
        let (ptr, len) = sub_range::<T>(self.ptr, self.len, range)?;
        Ok(DeviceSlice {
            ptr,
            len,
            stream: self.stream,
            _t: PhantomData,
        })
    }

    /// The address as a kernel argument.
    pub fn arg(&self) -> DevPtr<T> {
        DevPtr::new(self.ptr)
    }

    /// Copies into `dst` and waits; lengths must match.
    pub fn copy_to_host(&self, dst: &mut [T]) -> Result<()> {
        // SAFETY: `dst` stays borrowed until the stream is synchronised below.
        unsafe { self.copy_to_host_async(dst)? };
        self.stream.synchronize()
    }

    /// Copies into a new vector and waits.
    pub fn to_vec(&self) -> Result<Vec<T>> {
        // SAFETY: `DeviceRepr` makes every byte pattern, zero included, a valid `T`.
        let zero: T = unsafe { std::mem::zeroed() };
        let mut out = vec![zero; self.len];
        self.copy_to_host(&mut out)?;
        Ok(out)
    }

    /// Queues a copy into `dst` on the buffer's stream.
    ///
    /// # Safety
    /// `dst` must stay valid and untouched until the stream has passed this copy
    /// (synchronise the stream or an event recorded after it).
    pub unsafe fn copy_to_host_async(&self, dst: &mut [T]) -> Result<()> {
        check_len("copy_to_host", dst.len(), self.len)?;
        self.stream.make_current()?;
        let bytes = std::mem::size_of_val(dst);
        // SAFETY: both ranges hold `bytes`; the caller keeps `dst` alive until completion.
        let r = unsafe {
            self.stream.device().hip().driver().memcpy_dtoh_async(
                dst.as_mut_ptr() as *mut c_void,
                self.ptr,
                bytes,
                self.stream.raw(),
            )
        };
        self.stream
            .call("hipMemcpyDtoHAsync", r, || format_bytes(bytes))
    }
}

pub(crate) fn check_len(op: &'static str, dst: usize, src: usize) -> Result<()> {
    if dst == src {
        Ok(())
    } else {
        Err(Error::LengthMismatch { op, dst, src })
    }
}

impl<'a, T: DeviceRepr> DeviceSliceMut<'a, T> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the view is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The device address.
    pub fn device_ptr(&self) -> DevicePtr {
        self.ptr
    }

    /// The same memory, read-only.
    pub fn as_slice(&self) -> DeviceSlice<'_, T> {
        DeviceSlice {
            ptr: self.ptr,
            len: self.len,
            stream: self.stream,
            _t: PhantomData,
        }
    }

    /// The address as a kernel argument.
    pub fn arg(&self) -> DevPtr<T> {
        DevPtr::new(self.ptr)
    }

    /// A writable sub-view of elements `range`, borrowing this one.
    pub fn sub_mut(&mut self, range: Range<usize>) -> Result<DeviceSliceMut<'_, T>> {
        let (ptr, len) = sub_range::<T>(self.ptr, self.len, range)?;
        Ok(DeviceSliceMut {
            ptr,
            len,
            stream: self.stream,
            _t: PhantomData,
        })
    }

    /// Queues a copy of `src` (the bytes of exactly this view's elements) in on the view's
    /// stream.
    ///
    /// # Safety
    /// `src` must stay valid and unchanged until the stream has passed this copy.
    pub(crate) unsafe fn copy_from_host_bytes_async(&mut self, src: &[u8]) -> Result<()> {
        check_len(
            "copy_from_host",
            self.len * std::mem::size_of::<T>(),
            src.len(),
        )?;
        self.stream.make_current()?;
        // SAFETY: both ranges hold `src.len()` bytes; the caller keeps `src` alive and
        // unchanged until the copy completes.
        let r = unsafe {
            self.stream.device().hip().driver().memcpy_htod_async(
                self.ptr,
                src.as_ptr() as *const c_void,
                src.len(),
                self.stream.raw(),
            )
        };
        self.stream
            .call("hipMemcpyHtoDAsync", r, || format_bytes(src.len()))
    }

    /// Splits into two writable views at element `mid` (`[0, mid)` and `[mid, len)`).
    pub fn split_at_mut(
        self,
        mid: usize,
    ) -> Result<(DeviceSliceMut<'a, T>, DeviceSliceMut<'a, T>)> {
        let (_, head) = sub_range::<T>(self.ptr, self.len, 0..mid)?;
        let tail_ptr = self.ptr + (mid * std::mem::size_of::<T>()) as DevicePtr;
        let view = |ptr, len| DeviceSliceMut {
            ptr,
            len,
            stream: self.stream,
            _t: PhantomData,
        };
        Ok((view(self.ptr, head), view(tail_ptr, self.len - mid)))
    }

    /// Copies `src` in and waits; lengths must match.
    pub fn copy_from_host(&mut self, src: &[T]) -> Result<()> {
        // SAFETY: `src` stays borrowed until the stream is synchronised below.
        unsafe { self.copy_from_host_async(src)? };
        self.stream.synchronize()
    }

    /// Queues a copy of `src` in on the buffer's stream.
    ///
    /// # Safety
    /// `src` must stay valid and unchanged until the stream has passed this copy.
    pub unsafe fn copy_from_host_async(&mut self, src: &[T]) -> Result<()> {
        check_len("copy_from_host", self.len, src.len())?;
        self.stream.make_current()?;
        let bytes = std::mem::size_of_val(src);
        // SAFETY: both ranges hold `bytes`; the caller keeps `src` alive until completion.
        let r = unsafe {
            self.stream.device().hip().driver().memcpy_htod_async(
                self.ptr,
                src.as_ptr() as *const c_void,
                bytes,
                self.stream.raw(),
            )
        };
        self.stream
            .call("hipMemcpyHtoDAsync", r, || format_bytes(bytes))
    }

    /// Queues a device-to-device copy on this buffer's stream; `src` must belong to the
    /// same stream, so that its memory cannot be released before the copy runs.
    pub fn copy_from_device_async(&mut self, src: &DeviceSlice<'_, T>) -> Result<()> {
        check_len("copy_from_device", self.len, src.len)?;
        if src.stream != self.stream {
            return Err(Error::StreamMismatch {
                op: "copy_from_device_async",
            });
        }
        self.enqueue_dtod(src)
    }

    /// Copies device memory in, from any stream or device (peer access permitting), and
    /// waits for it.
    pub fn copy_from_device(&mut self, src: &DeviceSlice<'_, T>) -> Result<()> {
        check_len("copy_from_device", self.len, src.len)?;
        if src.stream != self.stream {
            src.stream.synchronize()?;
        }
        self.enqueue_dtod(src)?;
        self.stream.synchronize()
    }

    fn enqueue_dtod(&mut self, src: &DeviceSlice<'_, T>) -> Result<()> {
        self.stream.make_current()?;
        let bytes = self.len * std::mem::size_of::<T>();
        // SAFETY: both device ranges hold `bytes`; `src` is ordered before its release.
        let r = unsafe {
            self.stream.device().hip().driver().memcpy_dtod_async(
                self.ptr,
                src.ptr,
                bytes,
                self.stream.raw(),
            )
        };
        self.stream
            .call("hipMemcpyDtoDAsync", r, || format_bytes(bytes))
    }

    /// Queues setting every byte to `value`.
    pub fn memset_async(&mut self, value: u8) -> Result<()> {
        let bytes = self.len * std::mem::size_of::<T>();
        if bytes == 0 {
            return Ok(());
        }
        self.stream.make_current()?;
        // SAFETY: the range is this view's memory; the stream is live.
        let r = unsafe {
            self.stream.device().hip().driver().memset_d8_async(
                self.ptr,
                value,
                bytes,
                self.stream.raw(),
            )
        };
        self.stream
            .call("hipMemsetD8Async", r, || format_bytes(bytes))
    }

    /// Sets every byte to `value` and waits.
    pub fn memset(&mut self, value: u8) -> Result<()> {
        self.memset_async(value)?;
        self.stream.synchronize()
    }
}

/// Page-locked host memory of `len` values, for fast and asynchronous copies.
pub struct PinnedBuffer<T: DeviceRepr> {
    ptr: *mut T,
    len: usize,
    device: Device,
}

// SAFETY: the buffer exclusively owns its host allocation, like a `Vec<T>`.
unsafe impl<T: DeviceRepr> Send for PinnedBuffer<T> {}
// SAFETY: shared access only reads; `T: Sync`.
unsafe impl<T: DeviceRepr> Sync for PinnedBuffer<T> {}

impl<T: DeviceRepr> PinnedBuffer<T> {
    /// Allocates `len` zeroed values of page-locked memory through `device`'s runtime.
    pub fn new(device: &Device, len: usize) -> Result<Self> {
        let bytes = byte_len::<T>("PinnedBuffer::new", len)?;
        if bytes == 0 {
            return Ok(PinnedBuffer {
                ptr: std::ptr::NonNull::dangling().as_ptr(),
                len: 0,
                device: device.clone(),
            });
        }
        device.make_current()?;
        let hip = device.hip();
        // SAFETY: the device is current on this thread.
        let raw = hip.call(
            "hipHostMalloc",
            unsafe { hip.driver().host_malloc(bytes) },
            || format!("asked for {} of pinned host memory", format_bytes(bytes)),
        )?;
        // SAFETY: `raw` points to `bytes` writable bytes just allocated.
        unsafe { std::ptr::write_bytes(raw as *mut u8, 0, bytes) };
        Ok(PinnedBuffer {
            ptr: raw as *mut T,
            len,
            device: device.clone(),
        })
    }
}

impl<T: DeviceRepr> Deref for PinnedBuffer<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` holds `len` initialised values (zeroed at allocation) owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl<T: DeviceRepr> DerefMut for PinnedBuffer<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl<T: DeviceRepr> Drop for PinnedBuffer<T> {
    fn drop(&mut self) {
        if self.len == 0 {
            return;
        }
        let ptr = self.ptr as *mut c_void;
        self.device.hip().release(
            self.device.ordinal(),
            "hipHostFree",
            || "pinned host buffer".to_string(),
            // SAFETY: `ptr` came from hipHostMalloc and is owned by `self`.
            |d| unsafe { d.host_free(ptr) },
        );
    }
}
