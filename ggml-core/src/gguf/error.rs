//! The GGUF error type: every way reading, querying or writing a GGUF file can fail.

use std::path::PathBuf;

use super::value::ValueType;
use crate::GgmlType;

/// An error reading, querying or writing a GGUF file.
///
/// Every variant names where the problem is: a byte offset, a metadata key or a tensor.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// The file could not be opened, inspected or mapped.
    #[error("cannot read {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The path names a directory or some other thing that is not a regular file.
    #[error("{} is not a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The first four bytes are not `GGUF`.
    #[error("not a GGUF file: magic bytes are {found:02x?}, expected \"GGUF\"")]
    BadMagic {
        /// The four bytes at offset 0.
        found: [u8; 4],
    },
    /// The version field reads as a small number with its bytes swapped.
    #[error(
        "big-endian GGUF file (version field {raw:#010x}); only little-endian files are supported"
    )]
    BigEndian {
        /// The version field as read little-endian.
        raw: u32,
    },
    /// A GGUF version other than 2 or 3.
    #[error("unsupported GGUF version {version}; versions 2 and 3 are supported")]
    UnsupportedVersion {
        /// The version field.
        version: u32,
    },
    /// The file ends before a field that the header says is there.
    #[error("file truncated: {what} needs {needed} bytes at offset {offset}, but the file is {file_len} bytes")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Byte offset of the field.
        offset: u64,
        /// Bytes the field needs.
        needed: u64,
        /// Size of the whole file.
        file_len: u64,
    },
    /// A count in the header cannot possibly fit in the rest of the file.
    #[error(
        "{what} {count} at offset {offset} cannot fit in the {remaining} bytes left in the file"
    )]
    CountTooLarge {
        /// What is being counted.
        what: &'static str,
        /// The count read.
        count: u64,
        /// Byte offset of the count.
        offset: u64,
        /// Bytes after the count.
        remaining: u64,
    },
    /// A key or string value is not valid UTF-8.
    #[error("invalid UTF-8 in {what} at offset {offset}")]
    InvalidUtf8 {
        /// What the string is.
        what: &'static str,
        /// Byte offset of the string's bytes.
        offset: u64,
    },
    /// A metadata value type id that GGUF does not define.
    #[error("metadata key '{key}': unknown value type {type_id} at offset {offset}")]
    UnknownValueType {
        /// The key whose value it is.
        key: String,
        /// The type id read.
        type_id: u32,
        /// Byte offset of the type id.
        offset: u64,
    },
    /// Arrays nested deeper than the reader accepts.
    #[error("metadata key '{key}': arrays nested deeper than {max} levels at offset {offset}")]
    NestingTooDeep {
        /// The key whose value it is.
        key: String,
        /// The deepest nesting accepted.
        max: usize,
        /// Byte offset of the too-deep array.
        offset: u64,
    },
    /// The same metadata key appears twice.
    #[error("duplicate metadata key '{key}' at offset {offset}")]
    DuplicateKey {
        /// The key.
        key: String,
        /// Byte offset of the second occurrence.
        offset: u64,
    },
    /// `general.alignment` is zero or not a power of two.
    #[error("general.alignment is {value}; it must be a non-zero power of two")]
    BadAlignment {
        /// The alignment read or requested.
        value: u64,
    },
    /// A metadata key that was asked for is not there.
    #[error("metadata key '{key}' is missing")]
    MissingKey {
        /// The key.
        key: String,
    },
    /// A metadata value has a different type than the one asked for.
    #[error("metadata key '{key}' holds {found}, expected {expected}")]
    TypeMismatch {
        /// The key.
        key: String,
        /// The type asked for.
        expected: &'static str,
        /// The type stored (array element types included, e.g. `array of string`).
        found: String,
    },
    /// An integer metadata value does not fit the integer type asked for.
    #[error("metadata key '{key}': value {value} does not fit in {expected}")]
    OutOfRange {
        /// The key.
        key: String,
        /// The type asked for.
        expected: &'static str,
        /// The value stored.
        value: i128,
    },
    /// The same tensor name appears twice.
    #[error("duplicate tensor name '{name}' at offset {offset}")]
    DuplicateTensor {
        /// The name.
        name: String,
        /// Byte offset of the second tensor info when reading; its declaration index when
        /// writing.
        offset: u64,
    },
    /// A tensor has no dimensions or more than four.
    #[error("tensor '{name}' has {n_dims} dimensions; GGUF tensors have 1 to 4")]
    BadDimCount {
        /// The tensor.
        name: String,
        /// The dimension count read.
        n_dims: u32,
    },
    /// A tensor type id that ggml does not define.
    #[error("tensor '{name}' has unknown ggml type id {type_id}")]
    UnknownTensorType {
        /// The tensor.
        name: String,
        /// The type id read.
        type_id: u32,
    },
    /// A tensor shape whose element count or byte size overflows.
    #[error("tensor '{name}': shape {shape:?} overflows")]
    ShapeOverflow {
        /// The tensor.
        name: String,
        /// The shape, ggml order.
        shape: Vec<u64>,
    },
    /// A tensor's rows are not a whole number of quant blocks.
    #[error("tensor '{name}': first dimension {ne0} is not a multiple of the {ty} block size {block_size}")]
    PartialBlock {
        /// The tensor.
        name: String,
        /// The tensor type.
        ty: GgmlType,
        /// The first (innermost) dimension.
        ne0: u64,
        /// Elements per block of `ty`.
        block_size: usize,
    },
    /// A tensor's data offset is not a multiple of the file's alignment.
    #[error(
        "tensor '{name}': data offset {offset} is not a multiple of the alignment {alignment}"
    )]
    MisalignedTensor {
        /// The tensor.
        name: String,
        /// Offset relative to the data section.
        offset: u64,
        /// The file's alignment.
        alignment: u64,
    },
    /// A tensor's data extends past the end of the file.
    #[error("tensor '{name}': {n_bytes} bytes at data offset {offset} run past the end of the {data_len}-byte data section")]
    TensorOutOfBounds {
        /// The tensor.
        name: String,
        /// Offset relative to the data section.
        offset: u64,
        /// Bytes of tensor data.
        n_bytes: u64,
        /// Bytes in the data section.
        data_len: u64,
    },
    /// Two tensors' data ranges overlap.
    #[error("tensors '{first}' and '{second}' overlap in the data section at offset {offset}")]
    TensorOverlap {
        /// The tensor that starts first.
        first: String,
        /// The tensor that starts inside the first one.
        second: String,
        /// Offset of `second`, relative to the data section.
        offset: u64,
    },
    /// A tensor info that does not belong to this file was used to look up data.
    #[error("tensor '{name}' is not a tensor of this file")]
    ForeignTensor {
        /// The tensor.
        name: String,
    },
    /// The writer was given data of the wrong size, or in the wrong order.
    #[error("writing tensor '{name}': expected {expected} bytes, got {actual}")]
    TensorSizeMismatch {
        /// The tensor.
        name: String,
        /// Bytes its type and shape need.
        expected: u64,
        /// Bytes given.
        actual: u64,
    },
    /// The writer was finished before every tensor's data was written, or given too many.
    #[error("writing GGUF: {written} of {expected} tensors' data written")]
    TensorCountMismatch {
        /// Tensors declared in the header.
        expected: usize,
        /// Tensors whose data was written.
        written: usize,
    },
    /// Writing the output failed.
    #[error("writing GGUF {what}: {source}")]
    Write {
        /// The part being written.
        what: &'static str,
        /// What the OS said.
        source: std::io::Error,
    },
}

impl GgufError {
    /// A [`GgufError::TypeMismatch`] for `key`, found holding a value of type `found`.
    pub(crate) fn mismatch(key: &str, expected: &'static str, found: ValueTypeName) -> Self {
        GgufError::TypeMismatch {
            key: key.to_owned(),
            expected,
            found: found.to_string(),
        }
    }
}

/// How a stored value's type is described in a [`GgufError::TypeMismatch`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum ValueTypeName {
    /// A scalar or string.
    Scalar(ValueType),
    /// An array with elements of this type.
    Array(ValueType),
}

impl std::fmt::Display for ValueTypeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ValueTypeName::Scalar(t) => write!(f, "{t}"),
            ValueTypeName::Array(t) => write!(f, "array of {t}"),
        }
    }
}
