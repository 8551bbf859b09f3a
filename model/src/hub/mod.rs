//! The Hugging Face hub client behind `rocmforge pull`: lists a repository's files, picks
//! the GGUF file a [`HubSpec`] names, and downloads it into the model cache (resumable,
//! size and SHA-256 checked against the hub's LFS metadata).
//!
//! Endpoints used (the hub's public API; `HF_ENDPOINT` replaces `https://huggingface.co`):
//! - `GET {endpoint}/api/models/{user}/{repo}/tree/main`: a JSON array of entries
//!   `{"type": "file", "path": "x.gguf", "size": N, "oid": "<git sha1>",
//!   "lfs": {"oid": "<sha256>", "size": N, "pointerSize": N}}`, paged by a
//!   `Link: <next url>; rel="next"` header;
//! - `GET {endpoint}/{user}/{repo}/resolve/main/{file}`: the file's bytes (redirects
//!   followed), with `Range: bytes=N-` to resume.
//!
//! `HF_TOKEN`, when set, is sent as `Authorization: Bearer …` only to the endpoint's own
//! origin (scheme, host and port): redirects are followed by hand, and a `Link` page or a
//! redirect to another origin (the hub's CDN, or plain http from an https endpoint) gets no
//! token.

mod download;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cache::{CacheError, HubSelect, HubSpec};

pub use download::{Progress, Verified};

/// The hub used when `HF_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Pages of a repository listing followed before giving up (the hub pages by ~1000 files).
const MAX_LISTING_PAGES: usize = 100;

/// Redirects followed for one request.
const MAX_REDIRECTS: usize = 10;

/// How many times a cut download is resumed before `pull` gives up.
const DOWNLOAD_ATTEMPTS: usize = 4;

/// What can go wrong talking to the hub or writing the download.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The server could not be reached or the connection failed.
    #[error("cannot reach {url}: {detail}")]
    Unreachable {
        /// The URL requested.
        url: String,
        /// What the HTTP client said.
        detail: String,
    },
    /// 404: no such repository or file.
    #[error("{what} not found on the hub ({url})")]
    NotFound {
        /// What was asked for (`repository u/r`, `file u/r/x.gguf`).
        what: String,
        /// The URL requested.
        url: String,
    },
    /// 401/403 without a token: the repository is gated or private.
    #[error("{url} needs authentication (gated or private repository): set HF_TOKEN to a Hugging Face access token")]
    NeedsToken {
        /// The URL requested.
        url: String,
    },
    /// 401/403 with a token: the token does not grant access.
    #[error("{url} refused the token in HF_TOKEN (status {status}): check that it is valid and has access to the repository")]
    TokenRefused {
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// Any other HTTP error status.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The file listing is not the JSON the hub sends.
    #[error("unexpected file listing from {url}: {detail}")]
    BadListing {
        /// The URL requested.
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// No GGUF file of the repository matches the name.
    #[error(
        "no GGUF file in {repo} matches `{wanted}`; available: {}",
        list_or_none(available)
    )]
    NoMatch {
        /// `USER/REPO`.
        repo: String,
        /// The quantization or file asked for.
        wanted: String,
        /// The repository's GGUF files.
        available: Vec<String>,
    },
    /// Several GGUF files match and the name does not say which.
    #[error("{repo} has several matching GGUF files ({}); name one as {repo}:QUANT or {repo}/FILE.gguf", candidates.join(", "))]
    Ambiguous {
        /// `USER/REPO`.
        repo: String,
        /// The matching files.
        candidates: Vec<String>,
    },
    /// The connection was cut too many times.
    #[error("download of {file} cut off at {got} of {total} bytes after {attempts} attempts ({detail}); run the same command again to resume")]
    Interrupted {
        /// The file being downloaded.
        file: String,
        /// Bytes on disk so far (kept in the `.part` file).
        got: u64,
        /// Bytes expected.
        total: u64,
        /// Attempts made.
        attempts: usize,
        /// The last failure.
        detail: String,
    },
    /// The downloaded file's size differs from the hub's metadata.
    #[error("{file}: downloaded {actual} bytes but the hub says {expected}; the partial file was removed")]
    SizeMismatch {
        /// The file.
        file: String,
        /// Size from the listing.
        expected: u64,
        /// Size received.
        actual: u64,
    },
    /// The downloaded file's SHA-256 differs from the hub's LFS metadata.
    #[error("{file}: SHA-256 {actual} does not match the hub's {expected}; the corrupt download was removed")]
    Checksum {
        /// The file.
        file: String,
        /// SHA-256 from the listing.
        expected: String,
        /// SHA-256 of the bytes received.
        actual: String,
    },
    /// The downloaded file's git blob id (the listing's `oid`, for files without LFS
    /// metadata) differs.
    #[error("{file}: git blob id {actual} does not match the hub's {expected}; the corrupt download was removed")]
    BlobId {
        /// The file.
        file: String,
        /// Blob id from the listing.
        expected: String,
        /// Blob id of the bytes received.
        actual: String,
    },
    /// A server answer that cannot be trusted: a partial answer to the wrong range, or more
    /// bytes than announced.
    #[error("{url}: {detail}; the partial file was removed")]
    BadAnswer {
        /// The URL requested.
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// Reading or writing a local file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The local path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The model cache could not be located.
    #[error(transparent)]
    Cache(#[from] CacheError),
}

fn list_or_none(files: &[String]) -> String {
    if files.is_empty() {
        "none".to_string()
    } else {
        files.join(", ")
    }
}

/// One file of a hub repository, from the tree listing.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct RepoFile {
    /// Path inside the repository.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Git blob id (SHA-1 of `blob {size}\0` and the content) of files stored in git.
    #[serde(default)]
    pub oid: Option<String>,
    /// LFS metadata: present for large files such as GGUF models.
    #[serde(default)]
    pub lfs: Option<LfsInfo>,
}

/// The LFS pointer of a hub file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct LfsInfo {
    /// SHA-256 of the file's content, lowercase hex.
    pub oid: String,
    /// Size of the file's content in bytes.
    pub size: u64,
}

#[derive(Deserialize)]
struct TreeEntry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(flatten)]
    file: RepoFile,
}

/// A client for one hub endpoint, with an optional access token.
pub struct HubClient {
    endpoint: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl HubClient {
    /// A client for `endpoint` (no trailing slash needed) sending `token` when given.
    pub fn new(endpoint: &str, token: Option<String>) -> HubClient {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(30))
            .timeout_read(Duration::from_secs(60))
            // Redirects are followed by `get`, which decides where the token may go.
            .redirects(0)
            .user_agent(concat!("rocmforge/", env!("CARGO_PKG_VERSION")))
            .build();
        HubClient {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            token: token.filter(|t| !t.is_empty()),
            agent,
        }
    }

    /// A client configured from `HF_ENDPOINT` and `HF_TOKEN`.
    pub fn from_env() -> HubClient {
        let endpoint = std::env::var("HF_ENDPOINT")
            .ok()
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        HubClient::new(&endpoint, std::env::var("HF_TOKEN").ok())
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Every file at the top of the repository `repo_id` (`USER/REPO`) on branch main.
    pub fn list_files(&self, repo_id: &str) -> Result<Vec<RepoFile>, HubError> {
        let mut url = format!("{}/api/models/{repo_id}/tree/main", self.endpoint);
        let mut files = Vec::new();
        for _ in 0..MAX_LISTING_PAGES {
            let (_, response) = self.get(&url, None, &format!("repository {repo_id}"))?;
            let next = response.header("Link").and_then(next_link);
            let body = response.into_string().map_err(|e| HubError::Unreachable {
                url: url.clone(),
                detail: e.to_string(),
            })?;
            let entries: Vec<TreeEntry> =
                serde_json::from_str(&body).map_err(|e| HubError::BadListing {
                    url: url.clone(),
                    detail: e.to_string(),
                })?;
            files.extend(
                entries
                    .into_iter()
                    .filter(|e| e.kind == "file")
                    .map(|e| e.file),
            );
            match next {
                Some(next) if next.starts_with('/') => url = format!("{}{next}", self.endpoint),
                Some(next) => url = next,
                None => return Ok(files),
            }
        }
        Err(HubError::BadListing {
            url,
            detail: format!("more than {MAX_LISTING_PAGES} pages"),
        })
    }

    /// GET `url` (with `Range: bytes=N-` when `from` is given), following redirects and
    /// sending the token only to the endpoint's origin; error statuses become
    /// [`HubError`]s that name `what`. Returns the final URL with the response.
    fn get(
        &self,
        url: &str,
        from: Option<u64>,
        what: &str,
    ) -> Result<(String, ureq::Response), HubError> {
        let mut url = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self.agent.get(&url);
            if let Some(token) = self.token.as_ref().filter(|_| self.may_send_token(&url)) {
                request = request.set("Authorization", &format!("Bearer {token}"));
            }
            if let Some(from) = from {
                request = request.set("Range", &format!("bytes={from}-"));
            }
            let response = match request.call() {
                Ok(response) => response,
                Err(ureq::Error::Status(status, _)) => {
                    return Err(self.status_error(&url, status, what))
                }
                Err(ureq::Error::Transport(t)) => {
                    return Err(HubError::Unreachable {
                        url,
                        detail: t.to_string(),
                    })
                }
            };
            if !(300..400).contains(&response.status()) {
                return Ok((url, response));
            }
            let Some(location) = response.header("Location") else {
                return Err(HubError::Status {
                    url,
                    status: response.status(),
                });
            };
            url = resolve_location(&url, location);
        }
        Err(HubError::BadAnswer {
            url,
            detail: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    /// Whether `url` is on the endpoint's own origin, the only place the token goes.
    fn may_send_token(&self, url: &str) -> bool {
        origin(url).is_some() && origin(url) == origin(&self.endpoint)
    }

    fn status_error(&self, url: &str, status: u16, what: &str) -> HubError {
        let url = url.to_string();
        match (status, &self.token) {
            (404, _) => HubError::NotFound {
                what: what.to_string(),
                url,
            },
            (401 | 403, None) => HubError::NeedsToken { url },
            (401 | 403, Some(_)) => HubError::TokenRefused { url, status },
            _ => HubError::Status { url, status },
        }
    }

    /// Downloads `spec`'s file into the cache directory `cache` (under
    /// `hf/USER/REPO/`), reporting progress; returns the file's path. A file already
    /// there with the right size and hash is not downloaded again. Also returns the check
    /// the file passed.
    pub fn pull(
        &self,
        spec: &HubSpec,
        cache: &Path,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(PathBuf, Verified), HubError> {
        let repo_id = spec.repo_id();
        let files = self.list_files(&repo_id)?;
        let file = pick(spec, &files)?;
        let dir = spec.dir_in(cache);
        std::fs::create_dir_all(&dir).map_err(|source| HubError::Io {
            path: dir.clone(),
            source,
        })?;
        let url = format!(
            "{}/{repo_id}/resolve/main/{}",
            self.endpoint,
            encode_path(&file.path)
        );
        let what = format!("file {repo_id}/{}", file.path);
        let dest = dir.join(&file.path);
        let verified = download::fetch(
            &mut |from| self.get(&url, from, &what),
            file,
            &dest,
            DOWNLOAD_ATTEMPTS,
            progress,
        )?;
        Ok((dest, verified))
    }
}

/// The one GGUF file of `files` that `spec` selects.
pub fn pick<'a>(spec: &HubSpec, files: &'a [RepoFile]) -> Result<&'a RepoFile, HubError> {
    let ggufs: Vec<&RepoFile> = files
        .iter()
        .filter(|f| !f.path.contains('/') && f.path.to_ascii_lowercase().ends_with(".gguf"))
        .collect();
    let matching: Vec<&RepoFile> = ggufs
        .iter()
        .copied()
        .filter(|f| spec.selects(&f.path))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one),
        [] => Err(HubError::NoMatch {
            repo: spec.repo_id(),
            wanted: match &spec.select {
                HubSelect::Any => "*.gguf".to_string(),
                HubSelect::Quant(q) => q.clone(),
                HubSelect::File(f) => f.clone(),
            },
            available: ggufs.iter().map(|f| f.path.clone()).collect(),
        }),
        _ => Err(HubError::Ambiguous {
            repo: spec.repo_id(),
            candidates: matching.iter().map(|f| f.path.clone()).collect(),
        }),
    }
}

/// The `rel="next"` target of an HTTP `Link` header (RFC 8288), as the hub sends for
/// paginated listings: `<https://…?cursor=…>; rel="next"`.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let (target, params) = link.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().eq_ignore_ascii_case("rel=\"next\""));
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_string())
    })
}

/// `scheme://host:port` of an absolute http(s) URL, lowercased, with the default port
/// made explicit; `None` for anything else.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?.to_ascii_lowercase();
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.contains(']') => (h.to_string(), p.parse().ok()?),
        _ => (host_port, default_port),
    };
    (!host.is_empty()).then(|| format!("{scheme}://{host}:{port}"))
}

/// The absolute URL a redirect's `Location` names, relative to `base`.
fn resolve_location(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let Some((scheme, rest)) = base.split_once("://") else {
        return location.to_string();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    if let Some(path) = location.strip_prefix("//") {
        return format!("{scheme}://{path}");
    }
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    let dir = match rest
        .split(['?', '#'])
        .next()
        .unwrap_or(rest)
        .rsplit_once('/')
    {
        Some((dir, _)) if dir.len() >= authority.len() => dir.to_string(),
        _ => authority.to_string(),
    };
    format!("{scheme}://{dir}/{location}")
}

/// Percent-encodes a repository file path for a URL (unreserved characters and `/` kept).
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> RepoFile {
        RepoFile {
            path: path.into(),
            size: 1,
            oid: None,
            lfs: None,
        }
    }

    #[test]
    fn picks_the_file_a_spec_names() {
        let files = [
            file("README.md"),
            file("m-Q4_K_M.gguf"),
            file("m-Q4_K_S.gguf"),
            file("sub/m-Q8_0.gguf"),
        ];
        let spec = |s| HubSpec::parse(s).unwrap();
        assert_eq!(
            pick(&spec("u/r:q4_k_m"), &files).unwrap().path,
            "m-Q4_K_M.gguf"
        );
        assert_eq!(
            pick(&spec("u/r/m-Q4_K_S.gguf"), &files).unwrap().path,
            "m-Q4_K_S.gguf"
        );
        let err = pick(&spec("u/r:Q8_0"), &files).unwrap_err().to_string();
        assert!(
            err.contains("available: m-Q4_K_M.gguf, m-Q4_K_S.gguf"),
            "{err}"
        );
        assert!(matches!(
            pick(&spec("u/r"), &files),
            Err(HubError::Ambiguous { .. })
        ));
    }

    #[test]
    fn parses_the_tree_listing() {
        let json = r#"[{"type":"directory","oid":"x","size":0,"path":"sub"},
            {"type":"file","oid":"y","size":12,"path":"a.gguf",
             "lfs":{"oid":"abc","size":12,"pointerSize":130}}]"#;
        let entries: Vec<TreeEntry> = serde_json::from_str(json).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].file.lfs.as_ref().unwrap().oid, "abc");
        assert_eq!(encode_path("a b+c.gguf"), "a%20b%2Bc.gguf");
        assert_eq!(
            next_link("<https://h/api/x?cursor=2>; rel=\"next\", <https://h/p>; rel=\"prev\"")
                .as_deref(),
            Some("https://h/api/x?cursor=2")
        );
        assert_eq!(next_link("<https://h/p>; rel=\"prev\""), None);
    }

    #[test]
    fn origins_decide_where_the_token_goes() {
        let c = HubClient::new("https://huggingface.co", Some("t".into()));
        assert!(c.may_send_token("https://huggingface.co/api/models/u/r/tree/main"));
        assert!(c.may_send_token("https://HuggingFace.co:443/u/r/resolve/main/a.gguf"));
        assert!(!c.may_send_token("http://huggingface.co/u/r"));
        assert!(!c.may_send_token("https://cdn-lfs.huggingface.co/x"));
        assert!(!c.may_send_token("https://huggingface.co.evil.example/x"));
        assert!(!c.may_send_token("https://huggingface.co@evil.example/x"));
        assert!(!c.may_send_token("/relative"));
        let local = HubClient::new("http://127.0.0.1:8080/", None);
        assert!(local.may_send_token("http://127.0.0.1:8080/a"));
        assert!(!local.may_send_token("http://127.0.0.1:8081/a"));
        assert_eq!(
            resolve_location("https://h.co/u/r/resolve/main/a.gguf", "/x/y?z=1"),
            "https://h.co/x/y?z=1"
        );
        assert_eq!(
            resolve_location("https://h.co/a/b", "https://cdn.co/f"),
            "https://cdn.co/f"
        );
        assert_eq!(
            resolve_location("https://h.co/a/b", "c"),
            "https://h.co/a/c"
        );
        assert_eq!(
            resolve_location("https://h.co/a/b", "//cdn.co/f"),
            "https://cdn.co/f"
        );
    }
}
