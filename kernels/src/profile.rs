//! Per-kernel GPU time for `bench --profile`: while profiling is on, every launch (and any
//! span a caller wraps with [`Kernels::timed`], such as a vendor GEMM) is bracketed by two
//! events on its stream; [`Kernels::take_profile`] waits for them and sums the time by
//! kernel. Events cannot be recorded into a captured graph, so steps must run uncaptured
//! while it is on.

use hip_runtime::{Event, Stream};

use crate::error::KernelError;
use crate::loader::Kernels;

/// GPU time spent in one kernel (or wrapped span) over the launches recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelTime {
    /// The kernel's symbol, or the span's label.
    pub name: &'static str,
    /// Launches recorded.
    pub launches: u64,
    /// Milliseconds between each launch's start and end events, summed.
    pub ms: f64,
}

/// Event pairs recorded since the last [`Kernels::take_profile`] (kept for reuse).
#[derive(Default)]
pub(crate) struct Profiler {
    pub(crate) on: bool,
    spans: Vec<(&'static str, Event, Event)>,
    used: usize,
}

impl Kernels {
    /// Turns per-launch timing on or off (off by default). Turning it on drops what was
    /// recorded and not yet taken.
    pub fn set_profiling(&self, on: bool) {
        let mut p = self.profiler();
        p.on = on;
        p.used = 0;
    }

    /// Runs `f`, which queues work on `stream`, and records its GPU time under `label`
    /// while profiling is on.
    pub fn timed<T>(
        &self,
        stream: &Stream,
        label: &'static str,
        f: impl FnOnce() -> Result<T, KernelError>,
    ) -> Result<T, KernelError> {
        let Some(index) = self.start_span(stream, label)? else {
            return f();
        };
        let result = f();
        let mut p = self.profiler();
        match (&result, p.spans.get(index)) {
            (Ok(_), Some((_, _, end))) => end.record(stream)?,
            // Nothing was queued: forget the span so that its end is never waited for.
            _ => p.used = p.used.min(index),
        }
        result
    }

    /// Waits for `stream` and returns the time per kernel recorded since profiling was
    /// turned on or last taken, in order of first launch.
    pub fn take_profile(&self, stream: &Stream) -> Result<Vec<KernelTime>, KernelError> {
        stream.synchronize()?;
        let mut p = self.profiler();
        let mut times: Vec<KernelTime> = Vec::new();
        for (name, start, end) in &p.spans[..p.used] {
            let ms = f64::from(start.elapsed_ms(end)?);
            match times.iter_mut().find(|t| t.name == *name) {
                Some(t) => {
                    t.launches += 1;
                    t.ms += ms;
                }
                None => times.push(KernelTime {
                    name,
                    launches: 1,
                    ms,
                }),
            }
        }
        p.used = 0;
        Ok(times)
    }

    /// Records a start event for a span named `label`; `None` while profiling is off.
    fn start_span(
        &self,
        stream: &Stream,
        label: &'static str,
    ) -> Result<Option<usize>, KernelError> {
        let mut p = self.profiler();
        if !p.on {
            return Ok(None);
        }
        let index = p.used;
        if index == p.spans.len() {
            let pair = (
                label,
                Event::new(stream.device())?,
                Event::new(stream.device())?,
            );
            p.spans.push(pair);
        }
        let span = &mut p.spans[index];
        span.0 = label;
        span.1.record(stream)?;
        p.used += 1;
        Ok(Some(index))
    }
}
