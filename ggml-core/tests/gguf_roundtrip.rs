//! GGUF writer round trips: what the writer writes, the reader (from memory and through
//! mmap) and gguf-py read back identically; writer misuse is a typed error.

mod gguf_common;

use std::fs::File;
use std::io::BufWriter;

use ggml_core::gguf::{keys, Array, GgufError, GgufFile, GgufWriter, Metadata, Value};
use ggml_core::GgmlType;

/// Metadata holding every value type, nested and empty arrays included.
fn every_value_type() -> Metadata {
    let mut m = Metadata::new();
    m.insert(keys::general::ARCHITECTURE, Value::String("llama".into()));
    m.insert("t.u8", Value::U8(250));
    m.insert("t.i8", Value::I8(-100));
    m.insert("t.u16", Value::U16(65000));
    m.insert("t.i16", Value::I16(-32000));
    m.insert("t.u32", Value::U32(4_000_000_000));
    m.insert("t.i32", Value::I32(-2_000_000_000));
    m.insert("t.f32", Value::F32(1.5e-5));
    m.insert("t.bool", Value::Bool(true));
    m.insert("t.string", Value::String("héllo ✓".into()));
    m.insert("t.u64", Value::U64(u64::MAX));
    m.insert("t.i64", Value::I64(i64::MIN));
    m.insert("t.f64", Value::F64(-2.25));
    m.insert("a.u8", Value::Array(Array::U8(vec![1, 2, 3])));
    m.insert("a.i8", Value::Array(Array::I8(vec![-1, 2])));
    m.insert("a.u16", Value::Array(Array::U16(vec![1, 65535])));
    m.insert("a.i16", Value::Array(Array::I16(vec![-5, 5])));
    m.insert("a.u32", Value::Array(Array::U32(vec![7, 8, 9])));
    m.insert("a.i32", Value::Array(Array::I32(vec![-7, 0, 7])));
    m.insert("a.f32", Value::Array(Array::F32(vec![0.5, -0.25])));
    m.insert("a.bool", Value::Array(Array::Bool(vec![true, false, true])));
    let tokens = vec!["<s>".to_string(), "▁the".to_string(), String::new()];
    m.insert("a.string", Value::Array(Array::String(tokens)));
    m.insert("a.u64", Value::Array(Array::U64(vec![u64::MAX, 0])));
    m.insert("a.i64", Value::Array(Array::I64(vec![i64::MIN, 1])));
    m.insert("a.f64", Value::Array(Array::F64(vec![1e300, -1e-300])));
    m.insert("a.empty", Value::Array(Array::F32(vec![])));
    let nested = Array::Array(vec![
        Array::I32(vec![1, 2]),
        Array::I32(vec![3]),
        Array::Array(vec![Array::I32(vec![4])]),
    ]);
    m.insert("a.nested", Value::Array(nested));
    m
}

/// Tensors of several types and ranks, with distinct data.
fn tensors() -> Vec<(&'static str, GgmlType, Vec<u64>)> {
    vec![
        ("f32.1d", GgmlType::F32, vec![5]),
        ("f16.2d", GgmlType::F16, vec![3, 2]),
        ("q8_0.3d", GgmlType::Q8_0, vec![64, 2, 2]),
        ("q4_k.4d", GgmlType::Q4_K, vec![256, 1, 2, 1]),
        ("bf16.row", GgmlType::BF16, vec![7]),
        ("f32.empty", GgmlType::F32, vec![0, 3]),
    ]
}

fn tensor_bytes(index: usize, n: u64) -> Vec<u8> {
    (0..n)
        .map(|i| (i as usize * 31 + index * 7) as u8)
        .collect()
}

/// Writes the test file to `out` through the streaming writer.
fn write<W: std::io::Write>(metadata: Metadata, out: W) -> W {
    let mut w = GgufWriter::with_metadata(metadata);
    for (name, ty, shape) in tensors() {
        w.add_tensor(name, ty, &shape).unwrap();
    }
    let mut data = w.begin(out).unwrap();
    let mut i = 0;
    while let Some(t) = data.next_tensor() {
        let bytes = tensor_bytes(i, t.n_bytes());
        data.write_tensor(&bytes).unwrap();
        i += 1;
    }
    data.finish().unwrap()
}

fn check_read_back(file: &GgufFile, metadata: &Metadata, alignment: u64) {
    assert_eq!(file.version(), 3);
    assert_eq!(file.metadata(), metadata);
    let keys: Vec<_> = file.metadata().iter().map(|(k, _)| k).collect();
    let expected: Vec<_> = metadata.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, expected, "metadata keeps file order");
    assert_eq!(file.alignment(), alignment);
    assert_eq!(file.data_offset() % alignment, 0);
    assert_eq!(file.tensors().len(), tensors().len());
    for (i, ((name, ty, shape), t)) in tensors().into_iter().zip(file.tensors()).enumerate() {
        assert_eq!((t.name(), t.ty(), t.shape()), (name, ty, &shape[..]));
        assert_eq!(t.offset() % alignment, 0, "{name} is aligned");
        assert_eq!(ty.bytes_for(t.n_elements()), Some(t.n_bytes()));
        let data = file.tensor_data(t).unwrap();
        assert_eq!(data, tensor_bytes(i, t.n_bytes()), "{name} data");
    }
    assert_eq!(file.file_size() % alignment, 0, "the file ends padded");
}

#[test]
fn write_then_read_from_memory_is_identical() {
    let metadata = every_value_type();
    let bytes = write(metadata.clone(), Vec::new());
    let file = GgufFile::from_bytes(bytes).unwrap();
    check_read_back(&file, &metadata, 32);
    assert_eq!(file.architecture().unwrap(), "llama");
    let nested = file.metadata().get_as::<&Array>("a.nested").unwrap();
    assert_eq!(nested.len(), 3);
}

#[test]
fn custom_alignment_round_trips() {
    let mut metadata = every_value_type();
    metadata.insert(keys::general::ALIGNMENT, Value::U32(256));
    let file = GgufFile::from_bytes(write(metadata.clone(), Vec::new())).unwrap();
    check_read_back(&file, &metadata, 256);
}

#[test]
fn write_to_disk_then_mmap_and_gguf_py_agree() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roundtrip.gguf");
    let metadata = every_value_type();
    write(
        metadata.clone(),
        BufWriter::new(File::create(&path).unwrap()),
    );
    let file = GgufFile::open(&path).unwrap();
    check_read_back(&file, &metadata, 32);

    let py = gguf_common::gguf_py_dump(&path);
    assert_eq!(py["data_offset"], file.data_offset());
    let fields = py["fields"].as_array().unwrap();
    let py_keys: Vec<_> = fields.iter().map(|f| f[0].as_str().unwrap()).collect();
    let keys: Vec<_> = metadata.iter().map(|(k, _)| k).collect();
    assert_eq!(py_keys, keys);
    let value = |key: &str| &fields.iter().find(|f| f[0] == key).unwrap()[1];
    assert_eq!(value("t.string"), "héllo ✓");
    assert_eq!(value("t.u64"), u64::MAX);
    assert_eq!(value("t.i64"), i64::MIN);
    assert_eq!(value("t.f32"), 1.5e-5f32 as f64);
    assert_eq!(value("t.bool"), true);
    assert_eq!(value("a.string"), &serde_json::json!(["<s>", "▁the", ""]));
    assert_eq!(value("a.i16"), &serde_json::json!([-5, 5]));
    assert_eq!(value("a.bool"), &serde_json::json!([true, false, true]));
    // gguf-py flattens nested arrays.
    assert_eq!(value("a.nested"), &serde_json::json!([1, 2, 3, 4]));
    let py_tensors = py["tensors"].as_array().unwrap();
    assert_eq!(py_tensors.len(), file.tensors().len());
    for (p, t) in py_tensors.iter().zip(file.tensors()) {
        assert_eq!(p["name"], t.name());
        assert_eq!(p["type"], t.ty().id());
        // gguf-py's reader lists tensor dims in ggml order, like ours.
        assert_eq!(p["shape"], serde_json::json!(t.shape()), "{}", t.name());
        assert_eq!(p["offset"], file.data_offset() + t.offset());
        let hex: String = file
            .tensor_data(t)
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(p["data_hex"], hex, "{} data", t.name());
    }
}

#[test]
fn writer_misuse_is_a_typed_error() {
    let mut w = GgufWriter::new();
    w.add_tensor("a", GgmlType::F32, &[4]).unwrap();
    assert!(matches!(
        w.add_tensor("a", GgmlType::F32, &[4]),
        Err(GgufError::DuplicateTensor { .. })
    ));
    assert!(matches!(
        w.add_tensor("b", GgmlType::Q4_0, &[16]),
        Err(GgufError::PartialBlock { .. })
    ));
    assert!(matches!(
        w.add_tensor("c", GgmlType::F32, &[1, 1, 1, 1, 1]),
        Err(GgufError::BadDimCount { n_dims: 5, .. })
    ));
    assert!(matches!(
        w.add_tensor("c", GgmlType::F32, &[]),
        Err(GgufError::BadDimCount { n_dims: 0, .. })
    ));
    w.add_tensor("d", GgmlType::F32, &[2]).unwrap();

    let mut data = w.clone().begin(Vec::new()).unwrap();
    assert!(matches!(
        data.write_tensor(&[0; 15]),
        Err(GgufError::TensorSizeMismatch {
            expected: 16,
            actual: 15,
            ..
        })
    ));
    data.write_tensor(&[0; 16]).unwrap();
    assert!(matches!(
        data.finish(),
        Err(GgufError::TensorCountMismatch {
            expected: 2,
            written: 1
        })
    ));

    let mut data = w.clone().begin(Vec::new()).unwrap();
    data.write_tensor(&[0; 16]).unwrap();
    data.write_tensor(&[0; 8]).unwrap();
    assert!(matches!(
        data.write_tensor(&[0; 8]),
        Err(GgufError::TensorCountMismatch { .. })
    ));

    let mut bad = w;
    bad.metadata_mut()
        .insert(keys::general::ALIGNMENT, Value::U32(24));
    assert!(matches!(
        bad.begin(Vec::new()),
        Err(GgufError::BadAlignment { value: 24 })
    ));
}

#[test]
fn open_refuses_missing_files_directories_and_empty_files() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        GgufFile::open(dir.path().join("missing.gguf")),
        Err(GgufError::Open { .. })
    ));
    assert!(matches!(
        GgufFile::open(dir.path()),
        Err(GgufError::NotAFile { .. })
    ));
    let empty = dir.path().join("empty.gguf");
    File::create(&empty).unwrap();
    assert!(matches!(
        GgufFile::open(&empty),
        Err(GgufError::Truncated { what: "magic", .. })
    ));
}
