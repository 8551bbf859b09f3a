//! Paged KV bookkeeping: a pool of fixed-size blocks of cache slots and one block table per
//! sequence mapping its positions to slots, so sequences of different lengths share one
//! cache and grow without moving data. Full blocks can be shared between sequences with a
//! common prefix (reference-counted); a block returns to the pool when its last holder
//! lets it go.

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
    /// Holders of each block (sequences whose table lists it); 0 for a free block.
    refs: Vec<u32>,
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
            refs: vec![0; n_blocks],
            tables: HashMap::new(),
        }
    }

    /// Blocks in the pool.
    pub fn n_blocks(&self) -> usize {
        self.n_blocks
    }

    /// Blocks held by more than one sequence.
    pub fn shared_blocks(&self) -> usize {
        self.refs.iter().filter(|&&r| r > 1).count()
    }

    /// Gives `dst` (which must hold nothing) the first `n_blocks` blocks of `src`, which must
    /// be full: both sequences then read the same keys and values for those positions, and
    /// `dst` continues in blocks of its own. Returns the positions `dst` now holds.
    pub fn share_prefix(
        &mut self,
        src: SeqId,
        dst: SeqId,
        n_blocks: usize,
    ) -> Result<usize, AttnError> {
        let bs = self.block_size;
        let len = n_blocks * bs;
        let src_len = self.seq_len(src);
        if src == dst || src_len < len || self.seq_len(dst) != 0 {
            return Err(AttnError::PositionGap {
                seq: dst,
                pos: len,
                len: src_len,
            });
        }
        if n_blocks == 0 {
            return Ok(0);
        }
        let blocks: Vec<u32> = self.tables[&src].blocks[..n_blocks].to_vec();
        for &b in &blocks {
            self.refs[b as usize] += 1;
        }
        self.tables.insert(dst, BlockTable { blocks, len });
        Ok(len)
    }

    /// Lets go of `blocks`: each returns to the pool when its last holder let it go.
    fn release(
        free: &mut Vec<u32>,
        refs: &mut [u32],
        blocks: impl DoubleEndedIterator<Item = u32>,
    ) {
        for b in blocks.rev() {
            let r = &mut refs[b as usize];
            *r = r.saturating_sub(1);
            if *r == 0 {
                free.push(b);
            }
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
    /// one are dropped (the sequence is truncated to `pos + 1`). Writing into a block that
    /// other sequences share is refused unless `pos` starts the block: then the sequence
    /// lets the shared block go and continues in a new one of its own (nothing before `pos`
    /// in that block needs copying).
    pub fn assign(&mut self, seq: SeqId, pos: usize) -> Result<usize, AttnError> {
        let bs = self.block_size;
        let len = self.seq_len(seq);
        if pos > len {
            return Err(AttnError::PositionGap { seq, pos, len });
        }
        let bi = pos / bs;
        let held = self
            .tables
            .get(&seq)
            .and_then(|t| t.blocks.get(bi).copied());
        if pos % bs != 0 && held.is_some_and(|b| self.refs[b as usize] > 1) {
            return Err(AttnError::PositionGap { seq, pos, len });
        }
        // Dropping the positions from `pos` on lets a shared block at `pos` go as well.
        self.truncate(seq, pos);
        let table = self.tables.entry(seq).or_default();
        while table.blocks.len() <= bi {
            let Some(b) = self.free.pop() else {
                return Err(AttnError::OutOfBlocks {
                    seq,
                    pos,
                    n_slots: self.n_blocks * bs,
                });
            };
            self.refs[b as usize] = 1;
            table.blocks.push(b);
        }
        table.len = pos + 1;
        Ok(table.blocks[bi] as usize * bs + pos % bs)
    }

    /// Keeps positions `0..len` of `seq` and lets go of the blocks past them.
    pub fn truncate(&mut self, seq: SeqId, len: usize) {
        if let Some(table) = self.tables.get_mut(&seq) {
            table.len = table.len.min(len);
            let keep = table.len.div_ceil(self.block_size);
            Self::release(&mut self.free, &mut self.refs, table.blocks.drain(keep..));
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
        self.refs.iter_mut().for_each(|r| *r = 0);
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

    #[test]
    fn shared_prefix_blocks_are_counted_and_freed_by_their_last_holder() {
        let mut m = BlockManager::new(6, 2);
        for p in 0..5 {
            m.assign(1, p).unwrap();
        }
        assert_eq!(m.share_prefix(1, 2, 2).unwrap(), 4);
        assert_eq!(m.table(2).unwrap().blocks(), &[0, 1]);
        assert_eq!((m.shared_blocks(), m.free_blocks()), (2, 3));
        // The sharer continues in a block of its own.
        assert_eq!(m.assign(2, 4).unwrap(), 3 * 2);
        assert_eq!(m.free_blocks(), 2);
        // Writing inside a shared block is refused; at its start it detaches.
        assert!(m.assign(2, 3).is_err());
        assert_eq!(
            m.assign(2, 2).unwrap(),
            3 * 2,
            "the freed private block is reused"
        );
        assert_eq!(m.table(2).unwrap().blocks(), &[0, 3]);
        assert_eq!(m.shared_blocks(), 1);
        m.remove(1);
        assert_eq!((m.shared_blocks(), m.free_blocks()), (0, 4));
        m.remove(2);
        assert_eq!(m.free_blocks(), 6);
        // Sharing more than the source holds, or into a non-empty sequence, is refused.
        m.assign(1, 0).unwrap();
        assert!(m.share_prefix(1, 2, 1).is_err());
        m.assign(2, 0).unwrap();
        m.assign(1, 1).unwrap();
        assert!(m.share_prefix(1, 2, 1).is_err());
    }
}
