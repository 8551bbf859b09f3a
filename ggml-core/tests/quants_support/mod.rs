//! Shared helpers of the quant tests: running the Python references, finding the test
//! models, deterministic random inputs and NaN-aware bit comparison.

#![allow(dead_code)] // Each test crate uses a different part of this module.

use std::path::{Path, PathBuf};
use std::process::Command;

use ggml_core::GgmlType;

/// The directory of the Python helper scripts.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(name)
}

/// Runs `python3 SCRIPT ARGS…` and returns its stdout; panics with a clear message when
/// python3 or the `gguf` package is missing or the script fails.
pub fn run_python(script_name: &str, args: &[&std::ffi::OsStr]) -> Vec<u8> {
    let path = script(script_name);
    let output = Command::new("python3")
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}); the quant reference tests need python3 with `pip install gguf numpy`")
        });
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("No module named") {
            " (install the references: `pip install gguf==0.19.0 numpy`)"
        } else {
            ""
        };
        panic!(
            "{} failed with {}{hint}:\n{stderr}",
            path.display(),
            output.status
        );
    }
    output.stdout
}

/// The test model directory: `ROCMFORGE_MODELS` or `~/.cache/rocmforge/models`.
pub fn models_dir() -> PathBuf {
    ggml_core::model_dir::models_dir().expect("HOME is not set and ROCMFORGE_MODELS is not either")
}

/// The path of test model `file`; panics with a clear message when it is missing.
pub fn model(file: &str) -> PathBuf {
    let path = models_dir().join(file);
    assert!(
        path.is_file(),
        "test model {} is missing: run `cargo xtask fetch-models` (or set ROCMFORGE_MODELS)",
        path.display()
    );
    path
}

/// A small deterministic generator (SplitMix64), so failures reproduce exactly.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Approximately standard normal (sum of four uniforms, rescaled).
    pub fn normal(&mut self) -> f32 {
        let s: f32 = (0..4).map(|_| self.unit()).sum();
        (s - 2.0) * 3f32.sqrt()
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// `n_blocks` random blocks of grid i-quant `ty` whose super-block scale is a random
/// finite half (zero, subnormal or normal, either sign). IQ1_M keeps the scale's four
/// nibbles in the top nibbles of its four u16 `scales` (bytes 48..56); the others store
/// it as the first two bytes.
pub fn finite_scale_blocks(ty: GgmlType, rng: &mut Rng, n_blocks: usize) -> Vec<u8> {
    let mut bytes = rng.bytes(n_blocks * ty.type_size());
    for block in bytes.chunks_exact_mut(ty.type_size()) {
        let mut d = rng.next_u64() as u16;
        if (d >> 10) & 0x1f == 0x1f {
            // An all-ones exponent is infinity or NaN: clear its top bit.
            d &= !0x4000;
        }
        if ty == GgmlType::IQ1_M {
            for i in 0..4 {
                let nibble = ((d >> (4 * i)) & 0xf) as u8;
                let high = &mut block[49 + 2 * i];
                *high = (*high & 0x0f) | (nibble << 4);
            }
        } else {
            block[..2].copy_from_slice(&d.to_le_bytes());
        }
    }
    bytes
}

/// Indices where `a` and `b` differ as f32 bit patterns, any NaN matching any NaN.
pub fn bit_mismatches(a: &[f32], b: &[f32]) -> Vec<usize> {
    assert_eq!(a.len(), b.len(), "length mismatch");
    (0..a.len())
        .filter(|&i| !(a[i].to_bits() == b[i].to_bits() || (a[i].is_nan() && b[i].is_nan())))
        .collect()
}

/// Little-endian f32 bytes.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// f32 values from little-endian bytes.
pub fn f32_from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}
