//! Shared helpers for the GGUF tests: finding the real models and asking the `gguf` Python
//! package (the reference reader) what it sees in a file.

// Each test crate that includes this module uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Dumps what gguf-py reads from the file given as argv[1], as JSON: the metadata keys in
/// order with their contents (null for arrays over 64 elements), the data section offset,
/// and every tensor's name, type id, shape, absolute data offset and (if small) data.
const DUMP_SCRIPT: &str = r#"
import json, sys
import gguf
r = gguf.GGUFReader(sys.argv[1])
def plain(v):
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, bytes):
        return v.decode()
    if hasattr(v, "item"):
        return v.item()
    return v
# Long arrays (vocabularies) are left out: decoding them in Python is slow.
fields = [[k, plain(f.contents()) if len(f.data) <= 64 else None]
          for k, f in r.fields.items() if not k.startswith("GGUF.")]
tensors = [
    {"name": t.name, "type": int(t.tensor_type), "shape": [int(d) for d in t.shape],
     "offset": int(t.data_offset), "data_hex": bytes(t.data.tobytes()).hex() if t.n_bytes <= 4096 else None}
    for t in r.tensors
]
print(json.dumps({"fields": fields, "data_offset": int(r.data_offset), "tensors": tensors}))
"#;

/// Runs gguf-py's reader on `path` and returns its JSON dump; panics with a clear message
/// if python3 or the `gguf` package is missing.
pub fn gguf_py_dump(path: &Path) -> serde_json::Value {
    let out = Command::new("python3")
        .arg("-c")
        .arg(DUMP_SCRIPT)
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}); install Python 3 with `pip install gguf numpy`")
        });
    assert!(
        out.status.success(),
        "gguf-py failed to read {} (is `pip install gguf numpy` done?):\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("gguf-py dump is JSON")
}

/// Path of the test model `file`, from `ROCMFORGE_MODELS` or `~/.cache/rocmforge/models`;
/// panics with a clear message if it is missing.
pub fn model_path(file: &str) -> PathBuf {
    let dir = ggml_core::model_dir::models_dir().expect("neither ROCMFORGE_MODELS nor HOME is set");
    let path = dir.join(file);
    assert!(
        path.is_file(),
        "test model {} is missing: run `cargo xtask fetch-models` (or set ROCMFORGE_MODELS)",
        path.display()
    );
    path
}
