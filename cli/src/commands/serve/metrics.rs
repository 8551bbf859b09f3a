//! `/metrics`: request counts by endpoint and status, token counts, latency histograms
//! (time to first token, time between tokens) and the engine's gauges, as Prometheus text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use model::engine::StatsSnapshot;

/// Upper bounds (seconds) of the latency histograms' buckets.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A cumulative histogram of durations.
#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (c, &b) in self.counts.iter_mut().zip(BUCKETS) {
            if s <= b {
                *c += 1;
            }
        }
        self.sum += s;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let c = self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", self.sum, self.count);
    }
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(&'static str, u16), u64>,
    prompt_tokens: u64,
    completion_tokens: u64,
    ttft: Histogram,
    itl: Histogram,
}

/// The server's own figures (the engine keeps its own).
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut g = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut g)
    }

    /// Counts a finished request to `endpoint` with `status`.
    pub fn request(&self, endpoint: &'static str, status: u16) {
        self.with(|m| *m.requests.entry((endpoint, status)).or_insert(0) += 1);
    }

    /// Counts a completed generation's tokens.
    pub fn tokens(&self, prompt: usize, completion: usize) {
        self.with(|m| {
            m.prompt_tokens += prompt as u64;
            m.completion_tokens += completion as u64;
        });
    }

    /// Records a time to first token.
    pub fn ttft(&self, d: Duration) {
        self.with(|m| m.ttft.observe(d));
    }

    /// Records a time between two tokens.
    pub fn itl(&self, d: Duration) {
        self.with(|m| m.itl.observe(d));
    }

    /// Everything in Prometheus text format, with the engine's figures `e`.
    pub fn render(&self, e: &StatsSnapshot) -> String {
        let mut out = String::new();
        self.with(|m| {
            out.push_str("# HELP rocmforge_requests_total Requests answered, by endpoint and status.\n# TYPE rocmforge_requests_total counter\n");
            for ((ep, st), n) in &m.requests {
                let _ = writeln!(
                    out,
                    "rocmforge_requests_total{{endpoint=\"{ep}\",status=\"{st}\"}} {n}"
                );
            }
            let counters = [
                ("prompt_tokens_total", "Prompt tokens of completed requests.", m.prompt_tokens),
                ("generation_tokens_total", "Tokens generated for completed requests.", m.completion_tokens),
            ];
            for (name, help, v) in counters {
                let _ = writeln!(out, "# HELP rocmforge_{name} {help}\n# TYPE rocmforge_{name} counter\nrocmforge_{name} {v}");
            }
            m.ttft.render(&mut out, "rocmforge_time_to_first_token_seconds", "Time from request to first generated token.");
            m.itl.render(&mut out, "rocmforge_inter_token_latency_seconds", "Time between consecutive generated tokens.");
        });
        let gauges = [
            (
                "queue_depth",
                "Requests waiting for a place in the batch.",
                e.waiting,
            ),
            (
                "running_sequences",
                "Sequences in the running batch.",
                e.running,
            ),
            (
                "batch_size",
                "Tokens in the last forward step.",
                e.last_batch_tokens,
            ),
            (
                "kv_blocks_total",
                "KV cache blocks in the pool.",
                e.kv_blocks_total,
            ),
            (
                "kv_blocks_used",
                "KV cache blocks held by sequences.",
                e.kv_blocks_used,
            ),
            (
                "kv_blocks_free",
                "KV cache blocks free.",
                e.kv_blocks_total.saturating_sub(e.kv_blocks_used),
            ),
            (
                "kv_blocks_shared",
                "KV cache blocks shared by sequences with a common prefix.",
                e.kv_blocks_shared,
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP rocmforge_{name} {help}\n# TYPE rocmforge_{name} gauge\nrocmforge_{name} {v}");
        }
        let counters = [
            ("engine_steps_total", "Forward steps.", e.steps),
            (
                "engine_batch_tokens_total",
                "Tokens evaluated over all forward steps.",
                e.batch_tokens,
            ),
            (
                "prompt_tokens_evaluated_total",
                "Prompt tokens evaluated.",
                e.prompt_tokens_evaluated,
            ),
            (
                "prompt_tokens_shared_total",
                "Prompt tokens served from another sequence's KV blocks.",
                e.prompt_tokens_shared,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(out, "# HELP rocmforge_{name} {help}\n# TYPE rocmforge_{name} counter\nrocmforge_{name} {v}");
        }
        out
    }
}
