//! Every tensor of both test models dequantizes bit-identically to the `gguf` Python
//! package: the Python helper prints the SHA-256 of each tensor's little-endian f32
//! values and this test computes the same digests with our dequantizer.

mod quants_support;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use ggml_core::gguf::GgufFile;
use ggml_core::quants::dequantize_row;
use sha2::{Digest, Sha256};

/// SHA-256 of `values` as little-endian f32 bytes.
fn digest(values: &[f32]) -> String {
    let mut hasher = Sha256::new();
    let mut chunk = [0u8; 4096];
    for values in values.chunks(chunk.len() / 4) {
        for (bytes, v) in chunk.chunks_exact_mut(4).zip(values) {
            bytes.copy_from_slice(&v.to_le_bytes());
        }
        hasher.update(&chunk[..values.len() * 4]);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn check_model(file: &str) {
    let path = quants_support::model(file);
    // gguf-py works while we do: both take seconds.
    let reference = Command::new("python3")
        .arg(quants_support::script("dequant_digests.py"))
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run python3 ({e}); this test needs python3 with `pip install gguf numpy`"
            )
        });

    let gguf = GgufFile::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut ours = BTreeMap::new();
    let mut values = Vec::new();
    for info in gguf.tensors() {
        let data = gguf.tensor_data(info).unwrap();
        values.clear();
        values.resize(info.n_elements() as usize, 0f32);
        dequantize_row(info.ty(), data, &mut values)
            .unwrap_or_else(|e| panic!("{}: {e}", info.name()));
        ours.insert(info.name().to_string(), (info.ty().name(), digest(&values)));
    }

    let output = reference.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "dequant_digests.py failed ({}); it needs `pip install gguf==0.19.0 numpy`:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let theirs: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&output.stdout).expect("dequant_digests.py printed no JSON");

    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "tensor names differ"
    );
    let mismatches: Vec<String> = ours
        .iter()
        .filter(|(name, (ty, sha))| {
            let t = &theirs[*name];
            t["type"] != *ty || t["sha256"] != *sha
        })
        .map(|(name, (ty, _))| format!("{name} ({ty})"))
        .collect();
    assert!(
        mismatches.is_empty(),
        "{file}: {} of {} tensors dequantize differently from gguf-py: {}",
        mismatches.len(),
        ours.len(),
        mismatches.join(", ")
    );
}

#[test]
fn smollm2_q4_1_dequantizes_like_gguf_py() {
    check_model("SmolLM2-135M-Instruct.Q4_1.gguf");
}

#[test]
fn gemma3_q4_k_m_dequantizes_like_gguf_py() {
    check_model("gemma-3-270m-q4_k_m.gguf");
}
