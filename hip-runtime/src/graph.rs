//! Graphs: work captured from a stream once, instantiated, and replayed with one launch;
//! an instantiated graph can take new parameters from a recapture of the same shape.

use hip_ffi::{hipGraphExec_t, hipGraph_t, StreamCaptureMode};

use crate::error::Result;
use crate::stream::Stream;

/// A captured (not yet instantiated) graph.
pub struct Graph {
    stream: Stream,
    handle: hipGraph_t,
}

// SAFETY: graph handles are usable from any thread once the device is current, which
// every method does first.
unsafe impl Send for Graph {}

/// An instantiated graph, ready to launch.
pub struct GraphExec {
    stream: Stream,
    handle: hipGraphExec_t,
}

// SAFETY: as for `Graph`.
unsafe impl Send for GraphExec {}

impl Stream {
    /// Starts capturing work queued on this stream (from this thread only) into a graph.
    pub fn begin_capture(&self) -> Result<()> {
        self.make_current()?;
        // SAFETY: the stream is live and not the null stream.
        self.call(
            "hipStreamBeginCapture",
            unsafe {
                self.device()
                    .hip()
                    .driver()
                    .stream_begin_capture(self.raw(), StreamCaptureMode::ThreadLocal)
            },
            String::new,
        )
    }

    /// Ends the capture and returns what was queued since [`Stream::begin_capture`].
    pub fn end_capture(&self) -> Result<Graph> {
        self.make_current()?;
        // SAFETY: the stream is live; the driver reports an error if it is not capturing.
        let handle = self.call(
            "hipStreamEndCapture",
            unsafe { self.device().hip().driver().stream_end_capture(self.raw()) },
            || "was begin_capture called on this stream and thread?".to_string(),
        )?;
        Ok(Graph {
            stream: self.clone(),
            handle,
        })
    }
}

impl Graph {
    /// Instantiates the graph for launching.
    pub fn instantiate(&self) -> Result<GraphExec> {
        self.stream.make_current()?;
        // SAFETY: the graph is live.
        let handle = self.stream.call(
            "hipGraphInstantiate",
            unsafe {
                self.stream
                    .device()
                    .hip()
                    .driver()
                    .graph_instantiate(self.handle)
            },
            String::new,
        )?;
        Ok(GraphExec {
            stream: self.stream.clone(),
            handle,
        })
    }
}

impl GraphExec {
    /// Queues one replay of the graph on `stream` (any stream of the same device).
    pub fn launch(&self, stream: &Stream) -> Result<()> {
        stream.same_device("hipGraphLaunch", self.stream.device())?;
        stream.make_current()?;
        // SAFETY: both handles are live and on the current device.
        stream.call(
            "hipGraphLaunch",
            unsafe {
                stream
                    .device()
                    .hip()
                    .driver()
                    .graph_launch(self.handle, stream.raw())
            },
            String::new,
        )
    }

    /// Takes the node parameters of `graph` (same topology, e.g. a recapture with new
    /// arguments) into this instantiated graph.
    pub fn update(&mut self, graph: &Graph) -> Result<()> {
        self.stream.make_current()?;
        // SAFETY: both handles are live.
        self.stream.call(
            "hipGraphExecUpdate",
            unsafe {
                self.stream
                    .device()
                    .hip()
                    .driver()
                    .graph_exec_update(self.handle, graph.handle)
            },
            || "the new graph must have the same topology as the instantiated one".to_string(),
        )
    }
}

impl Drop for Graph {
    fn drop(&mut self) {
        let handle = self.handle;
        let device = self.stream.device();
        device.hip().release(
            device.ordinal(),
            "hipGraphDestroy",
            String::new,
            // SAFETY: the graph is owned by `self`; instantiated copies are independent.
            |d| unsafe { d.graph_destroy(handle) },
        );
    }
}

impl Drop for GraphExec {
    fn drop(&mut self) {
        let handle = self.handle;
        let device = self.stream.device();
        device.hip().release(
            device.ordinal(),
            "hipGraphExecDestroy",
            String::new,
            // SAFETY: the executable graph is owned by `self` and not used after this.
            |d| unsafe { d.graph_exec_destroy(handle) },
        );
    }
}
