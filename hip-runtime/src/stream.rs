//! Streams and events: ordered queues of GPU work on one device, and markers in them.

use std::fmt;
use std::sync::Arc;

use hip_ffi::{hipEvent_t, hipStream_t, EVENT_DEFAULT, STREAM_NON_BLOCKING};

use crate::device::Device;
use crate::error::{Error, Result};

/// A stream owned by this process (never the null stream). Cheap to clone; destroyed
/// when the last clone (and every buffer holding it) is dropped.
#[derive(Clone)]
pub struct Stream {
    inner: Arc<StreamInner>,
}

struct StreamInner {
    device: Device,
    handle: hipStream_t,
}

// SAFETY: a HIP/CUDA stream handle may be used from any thread once its device is made
// current there, which every method of `Stream` does first.
unsafe impl Send for StreamInner {}
// SAFETY: as above; the handle is never mutated after creation.
unsafe impl Sync for StreamInner {}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Stream({:p} on device {})",
            self.inner.handle,
            self.device().ordinal()
        )
    }
}

impl PartialEq for Stream {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Stream {
    /// Creates a non-blocking stream on `device`.
    pub fn new(device: &Device) -> Result<Stream> {
        device.make_current()?;
        let hip = device.hip();
        // SAFETY: the device is current on this thread.
        let handle = hip.call(
            "hipStreamCreateWithFlags",
            unsafe { hip.driver().stream_create(STREAM_NON_BLOCKING) },
            || format!("device {}", device.ordinal()),
        )?;
        Ok(Stream {
            inner: Arc::new(StreamInner {
                device: device.clone(),
                handle,
            }),
        })
    }

    /// The device this stream runs on.
    pub fn device(&self) -> &Device {
        &self.inner.device
    }

    /// The raw handle, for kernel launchers and BLAS.
    pub fn raw(&self) -> hipStream_t {
        self.inner.handle
    }

    /// Makes the stream's device current on this thread.
    pub fn make_current(&self) -> Result<()> {
        self.inner.device.make_current()
    }

    /// Converts a raw result of an operation on this stream, with context.
    pub(crate) fn call<T>(
        &self,
        op: &'static str,
        result: hip_ffi::HipResult<T>,
        context: impl FnOnce() -> String,
    ) -> Result<T> {
        self.device().hip().call(op, result, context)
    }

    /// Waits until all work queued on this stream has finished.
    pub fn synchronize(&self) -> Result<()> {
        self.make_current()?;
        let hip = self.device().hip();
        // SAFETY: the stream is live (owned by `self`) and its device is current.
        self.call(
            "hipStreamSynchronize",
            unsafe { hip.driver().stream_synchronize(self.raw()) },
            || format!("stream on device {}", self.device().ordinal()),
        )
    }

    /// Makes later work on this stream wait for `event`.
    pub fn wait_event(&self, event: &Event) -> Result<()> {
        self.make_current()?;
        let hip = self.device().hip();
        // SAFETY: both handles are live and owned by their wrappers.
        self.call(
            "hipStreamWaitEvent",
            unsafe { hip.driver().stream_wait_event(self.raw(), event.handle) },
            String::new,
        )
    }

    /// Checks that `other` runs on the same device.
    pub(crate) fn same_device(&self, op: &'static str, other: &Device) -> Result<()> {
        if self.device().ordinal() == other.ordinal() {
            Ok(())
        } else {
            Err(Error::DeviceMismatch {
                op,
                a: self.device().ordinal(),
                b: other.ordinal(),
            })
        }
    }
}

impl Drop for StreamInner {
    fn drop(&mut self) {
        let handle = self.handle;
        self.device.hip().release(
            self.device.ordinal(),
            "hipStreamDestroy",
            || format!("stream on device {}", self.device.ordinal()),
            // SAFETY: the last owner of the stream is going away; nothing uses it after.
            |driver| unsafe { driver.stream_destroy(handle) },
        );
    }
}

/// A timing marker recorded into a stream.
pub struct Event {
    device: Device,
    handle: hipEvent_t,
}

// SAFETY: event handles may be used from any thread once the device is current, which
// every method does first.
unsafe impl Send for Event {}
// SAFETY: as above; the handle is not mutated after creation.
unsafe impl Sync for Event {}

impl Event {
    /// Creates a timing event on `device`.
    pub fn new(device: &Device) -> Result<Event> {
        device.make_current()?;
        let hip = device.hip();
        // SAFETY: the device is current on this thread.
        let handle = hip.call(
            "hipEventCreateWithFlags",
            unsafe { hip.driver().event_create(EVENT_DEFAULT) },
            || format!("device {}", device.ordinal()),
        )?;
        Ok(Event {
            device: device.clone(),
            handle,
        })
    }

    /// Records the event at the current end of `stream`.
    pub fn record(&self, stream: &Stream) -> Result<()> {
        stream.same_device("hipEventRecord", &self.device)?;
        stream.make_current()?;
        // SAFETY: both handles are live and on the same device, which is current.
        stream.call(
            "hipEventRecord",
            unsafe {
                self.device
                    .hip()
                    .driver()
                    .event_record(self.handle, stream.raw())
            },
            String::new,
        )
    }

    /// Waits until the work before the recorded point has finished.
    pub fn synchronize(&self) -> Result<()> {
        self.device.make_current()?;
        let hip = self.device.hip();
        // SAFETY: the event is live.
        hip.call(
            "hipEventSynchronize",
            unsafe { hip.driver().event_synchronize(self.handle) },
            String::new,
        )
    }

    /// Milliseconds from `self` to `end`; both must have been recorded and completed.
    pub fn elapsed_ms(&self, end: &Event) -> Result<f32> {
        self.device.make_current()?;
        let hip = self.device.hip();
        // SAFETY: both events are live.
        hip.call(
            "hipEventElapsedTime",
            unsafe { hip.driver().event_elapsed_ms(self.handle, end.handle) },
            || "both events must be recorded and complete".to_string(),
        )
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        let handle = self.handle;
        self.device.hip().release(
            self.device.ordinal(),
            "hipEventDestroy",
            String::new,
            // SAFETY: the event is owned by `self` and unused after this.
            |driver| unsafe { driver.event_destroy(handle) },
        );
    }
}
