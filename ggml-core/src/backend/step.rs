//! The per-micro-batch step input: everything a forward step reads that changes from one
//! step to the next (token ids, positions, KV slots, block tables, rows whose logits are
//! wanted). The host fills a [`StepInput`] once per step; a backend uploads it once into
//! buffers of fixed size ([`Backend::upload_step`](super::Backend::upload_step)), so a
//! device step never waits on the host and a captured step stays valid as values change.

use super::BackendError;

/// The largest step a context will run: fixes the sizes of the step buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepLimits {
    /// Tokens in one micro-batch.
    pub max_tokens: usize,
    /// Entries of one block table (the context length divided by the KV block size).
    pub max_blocks: usize,
    /// Slots per KV block.
    pub block_size: usize,
}

/// What the shape of a step is: two steps with equal shapes issue the same kernels with the
/// same launch geometry, so a backend may replay a step captured earlier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StepShape {
    /// Tokens in the step.
    pub n_tokens: usize,
    /// Rows whose logits are wanted.
    pub n_out: usize,
    /// Block-table rows (distinct sequences) in the step.
    pub n_rows: usize,
}

/// The host side of one step. Built with [`StepInput::clear`] and [`StepInput::push`] so a
/// step allocates nothing once the vectors have reached their capacity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepInput {
    /// Token id of each token.
    pub tokens: Vec<u32>,
    /// Position of each token within its sequence.
    pub positions: Vec<i32>,
    /// KV cache slot each token's keys and values are stored in.
    pub slots: Vec<u32>,
    /// Block-table row of each token's sequence.
    pub tok_row: Vec<u32>,
    /// Block tables, `max_blocks` entries per row (unused entries are 0).
    pub block_tables: Vec<u32>,
    /// Tokens whose logits are wanted, as indices into the step.
    pub out_rows: Vec<u32>,
    /// Width of a block-table row.
    pub max_blocks: usize,
    /// Slots per KV block.
    pub block_size: usize,
}

impl StepInput {
    /// An empty step whose block tables have `limits.max_blocks` entries per row, with room
    /// for `limits.max_tokens` tokens.
    pub fn with_limits(limits: StepLimits) -> StepInput {
        let n = limits.max_tokens;
        StepInput {
            tokens: Vec::with_capacity(n),
            positions: Vec::with_capacity(n),
            slots: Vec::with_capacity(n),
            tok_row: Vec::with_capacity(n),
            block_tables: Vec::with_capacity(n * limits.max_blocks),
            out_rows: Vec::with_capacity(n),
            max_blocks: limits.max_blocks,
            block_size: limits.block_size,
        }
    }

    /// Forgets every token and table row, keeping the allocations.
    pub fn clear(&mut self) {
        self.tokens.clear();
        self.positions.clear();
        self.slots.clear();
        self.tok_row.clear();
        self.block_tables.clear();
        self.out_rows.clear();
    }

    /// Tokens in the step.
    pub fn n_tokens(&self) -> usize {
        self.tokens.len()
    }

    /// Block-table rows in the step.
    pub fn n_rows(&self) -> usize {
        self.block_tables.len() / self.max_blocks.max(1)
    }

    /// The step's shape.
    pub fn shape(&self) -> StepShape {
        StepShape {
            n_tokens: self.n_tokens(),
            n_out: self.out_rows.len(),
            n_rows: self.n_rows(),
        }
    }

    /// Appends a block-table row (`blocks` padded with zeros to `max_blocks`) and returns
    /// its index.
    pub fn push_table(&mut self, blocks: &[u32]) -> Result<u32, BackendError> {
        if blocks.len() > self.max_blocks {
            return Err(BackendError::Invalid {
                op: "step",
                detail: format!(
                    "block table of {} blocks exceeds the context's {}",
                    blocks.len(),
                    self.max_blocks
                ),
            });
        }
        let row = self.n_rows() as u32;
        self.block_tables.extend_from_slice(blocks);
        let pad = self.max_blocks - blocks.len();
        self.block_tables.extend(std::iter::repeat_n(0, pad));
        Ok(row)
    }

    /// Appends a token: its id, position, cache slot, block-table row and whether its
    /// logits are wanted.
    pub fn push(&mut self, token: u32, pos: i32, slot: u32, row: u32, logits: bool) {
        if logits {
            self.out_rows.push(self.tokens.len() as u32);
        }
        self.tokens.push(token);
        self.positions.push(pos);
        self.slots.push(slot);
        self.tok_row.push(row);
    }

    /// The block table of row `row` (its first `max_blocks` entries).
    pub fn table(&self, row: usize) -> &[u32] {
        let w = self.max_blocks;
        self.block_tables.get(row * w..(row + 1) * w).unwrap_or(&[])
    }

    /// Checks that the arrays agree: every token has a position, slot and row; rows and
    /// output indices are in range.
    pub fn validate(&self) -> Result<(), BackendError> {
        let n = self.tokens.len();
        let bad = |detail: String| Err(BackendError::Invalid { op: "step", detail });
        if self.positions.len() != n || self.slots.len() != n || self.tok_row.len() != n {
            return bad(format!(
                "{n} tokens with {} positions, {} slots, {} rows",
                self.positions.len(),
                self.slots.len(),
                self.tok_row.len()
            ));
        }
        if self.max_blocks == 0 || self.block_tables.len() % self.max_blocks != 0 {
            return bad(format!(
                "block tables of {} entries are not rows of {}",
                self.block_tables.len(),
                self.max_blocks
            ));
        }
        let rows = self.n_rows() as u32;
        if let Some(r) = self.tok_row.iter().find(|&&r| r >= rows) {
            return bad(format!("token row {r} of {rows} rows"));
        }
        if let Some(o) = self.out_rows.iter().find(|&&o| o as usize >= n) {
            return bad(format!("output row {o} of {n} tokens"));
        }
        if let Some(p) = self.positions.iter().find(|&&p| p < 0) {
            return bad(format!("negative position {p}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_validates_a_step() {
        let mut s = StepInput::with_limits(StepLimits {
            max_tokens: 4,
            max_blocks: 3,
            block_size: 16,
        });
        let r0 = s.push_table(&[5, 2]).unwrap();
        let r1 = s.push_table(&[7]).unwrap();
        s.push(11, 17, 2 * 16 + 1, r0, false);
        s.push(12, 0, 7 * 16, r1, true);
        assert_eq!(s.table(0), &[5, 2, 0]);
        assert_eq!(s.table(1), &[7, 0, 0]);
        assert_eq!(s.out_rows, [1]);
        assert_eq!(
            s.shape(),
            StepShape {
                n_tokens: 2,
                n_out: 1,
                n_rows: 2
            }
        );
        s.validate().unwrap();
        assert!(s.push_table(&[1, 2, 3, 4]).is_err());
        s.tok_row[0] = 9;
        assert!(s.validate().is_err());
        s.clear();
        assert_eq!(s.n_tokens(), 0);
        assert_eq!(s.n_rows(), 0);
    }
}
