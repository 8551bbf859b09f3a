//! The results of `bench`: a llama-bench-style Markdown table (each generation test beside
//! its memory-bandwidth bound and the fraction reached) or, with `--json`, one record per
//! test with the fields documented on [`Record`].

use serde::Serialize;

use super::bandwidth::Bandwidth;
use super::measure::{Samples, Test};
use crate::format::{self, Align, Table};

/// What the report says about the model and the run, beside the samples.
#[derive(Clone, Debug)]
pub struct RunInfo {
    /// The model's label (`llama 135M Q4_1`, `llama-1b:Q4_K_M (synthetic)`).
    pub model: String,
    /// The GGUF file measured.
    pub file: String,
    /// Bytes of weights in the file.
    pub size_bytes: u64,
    /// Parameters (weight elements).
    pub params: u64,
    /// Weight bytes read per decode step (every weight but the embedding table's unread
    /// rows when the output head is separate).
    pub bytes_per_token: u64,
    /// The backend's name.
    pub backend: String,
    /// Threads.
    pub threads: usize,
    /// Timed repetitions per test.
    pub reps: usize,
    /// The memory bandwidth of the backend, when known.
    pub bandwidth: Option<Bandwidth>,
}

/// One test's result, as `--json` prints it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Record {
    /// The model's label.
    pub model: String,
    /// The GGUF file.
    pub file: String,
    /// Bytes of weights.
    pub size_bytes: u64,
    /// Parameters.
    pub params: u64,
    /// Backend name.
    pub backend: String,
    /// Threads.
    pub threads: usize,
    /// Test name: `pp512`, `tg128`, `tg128@b8`.
    pub test: String,
    /// Prompt tokens (per sequence for batched generation; untimed there).
    pub n_prompt: usize,
    /// Generated tokens per sequence (0 for prompt tests).
    pub n_gen: usize,
    /// Sequences decoded together.
    pub batch: usize,
    /// Tokens/s of each repetition.
    pub samples_ts: Vec<f64>,
    /// Mean tokens/s (aggregate over the batch's sequences).
    pub avg_ts: f64,
    /// Sample standard deviation of tokens/s.
    pub stddev_ts: f64,
    /// Weight bytes read per decode step (generation tests only).
    pub bytes_per_token: Option<u64>,
    /// Memory copy bandwidth used for the bound, GB/s read + write (generation tests).
    pub bandwidth_gbs: Option<f64>,
    /// Tokens/s if every step only read the weights at that bandwidth (× batch).
    pub bound_ts: Option<f64>,
    /// `avg_ts / bound_ts`.
    pub fraction_of_bound: Option<f64>,
}

/// One record per test.
pub fn records(info: &RunInfo, samples: &[Samples]) -> Vec<Record> {
    samples
        .iter()
        .map(|s| {
            let (n_prompt, n_gen, batch) = match s.test {
                Test::Prompt { n } => (n, 0, 1),
                Test::Generate { n, batch, prompt } => (prompt, n, batch),
            };
            let generating = n_gen > 0;
            let bw = info
                .bandwidth
                .as_ref()
                .filter(|_| generating)
                .map(|b| b.bytes_per_s);
            let bound = bw.map(|b| batch as f64 * b / info.bytes_per_token.max(1) as f64);
            Record {
                model: info.model.clone(),
                file: info.file.clone(),
                size_bytes: info.size_bytes,
                params: info.params,
                backend: info.backend.clone(),
                threads: info.threads,
                test: s.test.name(),
                n_prompt,
                n_gen,
                batch,
                samples_ts: s.tokens_per_s.clone(),
                avg_ts: s.mean(),
                stddev_ts: s.stddev(),
                bytes_per_token: generating.then_some(info.bytes_per_token),
                bandwidth_gbs: bw.map(|b| b / 1e9),
                bound_ts: bound,
                fraction_of_bound: bound.map(|b| s.mean() / b),
            }
        })
        .collect()
}

/// A parameter count as llama-bench prints it: `134.52 M`, `1.24 B`.
fn params(n: u64) -> String {
    if n >= 1_000_000_000 {
        format!("{:.2} B", n as f64 / 1e9)
    } else {
        format!("{:.2} M", n as f64 / 1e6)
    }
}

/// The Markdown table, then a line on the bound.
pub fn table(info: &RunInfo, records: &[Record]) -> String {
    let mut t = Table::new(&[
        ("model", Align::Left),
        ("size", Align::Right),
        ("params", Align::Right),
        ("backend", Align::Left),
        ("threads", Align::Right),
        ("test", Align::Right),
        ("t/s", Align::Right),
        ("bound t/s", Align::Right),
        ("of bound", Align::Right),
    ]);
    for r in records {
        t.row(vec![
            r.model.clone(),
            format::bytes(r.size_bytes),
            params(r.params),
            r.backend.clone(),
            r.threads.to_string(),
            r.test.clone(),
            format!("{:.2} ± {:.2}", r.avg_ts, r.stddev_ts),
            r.bound_ts.map(|b| format!("{b:.2}")).unwrap_or_default(),
            r.fraction_of_bound
                .map(|f| format!("{:.1}%", 100.0 * f))
                .unwrap_or_default(),
        ]);
    }
    let mut out = t.markdown();
    if let Some(bw) = &info.bandwidth {
        out += &format!(
            "\nbound: {} of weights read per step at {:.1} GB/s copy bandwidth ({}, read + write), {} reps\n",
            format::bytes(info.bytes_per_token),
            bw.bytes_per_s / 1e9,
            bw.origin,
            info.reps,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_records_carry_the_bound_and_prompt_records_do_not() {
        let info = RunInfo {
            model: "m".into(),
            file: "f.gguf".into(),
            size_bytes: 2_000,
            params: 3_000,
            bytes_per_token: 1_000,
            backend: "cpu".into(),
            threads: 2,
            reps: 2,
            bandwidth: Some(Bandwidth {
                bytes_per_s: 1e6,
                origin: "given",
            }),
        };
        let samples = [
            Samples {
                test: Test::Prompt { n: 8 },
                tokens_per_s: vec![10.0, 30.0],
            },
            Samples {
                test: Test::Generate {
                    n: 4,
                    batch: 2,
                    prompt: 3,
                },
                tokens_per_s: vec![500.0, 500.0],
            },
        ];
        let r = records(&info, &samples);
        assert_eq!((r[0].test.as_str(), r[0].avg_ts), ("pp8", 20.0));
        assert_eq!(r[0].bound_ts, None);
        assert_eq!((r[1].n_prompt, r[1].n_gen, r[1].batch), (3, 4, 2));
        assert_eq!(r[1].bound_ts, Some(2000.0));
        assert_eq!(r[1].fraction_of_bound, Some(0.25));
        let text = table(&info, &r);
        assert!(text.contains("| tg4@b2 |"), "{text}");
        assert!(text.contains("25.0%"), "{text}");
    }
}
