//! Fuzz target: arbitrary bytes into the GGUF reader; every accepted file is walked in full
//! (metadata, typed getters, tensor data) and must survive a write → read round trip.
//! Run: `cargo xtask fuzz run gguf_reader SECONDS` (makes the seed with
//! `fuzz/make_seed.py`, builds with libFuzzer's instrumentation on stable Rust).
#![no_main]

use ggml_core::gguf::{GgufFile, GgufWriter, Metadata};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = GgufFile::from_bytes(data.to_vec()) else {
        return;
    };
    walk_metadata(file.metadata());
    let _ = file.architecture();
    for t in file.tensors() {
        let bytes = file.tensor_data(t).expect("a validated tensor has data");
        assert_eq!(bytes.len() as u64, t.n_bytes());
        assert_eq!(file.tensor(t.name()), Some(t));
    }
    round_trip(&file);
});

fn walk_metadata(m: &Metadata) {
    for (key, value) in m.iter() {
        assert!(m.get(key) == Some(value) || format!("{value:?}").contains("NaN"));
        let _ = m.get_u32(key);
        let _ = m.get_u64(key);
        let _ = m.get_i32(key);
        let _ = m.get_f32(key);
        let _ = m.get_bool(key);
        let _ = m.get_str(key);
        let _ = m.get_str_array(key);
        let _ = m.get_f32_array(key);
        let _ = m.get_i32_array(key);
    }
}

/// Writes the file back out and checks the copy reads back the same.
fn round_trip(file: &GgufFile) {
    let mut w = GgufWriter::with_metadata(file.metadata().clone());
    for t in file.tensors() {
        w.add_tensor(t.name(), t.ty(), t.shape())
            .expect("valid tensor");
    }
    let mut out = w.begin(Vec::new()).expect("header writes");
    for t in file.tensors() {
        out.write_tensor(file.tensor_data(t).expect("data"))
            .expect("tensor writes");
    }
    let bytes = out.finish().expect("finish");
    let copy = GgufFile::from_bytes(bytes).expect("a written file reads back");
    assert_eq!(
        format!("{:?}", copy.metadata().iter().collect::<Vec<_>>()),
        format!("{:?}", file.metadata().iter().collect::<Vec<_>>())
    );
    assert_eq!(copy.tensors().len(), file.tensors().len());
    for (a, b) in copy.tensors().iter().zip(file.tensors()) {
        assert_eq!((a.name(), a.ty(), a.shape()), (b.name(), b.ty(), b.shape()));
        assert_eq!(copy.tensor_data(a).ok(), file.tensor_data(b).ok());
    }
}
