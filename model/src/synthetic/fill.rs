//! Random weight data for synthetic models, fast enough for an 8B model in seconds: per
//! (type, row length) a pool of valid blocks (up to 1M elements, at most the size of the
//! first tensor that asks) is made once by the type's own quantizer from
//! uniform random values scaled by `1/sqrt(row length)` (so every matrix keeps activations
//! near unit size through any number of layers); each row of a tensor is then a run of
//! pool blocks from a random start. Norm weights are ones.

use std::collections::hash_map::{Entry, HashMap};

use ggml_core::quants::quantize_row;
use ggml_core::GgmlType;

use super::SyntheticError;

/// Most elements quantized into one pool (tens of milliseconds per pool).
const POOL_ELEMENTS: usize = 1 << 20;

/// A small, fast, deterministic generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform value in `[-1, 1)`.
    fn next_signed_unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    /// A uniform index below `n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Valid blocks of one type, for rows of one length.
struct Pool {
    bytes: Vec<u8>,
    block_bytes: usize,
    n_blocks: usize,
}

/// Makes tensor data: the pools made so far and the generator.
pub struct Filler {
    rng: Rng,
    pools: HashMap<(GgmlType, usize), Pool>,
}

impl Filler {
    /// A filler whose output is fixed by `seed`.
    pub fn new(seed: u64) -> Filler {
        Filler {
            rng: Rng::new(seed),
            pools: HashMap::new(),
        }
    }

    /// Fills `out` with the data of a tensor of type `ty`, `n_rows` rows of `row_len`
    /// elements: ones when `ones` (norm weights, F32 or F16), else random rows.
    pub fn fill(
        &mut self,
        name: &str,
        ty: GgmlType,
        row_len: usize,
        n_rows: usize,
        ones: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), SyntheticError> {
        out.clear();
        if ones {
            let row = vec![1.0f32; row_len];
            let mut encoded = vec![0u8; row_bytes(ty, row_len, name)?];
            quantize_row(ty, &row, &mut encoded).map_err(|source| SyntheticError::Quantize {
                tensor: name.to_string(),
                ty,
                source,
            })?;
            for _ in 0..n_rows {
                out.extend_from_slice(&encoded);
            }
            return Ok(());
        }
        let block = ty.block_size();
        if row_len % block != 0 {
            return Err(SyntheticError::PartialBlock {
                tensor: name.to_string(),
                ty,
                row_len,
            });
        }
        let row_blocks = row_len / block;
        let pool = match self.pools.entry((ty, row_len)) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let elements = (row_len * n_rows).clamp(row_len, POOL_ELEMENTS.max(row_len));
                e.insert(make_pool(
                    ty,
                    row_len,
                    elements / block,
                    &mut self.rng,
                    name,
                )?)
            }
        };
        out.reserve(n_rows * row_blocks * pool.block_bytes);
        for _ in 0..n_rows {
            // A run of `row_blocks` pool blocks from a random start, wrapping around.
            let mut start = self.rng.below(pool.n_blocks);
            let mut left = row_blocks;
            while left > 0 {
                let take = left.min(pool.n_blocks - start);
                let bytes = start * pool.block_bytes..(start + take) * pool.block_bytes;
                out.extend_from_slice(&pool.bytes[bytes]);
                left -= take;
                start = 0;
            }
        }
        Ok(())
    }
}

/// Bytes of a row of `row_len` elements of `ty`.
fn row_bytes(ty: GgmlType, row_len: usize, name: &str) -> Result<usize, SyntheticError> {
    ty.bytes_for(row_len as u64)
        .and_then(|b| usize::try_from(b).ok())
        .filter(|_| row_len % ty.block_size() == 0)
        .ok_or_else(|| SyntheticError::PartialBlock {
            tensor: name.to_string(),
            ty,
            row_len,
        })
}

/// A pool of `n_blocks` blocks of `ty` for rows of `row_len` elements.
fn make_pool(
    ty: GgmlType,
    row_len: usize,
    n_blocks: usize,
    rng: &mut Rng,
    name: &str,
) -> Result<Pool, SyntheticError> {
    let block = ty.block_size();
    // Uniform in [-a, a] has variance a²/3: a = sqrt(3 / row_len) gives 1/row_len, so a
    // dot product with a unit-variance input has unit variance.
    let a = (3.0 / row_len as f32).sqrt();
    let values: Vec<f32> = (0..n_blocks * block)
        .map(|_| rng.next_signed_unit() * a)
        .collect();
    let mut bytes = vec![0u8; row_bytes(ty, n_blocks * block, name)?];
    quantize_row(ty, &values, &mut bytes).map_err(|source| SyntheticError::Quantize {
        tensor: name.to_string(),
        ty,
        source,
    })?;
    Ok(Pool {
        block_bytes: bytes.len() / n_blocks,
        bytes,
        n_blocks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ggml_core::quants::dequantize_row;

    #[test]
    fn rows_are_valid_blocks_of_the_intended_scale() {
        let mut f = Filler::new(1);
        let mut out = Vec::new();
        for ty in [
            GgmlType::Q4_0,
            GgmlType::Q4_K,
            GgmlType::Q6_K,
            GgmlType::Q8_0,
            GgmlType::F16,
        ] {
            f.fill("w", ty, 1024, 8, false, &mut out).unwrap();
            assert_eq!(out.len(), 8 * row_bytes(ty, 1024, "w").unwrap());
            let mut values = vec![0f32; 8 * 1024];
            dequantize_row(ty, &out, &mut values).unwrap();
            let var = values.iter().map(|v| v * v).sum::<f32>() / values.len() as f32;
            assert!(
                (var * 1024.0 - 1.0).abs() < 0.25,
                "{ty}: variance × row length {}",
                var * 1024.0
            );
            // Rows differ from each other.
            assert_ne!(values[..1024], values[1024..2048]);
        }
        f.fill("n", GgmlType::F32, 64, 1, true, &mut out).unwrap();
        assert_eq!(out, 1.0f32.to_le_bytes().repeat(64));
        assert!(matches!(
            f.fill("q", GgmlType::Q4_K, 96, 1, false, &mut out),
            Err(SyntheticError::PartialBlock { .. })
        ));
    }
}
