//! `rocmforge pull` and `list` against a local HTTP server that speaks the hub's API
//! (`/api/models/U/R/tree/main`, `/U/R/resolve/main/FILE` with Range): resume after a cut
//! connection, a wrong checksum, a 404, a 401, a pulled file resolving and running by
//! name; and a hostile hub: the token never follows a redirect or a `Link` to another
//! origin, a file without LFS metadata is checked by its git blob id (and the message says
//! so), a 206 for the wrong range and a body longer than announced are refused.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

/// One file the fake hub serves.
struct Served {
    name: String,
    bytes: Vec<u8>,
    /// The SHA-256 the listing claims (the real one unless a test corrupts it).
    claimed_sha256: String,
}

/// A request the fake hub saw: path, Range header, Authorization header.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    range: Option<String>,
    auth: Option<String>,
}

#[derive(Default)]
struct State {
    repos: HashMap<String, Vec<Served>>,
    seen: Vec<Seen>,
    /// Cut this many file downloads after `cut_after` bytes of body.
    cuts_left: usize,
    cut_after: usize,
    /// Answer 401 unless this bearer token is sent.
    token: Option<String>,
    /// Answer file requests with a redirect to the same path on this endpoint.
    redirect_to: Option<String>,
    /// Link the second listing page on this endpoint instead of this hub.
    link_to: Option<String>,
    /// List files without LFS metadata, with their git blob id as `oid`.
    no_lfs: bool,
    /// Answer a range request with a Content-Range one byte off.
    bad_range: bool,
    /// Send this many bytes more than the file has.
    extra_bytes: usize,
}

struct FakeHub {
    endpoint: String,
    state: Arc<Mutex<State>>,
}

impl FakeHub {
    fn start() -> FakeHub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        FakeHub { endpoint, state }
    }

    fn add(&self, repo: &str, name: &str, bytes: Vec<u8>) {
        let sha = hex(&Sha256::digest(&bytes));
        self.state
            .lock()
            .unwrap()
            .repos
            .entry(repo.to_string())
            .or_default()
            .push(Served {
                name: name.to_string(),
                bytes,
                claimed_sha256: sha,
            });
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let seen = Seen {
        path: path.clone(),
        range: headers.get("range").cloned(),
        auth: headers.get("authorization").cloned(),
    };
    let mut st = state.lock().unwrap();
    st.seen.push(seen.clone());
    let mut out = stream;
    if let (Some(target), true) = (&st.redirect_to, path.contains("/resolve/main/")) {
        let location = format!("{target}{path}");
        respond(
            &mut out,
            "302 Found",
            &[("Location", location.as_str())],
            b"",
        );
        return;
    }
    if let Some(token) = &st.token {
        if seen.auth.as_deref() != Some(&format!("Bearer {token}")) {
            respond(
                &mut out,
                "401 Unauthorized",
                &[],
                b"{\"error\":\"unauthorized\"}",
            );
            return;
        }
    }
    let (route, query) = path.split_once('?').unwrap_or((&path, ""));
    let parts: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["api", "models", user, repo, "tree", "main"] => {
            let Some(files) = st.repos.get(&format!("{user}/{repo}")) else {
                respond(
                    &mut out,
                    "404 Not Found",
                    &[],
                    b"{\"error\":\"Repository not found\"}",
                );
                return;
            };
            let entries: Vec<serde_json::Value> = files
                .iter()
                .map(|f| {
                    if st.no_lfs {
                        return serde_json::json!({"type": "file", "oid": f.claimed_sha256,
                            "size": f.bytes.len(), "path": f.name});
                    }
                    serde_json::json!({"type": "file", "oid": "0123", "size": f.bytes.len(),
                    "path": f.name, "lfs": {"oid": f.claimed_sha256, "size": f.bytes.len(),
                    "pointerSize": 134}})
                })
                .chain([
                    serde_json::json!({"type": "file", "oid": "4567", "size": 10,
                        "path": "README.md"}),
                ])
                .collect();
            // Pages of two entries, linked like the hub does.
            let page: usize = query
                .strip_prefix("cursor=")
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let body = serde_json::to_vec(
                &entries[(2 * page).min(entries.len())..]
                    .iter()
                    .take(2)
                    .collect::<Vec<_>>(),
            )
            .unwrap();
            let base = st.link_to.clone().unwrap_or_default();
            let link = format!("<{base}{route}?cursor={}>; rel=\"next\"", page + 1);
            let extra = if 2 * (page + 1) < entries.len() {
                vec![("Link", link.as_str())]
            } else {
                vec![]
            };
            respond(&mut out, "200 OK", &extra, &body);
        }
        [user, repo, "resolve", "main", name] => {
            let file = st
                .repos
                .get(&format!("{user}/{repo}"))
                .and_then(|files| files.iter().find(|f| f.name == *name));
            let Some(file) = file else {
                respond(&mut out, "404 Not Found", &[], b"Entry not found");
                return;
            };
            let bytes = file.bytes.clone();
            let from: usize = seen
                .range
                .as_deref()
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|r| r.parse().ok())
                .unwrap_or(0);
            let cut = st.cuts_left > 0;
            if cut {
                st.cuts_left -= 1;
            }
            let cut_after = st.cut_after;
            let off = usize::from(st.bad_range);
            let mut bytes = bytes;
            bytes.extend(std::iter::repeat_n(0u8, st.extra_bytes));
            drop(st);
            let body = &bytes[from.min(bytes.len())..];
            let status = if from > 0 {
                "206 Partial Content"
            } else {
                "200 OK"
            };
            let range = format!("bytes {}-{}/{}", from + off, bytes.len() - 1, bytes.len());
            let extra = if from > 0 {
                vec![("Content-Range", range.as_str())]
            } else {
                vec![]
            };
            let sent = if cut {
                &body[..cut_after.min(body.len())]
            } else {
                body
            };
            write_head(&mut out, status, &extra, body.len());
            let _ = out.write_all(sent);
            let _ = out.flush();
        }
        _ => respond(&mut out, "404 Not Found", &[], b"not found"),
    }
}

fn write_head(out: &mut TcpStream, status: &str, extra: &[(&str, &str)], len: usize) {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {len}\r\nConnection: close\r\n");
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = out.write_all(head.as_bytes());
}

fn respond(out: &mut TcpStream, status: &str, extra: &[(&str, &str)], body: &[u8]) {
    write_head(out, status, extra, body.len());
    let _ = out.write_all(body);
    let _ = out.flush();
}

/// Git's blob id of `bytes`: SHA-1 of `blob {len}\0` and the bytes.
fn git_blob_id(bytes: &[u8]) -> String {
    use sha1::Digest as _;
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Deterministic, non-repeating test bytes.
fn payload(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn rocmforge(cache: &Path, hub: &FakeHub, token: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rocmforge"));
    cmd.args(args)
        .env("ROCMFORGE_MODELS", cache)
        .env("HF_ENDPOINT", &hub.endpoint)
        .env_remove("HF_TOKEN");
    if let Some(token) = token {
        cmd.env("HF_TOKEN", token);
    }
    cmd.output().expect("run the rocmforge binary")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn pull_resumes_after_cut_connections_and_resolves_by_name() {
    let hub = FakeHub::start();
    let bytes = payload(300_000);
    hub.add("u/r", "m-Q4_K_M.gguf", bytes.clone());
    hub.add("u/r", "m-Q8_0.gguf", payload(1000));
    let cache = tempfile::tempdir().unwrap();

    // Every attempt of the first run is cut: the run fails, keeping what it got.
    hub.state.lock().unwrap().cuts_left = 100;
    hub.state.lock().unwrap().cut_after = 50_000;
    let out = rocmforge(cache.path(), &hub, None, &["pull", "u/r:q4_k_m"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("run the same command again to resume"),
        "{err}"
    );
    let part = cache.path().join("hf/u/r/m-Q4_K_M.gguf.part");
    let kept = std::fs::metadata(&part).expect(".part file kept").len();
    assert_eq!(
        kept, 200_000,
        "four attempts of 50000 bytes each, resumed each time"
    );

    // The next run resumes from the .part file; one more cut is survived by a retry.
    hub.state.lock().unwrap().cuts_left = 1;
    let out = rocmforge(cache.path(), &hub, None, &["pull", "u/r:Q4_K_M"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let path = cache.path().join("hf/u/r/m-Q4_K_M.gguf");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        path.to_str().unwrap()
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert!(!part.exists());
    let ranges: Vec<Option<String>> = hub
        .seen()
        .into_iter()
        .filter(|s| s.path.contains("/resolve/main/"))
        .map(|s| s.range)
        .collect();
    let expected: Vec<Option<String>> = [None, Some(50_000), Some(100_000), Some(150_000)]
        .into_iter()
        .chain([Some(200_000), Some(250_000)])
        .map(|r| r.map(|n| format!("bytes={n}-")))
        .collect();
    assert_eq!(ranges, expected);
    assert!(
        hub.seen().iter().all(|s| s.auth.is_none()),
        "no token sent unless HF_TOKEN is set"
    );

    // The pulled file resolves by name and shows in `list`.
    assert_eq!(
        model::cache::resolve_in(cache.path(), "u/r:Q4_K_M").unwrap(),
        path
    );
    let out = rocmforge(cache.path(), &hub, None, &["list"]);
    assert!(out.status.success());
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("u/r/m-Q4_K_M.gguf"), "{listing}");
    assert!(listing.contains("292.97 KiB"), "{listing}");

    // Pulling again finds the checked file and downloads nothing.
    let before = hub.seen().len();
    let out = rocmforge(cache.path(), &hub, None, &["pull", "u/r/m-Q4_K_M.gguf"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let new: Vec<Seen> = hub.seen().split_off(before);
    assert!(new.iter().all(|s| s.path.starts_with("/api/")), "{new:?}");
}

#[test]
fn pull_rejects_a_wrong_checksum() {
    let hub = FakeHub::start();
    hub.add("u/r", "m-Q8_0.gguf", payload(5000));
    hub.state.lock().unwrap().repos.get_mut("u/r").unwrap()[0].claimed_sha256 = "ab".repeat(32);
    let cache = tempfile::tempdir().unwrap();
    let out = rocmforge(cache.path(), &hub, None, &["pull", "u/r:Q8_0"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("does not match the hub's abab"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    let dir = cache.path().join("hf/u/r");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing left in {dir:?}"
    );
}

#[test]
fn pull_reports_missing_repositories_files_and_quants() {
    let hub = FakeHub::start();
    hub.add("u/r", "m-Q8_0.gguf", payload(100));
    let cache = tempfile::tempdir().unwrap();
    let out = rocmforge(cache.path(), &hub, None, &["pull", "nobody/nothing:Q4_K_M"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("repository nobody/nothing not found"), "{err}");

    hub.add("u/r", "m-Q6_K.gguf", payload(100));
    hub.add("u/r", "m-Q5_0.gguf", payload(100));
    let out = rocmforge(cache.path(), &hub, None, &["pull", "u/r:Q4_K_M"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let expected = "no GGUF file in u/r matches `Q4_K_M`; \
                    available: m-Q8_0.gguf, m-Q6_K.gguf, m-Q5_0.gguf";
    assert!(err.contains(expected), "every listing page read: {err}");
    let pages = hub
        .seen()
        .iter()
        .filter(|s| s.path.starts_with("/api/models/u/r/tree/main"))
        .count();
    assert_eq!(pages, 2, "4 entries in pages of 2");

    let out = rocmforge(cache.path(), &hub, None, &["pull", "not-a-hub-name"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not a hub model name"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn pull_needs_hf_token_for_gated_repositories() {
    let hub = FakeHub::start();
    let bytes = payload(2000);
    hub.add("u/gated", "g-Q4_0.gguf", bytes.clone());
    hub.state.lock().unwrap().token = Some("hf_secret".to_string());
    let cache = tempfile::tempdir().unwrap();

    let out = rocmforge(cache.path(), &hub, None, &["pull", "u/gated:Q4_0"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("needs authentication") && err.contains("set HF_TOKEN"),
        "{err}"
    );

    let out = rocmforge(
        cache.path(),
        &hub,
        Some("hf_wrong"),
        &["pull", "u/gated:Q4_0"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("refused the token in HF_TOKEN"),
        "{}",
        stderr(&out)
    );

    let out = rocmforge(
        cache.path(),
        &hub,
        Some("hf_secret"),
        &["pull", "u/gated:Q4_0"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let path = cache.path().join("hf/u/gated/g-Q4_0.gguf");
    assert_eq!(std::fs::read(path).unwrap(), bytes);
}

#[test]
fn a_pulled_model_runs_by_name() {
    let models = ggml_core::model_dir::models_dir().expect("ROCMFORGE_MODELS or HOME is set");
    let real = models.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    let bytes = std::fs::read(&real).unwrap_or_else(|e| {
        panic!(
            "test model {} is missing ({e}): run `cargo xtask fetch-models`",
            real.display()
        )
    });
    let hub = FakeHub::start();
    hub.add(
        "HuggingFaceTB/SmolLM2-GGUF",
        "smollm2-135m-instruct-q4_1.gguf",
        bytes,
    );
    let cache = tempfile::tempdir().unwrap();
    let out = rocmforge(
        cache.path(),
        &hub,
        None,
        &["pull", "HuggingFaceTB/SmolLM2-GGUF:Q4_1"],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let generate = ["-p", "The capital of France is", "-n", "6", "--temp", "0"];
    let by_name = rocmforge(
        cache.path(),
        &hub,
        None,
        &[
            &["run", "-m", "HuggingFaceTB/SmolLM2-GGUF:q4_1"][..],
            &generate[..],
        ]
        .concat(),
    );
    assert!(by_name.status.success(), "{}", stderr(&by_name));
    let by_path = rocmforge(
        cache.path(),
        &hub,
        None,
        &[&["run", "-m", real.to_str().unwrap()][..], &generate[..]].concat(),
    );
    assert!(by_path.status.success(), "{}", stderr(&by_path));
    assert!(!by_name.stdout.is_empty());
    assert_eq!(
        by_name.stdout, by_path.stdout,
        "same file, same greedy text"
    );
}

#[test]
fn the_token_never_leaves_the_endpoint_origin() {
    // Listing pages and file bytes both come from another origin (another port).
    let cdn = FakeHub::start();
    let bytes = payload(3000);
    cdn.add("u/r", "m-Q4_0.gguf", bytes.clone());
    cdn.add("u/r", "m-Q8_0.gguf", payload(10));
    let hub = FakeHub::start();
    hub.add("u/r", "m-Q4_0.gguf", bytes.clone());
    hub.add("u/r", "m-Q8_0.gguf", payload(10));
    {
        let mut st = hub.state.lock().unwrap();
        st.redirect_to = Some(cdn.endpoint.clone());
        st.link_to = Some(cdn.endpoint.clone());
    }
    let cache = tempfile::tempdir().unwrap();
    let out = rocmforge(cache.path(), &hub, Some("hf_secret"), &["pull", "u/r:Q4_0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(cache.path().join("hf/u/r/m-Q4_0.gguf")).unwrap(),
        bytes
    );
    let own = hub.seen();
    assert!(own.iter().any(|s| s.path.contains("/resolve/main/")));
    assert!(
        own.iter()
            .all(|s| s.auth.as_deref() == Some("Bearer hf_secret")),
        "{own:?}"
    );
    let other = cdn.seen();
    assert!(
        other.iter().any(|s| s.path.contains("/resolve/main/")),
        "{other:?}"
    );
    assert!(
        other.iter().any(|s| s.path.contains("cursor=1")),
        "{other:?}"
    );
    assert!(
        other.iter().all(|s| s.auth.is_none()),
        "token leaked: {other:?}"
    );
}

#[test]
fn a_file_without_lfs_metadata_is_checked_by_its_git_blob_id() {
    let hub = FakeHub::start();
    let bytes = payload(4000);
    hub.add("u/r", "m-Q4_0.gguf", bytes.clone());
    {
        let mut st = hub.state.lock().unwrap();
        st.no_lfs = true;
        st.repos.get_mut("u/r").unwrap()[0].claimed_sha256 = git_blob_id(&bytes);
    }
    let cache = tempfile::tempdir().unwrap();
    let out = rocmforge(cache.path(), &hub, None, &["pull", "u/r:Q4_0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("git blob id (SHA-1) checked"),
        "{}",
        stderr(&out)
    );

    hub.state.lock().unwrap().repos.get_mut("u/r").unwrap()[0].claimed_sha256 = "cd".repeat(20);
    let other = tempfile::tempdir().unwrap();
    let out = rocmforge(other.path(), &hub, None, &["pull", "u/r:Q4_0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("git blob id")
            && stderr(&out).contains("does not match the hub's cdcd"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn wrong_ranges_and_long_bodies_are_refused() {
    let hub = FakeHub::start();
    hub.add("u/r", "m-Q4_0.gguf", payload(100_000));
    let cache = tempfile::tempdir().unwrap();
    // A cut first attempt, then a resume answered for the wrong bytes.
    {
        let mut st = hub.state.lock().unwrap();
        st.cuts_left = 1;
        st.cut_after = 10_000;
        st.bad_range = true;
    }
    let out = rocmforge(cache.path(), &hub, None, &["pull", "u/r:Q4_0"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("a partial answer for `bytes 10001-"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert_eq!(
        std::fs::read_dir(cache.path().join("hf/u/r"))
            .unwrap()
            .count(),
        0
    );

    {
        let mut st = hub.state.lock().unwrap();
        st.bad_range = false;
        st.extra_bytes = 5;
    }
    let out = rocmforge(cache.path(), &hub, None, &["pull", "u/r:Q4_0"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("runs past the announced 100000 bytes"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(cache.path().join("hf/u/r"))
            .unwrap()
            .count(),
        0
    );
}
