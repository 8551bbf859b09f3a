//! The resumable download of one hub file: bytes go to `FILE.part`, a cut connection is
//! resumed with an HTTP Range request, and the file is renamed into place only once its
//! size and SHA-256 match the hub's metadata.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

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

/// Opens the download; `Some(n)` asks for the bytes from offset `n` on.
pub(super) type Get<'a> = dyn FnMut(Option<u64>) -> Result<ureq::Response, HubError> + 'a;

/// Downloads `file` to `dest` through `get`, resuming up to `attempts` times.
pub(super) fn fetch(
    get: &mut Get<'_>,
    file: &RepoFile,
    dest: &Path,
    attempts: usize,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), HubError> {
    let total = file.lfs.as_ref().map_or(file.size, |l| l.size);
    if dest.is_file() && file_len(dest)? == total && hash_ok(file, dest)?.is_none() {
        progress(Progress { done: total, total });
        return Ok(());
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
        let response = match get(from) {
            Ok(response) => response,
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
        let resumed = from.is_some() && response.status() == 206;
        let start = if resumed { have } else { 0 };
        if let Err(detail) = receive(response, &part, start, total, progress)? {
            last_failure = detail;
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
    if let Some(err) = hash_ok(file, &part)? {
        remove(&part)?;
        return Err(err);
    }
    std::fs::rename(&part, dest).map_err(|source| HubError::Io {
        path: dest.to_path_buf(),
        source,
    })
}

/// Writes the body of `response` to `part` from offset `start` (truncating the file there).
/// `Ok(Err(detail))` is a cut connection (resume later); `Err` a local I/O failure.
fn receive(
    response: ureq::Response,
    part: &Path,
    start: u64,
    total: u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<Result<(), String>, HubError> {
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
                return Ok(Err(e.to_string()));
            }
        };
        out.write_all(&buf[..n]).map_err(io)?;
        done += n as u64;
        progress(Progress { done, total });
    }
    out.flush().map_err(io)?;
    if done < total {
        return Ok(Err(format!("connection closed at {done} of {total} bytes")));
    }
    Ok(Ok(()))
}

/// `None` if `path`'s SHA-256 matches the hub's LFS hash (or there is none to check).
fn hash_ok(file: &RepoFile, path: &Path) -> Result<Option<HubError>, HubError> {
    let Some(lfs) = &file.lfs else {
        return Ok(None);
    };
    let actual = sha256_file(path)?;
    if actual.eq_ignore_ascii_case(&lfs.oid) {
        Ok(None)
    } else {
        Ok(Some(HubError::Checksum {
            file: file.path.clone(),
            expected: lfs.oid.clone(),
            actual,
        }))
    }
}

/// SHA-256 of a file, lowercase hex.
fn sha256_file(path: &Path) -> Result<String, HubError> {
    let io = |source| HubError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
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

fn remove(path: &Path) -> Result<(), HubError> {
    std::fs::remove_file(path).map_err(|source| HubError::Io {
        path: path.to_path_buf(),
        source,
    })
}
