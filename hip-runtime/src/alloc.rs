//! A caching allocator: device blocks are kept after their buffers drop and handed out
//! again for the same size class on the same stream, so steady-state decoding allocates
//! nothing from the driver. Statistics say what is in use, what is cached and the peak.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use hip_ffi::DevicePtr;

use crate::error::Result;
use crate::memory::{byte_len, format_bytes, raw_malloc, DeviceBuffer, DeviceRepr, Origin};
use crate::stream::Stream;

const SMALL_LIMIT: usize = 1 << 20;
const SMALL_ROUND: usize = 512;
const LARGE_ROUND: usize = 2 << 20;

/// The block size a request of `bytes` is served from.
pub fn size_class(bytes: usize) -> usize {
    let round = if bytes <= SMALL_LIMIT {
        SMALL_ROUND
    } else {
        LARGE_ROUND
    };
    bytes.div_ceil(round).saturating_mul(round).max(round)
}

/// Allocator statistics, in bytes of whole blocks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocStats {
    /// Held by live buffers.
    pub allocated: usize,
    /// Kept for reuse.
    pub cached: usize,
    /// Largest `allocated` seen.
    pub peak: usize,
    /// Requests served from the cache.
    pub hits: u64,
    /// Requests that went to the driver.
    pub misses: u64,
}

impl std::fmt::Display for AllocStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "allocated {}, cached {}, peak {}, {} hits, {} misses",
            format_bytes(self.allocated),
            format_bytes(self.cached),
            format_bytes(self.peak),
            self.hits,
            self.misses
        )
    }
}

#[derive(Default)]
struct PoolState {
    free: BTreeMap<usize, Vec<DevicePtr>>,
    stats: AllocStats,
}

/// The shared state behind a [`CachingAllocator`] and its buffers.
pub struct PoolInner {
    stream: Stream,
    state: Mutex<PoolState>,
}

impl PoolInner {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a block back from a dropped buffer.
    pub(crate) fn give_back(&self, ptr: DevicePtr, block_bytes: usize) {
        let mut state = self.lock();
        state.free.entry(block_bytes).or_default().push(ptr);
        state.stats.allocated = state.stats.allocated.saturating_sub(block_bytes);
        state.stats.cached += block_bytes;
    }

    /// Frees every cached block; failures are recorded for the next call.
    fn release_cached(&self) {
        let free = std::mem::take(&mut self.lock().free);
        let device = self.stream.device();
        for (bytes, ptrs) in free {
            for ptr in ptrs {
                device.hip().release(
                    device.ordinal(),
                    "hipFree",
                    || format!("cached block of {}", format_bytes(bytes)),
                    // SAFETY: the pool owns cached blocks exclusively; hipFree waits for
                    // queued work that may still use them.
                    |d| unsafe { d.free(ptr) },
                );
                let mut state = self.lock();
                state.stats.cached = state.stats.cached.saturating_sub(bytes);
            }
        }
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        self.release_cached();
    }
}

/// Hands out [`DeviceBuffer`]s on one stream from cached blocks.
///
/// A dropped buffer's block may be handed out again at once: work queued on the
/// allocator's stream is ordered, but work using the buffer on another stream must be
/// synchronised (an event or a stream sync) before the buffer is dropped.
#[derive(Clone)]
pub struct CachingAllocator {
    inner: Arc<PoolInner>,
}

impl CachingAllocator {
    /// An empty allocator for buffers used on `stream`.
    pub fn new(stream: &Stream) -> Self {
        CachingAllocator {
            inner: Arc::new(PoolInner {
                stream: stream.clone(),
                state: Mutex::new(PoolState::default()),
            }),
        }
    }

    /// The stream its buffers belong to.
    pub fn stream(&self) -> &Stream {
        &self.inner.stream
    }

    /// A buffer of `len` values (contents unspecified), from the cache when a block of its
    /// size class is free; when the driver is out of memory, the cache is released and
    /// the allocation tried once more.
    pub fn alloc<T: DeviceRepr>(&self, len: usize) -> Result<DeviceBuffer<T>> {
        let bytes = byte_len::<T>("CachingAllocator::alloc", len)?;
        let stream = &self.inner.stream;
        if bytes == 0 {
            return Ok(DeviceBuffer::from_parts(0, 0, stream, Origin::Malloc));
        }
        let block = size_class(bytes);
        let reused = {
            let mut state = self.inner.lock();
            let ptr = state.free.get_mut(&block).and_then(|v| v.pop());
            if ptr.is_some() {
                state.stats.cached -= block;
                state.stats.hits += 1;
            }
            ptr
        };
        let ptr = match reused {
            Some(ptr) => ptr,
            None => {
                let ptr = match raw_malloc(stream, block) {
                    Ok(ptr) => ptr,
                    Err(_) if self.stats().cached > 0 => {
                        self.inner.release_cached();
                        raw_malloc(stream, block)?
                    }
                    Err(e) => return Err(e),
                };
                self.inner.lock().stats.misses += 1;
                ptr
            }
        };
        {
            let mut state = self.inner.lock();
            state.stats.allocated += block;
            state.stats.peak = state.stats.peak.max(state.stats.allocated);
        }
        Ok(DeviceBuffer::from_parts(
            ptr,
            len,
            stream,
            Origin::Pool {
                pool: Arc::clone(&self.inner),
                block_bytes: block,
            },
        ))
    }

    /// Current statistics.
    pub fn stats(&self) -> AllocStats {
        self.inner.lock().stats
    }

    /// Frees every cached block back to the driver.
    pub fn empty_cache(&self) -> Result<()> {
        self.inner.release_cached();
        self.inner.stream.device().hip().take_deferred()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_round_up() {
        assert_eq!(size_class(1), 512);
        assert_eq!(size_class(512), 512);
        assert_eq!(size_class(513), 1024);
        assert_eq!(size_class(1 << 20), 1 << 20);
        assert_eq!(size_class((1 << 20) + 1), 2 << 20);
        assert_eq!(size_class((2 << 20) + 1), 4 << 20);
    }
}
