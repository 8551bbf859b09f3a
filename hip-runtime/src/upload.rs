//! [`Uploader`]: host-to-device copies through page-locked staging memory, asynchronous
//! and safe. The caller's data is first copied into one of the uploader's own pinned
//! buffers, so the caller's slice may change as soon as `upload` returns; a staging buffer
//! is reused only after the copy that read it has finished (an event per buffer), so large
//! uploads overlap the host-side copy of one chunk with the transfer of the previous one.

use crate::error::Result;
use crate::memory::{DeviceRepr, DeviceSliceMut, PinnedBuffer};
use crate::stream::{Event, Stream};

/// One staging buffer and the event recorded after the copy that last read it.
struct Stage {
    pinned: PinnedBuffer<u8>,
    done: Event,
    in_flight: bool,
}

/// Asynchronous uploads through a ring of pinned staging buffers on one stream.
pub struct Uploader {
    stream: Stream,
    stages: Vec<Stage>,
    next: usize,
}

impl std::fmt::Debug for Uploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Uploader({} × {} bytes)",
            self.stages.len(),
            self.stage_bytes()
        )
    }
}

impl Uploader {
    /// `stages` staging buffers of `stage_bytes` each (at least one of one byte) on `stream`.
    pub fn new(stream: &Stream, stages: usize, stage_bytes: usize) -> Result<Uploader> {
        let device = stream.device();
        let stages = (0..stages.max(1))
            .map(|_| {
                Ok(Stage {
                    pinned: PinnedBuffer::new(device, stage_bytes.max(1))?,
                    done: Event::new(device)?,
                    in_flight: false,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Uploader {
            stream: stream.clone(),
            stages,
            next: 0,
        })
    }

    /// Bytes one staging buffer holds.
    pub fn stage_bytes(&self) -> usize {
        self.stages.first().map_or(0, |s| s.pinned.len())
    }

    /// Queues the copy of `src` into `dst` (lengths must match) on the uploader's stream,
    /// in chunks of at most one staging buffer. Returns once `src` has been read; the
    /// device copy may still be running.
    pub fn upload<T: DeviceRepr>(
        &mut self,
        dst: &mut DeviceSliceMut<'_, T>,
        src: &[T],
    ) -> Result<()> {
        crate::memory::check_len("Uploader::upload", dst.len(), src.len())?;
        let elem = std::mem::size_of::<T>().max(1);
        let per_chunk = (self.stage_bytes() / elem).max(1);
        let mut start = 0;
        while start < src.len() {
            let end = (start + per_chunk).min(src.len());
            let n_stages = self.stages.len();
            let stage = &mut self.stages[self.next];
            self.next = (self.next + 1) % n_stages;
            if stage.in_flight {
                stage.done.synchronize()?;
                stage.in_flight = false;
            }
            let bytes = as_bytes(&src[start..end]);
            stage.pinned[..bytes.len()].copy_from_slice(bytes);
            let staged = &stage.pinned[..bytes.len()];
            let mut part = dst.sub_mut(start..end)?;
            // SAFETY: `staged` is this stage's pinned memory; it is not written again until
            // `done`, recorded right after this copy on the same stream, has completed.
            unsafe { part.copy_from_host_bytes_async(staged)? };
            stage.done.record(&self.stream)?;
            stage.in_flight = true;
            start = end;
        }
        Ok(())
    }

    /// Waits until every queued upload has finished.
    pub fn finish(&mut self) -> Result<()> {
        for stage in &mut self.stages {
            if stage.in_flight {
                stage.done.synchronize()?;
                stage.in_flight = false;
            }
        }
        Ok(())
    }
}

/// The bytes of a slice of plain device values.
fn as_bytes<T: DeviceRepr>(v: &[T]) -> &[u8] {
    // SAFETY: `DeviceRepr` types are plain old data without padding or invalid bit
    // patterns; the byte view covers exactly the slice's memory and borrows it.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
}
