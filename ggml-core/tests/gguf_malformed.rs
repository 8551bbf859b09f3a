//! Malformed GGUF corpus: files derived from one valid file, each broken in one way, must
//! each give the expected typed error and never panic.

use std::panic::{catch_unwind, AssertUnwindSafe};

use ggml_core::gguf::{GgufError, GgufFile, MAX_ARRAY_NESTING};

/// Value type ids, as on disk.
const T_U8: u32 = 0;
const T_U32: u32 = 4;
const T_STRING: u32 = 8;
const T_ARRAY: u32 = 9;
/// Tensor type ids.
const F32: u32 = 0;
const F16: u32 = 1;
const Q8_0: u32 = 8;

fn u32b(x: u32) -> Vec<u8> {
    x.to_le_bytes().to_vec()
}

fn u64b(x: u64) -> Vec<u8> {
    x.to_le_bytes().to_vec()
}

/// A string as GGUF stores it: u64 length, then the bytes.
fn strb(bytes: &[u8]) -> Vec<u8> {
    [u64b(bytes.len() as u64), bytes.to_vec()].concat()
}

/// An array value: element type, count, encoded elements.
fn arrayb(elem_ty: u32, count: u64, elems: &[u8]) -> Vec<u8> {
    [u32b(elem_ty), u64b(count), elems.to_vec()].concat()
}

#[derive(Clone)]
struct Kv {
    /// The key as encoded: length, bytes.
    key: Vec<u8>,
    ty: u32,
    value: Vec<u8>,
}

fn kv(key: &str, ty: u32, value: Vec<u8>) -> Kv {
    Kv {
        key: strb(key.as_bytes()),
        ty,
        value,
    }
}

#[derive(Clone)]
struct Ti {
    /// The name as encoded: length, bytes.
    name: Vec<u8>,
    n_dims: u32,
    dims: Vec<u64>,
    ty: u32,
    offset: u64,
}

fn ti(name: &str, dims: &[u64], ty: u32, offset: u64) -> Ti {
    Ti {
        name: strb(name.as_bytes()),
        n_dims: dims.len() as u32,
        dims: dims.to_vec(),
        ty,
        offset,
    }
}

/// A GGUF file described field by field, so any field can be made wrong.
#[derive(Clone)]
struct Spec {
    magic: [u8; 4],
    version: [u8; 4],
    n_tensors: Option<u64>,
    n_kv: Option<u64>,
    kvs: Vec<Kv>,
    tensors: Vec<Ti>,
    pad_to: u64,
    data: Vec<u8>,
}

impl Spec {
    /// A valid file: a few metadata entries (string, u32, string array, nested array) and
    /// three tensors (F32 [8] at 0, Q8_0 [32, 2] at 32, F16 [4, 4] at 128).
    fn valid() -> Spec {
        let tokens = [strb(b"a"), strb(b"bc")].concat();
        let nested = [arrayb(T_U8, 2, &[1, 2]), arrayb(T_U32, 1, &u32b(7))].concat();
        Spec {
            magic: *b"GGUF",
            version: 3u32.to_le_bytes(),
            n_tensors: None,
            n_kv: None,
            kvs: vec![
                kv("general.architecture", T_STRING, strb(b"llama")),
                kv("llama.block_count", T_U32, u32b(1)),
                kv(
                    "tokenizer.ggml.tokens",
                    T_ARRAY,
                    arrayb(T_STRING, 2, &tokens),
                ),
                kv("nested", T_ARRAY, arrayb(T_ARRAY, 2, &nested)),
            ],
            tensors: vec![
                ti("t0", &[8], F32, 0),
                ti("t1", &[32, 2], Q8_0, 32),
                ti("t2", &[4, 4], F16, 128),
            ],
            pad_to: 32,
            data: (0..160u8).collect(),
        }
    }

    fn header(&self) -> Vec<u8> {
        let mut out = [self.magic, self.version].concat();
        out.extend(u64b(self.n_tensors.unwrap_or(self.tensors.len() as u64)));
        out.extend(u64b(self.n_kv.unwrap_or(self.kvs.len() as u64)));
        for kv in &self.kvs {
            out.extend(&kv.key);
            out.extend(u32b(kv.ty));
            out.extend(&kv.value);
        }
        for t in &self.tensors {
            out.extend(&t.name);
            out.extend(u32b(t.n_dims));
            t.dims.iter().for_each(|&d| out.extend(u64b(d)));
            out.extend(u32b(t.ty));
            out.extend(u64b(t.offset));
        }
        out
    }

    fn build(&self) -> Vec<u8> {
        let mut out = self.header();
        out.resize((out.len() as u64).next_multiple_of(self.pad_to) as usize, 0);
        out.extend(&self.data);
        out
    }

    fn with(mut self, f: impl FnOnce(&mut Spec)) -> Spec {
        f(&mut self);
        self
    }
}

type Check = fn(&GgufError) -> bool;

/// Parses `bytes`, turning a panic into an error message.
fn parse(bytes: Vec<u8>) -> Result<Result<GgufFile, GgufError>, String> {
    catch_unwind(AssertUnwindSafe(|| GgufFile::from_bytes(bytes))).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

/// Checks every case, collecting failures so one run reports them all.
fn check_all(cases: Vec<(String, Vec<u8>, Check)>) {
    let mut failures = Vec::new();
    for (name, bytes, check) in cases {
        match parse(bytes) {
            Err(panic) => failures.push(format!("{name}: PANICKED: {panic}")),
            Ok(Ok(_)) => failures.push(format!("{name}: parsed without error")),
            Ok(Err(e)) if !check(&e) => failures.push(format!("{name}: wrong error: {e:?}")),
            Ok(Err(e)) => assert!(!e.to_string().is_empty()),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

macro_rules! case {
    ($name:expr, $spec:expr, $pat:pat $(if $guard:expr)?) => {
        (
            $name.to_string(),
            $spec,
            (|e: &GgufError| matches!(e, $pat $(if $guard)?)) as Check,
        )
    };
}

fn nested_arrays(depth: usize) -> Vec<u8> {
    (1..depth).fold(arrayb(T_U8, 0, &[]), |inner, _| arrayb(T_ARRAY, 1, &inner))
}

#[test]
fn the_base_file_is_valid() {
    let file = GgufFile::from_bytes(Spec::valid().build()).expect("base file parses");
    assert_eq!(file.architecture().unwrap(), "llama");
    assert_eq!(file.tensors().len(), 3);
    let t1 = file.tensor("t1").unwrap();
    assert_eq!(
        file.tensor_data(t1).unwrap(),
        &(32..100).collect::<Vec<u8>>()[..]
    );
    // The deepest accepted nesting still parses.
    let deep = Spec::valid().with(|s| {
        s.kvs
            .push(kv("deep", T_ARRAY, nested_arrays(MAX_ARRAY_NESTING)))
    });
    GgufFile::from_bytes(deep.build()).expect("nesting at the limit parses");
}

#[test]
fn every_malformed_file_gives_its_typed_error() {
    use GgufError as E;
    let v = Spec::valid;
    let bad_utf8 = vec![b'k', 0xff, 0xfe];
    let cases = vec![
        case!(
            "empty file",
            vec![],
            E::Truncated {
                what: "magic",
                offset: 0,
                ..
            }
        ),
        case!(
            "bad magic",
            v().with(|s| s.magic = *b"GGUX").build(),
            E::BadMagic {
                found: [b'G', b'G', b'U', b'X']
            }
        ),
        case!(
            "lower-case magic",
            v().with(|s| s.magic = *b"gguf").build(),
            E::BadMagic { .. }
        ),
        case!(
            "version 1",
            v().with(|s| s.version = 1u32.to_le_bytes()).build(),
            E::UnsupportedVersion { version: 1 }
        ),
        case!(
            "version 4",
            v().with(|s| s.version = 4u32.to_le_bytes()).build(),
            E::UnsupportedVersion { version: 4 }
        ),
        case!(
            "version 0",
            v().with(|s| s.version = [0; 4]).build(),
            E::UnsupportedVersion { version: 0 }
        ),
        case!(
            "big-endian v3",
            v().with(|s| s.version = 3u32.to_be_bytes()).build(),
            E::BigEndian { raw: 0x0300_0000 }
        ),
        case!(
            "big-endian v2",
            v().with(|s| s.version = 2u32.to_be_bytes()).build(),
            E::BigEndian { .. }
        ),
        case!(
            "absurd tensor count",
            v().with(|s| s.n_tensors = Some(u64::MAX)).build(),
            E::CountTooLarge {
                what: "tensor count",
                ..
            }
        ),
        case!(
            "tensor count beyond file",
            v().with(|s| s.n_tensors = Some(1 << 40)).build(),
            E::CountTooLarge {
                what: "tensor count",
                ..
            }
        ),
        case!(
            "absurd metadata count",
            v().with(|s| s.n_kv = Some(u64::MAX / 2)).build(),
            E::CountTooLarge {
                what: "metadata key count",
                ..
            }
        ),
        case!(
            "absurd key length",
            v().with(|s| s.kvs[1].key = u64b(u64::MAX)).build(),
            E::Truncated {
                what: "metadata key",
                ..
            }
        ),
        case!(
            "absurd string value length",
            v().with(|s| s.kvs[0].value = u64b(u64::MAX - 3)).build(),
            E::Truncated {
                what: "metadata string value",
                ..
            }
        ),
        case!(
            "string value longer than file",
            v().with(|s| s.kvs[0].value = [u64b(1 << 20), b"llama".to_vec()].concat())
                .build(),
            E::Truncated {
                what: "metadata string value",
                ..
            }
        ),
        case!(
            "absurd u32 array length",
            v().with(|s| s.kvs[2].value = arrayb(T_U32, 1 << 60, &[]))
                .build(),
            E::CountTooLarge {
                what: "array length",
                ..
            }
        ),
        case!(
            "absurd string array length",
            v().with(|s| s.kvs[2].value = arrayb(T_STRING, u64::MAX, &[]))
                .build(),
            E::CountTooLarge {
                what: "array length",
                ..
            }
        ),
        case!(
            "array of arrays too long for file",
            v().with(|s| s.kvs[3].value = arrayb(T_ARRAY, 1000, &[]))
                .build(),
            E::CountTooLarge {
                what: "array length",
                ..
            }
        ),
        case!(
            "absurd inner array length",
            v().with(|s| s.kvs[3].value = arrayb(T_ARRAY, 1, &arrayb(T_U8, u64::MAX, &[])))
                .build(),
            E::CountTooLarge {
                what: "array length",
                ..
            }
        ),
        case!(
            "absurd string in array",
            v().with(|s| s.kvs[2].value = arrayb(T_STRING, 1, &u64b(u64::MAX)))
                .build(),
            E::Truncated {
                what: "metadata string array element",
                ..
            }
        ),
        case!(
            "arrays nested too deep",
            v().with(|s| s.kvs[3].value = nested_arrays(MAX_ARRAY_NESTING + 1))
                .build(),
            E::NestingTooDeep { .. }
        ),
        case!("unknown value type", v().with(|s| s.kvs[1].ty = 13).build(), E::UnknownValueType { type_id: 13, key, .. } if key == "llama.block_count"),
        case!(
            "unknown array element type",
            v().with(|s| s.kvs[2].value = arrayb(99, 0, &[])).build(),
            E::UnknownValueType { type_id: 99, .. }
        ),
        case!(
            "invalid UTF-8 key",
            v().with(|s| s.kvs[1].key = strb(&bad_utf8)).build(),
            E::InvalidUtf8 {
                what: "metadata key",
                ..
            }
        ),
        case!(
            "invalid UTF-8 string value",
            v().with(|s| s.kvs[0].value = strb(&[0xc3, 0x28])).build(),
            E::InvalidUtf8 {
                what: "metadata string value",
                ..
            }
        ),
        case!(
            "invalid UTF-8 in string array",
            v().with(|s| s.kvs[2].value = arrayb(T_STRING, 1, &strb(&[0xed, 0xa0, 0x80])))
                .build(),
            E::InvalidUtf8 {
                what: "metadata string array element",
                ..
            }
        ),
        case!(
            "invalid UTF-8 tensor name",
            v().with(|s| s.tensors[1].name = strb(&bad_utf8)).build(),
            E::InvalidUtf8 {
                what: "tensor name",
                ..
            }
        ),
        case!("duplicate key", v().with(|s| s.kvs[3].key = strb(b"llama.block_count")).build(), E::DuplicateKey { key, .. } if key == "llama.block_count"),
        case!("duplicate tensor name", v().with(|s| s.tensors[2].name = strb(b"t0")).build(), E::DuplicateTensor { name, .. } if name == "t0"),
        case!(
            "alignment 0",
            v().with(|s| s.kvs.push(kv("general.alignment", T_U32, u32b(0))))
                .build(),
            E::BadAlignment { value: 0 }
        ),
        case!(
            "alignment 48",
            v().with(|s| s.kvs.push(kv("general.alignment", T_U32, u32b(48))))
                .build(),
            E::BadAlignment { value: 48 }
        ),
        case!("alignment a string", v().with(|s| s.kvs.push(kv("general.alignment", T_STRING, strb(b"32")))).build(), E::TypeMismatch { key, .. } if key == "general.alignment"),
        case!(
            "alignment 64 with 32-aligned tensors",
            v().with(|s| {
                s.kvs.push(kv("general.alignment", T_U32, u32b(64)));
                s.pad_to = 64
            })
            .build(),
            E::MisalignedTensor {
                alignment: 64,
                offset: 32,
                ..
            }
        ),
        case!(
            "0 dimensions",
            v().with(|s| s.tensors[0] = ti("t0", &[], F32, 0)).build(),
            E::BadDimCount { n_dims: 0, .. }
        ),
        case!(
            "5 dimensions",
            v().with(|s| s.tensors[0] = ti("t0", &[8, 1, 1, 1, 1], F32, 0))
                .build(),
            E::BadDimCount { n_dims: 5, .. }
        ),
        case!(
            "u32::MAX dimensions",
            v().with(|s| s.tensors[0].n_dims = u32::MAX).build(),
            E::BadDimCount {
                n_dims: u32::MAX,
                ..
            }
        ),
        case!(
            "dimension above i64::MAX",
            v().with(|s| s.tensors[0].dims = vec![u64::MAX]).build(),
            E::ShapeOverflow { .. }
        ),
        case!("element count overflows", v().with(|s| s.tensors[0] = ti("t0", &[1 << 32, 1 << 32, 4], F32, 0)).build(), E::ShapeOverflow { name, .. } if name == "t0"),
        case!(
            "byte size overflows",
            v().with(|s| s.tensors[0] = ti("t0", &[1 << 31, 1 << 31], F32, 0))
                .build(),
            E::ShapeOverflow { .. }
        ),
        case!("huge tensor", v().with(|s| s.tensors[2].dims = vec![1 << 20, 1 << 20]).build(), E::TensorOutOfBounds { name, .. } if name == "t2"),
        case!(
            "partial quant block",
            v().with(|s| s.tensors[1].dims = vec![31, 2]).build(),
            E::PartialBlock {
                ne0: 31,
                block_size: 32,
                ..
            }
        ),
        case!("removed type id 4", v().with(|s| s.tensors[1].ty = 4).build(), E::UnknownTensorType { type_id: 4, name } if name == "t1"),
        case!(
            "unknown type id 1000",
            v().with(|s| s.tensors[2].ty = 1000).build(),
            E::UnknownTensorType { type_id: 1000, .. }
        ),
        case!(
            "misaligned offset",
            v().with(|s| s.tensors[1].offset = 36).build(),
            E::MisalignedTensor {
                offset: 36,
                alignment: 32,
                ..
            }
        ),
        case!("overlapping tensors", v().with(|s| s.tensors[2].offset = 64).build(), E::TensorOverlap { first, second, offset: 64 } if first == "t1" && second == "t2"),
        case!(
            "same offset twice",
            v().with(|s| s.tensors[1].offset = 0).build(),
            E::TensorOverlap { .. }
        ),
        case!(
            "offset past the end",
            v().with(|s| s.tensors[2].offset = 1 << 20).build(),
            E::TensorOutOfBounds {
                offset: 1_048_576,
                ..
            }
        ),
        case!(
            "offset wraps around",
            v().with(|s| s.tensors[2].offset = u64::MAX - 31).build(),
            E::TensorOutOfBounds { .. }
        ),
        case!("data one byte short", v().with(|s| { s.data.pop(); }).build(), E::TensorOutOfBounds { name, .. } if name == "t2"),
        case!(
            "no data section",
            Spec::valid().header(),
            E::TensorOutOfBounds { .. }
        ),
        case!(
            "absurd tensor name length",
            v().with(|s| s.tensors[0].name = u64b(u64::MAX - 7)).build(),
            E::Truncated {
                what: "tensor name",
                ..
            }
        ),
    ];
    assert!(cases.len() >= 30, "corpus has {} files", cases.len());
    check_all(cases);
}

/// Truncating the valid file anywhere gives an error: inside the header a truncation or
/// impossible count, inside the data section a tensor past the end.
#[test]
fn truncation_at_every_offset_is_an_error() {
    let spec = Spec::valid();
    let full = spec.build();
    let header_len = spec.header().len();
    let mut cases = Vec::new();
    for len in 0..full.len() {
        let check: Check = if len < header_len {
            |e| {
                matches!(
                    e,
                    GgufError::Truncated { .. } | GgufError::CountTooLarge { .. }
                )
            }
        } else {
            |e| matches!(e, GgufError::TensorOutOfBounds { .. })
        };
        cases.push((format!("truncated at {len}"), full[..len].to_vec(), check));
    }
    check_all(cases);
}

/// Inputs the fuzzer found that once broke the reader, with what they must give now.
#[test]
fn fuzz_regressions() {
    // An empty tensor placed past the end of an unpadded file: valid, with empty data
    // (tensor_data used to fail on it).
    // One F32 tensor of shape [0] at offset 0, nine stray bytes after the header.
    const EMPTY_TENSOR_PAST_END: &[u8] = b"GGUF\x03\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\
        \x00\x00\x00\x00\x00\x00\x00\x00\x0b\x00\x00\x00\x00\x00\x00\x00\x01\x03\x00\x00\x00\
        \x00\x00\x00\x00\x00f\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\
        \x00\x00\x00\x00\x00\x00\x00\x00\x09lla\x00\x00\x00\x00\x00";
    let file = parse(EMPTY_TENSOR_PAST_END.to_vec()).unwrap().unwrap();
    let t = &file.tensors()[0];
    assert!(file.data_offset() > file.file_size());
    assert_eq!(file.tensor_data(t).unwrap(), &[] as &[u8]);
}
