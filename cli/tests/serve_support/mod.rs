//! Starting `rocmforge serve` on a free port for a test, and small HTTP helpers.

#![allow(dead_code, missing_docs)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

/// A running server, killed on drop.
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    /// Starts `rocmforge serve -m smollm2 --port 0 ARGS` and waits for its address line.
    pub fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rocmforge"))
            .args(["serve", "-m", "smollm2", "--port", "0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting rocmforge serve");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut line = String::new();
        let base = loop {
            line.clear();
            let n = stderr.read_line(&mut line).expect("reading stderr");
            assert!(n > 0, "the server exited before listening (the test model comes from `cargo xtask fetch-models`)");
            if let Some(at) = line.find("http://") {
                let addr = line[at..].split_whitespace().next().unwrap_or_default();
                break addr.to_string();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = stderr.read_to_end(&mut sink);
        });
        Server { child, base }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The host:port part.
    pub fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_string()
    }

    /// POSTs JSON text; returns (status, body).
    pub fn post(&self, path: &str, body: &str, key: Option<&str>) -> (u16, String) {
        let mut req = ureq::post(&self.url(path)).set("Content-Type", "application/json");
        if let Some(k) = key {
            req = req.set("Authorization", &format!("Bearer {k}"));
        }
        answer(req.send_string(body))
    }

    /// GETs `path`; returns (status, body).
    pub fn get(&self, path: &str, key: Option<&str>) -> (u16, String) {
        let mut req = ureq::get(&self.url(path));
        if let Some(k) = key {
            req = req.set("Authorization", &format!("Bearer {k}"));
        }
        answer(req.call())
    }

    /// The value of metric `name` (a line `name value`).
    pub fn metric(&self, name: &str, key: Option<&str>) -> f64 {
        let (status, text) = self.get("/metrics", key);
        assert_eq!(status, 200, "{text}");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("metric {name} missing:\n{text}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn answer(r: Result<ureq::Response, ureq::Error>) -> (u16, String) {
    match r {
        Ok(res) => (res.status(), res.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, res)) => (code, res.into_string().unwrap_or_default()),
        Err(e) => panic!("request failed: {e}"),
    }
}
