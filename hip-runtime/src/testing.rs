//! Helpers for GPU tests, shared by every crate that has them.
//!
//! A GPU test starts with `let Some(hip) = hip_runtime::testing::gpu_or_skip() else {
//! return; };`. Without a GPU it prints `skipped: no GPU (…)` and the test passes; with
//! `ROCMFORGE_REQUIRE_GPU=1` (set on GPU machines) the missing GPU fails the test instead.

use crate::runtime::Hip;

/// The environment variable that turns a skipped GPU test into a failure.
pub const REQUIRE_GPU_ENV: &str = "ROCMFORGE_REQUIRE_GPU";

/// Whether `ROCMFORGE_REQUIRE_GPU` asks for a GPU (`1`, `true`, `yes`).
pub fn gpu_required() -> bool {
    std::env::var(REQUIRE_GPU_ENV)
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
        .unwrap_or(false)
}

/// The process-wide runtime if a GPU is present; otherwise prints why the test is skipped
/// and returns `None`.
///
/// # Panics
/// When no GPU is usable and `ROCMFORGE_REQUIRE_GPU=1`: failing the calling test is the
/// purpose of that setting.
pub fn gpu_or_skip() -> Option<Hip> {
    match Hip::global() {
        Ok(hip) => Some(hip),
        Err(e) if gpu_required() => {
            // tidy: allow(panic): failing the calling test is what ROCMFORGE_REQUIRE_GPU asks
            panic!("{REQUIRE_GPU_ENV}=1 but no GPU is usable: {e}")
        }
        Err(e) => {
            println!("skipped: no GPU ({e})");
            None
        }
    }
}
