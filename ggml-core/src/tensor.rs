//! Tensors: a ggml type, a shape (ne0 first) and bytes held in host memory or borrowed
//! zero-copy from a shared source such as a memory-mapped GGUF file.

use std::fmt;
use std::sync::Arc;

use crate::dtype::GgmlType;

/// Something that owns a contiguous run of bytes a tensor can point into (a memory map,
/// a host vector). Shared through an `Arc` so tensors are cheap to clone.
pub trait ByteSource: Send + Sync {
    /// All bytes of the source.
    fn bytes(&self) -> &[u8];
}

impl ByteSource for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

impl ByteSource for memmap2::Mmap {
    fn bytes(&self) -> &[u8] {
        self
    }
}

/// Why a tensor could not be built over its bytes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TensorError {
    /// The first dimension is not a whole number of blocks of the type.
    #[error("tensor `{name}`: row length {ne0} is not a multiple of the {ty} block size {block}")]
    PartialBlock {
        /// Tensor name.
        name: String,
        /// The type.
        ty: GgmlType,
        /// Elements in a row.
        ne0: usize,
        /// Elements per block of `ty`.
        block: usize,
    },
    /// The tensor's bytes do not lie inside its source.
    #[error("tensor `{name}`: bytes {offset}..{end} lie outside a source of {source_len} bytes")]
    OutOfBounds {
        /// Tensor name.
        name: String,
        /// Start of the tensor's bytes in the source.
        offset: usize,
        /// End of the tensor's bytes in the source.
        end: usize,
        /// Length of the source.
        source_len: usize,
    },
    /// The shape has no dimensions, or its byte size overflows.
    #[error("tensor `{name}`: invalid shape {shape:?}")]
    BadShape {
        /// Tensor name.
        name: String,
        /// The shape that was given.
        shape: Vec<usize>,
    },
}

/// A tensor: type, shape and bytes, cheap to clone (the bytes are shared).
///
/// Rows are along `ne0` (`shape[0]`); a 2-D weight of shape `[k, n]` has `n` rows of `k`
/// elements, each row a whole number of quant blocks.
#[derive(Clone)]
pub struct Tensor {
    name: String,
    ty: GgmlType,
    shape: Vec<usize>,
    source: Arc<dyn ByteSource>,
    offset: usize,
    len: usize,
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tensor")
            .field("name", &self.name)
            .field("ty", &self.ty)
            .field("shape", &self.shape)
            .field("offset", &self.offset)
            .field("len", &self.len)
            .finish()
    }
}

impl Tensor {
    /// A tensor of `ty` and `shape` whose bytes start at `offset` in `source`.
    pub fn new(
        name: impl Into<String>,
        ty: GgmlType,
        shape: Vec<usize>,
        source: Arc<dyn ByteSource>,
        offset: usize,
    ) -> Result<Tensor, TensorError> {
        let name = name.into();
        let Some(&ne0) = shape.first() else {
            return Err(TensorError::BadShape { name, shape });
        };
        if ne0 % ty.block_size() != 0 {
            return Err(TensorError::PartialBlock {
                name,
                ty,
                ne0,
                block: ty.block_size(),
            });
        }
        let n_elements = shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
        let len = n_elements
            .and_then(|n| ty.bytes_for(n))
            .and_then(|b| usize::try_from(b).ok());
        let Some(len) = len else {
            return Err(TensorError::BadShape { name, shape });
        };
        let source_len = source.bytes().len();
        match offset.checked_add(len) {
            Some(end) if end <= source_len => Ok(Tensor {
                name,
                ty,
                shape,
                source,
                offset,
                len,
            }),
            end => Err(TensorError::OutOfBounds {
                name,
                offset,
                end: end.unwrap_or(usize::MAX),
                source_len,
            }),
        }
    }

    /// An F32 tensor in host memory holding `data`.
    pub fn from_f32(
        name: impl Into<String>,
        shape: Vec<usize>,
        data: &[f32],
    ) -> Result<Tensor, TensorError> {
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor::new(name, GgmlType::F32, shape, Arc::new(bytes), 0)
    }

    /// A tensor of `ty` in host memory over `bytes` (already in ggml block layout).
    pub fn from_bytes(
        name: impl Into<String>,
        ty: GgmlType,
        shape: Vec<usize>,
        bytes: Vec<u8>,
    ) -> Result<Tensor, TensorError> {
        Tensor::new(name, ty, shape, Arc::new(bytes), 0)
    }

    /// The tensor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The element type.
    pub fn ty(&self) -> GgmlType {
        self.ty
    }

    /// The shape, `ne0` first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Elements per row (`ne0`).
    pub fn row_len(&self) -> usize {
        self.shape[0]
    }

    /// Number of rows (the product of every dimension after the first).
    pub fn n_rows(&self) -> usize {
        self.shape[1..].iter().product()
    }

    /// Total number of elements.
    pub fn n_elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// Bytes of one row.
    pub fn row_bytes(&self) -> usize {
        self.row_len() / self.ty.block_size() * self.ty.type_size()
    }

    /// All bytes of the tensor.
    pub fn data(&self) -> &[u8] {
        &self.source.bytes()[self.offset..self.offset + self.len]
    }

    /// A view of rows `start..start + count` of a 2-D tensor (no copy), named `name`: how a
    /// fused matrix (QKV, gate+up) is split into its parts.
    pub fn slice_rows(
        &self,
        name: impl Into<String>,
        start: usize,
        count: usize,
    ) -> Result<Tensor, TensorError> {
        let name = name.into();
        let end = start.checked_add(count);
        if self.shape.len() != 2 || end.is_none_or(|e| e > self.n_rows()) {
            return Err(TensorError::BadShape {
                name,
                shape: vec![self.row_len(), start, count],
            });
        }
        let offset = self.offset + start * self.row_bytes();
        Tensor::new(
            name,
            self.ty,
            vec![self.row_len(), count],
            self.source.clone(),
            offset,
        )
    }

    /// The bytes of row `i`, or `None` past the last row.
    pub fn row(&self, i: usize) -> Option<&[u8]> {
        let rb = self.row_bytes();
        let start = i.checked_mul(rb)?;
        self.data().get(start..start + rb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_tensor_rows_and_bounds() {
        let t = Tensor::from_f32("w", vec![2, 3], &[1., 2., 3., 4., 5., 6.]).unwrap();
        assert_eq!(t.n_rows(), 3);
        assert_eq!(t.row_bytes(), 8);
        assert_eq!(
            t.row(2).unwrap(),
            &[5f32.to_le_bytes(), 6f32.to_le_bytes()].concat()
        );
        assert!(t.row(3).is_none());
        let src: Arc<dyn ByteSource> = Arc::new(vec![0u8; 10]);
        let err = Tensor::new("x", GgmlType::F32, vec![4], src.clone(), 0).unwrap_err();
        assert!(
            matches!(err, TensorError::OutOfBounds { end: 16, .. }),
            "{err}"
        );
        let err = Tensor::new("q", GgmlType::Q8_0, vec![31], src, 0).unwrap_err();
        assert!(matches!(err, TensorError::PartialBlock { block: 32, .. }));
        let v = t.slice_rows("w.b", 1, 2).unwrap();
        assert_eq!(
            (v.shape(), v.row(0).unwrap()),
            (&[2, 2][..], t.row(1).unwrap())
        );
        assert_eq!(v.row(1), t.row(2));
        assert!(t.slice_rows("w.c", 2, 2).is_err());
    }
}
