//! The resumable download of one hub file: bytes go to `FILE.part`, a cut connection is
//! resumed with an HTTP Range request (a partial answer must carry the matching
//! `Content-Range`, and no answer may run past the announced size), and the file is renamed
//! into place only once its size and hash match the hub's metadata: the LFS SHA-256, or for
//! a file stored in git its blob id, or only the size where the listing gives no hash.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::{HubError, RepoFile};

/// How far a download has got, reported as bytes arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the file on disk so far (including a resumed `.part` file).
    pub done: u64,
    /// Bytes the file has in total.
    pub total: u64,
}

/// Which check a downloaded file passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verified {
    /// Its SHA-256 matches the hub's LFS metadata.
    Sha256,
    /// Its git blob id (SHA-1) matches the listing's `oid`.
    GitBlobId,
    /// Only its size could be checked: the listing gives no hash for it.
    SizeOnly,
}

impl std::fmt::Display for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verified::Sha256 => "size and SHA-256 checked against the hub's LFS metadata",
            Verified::GitBlobId => "size and git blob id (SHA-1) checked against the hub's listing",
            Verified::SizeOnly => "only the size checked: the hub's listing gives no hash for it",
        })
    }
}

/// Opens the download; `Some(n)` asks for the bytes from offset `n` on. Returns the URL
/// that answered (after redirects) and the response.
pub(super) type Get<'a> = dyn FnMut(Option<u64>) -> Result<(String, ureq::Response), HubError> + 'a;

/// Downloads `file` to `dest` through `get`, resuming up to `attempts` times.
pub(super) fn fetch(
    get: &mut Get<'_>,
    file: &RepoFile,
    dest: &Path,
    attempts: usize,
    progress: &mut dyn FnMut(Progress),
) -> Result<Verified, HubError> {
    let total = file.lfs.as_ref().map_or(file.size, |l| l.size);
    if dest.is_file() && file_len(dest)? == total {
        if let Ok(verified) = verify(file, dest)? {
            progress(Progress { done: total, total });
            return Ok(verified);
        }
    }
    let part = part_path(dest);
    let mut last_failure = String::from("no attempt made");
    for _ in 0..attempts {
        let have = if part.is_file() { file_len(&part)? } else { 0 };
        if have == total {
            break;
        }
        if have > total {
            remove(&part)?;
        }
        let from = (have > 0 && have < total).then_some(have);
        let (url, response) = match get(from) {
            Ok(answer) => answer,
            Err(HubError::Unreachable { detail, .. }) => {
                last_failure = detail;
                continue;
            }
            Err(HubError::Status { status: 416, .. }) => {
                last_failure = "the server refused to resume (HTTP 416)".to_string();
                remove(&part)?;
                continue;
            }
            Err(e) => return Err(e),
        };
        let start = match check_range(&response, from, total) {
            Ok(start) => start,
            Err(detail) => {
                remove_if_present(&part)?;
                return Err(HubError::BadAnswer { url, detail });
            }
        };
        match receive(response, &part, start, total, progress)? {
            Received::Whole => {}
            Received::Cut(detail) => last_failure = detail,
            Received::TooLong => {
                remove_if_present(&part)?;
                return Err(HubError::BadAnswer {
                    url,
                    detail: format!("the body runs past the announced {total} bytes"),
                });
            }
        }
    }
    let got = if part.is_file() { file_len(&part)? } else { 0 };
    if got < total {
        return Err(HubError::Interrupted {
            file: file.path.clone(),
            got,
            total,
            attempts,
            detail: last_failure,
        });
    }
    if got > total {
        remove(&part)?;
        return Err(HubError::SizeMismatch {
            file: file.path.clone(),
            expected: total,
            actual: got,
        });
    }
    let verified = match verify(file, &part)? {
        Ok(verified) => verified,
        Err(err) => {
            remove(&part)?;
            return Err(err);
        }
    };
    std::fs::rename(&part, dest).map_err(|source| HubError::Io {
        path: dest.to_path_buf(),
        source,
    })?;
    Ok(verified)
}

/// Where the body of `response` starts in the file: 0 for a whole answer (200), `from` for
/// a partial one (206) whose `Content-Range` is `bytes FROM-(TOTAL-1)/TOTAL` (or `/*`).
/// A partial answer that was not asked for or names other bytes is refused.
fn check_range(response: &ureq::Response, from: Option<u64>, total: u64) -> Result<u64, String> {
    if response.status() != 206 {
        return Ok(0);
    }
    let Some(from) = from else {
        return Err("a partial answer (HTTP 206) to a request for the whole file".to_string());
    };
    let want = format!("bytes {from}-{}/", total.saturating_sub(1));
    match response.header("Content-Range") {
        Some(range)
            if range.starts_with(&want) && {
                let size = &range[want.len()..];
                size == "*" || size == total.to_string()
            } =>
        {
            Ok(from)
        }
        Some(range) => Err(format!(
            "a partial answer for `{range}` to a request for bytes {from}- of {total}"
        )),
        None => Err("a partial answer (HTTP 206) without Content-Range".to_string()),
    }
}

/// How a body ended.
enum Received {
    /// Every byte up to the announced size arrived.
    Whole,
    /// The connection was cut (resume later).
    Cut(String),
    /// More bytes than announced arrived.
    TooLong,
}

/// Writes the body of `response` to `part` from offset `start` (truncating the file there),
/// never past `total` bytes; `Err` is a local I/O failure.
fn receive(
    response: ureq::Response,
    part: &Path,
    start: u64,
    total: u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<Received, HubError> {
    let io = |source| HubError::Io {
        path: part.to_path_buf(),
        source,
    };
    let mut out = if start > 0 {
        OpenOptions::new().append(true).open(part).map_err(io)?
    } else {
        File::create(part).map_err(io)?
    };
    let mut done = start;
    progress(Progress { done, total });
    let mut body = response.into_reader();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                out.flush().map_err(io)?;
                return Ok(Received::Cut(e.to_string()));
            }
        };
        if n as u64 > total - done {
            return Ok(Received::TooLong);
        }
        out.write_all(&buf[..n]).map_err(io)?;
        done += n as u64;
        progress(Progress { done, total });
    }
    out.flush().map_err(io)?;
    if done < total {
        return Ok(Received::Cut(format!(
            "connection closed at {done} of {total} bytes"
        )));
    }
    Ok(Received::Whole)
}

/// Checks the complete file at `path` (of the right size) against the strongest hash the
/// listing gives: `Ok(Ok(check))` when it passes, `Ok(Err(mismatch))` when it does not.
fn verify(file: &RepoFile, path: &Path) -> Result<Result<Verified, HubError>, HubError> {
    if let Some(lfs) = &file.lfs {
        let actual = digest_file(Sha256::new(), path)?;
        return Ok(if actual.eq_ignore_ascii_case(&lfs.oid) {
            Ok(Verified::Sha256)
        } else {
            Err(HubError::Checksum {
                file: file.path.clone(),
                expected: lfs.oid.clone(),
                actual,
            })
        });
    }
    let Some(oid) = file.oid.as_deref().filter(|o| o.len() == 40) else {
        return Ok(Ok(Verified::SizeOnly));
    };
    let mut blob = Sha1::new();
    blob.update(format!("blob {}\0", file.size).as_bytes());
    let actual = digest_file(blob, path)?;
    Ok(if actual.eq_ignore_ascii_case(oid) {
        Ok(Verified::GitBlobId)
    } else {
        Err(HubError::BlobId {
            file: file.path.clone(),
            expected: oid.to_string(),
            actual,
        })
    })
}

/// `hasher` fed with a file's bytes, lowercase hex.
fn digest_file(mut hasher: impl Digest, path: &Path) -> Result<String, HubError> {
    let io = |source| HubError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Where the bytes of `dest` collect until the download is complete and checked.
fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_os_string();
    name.push(".part");
    PathBuf::from(name)
}

fn file_len(path: &Path) -> Result<u64, HubError> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|source| HubError::Io {
            path: path.to_path_buf(),
            source,
        })
}

fn remove_if_present(path: &Path) -> Result<(), HubError> {
    if path.is_file() {
        remove(path)?;
    }
    Ok(())
}

fn remove(path: &Path) -> Result<(), HubError> {
    std::fs::remove_file(path).map_err(|source| HubError::Io {
        path: path.to_path_buf(),
        source,
    })
}
