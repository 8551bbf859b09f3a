//! Paged KV bookkeeping: a pool of fixed-size blocks of cache slots and one block table per
//! sequence mapping its positions to slots, so sequences of different lengths share one
//! cache and grow without moving data.

use std::collections::HashMap;

use crate::AttnError;

/// A sequence id, as the caller numbers its sequences.
pub type SeqId = u32;

/// The blocks one sequence owns, in position order, and how many positions it holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockTable {
    blocks: Vec<u32>,
    len: usize,
}

impl BlockTable {
    /// Block ids in position order: position `p` lives in block `blocks()[p / block_size]`.
    pub fn blocks(&self) -> &[u32] {
        &self.blocks
    }

    /// Positions `0..len` of the sequence hold keys and values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the sequence holds no positions.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The cache slot of position `pos`, if a block is assigned to it.
    pub fn slot(&self, pos: usize, block_size: usize) -> Option<usize> {
        let b = *self.blocks.get(pos / block_size)?;
        Some(b as usize * block_size + pos % block_size)
    }
}

/// The block pool and every sequence's block table.
#[derive(Clone, Debug)]
pub struct BlockManager {
    block_size: usize,
    n_blocks: usize,
    free: Vec<u32>,
    tables: HashMap<SeqId, BlockTable>,
}

impl BlockManager {
    /// A pool of `n_blocks` blocks of `block_size` slots each, all free.
    pub fn new(n_blocks: usize, block_size: usize) -> BlockManager {
        BlockManager {
            block_size: block_size.max(1),
            n_blocks,
            // Popped from the back: hand out low block ids first.
            free: (0..n_blocks as u32).rev().collect(),
            tables: HashMap::new(),
        }
    }

    /// Slots per block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Total slots in the pool.
    pub fn n_slots(&self) -> usize {
        self.n_blocks * self.block_size
    }

    /// Blocks not owned by any sequence.
    pub fn free_blocks(&self) -> usize {
        self.free.len()
    }

    /// The block table of `seq`, if it holds anything.
    pub fn table(&self, seq: SeqId) -> Option<&BlockTable> {
        self.tables.get(&seq)
    }

    /// Positions held by `seq` (0 for an unknown sequence).
    pub fn seq_len(&self, seq: SeqId) -> usize {
        self.tables.get(&seq).map_or(0, |t| t.len)
    }

    /// Makes room for position `pos` of `seq` and returns its slot. `pos` may rewrite an
    /// earlier position or append right after the last one; positions after a rewritten
    /// one are dropped (the sequence is truncated to `pos + 1`).
    pub fn assign(&mut self, seq: SeqId, pos: usize) -> Result<usize, AttnError> {
        let bs = self.block_size;
        let table = self.tables.entry(seq).or_default();
        if pos > table.len {
            return Err(AttnError::PositionGap {
                seq,
                pos,
                len: table.len,
            });
        }
        while table.blocks.len() * bs <= pos {
            let Some(b) = self.free.pop() else {
                return Err(AttnError::OutOfBlocks {
                    seq,
                    pos,
                    n_slots: self.n_blocks * bs,
                });
            };
            table.blocks.push(b);
        }
        table.len = pos + 1;
        let keep = table.len.div_ceil(bs);
        self.free.extend(table.blocks.drain(keep..).rev());
        Ok(table.blocks[pos / bs] as usize * bs + pos % bs)
    }

    /// Keeps positions `0..len` of `seq` and returns the blocks past them to the pool.
    pub fn truncate(&mut self, seq: SeqId, len: usize) {
        if let Some(table) = self.tables.get_mut(&seq) {
            table.len = table.len.min(len);
            let keep = table.len.div_ceil(self.block_size);
            self.free.extend(table.blocks.drain(keep..).rev());
            if table.blocks.is_empty() {
                self.tables.remove(&seq);
            }
        }
    }

    /// Drops `seq` entirely.
    pub fn remove(&mut self, seq: SeqId) {
        self.truncate(seq, 0);
    }

    /// Drops every sequence.
    pub fn clear(&mut self) {
        self.tables.clear();
        self.free = (0..self.n_blocks as u32).rev().collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_share_the_pool_through_their_tables() {
        let mut m = BlockManager::new(3, 4);
        for p in 0..5 {
            m.assign(7, p).unwrap();
        }
        assert_eq!(m.table(7).unwrap().blocks(), &[0, 1]);
        assert_eq!(m.assign(9, 0).unwrap(), 2 * 4);
        assert_eq!(m.table(7).unwrap().slot(4, 4), Some(4));
        assert_eq!(m.seq_len(7), 5);
        let err = m.assign(9, 2).unwrap_err();
        assert_eq!(
            err,
            AttnError::PositionGap {
                seq: 9,
                pos: 2,
                len: 1
            }
        );
        for p in 1..4 {
            m.assign(9, p).unwrap();
        }
        assert!(matches!(
            m.assign(9, 4),
            Err(AttnError::OutOfBlocks { seq: 9, .. })
        ));
        m.remove(7);
        assert_eq!(m.free_blocks(), 2);
        assert_eq!(m.assign(9, 4).unwrap(), 0, "a freed block is reused");
        assert_eq!(m.table(9).unwrap().blocks(), &[2, 0]);
    }

    #[test]
    fn rewriting_a_position_truncates_after_it() {
        let mut m = BlockManager::new(4, 2);
        for p in 0..7 {
            m.assign(0, p).unwrap();
        }
        assert_eq!(m.free_blocks(), 0);
        m.assign(0, 2).unwrap();
        assert_eq!(m.seq_len(0), 3);
        assert_eq!(m.free_blocks(), 2);
        m.truncate(0, 1);
        assert_eq!(m.seq_len(0), 1);
        m.clear();
        assert_eq!(m.free_blocks(), 4);
        assert_eq!(m.seq_len(0), 0);
    }
}
