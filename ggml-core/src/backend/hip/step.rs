//! The step input on the device: token ids, KV slots, block-table rows, output rows and
//! block tables in one `u32` buffer at fixed offsets, positions in an `i32` buffer; both
//! filled by one asynchronous upload each per step, so a captured step reads new values
//! from the same addresses every time it is replayed.

use hip_runtime::{DeviceBuffer, DeviceSlice, Stream, Uploader};

use crate::backend::{BackendError, StepInput, StepLimits};

/// Offsets (in elements) of the parts of the packed `u32` step buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    ids: usize,
    slots: usize,
    tok_row: usize,
    out_rows: usize,
    tables: usize,
    len: usize,
}

impl Layout {
    fn new(l: StepLimits) -> Result<Layout, BackendError> {
        let n = l.max_tokens;
        let tables = n.checked_mul(l.max_blocks).ok_or_else(|| too_large(l))?;
        let len = (4 * n).checked_add(tables).ok_or_else(|| too_large(l))?;
        Ok(Layout {
            ids: 0,
            slots: n,
            tok_row: 2 * n,
            out_rows: 3 * n,
            tables: 4 * n,
            len,
        })
    }
}

fn too_large(l: StepLimits) -> BackendError {
    BackendError::Invalid {
        op: "alloc_step",
        detail: format!("{} tokens × {} blocks overflow", l.max_tokens, l.max_blocks),
    }
}

/// A step input resident on the device.
pub struct HipStep {
    limits: StepLimits,
    layout: Layout,
    packed: DeviceBuffer<u32>,
    positions: DeviceBuffer<i32>,
    host: Vec<u32>,
    uploader: Uploader,
}

impl std::fmt::Debug for HipStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HipStep({:?})", self.limits)
    }
}

impl HipStep {
    /// Device buffers for any step within `limits`.
    pub(crate) fn new(stream: &Stream, limits: StepLimits) -> Result<HipStep, BackendError> {
        let layout = Layout::new(limits)?;
        let dev = |e| BackendError::device("alloc_step", e);
        let packed = DeviceBuffer::zeroed(stream, layout.len).map_err(dev)?;
        let positions = DeviceBuffer::zeroed(stream, limits.max_tokens.max(1)).map_err(dev)?;
        let stage = (layout.len + limits.max_tokens) * 4;
        let uploader = Uploader::new(stream, 2, stage).map_err(dev)?;
        Ok(HipStep {
            limits,
            layout,
            packed,
            positions,
            host: vec![0; layout.len],
            uploader,
        })
    }

    /// Copies `input` to the device (asynchronously, on the step's stream).
    pub(crate) fn upload(&mut self, input: &StepInput) -> Result<(), BackendError> {
        input.validate()?;
        let (n, l) = (input.n_tokens(), self.layout);
        let fits = n <= self.limits.max_tokens
            && input.max_blocks == self.limits.max_blocks
            && input.block_tables.len() <= l.len - l.tables;
        if !fits {
            return Err(BackendError::Invalid {
                op: "upload_step",
                detail: format!(
                    "a step of {n} tokens and {} table entries (rows of {}) exceeds the \
                     buffers made for {:?}",
                    input.block_tables.len(),
                    input.max_blocks,
                    self.limits
                ),
            });
        }
        let dev = |e| BackendError::device("upload_step", e);
        self.host[l.ids..l.ids + n].copy_from_slice(&input.tokens);
        self.host[l.slots..l.slots + n].copy_from_slice(&input.slots);
        self.host[l.tok_row..l.tok_row + n].copy_from_slice(&input.tok_row);
        let n_out = input.out_rows.len();
        self.host[l.out_rows..l.out_rows + n_out].copy_from_slice(&input.out_rows);
        let t = input.block_tables.len();
        self.host[l.tables..l.tables + t].copy_from_slice(&input.block_tables);
        // Only the used prefix travels: the ids..out_rows parts, then the used table rows.
        let used = l.tables + t;
        let mut dst = self.packed.slice_mut(0..used).map_err(dev)?;
        self.uploader
            .upload(&mut dst, &self.host[..used])
            .map_err(dev)?;
        if n > 0 {
            let mut pos = self.positions.slice_mut(0..n).map_err(dev)?;
            self.uploader
                .upload(&mut pos, &input.positions)
                .map_err(dev)?;
        }
        Ok(())
    }

    fn part(&self, start: usize, len: usize) -> Result<DeviceSlice<'_, u32>, BackendError> {
        self.packed
            .slice(start..start + len)
            .map_err(|e| BackendError::device("step", e))
    }

    /// The first `n` token ids.
    pub fn ids(&self, n: usize) -> Result<DeviceSlice<'_, u32>, BackendError> {
        self.part(self.layout.ids, n)
    }

    /// The first `n` KV slots.
    pub fn slots(&self, n: usize) -> Result<DeviceSlice<'_, u32>, BackendError> {
        self.part(self.layout.slots, n)
    }

    /// The block-table row of the first `n` tokens.
    pub fn tok_rows(&self, n: usize) -> Result<DeviceSlice<'_, u32>, BackendError> {
        self.part(self.layout.tok_row, n)
    }

    /// The first `n` output rows.
    pub fn out_rows(&self, n: usize) -> Result<DeviceSlice<'_, u32>, BackendError> {
        self.part(self.layout.out_rows, n)
    }

    /// Every block-table row the buffers can hold (`max_tokens × max_blocks`).
    pub fn tables(&self) -> Result<DeviceSlice<'_, u32>, BackendError> {
        self.part(self.layout.tables, self.layout.len - self.layout.tables)
    }

    /// The first `n` positions.
    pub fn positions(&self, n: usize) -> Result<DeviceSlice<'_, i32>, BackendError> {
        self.positions
            .slice(0..n)
            .map_err(|e| BackendError::device("step", e))
    }

    /// The limits the buffers were made for.
    pub fn limits(&self) -> StepLimits {
        self.limits
    }
}
