//! The memory bandwidth that bounds decode: measured once per device (a large copy, read +
//! write bytes over time, best of several) and cached in `~/.cache/rocmforge/bandwidth.json`
//! by device. The CPU measures a threaded `memcpy`, a GPU a device-to-device copy timed
//! with events; both through [`BandwidthSource`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;

/// A memory whose copy bandwidth bounds decode on a backend.
pub trait BandwidthSource {
    /// What the figure depends on, as the cache key (`cpu:AMD EPYC:2t`, a GPU's name).
    fn key(&self) -> String;
    /// Measures the copy bandwidth: bytes read plus bytes written, per second.
    fn measure(&self) -> anyhow::Result<f64>;
}

/// Host memory, copied by `threads` threads.
pub struct CpuMemory {
    /// Threads copying at once (the benchmark's thread count).
    pub threads: usize,
}

/// Bytes copied per measurement on the CPU (well beyond any cache).
const CPU_COPY_BYTES: usize = 512 << 20;
/// Copies timed; the fastest counts.
const COPY_RUNS: usize = 5;

impl BandwidthSource for CpuMemory {
    fn key(&self) -> String {
        format!("cpu:{}:{}t", cpu_model(), self.threads)
    }

    fn measure(&self) -> anyhow::Result<f64> {
        Ok(copy_bandwidth(CPU_COPY_BYTES, self.threads))
    }
}

/// The CPU's model name from `/proc/cpuinfo` (`unknown` where there is none).
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// Read + write bytes per second of copying `bytes` bytes split across `threads` threads,
/// best of [`COPY_RUNS`] after one untimed copy.
fn copy_bandwidth(bytes: usize, threads: usize) -> f64 {
    let threads = threads.max(1);
    let src = vec![1u8; bytes];
    let mut dst = vec![0u8; bytes];
    let chunk = bytes.div_ceil(threads);
    let mut best = f64::INFINITY;
    for run in 0..=COPY_RUNS {
        let start = Instant::now();
        std::thread::scope(|s| {
            for (d, c) in dst.chunks_mut(chunk).zip(src.chunks(chunk)) {
                s.spawn(move || d.copy_from_slice(c));
            }
        });
        if run > 0 {
            best = best.min(start.elapsed().as_secs_f64());
        }
    }
    std::hint::black_box(&dst);
    2.0 * bytes as f64 / best.max(1e-9)
}

/// Bytes copied per measurement on a GPU (far beyond its last-level cache).
const GPU_COPY_BYTES: usize = 1 << 30;

/// A GPU's memory, copied device to device on `stream` and timed with events.
pub struct GpuMemory<'a> {
    /// The stream the model's work runs on (its device is the one measured).
    pub stream: &'a hip_runtime::Stream,
}

impl BandwidthSource for GpuMemory<'_> {
    fn key(&self) -> String {
        format!("gpu:{}", self.stream.device().info().name)
    }

    fn measure(&self) -> anyhow::Result<f64> {
        use hip_runtime::{DeviceBuffer, Event};
        let stream = self.stream;
        let src = DeviceBuffer::<u8>::zeroed(stream, GPU_COPY_BYTES).context("copy source")?;
        let mut dst = DeviceBuffer::<u8>::new(stream, GPU_COPY_BYTES).context("copy target")?;
        let start = Event::new(stream.device())?;
        let end = Event::new(stream.device())?;
        let mut best_ms = f32::INFINITY;
        for run in 0..=COPY_RUNS {
            start.record(stream)?;
            dst.as_slice_mut().copy_from_device_async(&src.as_slice())?;
            end.record(stream)?;
            end.synchronize()?;
            if run > 0 {
                best_ms = best_ms.min(start.elapsed_ms(&end)?);
            }
        }
        Ok(2.0 * GPU_COPY_BYTES as f64 / (f64::from(best_ms.max(1e-6)) * 1e-3))
    }
}

/// A bandwidth figure and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Bandwidth {
    /// Read + write bytes per second.
    pub bytes_per_s: f64,
    /// `measured`, `cached` or `given` (`--bandwidth`).
    pub origin: &'static str,
}

/// The cache file (`$HOME/.cache/rocmforge/bandwidth.json`).
fn cache_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".cache/rocmforge/bandwidth.json"))
}

fn read_cache(path: &PathBuf) -> BTreeMap<String, f64> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// The bandwidth of `source`: from the cache, else measured now and cached.
pub fn bandwidth(source: &dyn BandwidthSource) -> anyhow::Result<Bandwidth> {
    let key = source.key();
    let path = cache_path();
    let mut cache = path.as_ref().map(read_cache).unwrap_or_default();
    if let Some(&bytes_per_s) = cache.get(&key).filter(|b| b.is_finite() && **b > 0.0) {
        return Ok(Bandwidth {
            bytes_per_s,
            origin: "cached",
        });
    }
    eprintln!("measuring memory bandwidth ({key}), once");
    let bytes_per_s = source.measure()?;
    if let Some(path) = path {
        cache.insert(key, bytes_per_s);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
        }
        let text = serde_json::to_string_pretty(&cache).context("bandwidth cache")?;
        std::fs::write(&path, text).with_context(|| path.display().to_string())?;
    }
    Ok(Bandwidth {
        bytes_per_s,
        origin: "measured",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_copy_measures_a_plausible_bandwidth() {
        let b = copy_bandwidth(8 << 20, 2);
        // Between 100 MB/s and 10 TB/s on anything that runs this.
        assert!(b > 1e8 && b < 1e13, "{b}");
        assert!(CpuMemory { threads: 2 }.key().ends_with(":2t"));
    }
}
