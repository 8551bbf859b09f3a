//! Our quantizers and dequantizers against the `gguf` Python package on the same inputs:
//! quantized bytes must be identical for every type gguf-py can quantize, and
//! dequantized f32 bit-identical (any NaN matching any NaN) for every type it can
//! dequantize, on random bytes (and for the grid i-quants also on random blocks with
//! finite scales).

mod quants_support;

use std::fs;

use ggml_core::quants::{dequantize_row, quantize_row};
use ggml_core::GgmlType;
use quants_support::{
    bit_mismatches, f32_bytes, f32_from_bytes, finite_scale_blocks, run_python, Rng,
};

/// Every type whose quantizer gguf-py 0.19 implements.
const QUANTIZED_BY_GGUF_PY: &[GgmlType] = &[
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::TQ1_0,
    GgmlType::TQ2_0,
    GgmlType::MXFP4,
];

/// Every type we dequantize that gguf-py also dequantizes.
const DEQUANTIZED_BY_GGUF_PY: &[GgmlType] = &[
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::IQ4_NL,
    GgmlType::IQ4_XS,
    GgmlType::MXFP4,
    GgmlType::TQ1_0,
    GgmlType::TQ2_0,
    GgmlType::IQ2_XXS,
    GgmlType::IQ2_XS,
    GgmlType::IQ2_S,
    GgmlType::IQ3_XXS,
    GgmlType::IQ3_S,
    GgmlType::IQ1_S,
    GgmlType::IQ1_M,
];

/// The grid-based i-quants: besides random bytes, they are compared on blocks whose f16
/// super-block scale is finite, so every weight is compared as a number.
const GRID_IQUANTS: &[GgmlType] = &[
    GgmlType::IQ2_XXS,
    GgmlType::IQ2_XS,
    GgmlType::IQ2_S,
    GgmlType::IQ3_XXS,
    GgmlType::IQ3_S,
    GgmlType::IQ1_S,
    GgmlType::IQ1_M,
];

/// Named input rows, each a multiple of 256 weights.
fn quantize_inputs() -> Vec<(&'static str, Vec<f32>)> {
    let mut rng = Rng::new(0x5eed);
    let n = 2048;
    let mut inputs = vec![
        ("normal", (0..n).map(|_| rng.normal()).collect::<Vec<_>>()),
        ("zeros", vec![0.0; 512]),
        (
            "tiny",
            (0..n).map(|_| rng.normal() * 1e-25).collect::<Vec<_>>(),
        ),
        (
            "huge",
            (0..n).map(|_| rng.normal() * 1e28).collect::<Vec<_>>(),
        ),
        (
            "negative",
            (0..n).map(|_| -rng.unit() - 1e-3).collect::<Vec<_>>(),
        ),
        (
            "positive",
            (0..n).map(|_| rng.unit() * 7.0 + 0.5).collect::<Vec<_>>(),
        ),
        (
            // Quarter steps put many scaled values exactly on rounding ties.
            "quarters",
            (0..n)
                .map(|_| (rng.next_u64() % 129) as f32 * 0.25 - 16.0)
                .collect::<Vec<_>>(),
        ),
        (
            "ternary",
            (0..n)
                .map(|_| ((rng.next_u64() % 3) as f32 - 1.0) * 0.75)
                .collect::<Vec<_>>(),
        ),
    ];
    // Blocks of wildly different scales, a constant block and one mostly zero block.
    let mut mixed: Vec<f32> = (0..n)
        .map(|i| rng.normal() * 10f32.powi((i / 32) % 13 - 6))
        .collect();
    mixed[256..288].fill(3.5);
    mixed[512..768].iter_mut().step_by(2).for_each(|v| *v = 0.0);
    inputs.push(("mixed", mixed));
    inputs
}

/// A case for the Python helper: operation, type, and where its files go.
struct Case {
    op: &'static str,
    ty: GgmlType,
    label: String,
    /// Index of the input this case reads.
    source: usize,
    input: std::path::PathBuf,
    output: std::path::PathBuf,
}

/// Writes the manifest, runs the helper, and returns the output of every case.
fn run_reference(dir: &std::path::Path, cases: &[Case]) -> Vec<Vec<u8>> {
    let manifest: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| {
            serde_json::json!({
                "op": c.op,
                "type": c.ty.name(),
                "input": c.input,
                "output": c.output,
            })
        })
        .collect();
    let manifest_path = dir.join("manifest.json");
    fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    run_python("quant_reference.py", &[manifest_path.as_os_str()]);
    cases
        .iter()
        .map(|c| {
            fs::read(&c.output).unwrap_or_else(|e| panic!("{}: no reference output: {e}", c.label))
        })
        .collect()
}

#[test]
fn quantized_bytes_equal_gguf_py() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = quantize_inputs();
    let mut cases = Vec::new();
    for (source, (name, x)) in inputs.iter().enumerate() {
        let input = dir.path().join(format!("{name}.f32"));
        fs::write(&input, f32_bytes(x)).unwrap();
        for &ty in QUANTIZED_BY_GGUF_PY {
            cases.push(Case {
                op: "quantize",
                ty,
                label: format!("{ty} on {name}"),
                source,
                output: dir.path().join(format!("{name}.{ty}.q")),
                input: input.clone(),
            });
        }
    }
    let expected = run_reference(dir.path(), &cases);

    let mut failures = Vec::new();
    for (case, want) in cases.iter().zip(&expected) {
        let x = &inputs[case.source].1;
        let mut got = vec![0u8; case.ty.bytes_for(x.len() as u64).unwrap() as usize];
        quantize_row(case.ty, x, &mut got).unwrap();
        if &got != want {
            let block = case.ty.type_size();
            let first = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(0);
            failures.push(format!(
                "{}: first difference in block {} (byte {first}; lengths {} vs {})",
                case.label,
                first / block,
                got.len(),
                want.len()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "differs from gguf-py:\n{}",
        failures.join("\n")
    );
}

#[test]
fn dequantized_random_blocks_equal_gguf_py() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(0xdec0de);
    let mut cases = Vec::new();
    let mut sources = Vec::new();
    for &ty in DEQUANTIZED_BY_GGUF_PY {
        // 64 blocks (or 4096 scalars) of random bytes: random scales include
        // subnormals, infinities and NaNs.
        let n_blocks = if ty.is_quantized() { 64 } else { 4096 };
        let bytes = rng.bytes(n_blocks * ty.type_size());
        let input = dir.path().join(format!("{ty}.raw"));
        fs::write(&input, &bytes).unwrap();
        cases.push(Case {
            op: "dequantize",
            ty,
            label: ty.to_string(),
            source: sources.len(),
            output: dir.path().join(format!("{ty}.f32")),
            input,
        });
        sources.push((bytes, n_blocks * ty.block_size()));
    }
    let first_finite = cases.len();
    for &ty in GRID_IQUANTS {
        let n_blocks = 256;
        let bytes = finite_scale_blocks(ty, &mut rng, n_blocks);
        let input = dir.path().join(format!("{ty}.finite.raw"));
        fs::write(&input, &bytes).unwrap();
        cases.push(Case {
            op: "dequantize",
            ty,
            label: format!("{ty} with finite scales"),
            source: sources.len(),
            output: dir.path().join(format!("{ty}.finite.f32")),
            input,
        });
        sources.push((bytes, n_blocks * ty.block_size()));
    }
    let expected = run_reference(dir.path(), &cases);

    let mut failures = Vec::new();
    for (index, (case, want)) in cases.iter().zip(&expected).enumerate() {
        let (bytes, n) = &sources[case.source];
        let mut got = vec![0f32; *n];
        dequantize_row(case.ty, bytes, &mut got).unwrap();
        if index >= first_finite && !got.iter().all(|v| v.is_finite()) {
            failures.push(format!("{}: a weight is not finite", case.label));
        }
        let want = f32_from_bytes(want);
        let bad = bit_mismatches(&got, &want);
        if let Some(&i) = bad.first() {
            failures.push(format!(
                "{}: {} of {} values differ, first at {i}: {} vs {}",
                case.label,
                bad.len(),
                n,
                got[i],
                want[i]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "differs from gguf-py:\n{}",
        failures.join("\n")
    );
}

#[test]
fn iq_grid_tables_are_what_the_generator_prints() {
    let tables = concat!(env!("CARGO_MANIFEST_DIR"), "/src/quants/iq_grid_tables.rs");
    let committed = fs::read(tables).unwrap();
    let generated = run_python("../../src/quants/gen_iq_tables.py", &[]);
    assert!(
        committed == generated,
        "{tables} differs from what src/quants/gen_iq_tables.py prints from gguf-py: regenerate it"
    );
}
