//! The GGUF reader on the real test models: known facts, and agreement with gguf-py on
//! every metadata key and every tensor's name, type, shape and offset.

mod gguf_common;

use ggml_core::gguf::{keys, GgufFile};
use ggml_core::GgmlType;

/// Opens `file` and checks it against gguf-py's reading of it.
fn open_and_compare(file: &str) -> GgufFile {
    let path = gguf_common::model_path(file);
    let gguf = GgufFile::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let py = gguf_common::gguf_py_dump(&path);

    assert_eq!(py["data_offset"], gguf.data_offset());
    let py_keys: Vec<&str> = py["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f[0].as_str().unwrap())
        .collect();
    let keys: Vec<&str> = gguf.metadata().iter().map(|(k, _)| k).collect();
    assert_eq!(keys, py_keys);

    let py_tensors = py["tensors"].as_array().unwrap();
    assert_eq!(py_tensors.len(), gguf.tensors().len());
    for (p, t) in py_tensors.iter().zip(gguf.tensors()) {
        let name = t.name();
        assert_eq!(p["name"], name);
        assert_eq!(p["type"], t.ty().id(), "{name} type");
        assert_eq!(p["shape"], serde_json::json!(t.shape()), "{name} shape");
        assert_eq!(
            p["offset"],
            gguf.data_offset() + t.offset(),
            "{name} offset"
        );
        assert_eq!(gguf.tensor_data(t).unwrap().len() as u64, t.n_bytes());
    }
    gguf
}

#[test]
fn smollm2_matches_gguf_py_and_known_facts() {
    let f = open_and_compare("SmolLM2-135M-Instruct.Q4_1.gguf");
    assert_eq!(f.version(), 3);
    assert_eq!(f.architecture().unwrap(), "llama");
    assert_eq!(f.tensors().len(), 272);
    assert_eq!(f.alignment(), 32);
    let m = f.metadata();
    let key = |suffix| keys::arch_key("llama", suffix);
    assert_eq!(m.get_u32(&key(keys::arch::BLOCK_COUNT)).unwrap(), 30);
    assert_eq!(m.get_u32(&key(keys::arch::EMBEDDING_LENGTH)).unwrap(), 576);
    assert_eq!(
        m.get_u32(&key(keys::arch::ATTENTION_HEAD_COUNT)).unwrap(),
        9
    );
    assert_eq!(
        m.get_u32(&key(keys::arch::ATTENTION_HEAD_COUNT_KV))
            .unwrap(),
        3
    );
    assert_eq!(m.get_str(keys::tokenizer::MODEL).unwrap(), "gpt2");
    let tokens = m.get_str_array(keys::tokenizer::TOKENS).unwrap();
    assert_eq!(tokens.len(), 49152);
    assert_eq!(
        m.get_i32_array(keys::tokenizer::TOKEN_TYPE).unwrap().len(),
        49152
    );
    assert!(!m.get_str_array(keys::tokenizer::MERGES).unwrap().is_empty());
    assert!(m
        .get_str(keys::tokenizer::CHAT_TEMPLATE)
        .unwrap()
        .contains("im_start"));
    let embd = f.tensor("token_embd.weight").unwrap();
    assert_eq!(embd.shape(), [576, 49152]);
    let types: Vec<GgmlType> = f.tensors().iter().map(|t| t.ty()).collect();
    assert!(types.contains(&GgmlType::Q4_1) && types.contains(&GgmlType::F32));
}

#[test]
fn gemma3_matches_gguf_py_and_known_facts() {
    let f = open_and_compare("gemma-3-270m-q4_k_m.gguf");
    assert_eq!(f.architecture().unwrap(), "gemma3");
    assert_eq!(f.tensors().len(), 236);
    let m = f.metadata();
    let key = |suffix| keys::arch_key("gemma3", suffix);
    assert_eq!(m.get_u32(&key(keys::arch::BLOCK_COUNT)).unwrap(), 18);
    assert_eq!(
        m.get_u32(&key(keys::arch::ATTENTION_KEY_LENGTH)).unwrap(),
        256
    );
    assert_eq!(
        m.get_u32(&key(keys::arch::ATTENTION_SLIDING_WINDOW))
            .unwrap(),
        512
    );
    assert!(m.get_f32(&key(keys::arch::ROPE_FREQ_BASE)).unwrap() > 0.0);
    assert_eq!(m.get_str(keys::tokenizer::MODEL).unwrap(), "llama");
    let n_vocab = m.get_str_array(keys::tokenizer::TOKENS).unwrap().len();
    assert_eq!(
        m.get_f32_array(keys::tokenizer::SCORES).unwrap().len(),
        n_vocab
    );
    for ty in [
        GgmlType::Q5_0,
        GgmlType::Q4_K,
        GgmlType::Q8_0,
        GgmlType::Q6_K,
    ] {
        assert!(
            f.tensors().iter().any(|t| t.ty() == ty),
            "gemma has a {ty} tensor"
        );
    }
}
