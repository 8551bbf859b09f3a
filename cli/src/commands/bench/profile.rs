//! `bench --profile`: one more run of each test with every GPU kernel bracketed by events,
//! printed as GPU time per token by kernel, largest first, so every gap to the bound shows.
//! Steps run uncaptured, each after a few milliseconds of GPU spinning so that the host has
//! queued its launches first: the events time the kernels, not the launch latency (the
//! gaps between kernels that graph replay removes are left out).

use ggml_core::backend::hip::HipBackend;
use kernels::KernelTime;
use model::Model;

use super::measure::{self, Test};
use crate::format::{Align, Table};

/// Runs each of `tests` once with kernel timing on and prints a table per test.
pub fn print(
    model: &Model<HipBackend>,
    tests: &[Test],
    ctx_size: Option<usize>,
) -> anyhow::Result<()> {
    let backend = model.backend();
    for test in tests {
        backend.set_profiling(true)?;
        // A generation test's prompt is not timed: its kernels are dropped at the start.
        let mut discard_prompt = || backend.take_profile().map(drop);
        let run = measure::run_single(model, test, ctx_size, &mut discard_prompt);
        let times = backend.take_profile();
        backend.set_profiling(false)?;
        run?;
        print!("{}", table(test, &times?));
    }
    Ok(())
}

/// The table of one test: per kernel, launches and microseconds per token and the share
/// of GPU time; then the total.
fn table(test: &Test, times: &[KernelTime]) -> String {
    let tokens = test.tokens().max(1) as f64;
    let total_ms: f64 = times.iter().map(|t| t.ms).sum();
    let mut sorted: Vec<&KernelTime> = times.iter().collect();
    sorted.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    let mut t = Table::new(&[
        ("kernel", Align::Left),
        ("launches/token", Align::Right),
        ("µs/token", Align::Right),
        ("share", Align::Right),
    ]);
    for k in sorted {
        t.row(vec![
            k.name.to_string(),
            format!("{:.1}", k.launches as f64 / tokens),
            format!("{:.2}", 1e3 * k.ms / tokens),
            format!("{:.1}%", 100.0 * k.ms / total_ms.max(1e-12)),
        ]);
    }
    format!(
        "\nprofile of {}: GPU time per token by kernel (each launch's figure includes its \
         pair of timing events)\n{}kernels: {:.1} µs per token\n",
        test.name(),
        t.markdown(),
        1e3 * total_ms / tokens,
    )
}
