//! `rocmforge bench` end to end on synthetic models: the flags parse, `--json` prints one
//! record per test with the documented fields, `--save` writes a GGUF whose tensor types
//! gguf-py reads back as llama.cpp's mix rules give them (`tests/py/synthetic_mix.py`),
//! and bad flags are one clear error. No timing is asserted.

mod info_support;

use info_support::{python_json, rocmforge, stdout_json};

/// Runs a short bench of `spec` (with `extra` flags) saved to a temporary file; checks its
/// JSON records and the saved file's mix with gguf-py.
fn bench_and_check(spec: &str, extra: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.gguf");
    let mut args = vec![
        "bench",
        "--synthetic",
        spec,
        "--save",
        path.to_str().unwrap(),
        "-t",
        "2",
        "--bandwidth",
        "10",
        "--json",
    ];
    args.extend_from_slice(extra);
    let records = stdout_json(&rocmforge(&args));
    let mix = python_json("synthetic_mix.py", &[&path]);
    assert_eq!(mix["errors"], serde_json::json!([]), "{spec}: {mix}");
    assert_eq!(Some(mix["mix"].as_str().unwrap()), spec.split(':').nth(1));
    records
}

#[test]
fn json_records_have_the_documented_fields() {
    let records = bench_and_check(
        "llama-1b-tiny:Q4_K_M",
        &["-p", "8", "-n", "2", "-r", "2", "--batch", "1,3"],
    );
    let records = records.as_array().unwrap();
    let tests: Vec<&str> = records
        .iter()
        .map(|r| r["test"].as_str().unwrap())
        .collect();
    assert_eq!(tests, ["pp8", "tg2", "tg2@b3"]);
    for r in records {
        for field in [
            "model",
            "file",
            "size_bytes",
            "params",
            "backend",
            "threads",
            "test",
            "n_prompt",
            "n_gen",
            "batch",
            "samples_ts",
            "avg_ts",
            "stddev_ts",
            "bytes_per_token",
            "bandwidth_gbs",
            "bound_ts",
            "fraction_of_bound",
        ] {
            assert!(r.get(field).is_some(), "{field} missing from {r}");
        }
        assert_eq!(r["model"], "llama-1b-tiny:Q4_K_M (synthetic)");
        assert_eq!(r["backend"], "cpu");
        assert_eq!(r["threads"], 2);
        assert_eq!(r["samples_ts"].as_array().unwrap().len(), 2);
        assert!(r["avg_ts"].as_f64().unwrap() > 0.0);
    }
    assert!(records[0]["bound_ts"].is_null());
    let (tg, tg3) = (&records[1], &records[2]);
    assert_eq!(
        (tg["n_gen"].as_u64(), tg["batch"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        tg3["n_prompt"], 128,
        "batched sequences start from a 128-token prompt"
    );
    // The bound: bandwidth over the weights a step reads (the embedding table is not read
    // when the output head is separate), times the batch.
    let bytes = tg["bytes_per_token"].as_f64().unwrap();
    assert!(bytes < tg["size_bytes"].as_f64().unwrap());
    assert_eq!(tg["bandwidth_gbs"], 10.0);
    let bound = tg["bound_ts"].as_f64().unwrap();
    assert!((bound - 10e9 / bytes).abs() < 1e-6 * bound);
    assert!((tg3["bound_ts"].as_f64().unwrap() - 3.0 * bound).abs() < 1e-6 * bound);
    let frac = tg["fraction_of_bound"].as_f64().unwrap();
    assert!((frac - tg["avg_ts"].as_f64().unwrap() / bound).abs() < 1e-9);
}

#[test]
fn saved_files_follow_llama_cpp_mix_rules() {
    // Full-size SmolLM2: 30 layers of "more bits" choices, 576-wide rows that fall back
    // from K-quants, a tied output head.
    for spec in ["smollm2-135m:Q4_K_M", "smollm2-135m:Q4_0"] {
        bench_and_check(spec, &["-n", "1", "-p", "0", "-r", "1"]);
    }
    for spec in [
        "gemma3-270m-tiny:Q8_0",
        "qwen3-0.6b-tiny:F16",
        "llama-8b-tiny:Q4_0",
    ] {
        bench_and_check(spec, &["-p", "8", "-n", "2", "-r", "1"]);
    }
}

#[test]
fn the_table_shows_tg_beside_its_bound() {
    let out = rocmforge(&[
        "bench",
        "--synthetic",
        "smollm2-135m-tiny:Q8_0",
        "-p",
        "4",
        "-n",
        "2",
        "-r",
        "1",
        "--bandwidth",
        "20",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("| model") && lines[0].contains("bound t/s"),
        "{stdout}"
    );
    let tg = lines
        .iter()
        .find(|l| l.contains(" tg2 "))
        .expect("a tg2 row");
    assert!(tg.contains('%') && tg.contains(" ± "), "{tg}");
    assert!(stdout.contains("20.0 GB/s"), "{stdout}");
}

#[test]
fn bad_flags_are_one_clear_error() {
    let cases: [(&[&str], &str); 4] = [
        (&["--synthetic", "llama-2b:Q4_0"], "is not SHAPE:QUANT"),
        (
            &["--synthetic", "llama-1b-tiny:Q4_0", "-p", "0", "-n", "0"],
            "nothing to measure",
        ),
        (
            &["--synthetic", "llama-1b-tiny:Q4_0", "-c", "16"],
            "too small",
        ),
        (&["-m", "x.gguf", "--save", "y.gguf"], "needs --synthetic"),
    ];
    for (args, want) in cases {
        let out = rocmforge(&[&["bench"], args].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// Without a usable GPU, `--device gpu` is one clear error naming the flag (on a machine
/// with a GPU the bench runs there instead, which the device bundle's run covers).
#[test]
fn device_gpu_without_a_gpu_is_a_clear_error() {
    if hip_runtime::Hip::global().is_ok() {
        eprintln!("skipped: a GPU is usable here");
        return;
    }
    let out = rocmforge(&[
        "bench",
        "--synthetic",
        "llama-1b-tiny:Q4_0",
        "--device",
        "gpu",
        "-p",
        "4",
        "-n",
        "2",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("--device gpu"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
