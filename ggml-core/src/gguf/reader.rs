//! Parsing a GGUF header from bytes: magic, version, metadata, tensor infos and the data
//! section base, with every count, length, offset and shape checked against the file size.

use std::collections::HashMap;

use super::error::GgufError;
use super::value::{Array, Metadata, Value, ValueType};
use super::{alignment_of, TensorInfo};
use crate::GgmlType;

/// The four bytes every GGUF file starts with.
pub(crate) const MAGIC: [u8; 4] = *b"GGUF";

/// Deepest array nesting accepted (an array of arrays is depth 2).
pub const MAX_ARRAY_NESTING: usize = 8;

/// Most entries reserved ahead of parsing them. Counts are already bounded by the file
/// size, but an in-memory entry is several times larger than its smallest encoding, so a
/// hostile count in a large file still only grows the tables as entries actually parse.
const MAX_PREALLOC: usize = 1 << 12;

/// Fewest bytes one metadata entry takes: key length, value type, a one-byte value.
const MIN_KV_SIZE: usize = 8 + 4 + 1;
/// Fewest bytes one tensor info takes: name length, n_dims, type, offset.
const MIN_TENSOR_INFO_SIZE: usize = 8 + 4 + 4 + 8;

/// Everything the header says, checked against the file it came from.
pub(crate) struct Header {
    pub version: u32,
    pub metadata: Metadata,
    pub tensors: Vec<TensorInfo>,
    pub by_name: HashMap<String, usize>,
    pub alignment: u64,
    pub data_offset: u64,
}

/// A bounds-checked little-endian reader over the file bytes.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn offset(&self) -> u64 {
        self.pos as u64
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], GgufError> {
        let truncated = || GgufError::Truncated {
            what,
            offset: self.pos as u64,
            needed: n as u64,
            file_len: self.buf.len() as u64,
        };
        let end = self.pos.checked_add(n).ok_or_else(truncated)?;
        let bytes = self.buf.get(self.pos..end).ok_or_else(truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], GgufError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, GgufError> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, GgufError> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// Reads a u64 count of items of at least `min_size` bytes each, refusing counts the
    /// rest of the file cannot hold (so nothing is allocated for them).
    fn count(&mut self, what: &'static str, min_size: usize) -> Result<usize, GgufError> {
        let offset = self.offset();
        let count = self.u64(what)?;
        let remaining = self.remaining();
        match usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(min_size))
        {
            Some(bytes) if bytes <= remaining => Ok(count as usize),
            _ => Err(GgufError::CountTooLarge {
                what,
                count,
                offset,
                remaining: remaining as u64,
            }),
        }
    }

    fn string(&mut self, what: &'static str) -> Result<String, GgufError> {
        let len_offset = self.offset();
        let len = self.u64(what)?;
        let len = usize::try_from(len).map_err(|_| GgufError::Truncated {
            what,
            offset: len_offset + 8,
            needed: len,
            file_len: self.buf.len() as u64,
        })?;
        let offset = self.offset();
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| GgufError::InvalidUtf8 { what, offset })
    }

    /// Reads `count` fixed-size elements, converting each from its little-endian bytes.
    fn elements<T, const N: usize>(
        &mut self,
        count: usize,
        convert: fn([u8; N]) -> T,
    ) -> Result<Vec<T>, GgufError> {
        // `count` was checked against the remaining bytes, so this cannot overflow.
        let bytes = self.take(count * N, "array elements")?;
        Ok(bytes
            .chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                convert(a)
            })
            .collect())
    }

    fn value_type(&mut self, key: &str) -> Result<ValueType, GgufError> {
        let offset = self.offset();
        let type_id = self.u32("metadata value type")?;
        ValueType::from_id(type_id).ok_or_else(|| GgufError::UnknownValueType {
            key: key.to_owned(),
            type_id,
            offset,
        })
    }

    fn value(&mut self, key: &str, ty: ValueType) -> Result<Value, GgufError> {
        const WHAT: &str = "metadata value";
        Ok(match ty {
            ValueType::U8 => Value::U8(u8::from_le_bytes(self.array(WHAT)?)),
            ValueType::I8 => Value::I8(i8::from_le_bytes(self.array(WHAT)?)),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.array(WHAT)?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.array(WHAT)?)),
            ValueType::U32 => Value::U32(u32::from_le_bytes(self.array(WHAT)?)),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.array(WHAT)?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.array(WHAT)?)),
            ValueType::Bool => Value::Bool(self.array::<1>(WHAT)?[0] != 0),
            ValueType::String => Value::String(self.string("metadata string value")?),
            ValueType::Array => Value::Array(self.array_value(key, 1)?),
            ValueType::U64 => Value::U64(u64::from_le_bytes(self.array(WHAT)?)),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.array(WHAT)?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.array(WHAT)?)),
        })
    }

    fn array_value(&mut self, key: &str, depth: usize) -> Result<Array, GgufError> {
        if depth > MAX_ARRAY_NESTING {
            return Err(GgufError::NestingTooDeep {
                key: key.to_owned(),
                max: MAX_ARRAY_NESTING,
                offset: self.offset(),
            });
        }
        let ty = self.value_type(key)?;
        let n = self.count("array length", ty.min_encoded_size())?;
        Ok(match ty {
            ValueType::U8 => Array::U8(self.elements(n, u8::from_le_bytes)?),
            ValueType::I8 => Array::I8(self.elements(n, i8::from_le_bytes)?),
            ValueType::U16 => Array::U16(self.elements(n, u16::from_le_bytes)?),
            ValueType::I16 => Array::I16(self.elements(n, i16::from_le_bytes)?),
            ValueType::U32 => Array::U32(self.elements(n, u32::from_le_bytes)?),
            ValueType::I32 => Array::I32(self.elements(n, i32::from_le_bytes)?),
            ValueType::F32 => Array::F32(self.elements(n, f32::from_le_bytes)?),
            ValueType::Bool => Array::Bool(self.elements(n, |[b]: [u8; 1]| b != 0)?),
            ValueType::U64 => Array::U64(self.elements(n, u64::from_le_bytes)?),
            ValueType::I64 => Array::I64(self.elements(n, i64::from_le_bytes)?),
            ValueType::F64 => Array::F64(self.elements(n, f64::from_le_bytes)?),
            ValueType::String => Array::String(
                (0..n)
                    .map(|_| self.string("metadata string array element"))
                    .collect::<Result<_, _>>()?,
            ),
            ValueType::Array => Array::Array(
                (0..n)
                    .map(|_| self.array_value(key, depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    fn tensor_info(&mut self) -> Result<TensorInfo, GgufError> {
        let name = self.string("tensor name")?;
        let n_dims = self.u32("tensor dimension count")?;
        if !(1..=4).contains(&n_dims) {
            return Err(GgufError::BadDimCount { name, n_dims });
        }
        let shape = (0..n_dims)
            .map(|_| self.u64("tensor dimension"))
            .collect::<Result<Vec<_>, _>>()?;
        let type_id = self.u32("tensor type")?;
        let Some(ty) = GgmlType::from_id(type_id) else {
            return Err(GgufError::UnknownTensorType { name, type_id });
        };
        let offset = self.u64("tensor data offset")?;
        TensorInfo::new(name, ty, shape, offset)
    }
}

/// Checks the magic and version at the start of `buf`, returning the version.
fn read_preamble(cur: &mut Cursor<'_>) -> Result<u32, GgufError> {
    let magic: [u8; 4] = cur.array("magic")?;
    if magic != MAGIC {
        return Err(GgufError::BadMagic { found: magic });
    }
    let version = cur.u32("version")?;
    match version {
        2 | 3 => Ok(version),
        // A big-endian writer stores a small version in the high bytes.
        v if v > 0xFFFF && v.swap_bytes() <= 0xFFFF => Err(GgufError::BigEndian { raw: v }),
        v => Err(GgufError::UnsupportedVersion { version: v }),
    }
}

/// Parses and validates the header of the GGUF file held in `buf`.
pub(crate) fn parse(buf: &[u8]) -> Result<Header, GgufError> {
    let mut cur = Cursor { buf, pos: 0 };
    let version = read_preamble(&mut cur)?;
    let n_tensors = cur.count("tensor count", MIN_TENSOR_INFO_SIZE)?;
    let n_kv = cur.count("metadata key count", MIN_KV_SIZE)?;

    let mut metadata = Metadata::with_capacity(n_kv.min(MAX_PREALLOC));
    for _ in 0..n_kv {
        let key_offset = cur.offset();
        let key = cur.string("metadata key")?;
        if metadata.contains_key(&key) {
            return Err(GgufError::DuplicateKey {
                key,
                offset: key_offset,
            });
        }
        let ty = cur.value_type(&key)?;
        let value = cur.value(&key, ty)?;
        metadata.insert(key, value);
    }
    let alignment = alignment_of(&metadata)?;

    let mut tensors = Vec::with_capacity(n_tensors.min(MAX_PREALLOC));
    let mut by_name = HashMap::with_capacity(n_tensors.min(MAX_PREALLOC));
    for i in 0..n_tensors {
        let info_offset = cur.offset();
        let info = cur.tensor_info()?;
        if by_name.contains_key(info.name()) {
            return Err(GgufError::DuplicateTensor {
                name: info.name().to_owned(),
                offset: info_offset,
            });
        }
        by_name.insert(info.name().to_owned(), i);
        tensors.push(info);
    }

    let header_end = cur.offset();
    let data_offset = header_end
        .checked_next_multiple_of(alignment)
        .ok_or(GgufError::BadAlignment { value: alignment })?;
    let data_len = (buf.len() as u64).saturating_sub(data_offset);
    check_tensor_placement(&tensors, alignment, data_len)?;

    Ok(Header {
        version,
        metadata,
        tensors,
        by_name,
        alignment,
        data_offset,
    })
}

/// Checks that every tensor's data is aligned, inside the data section and overlaps no
/// other tensor's data.
fn check_tensor_placement(
    tensors: &[TensorInfo],
    alignment: u64,
    data_len: u64,
) -> Result<(), GgufError> {
    for t in tensors {
        if t.offset() % alignment != 0 {
            return Err(GgufError::MisalignedTensor {
                name: t.name().to_owned(),
                offset: t.offset(),
                alignment,
            });
        }
        if t.offset()
            .checked_add(t.n_bytes())
            .is_none_or(|end| end > data_len)
        {
            return Err(GgufError::TensorOutOfBounds {
                name: t.name().to_owned(),
                offset: t.offset(),
                n_bytes: t.n_bytes(),
                data_len,
            });
        }
    }
    let mut order: Vec<&TensorInfo> = tensors.iter().filter(|t| t.n_bytes() > 0).collect();
    order.sort_by_key(|t| t.offset());
    for pair in order.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        // Sorted by start, so overlap means the second starts before the first ends;
        // ends were checked for overflow above.
        if b.offset() < a.offset() + a.n_bytes() {
            return Err(GgufError::TensorOverlap {
                first: a.name().to_owned(),
                second: b.name().to_owned(),
                offset: b.offset(),
            });
        }
    }
    Ok(())
}
