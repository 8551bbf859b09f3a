//! Captured steps: the ops of a decode step recorded once from the stream as a graph and
//! replayed with one launch for every later step of the same shape and context. The step
//! input lives in fixed device buffers ([`super::step::HipStep`]), so a replay reads the
//! values just uploaded.

use std::collections::HashMap;

use hip_runtime::{GraphExec, Stream};

use crate::backend::{BackendError, StepShape};

/// Steps of at most this many tokens are captured (decode and small batches, which run
/// the matrix × vector kernels); prefill shapes vary with every prompt, use the vendor
/// GEMM, and are run directly.
pub(crate) const MAX_CAPTURED_TOKENS: usize = super::matmul::SMALL_STEP_COLS;

/// Captured graphs kept at most; the cache is emptied when it would grow past this.
const MAX_GRAPHS: usize = 64;

/// The graphs of captured steps, by context key and step shape.
#[derive(Default)]
pub(crate) struct GraphCache {
    graphs: HashMap<(u64, StepShape), GraphExec>,
    capturing: Option<(u64, StepShape)>,
    /// Launches of captured graphs since the backend was made.
    pub(crate) replays: u64,
    /// Steps captured since the backend was made.
    pub(crate) captures: u64,
}

impl GraphCache {
    /// Launches the graph of `(key, shape)` if one was captured; `Ok(false)` otherwise.
    pub(crate) fn replay(
        &mut self,
        stream: &Stream,
        key: u64,
        shape: StepShape,
    ) -> Result<bool, BackendError> {
        let Some(exec) = self.graphs.get(&(key, shape)) else {
            return Ok(false);
        };
        exec.launch(stream)
            .map_err(|e| BackendError::device("replay_step", e))?;
        self.replays += 1;
        Ok(true)
    }

    /// Starts capturing the stream's work when `shape` is worth capturing.
    pub(crate) fn begin(
        &mut self,
        stream: &Stream,
        key: u64,
        shape: StepShape,
        enabled: bool,
    ) -> Result<(), BackendError> {
        self.capturing = None;
        if !enabled || shape.n_tokens > MAX_CAPTURED_TOKENS {
            return Ok(());
        }
        stream
            .begin_capture()
            .map_err(|e| BackendError::device("begin_step", e))?;
        self.capturing = Some((key, shape));
        Ok(())
    }

    /// Ends a capture begun by [`begin`](Self::begin): instantiates the graph, launches it
    /// (the captured work has not run yet) and keeps it for replays.
    pub(crate) fn end(&mut self, stream: &Stream) -> Result<(), BackendError> {
        let Some(id) = self.capturing.take() else {
            return Ok(());
        };
        let dev = |e| BackendError::device("end_step", e);
        let graph = stream.end_capture().map_err(dev)?;
        let exec = graph.instantiate().map_err(dev)?;
        exec.launch(stream).map_err(dev)?;
        if self.graphs.len() >= MAX_GRAPHS {
            self.graphs.clear();
        }
        self.graphs.insert(id, exec);
        self.captures += 1;
        Ok(())
    }
}
