//! GGUF files: reading (memory-mapped, zero-copy tensor views, every field validated against
//! the file size), the metadata model, named keys, and a streaming writer.

mod error;
pub mod keys;
mod reader;
mod value;
mod writer;

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

pub use error::GgufError;
pub use reader::MAX_ARRAY_NESTING;
pub use value::{Array, FromValue, Metadata, Value, ValueType};
pub use writer::{GgufWriter, TensorDataWriter};

use crate::GgmlType;

/// Alignment used when a file has no `general.alignment`.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// The alignment a file with `metadata` uses: `general.alignment` or the default, which must
/// be a non-zero power of two.
fn alignment_of(metadata: &Metadata) -> Result<u64, GgufError> {
    let alignment = metadata
        .get_opt::<u32>(keys::general::ALIGNMENT)?
        .map_or(DEFAULT_ALIGNMENT, u64::from);
    if alignment.is_power_of_two() {
        Ok(alignment)
    } else {
        Err(GgufError::BadAlignment { value: alignment })
    }
}

/// One tensor as the header describes it. Constructed only through [`TensorInfo::new`], so
/// its element count and byte size are known not to overflow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    name: String,
    ty: GgmlType,
    shape: Vec<u64>,
    offset: u64,
    n_elements: u64,
    n_bytes: u64,
}

impl TensorInfo {
    /// A tensor named `name` of type `ty` and `shape` (ggml order: `ne0`, the contiguous
    /// dimension, first) whose data starts `offset` bytes into the
    /// data section. Fails if the shape does not have 1 to 4 dimensions, overflows, or its
    /// rows are not a whole number of `ty` blocks.
    pub fn new(
        name: String,
        ty: GgmlType,
        shape: Vec<u64>,
        offset: u64,
    ) -> Result<TensorInfo, GgufError> {
        if !(1..=4).contains(&shape.len()) {
            return Err(GgufError::BadDimCount {
                n_dims: shape.len() as u32,
                name,
            });
        }
        // ggml stores dimensions as int64_t.
        let n_elements = shape
            .iter()
            .try_fold(1u64, |acc, &d| {
                acc.checked_mul(d).filter(|_| d <= i64::MAX as u64)
            })
            .filter(|&n| n <= i64::MAX as u64);
        let Some(n_elements) = n_elements else {
            return Err(GgufError::ShapeOverflow { name, shape });
        };
        let ne0 = shape[0];
        let block_size = ty.block_size();
        if ne0 % block_size as u64 != 0 {
            return Err(GgufError::PartialBlock {
                name,
                ty,
                ne0,
                block_size,
            });
        }
        let Some(n_bytes) = ty.bytes_for(n_elements) else {
            return Err(GgufError::ShapeOverflow { name, shape });
        };
        Ok(TensorInfo {
            name,
            ty,
            shape,
            offset,
            n_elements,
            n_bytes,
        })
    }

    /// The tensor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The data type.
    pub fn ty(&self) -> GgmlType {
        self.ty
    }

    /// The shape in ggml order (`ne0` first).
    pub fn shape(&self) -> &[u64] {
        &self.shape
    }

    /// Offset of the data, relative to the start of the data section.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Number of elements.
    pub fn n_elements(&self) -> u64 {
        self.n_elements
    }

    /// Bytes of data.
    pub fn n_bytes(&self) -> u64 {
        self.n_bytes
    }
}

/// The bytes of an open file: a read-only memory map, or a buffer in memory.
enum Storage {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m,
            Storage::Owned(v) => v,
        }
    }
}

/// A parsed GGUF file: metadata, tensor infos and zero-copy access to tensor data.
pub struct GgufFile {
    storage: Storage,
    version: u32,
    metadata: Metadata,
    tensors: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
    alignment: u64,
    data_offset: u64,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.version)
            .field("file_size", &self.file_size())
            .field("metadata_entries", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .field("alignment", &self.alignment)
            .field("data_offset", &self.data_offset)
            .finish()
    }
}

impl GgufFile {
    /// Opens and memory-maps the file at `path` and validates its header.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile, GgufError> {
        let path = path.as_ref();
        let open_err = |source| GgufError::Open {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(open_err)?;
        let meta = file.metadata().map_err(open_err)?;
        if !meta.is_file() {
            return Err(GgufError::NotAFile {
                path: path.to_owned(),
            });
        }
        if meta.len() == 0 {
            // Nothing to map; the parser reports the missing magic.
            return GgufFile::from_storage(Storage::Owned(Vec::new()));
        }
        // SAFETY: the map is read-only and private to this value. Another process
        // truncating or rewriting the file while it is mapped would change or fault the
        // bytes under us; like every mmap-based model loader we accept that model files are
        // not modified while in use.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(open_err)?;
        GgufFile::from_storage(Storage::Mapped(map))
    }

    /// Parses a GGUF file held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GgufFile, GgufError> {
        GgufFile::from_storage(Storage::Owned(bytes))
    }

    fn from_storage(storage: Storage) -> Result<GgufFile, GgufError> {
        let h = reader::parse(storage.bytes())?;
        Ok(GgufFile {
            storage,
            version: h.version,
            metadata: h.metadata,
            tensors: h.tensors,
            by_name: h.by_name,
            alignment: h.alignment,
            data_offset: h.data_offset,
        })
    }

    /// The GGUF version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The metadata, in file order.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// `general.architecture`.
    pub fn architecture(&self) -> Result<&str, GgufError> {
        self.metadata.get_str(keys::general::ARCHITECTURE)
    }

    /// Tensor infos, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor named `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.by_name.get(name).map(|&i| &self.tensors[i])
    }

    /// The data of `info`, a tensor of this file, as a view into the file.
    ///
    /// Fails with [`GgufError::ForeignTensor`] if `info` is not one of this file's tensors.
    pub fn tensor_data(&self, info: &TensorInfo) -> Result<&[u8], GgufError> {
        let foreign = || GgufError::ForeignTensor {
            name: info.name.clone(),
        };
        if self.tensor(&info.name) != Some(info) {
            return Err(foreign());
        }
        if info.n_bytes == 0 {
            // An empty tensor may sit at the end of a file whose data section is empty.
            return Ok(&[]);
        }
        // The header check put the range inside the file, so none of this fails.
        let range = (self.data_offset.checked_add(info.offset)).and_then(|start| {
            Some(usize::try_from(start).ok()?..usize::try_from(start + info.n_bytes).ok()?)
        });
        range
            .and_then(|r| self.storage.bytes().get(r))
            .ok_or_else(foreign)
    }

    /// Alignment of the data section and of every tensor's data.
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Byte offset of the data section in the file.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    /// Size of the whole file in bytes.
    pub fn file_size(&self) -> u64 {
        self.storage.bytes().len() as u64
    }
}
