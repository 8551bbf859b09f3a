//! `rocmforge info` on things that are not GGUF files: one clear line on stderr, exit 1.

mod info_support;

use info_support::rocmforge;

fn fails_with(path: &std::path::Path, message: &str) {
    let out = rocmforge(&["info".as_ref(), path.as_os_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains(message),
        "expected `{message}` in: {stderr}"
    );
}

#[test]
fn info_rejects_missing_files_directories_empty_files_and_pngs() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.gguf");
    fails_with(&missing, "No such file or directory");
    fails_with(dir.path(), "is not a regular file");

    let empty = dir.path().join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    fails_with(&empty, "empty.gguf: the file is empty, not a GGUF model");

    let png = dir.path().join("picture.png");
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.resize(64, 0);
    std::fs::write(&png, bytes).unwrap();
    fails_with(&png, "picture.png: not a GGUF file");
}
