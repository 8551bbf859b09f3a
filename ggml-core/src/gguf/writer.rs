//! Writing GGUF v3 files: metadata and tensor infos up front, then tensor data streamed
//! one tensor at a time with alignment padding, so a model is never held twice in memory.

use std::collections::HashSet;
use std::io::{Read, Write};

use super::error::GgufError;
use super::reader::MAGIC;
use super::value::{Array, Metadata, Value};
use super::{alignment_of, TensorInfo};
use crate::GgmlType;

/// The GGUF version the writer produces.
const WRITE_VERSION: u32 = 3;

/// Collects metadata and tensor declarations for a GGUF file, then writes its header with
/// [`GgufWriter::begin`].
///
/// The alignment is `general.alignment` if the metadata sets it, else the default (32).
#[derive(Clone, Debug, Default)]
pub struct GgufWriter {
    metadata: Metadata,
    tensors: Vec<TensorInfo>,
    names: HashSet<String>,
}

impl GgufWriter {
    /// A writer with no metadata and no tensors.
    pub fn new() -> GgufWriter {
        GgufWriter::default()
    }

    /// A writer starting from `metadata` (for example a source file's, when converting).
    pub fn with_metadata(metadata: Metadata) -> GgufWriter {
        GgufWriter {
            metadata,
            ..GgufWriter::default()
        }
    }

    /// The metadata to be written.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The metadata to be written, for changes.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// Declares a tensor; its data is written, in declaration order, after
    /// [`GgufWriter::begin`]. Fails on a duplicate name or an invalid shape.
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        ty: GgmlType,
        shape: &[u64],
    ) -> Result<(), GgufError> {
        let name = name.into();
        if self.names.contains(&name) {
            return Err(GgufError::DuplicateTensor {
                name,
                offset: self.tensors.len() as u64,
            });
        }
        // Offsets are laid out in `begin`, once the alignment is final.
        let info = TensorInfo::new(name.clone(), ty, shape.to_vec(), 0)?;
        self.names.insert(name);
        self.tensors.push(info);
        Ok(())
    }

    /// Writes the header (metadata, tensor infos, padding) to `out` and returns the writer
    /// for the tensor data.
    pub fn begin<W: Write>(self, mut out: W) -> Result<TensorDataWriter<W>, GgufError> {
        let alignment = alignment_of(&self.metadata)?;
        let mut tensors = Vec::with_capacity(self.tensors.len());
        let mut offset = 0u64;
        for t in self.tensors {
            let end = offset.checked_add(t.n_bytes());
            let Some(next) = end.and_then(|e| e.checked_next_multiple_of(alignment)) else {
                return Err(GgufError::ShapeOverflow {
                    name: t.name,
                    shape: t.shape,
                });
            };
            tensors.push(TensorInfo { offset, ..t });
            offset = next;
        }

        let mut header = Vec::new();
        header.extend_from_slice(&MAGIC);
        header.extend_from_slice(&WRITE_VERSION.to_le_bytes());
        put_u64(&mut header, tensors.len() as u64);
        put_u64(&mut header, self.metadata.len() as u64);
        for (key, value) in self.metadata.iter() {
            put_str(&mut header, key);
            header.extend_from_slice(&value.value_type().id().to_le_bytes());
            put_value(&mut header, value);
        }
        for t in &tensors {
            put_str(&mut header, t.name());
            header.extend_from_slice(&(t.shape().len() as u32).to_le_bytes());
            for &d in t.shape() {
                put_u64(&mut header, d);
            }
            header.extend_from_slice(&t.ty().id().to_le_bytes());
            put_u64(&mut header, t.offset());
        }
        let padded = (header.len() as u64).next_multiple_of(alignment);
        header.resize(padded as usize, 0);
        out.write_all(&header).map_err(|source| GgufError::Write {
            what: "header",
            source,
        })?;
        Ok(TensorDataWriter {
            out,
            tensors,
            next: 0,
            pos: 0,
            alignment,
        })
    }
}

/// Writes the tensor data of a file whose header [`GgufWriter::begin`] wrote: one call to
/// [`TensorDataWriter::write_tensor`] per tensor, in declaration order, then
/// [`TensorDataWriter::finish`].
#[derive(Debug)]
pub struct TensorDataWriter<W: Write> {
    out: W,
    tensors: Vec<TensorInfo>,
    next: usize,
    pos: u64,
    alignment: u64,
}

impl<W: Write> TensorDataWriter<W> {
    /// Every tensor with its final offset in the data section.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor whose data the next [`TensorDataWriter::write_tensor`] call takes.
    pub fn next_tensor(&self) -> Option<&TensorInfo> {
        self.tensors.get(self.next)
    }

    /// Writes the data of the next tensor: exactly its `n_bytes()` bytes.
    pub fn write_tensor(&mut self, data: &[u8]) -> Result<(), GgufError> {
        let Some(t) = self.tensors.get(self.next) else {
            return Err(GgufError::TensorCountMismatch {
                expected: self.tensors.len(),
                written: self.next + 1,
            });
        };
        if data.len() as u64 != t.n_bytes() {
            return Err(GgufError::TensorSizeMismatch {
                name: t.name().to_owned(),
                expected: t.n_bytes(),
                actual: data.len() as u64,
            });
        }
        let (start, end) = (t.offset(), t.offset() + t.n_bytes());
        self.pad(start - self.pos)?;
        self.out
            .write_all(data)
            .map_err(|source| GgufError::Write {
                what: "tensor data",
                source,
            })?;
        self.pos = end;
        self.next += 1;
        Ok(())
    }

    /// Pads the file to the alignment, flushes, and returns the output. Fails if some
    /// tensor's data was not written.
    pub fn finish(mut self) -> Result<W, GgufError> {
        if self.next != self.tensors.len() {
            return Err(GgufError::TensorCountMismatch {
                expected: self.tensors.len(),
                written: self.next,
            });
        }
        let padding = self.pos.next_multiple_of(self.alignment) - self.pos;
        self.pad(padding)?;
        self.out.flush().map_err(|source| GgufError::Write {
            what: "tensor data",
            source,
        })?;
        Ok(self.out)
    }

    fn pad(&mut self, n: u64) -> Result<(), GgufError> {
        std::io::copy(&mut std::io::repeat(0).take(n), &mut self.out)
            .map(drop)
            .map_err(|source| GgufError::Write {
                what: "padding",
                source,
            })
    }
}

fn put_u64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_u64(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

fn put_value(buf: &mut Vec<u8>, value: &Value) {
    match value {
        Value::U8(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::I8(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::U16(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::I16(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::U32(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::I32(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::F32(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::Bool(v) => buf.push(u8::from(*v)),
        Value::String(s) => put_str(buf, s),
        Value::Array(a) => put_array(buf, a),
        Value::U64(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::I64(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::F64(v) => buf.extend_from_slice(&v.to_le_bytes()),
    }
}

fn put_array(buf: &mut Vec<u8>, array: &Array) {
    fn each<T: Copy, const N: usize>(buf: &mut Vec<u8>, items: &[T], f: fn(T) -> [u8; N]) {
        for &x in items {
            buf.extend_from_slice(&f(x));
        }
    }
    buf.extend_from_slice(&array.element_type().id().to_le_bytes());
    put_u64(buf, array.len() as u64);
    match array {
        Array::U8(v) => buf.extend_from_slice(v),
        Array::I8(v) => each(buf, v, i8::to_le_bytes),
        Array::U16(v) => each(buf, v, u16::to_le_bytes),
        Array::I16(v) => each(buf, v, i16::to_le_bytes),
        Array::U32(v) => each(buf, v, u32::to_le_bytes),
        Array::I32(v) => each(buf, v, i32::to_le_bytes),
        Array::F32(v) => each(buf, v, f32::to_le_bytes),
        Array::Bool(v) => each(buf, v, |b| [u8::from(b)]),
        Array::String(v) => v.iter().for_each(|s| put_str(buf, s)),
        Array::Array(v) => v.iter().for_each(|a| put_array(buf, a)),
        Array::U64(v) => each(buf, v, u64::to_le_bytes),
        Array::I64(v) => each(buf, v, i64::to_le_bytes),
        Array::F64(v) => each(buf, v, f64::to_le_bytes),
    }
}
