//! Writing a conversion's output without ever destroying an input: the output path is
//! refused when it names the input (compared by device and inode, so hard links and
//! symlinks count), and the file is written under a temporary name in the output's folder
//! and renamed over the output only when it is complete, so an error or a cancel leaves
//! neither a partial file nor a changed input.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::QuantizeFileError;

/// Refuses `output` when it is the same file as `input` (through any link). A missing
/// `output` is fine; an unreadable `input` is left for the reader to report.
pub fn check_distinct(input: &Path, output: &Path) -> Result<(), QuantizeFileError> {
    let (Ok(a), Ok(b)) = (std::fs::metadata(input), std::fs::metadata(output)) else {
        return Ok(());
    };
    if same_file(&a, &b) {
        return Err(QuantizeFileError::SameFile {
            input: input.to_path_buf(),
            output: output.to_path_buf(),
        });
    }
    Ok(())
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(not(unix))]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    // Without inode numbers: the same size and modification time is taken as the same file.
    (a.len(), a.modified().ok()) == (b.len(), b.modified().ok())
}

/// A file being written under a temporary name beside its destination; dropped without
/// [`TempOutput::commit`], it is removed.
pub(crate) struct TempOutput {
    file: tempfile::NamedTempFile,
    dest: PathBuf,
}

impl TempOutput {
    /// A new temporary file in `dest`'s folder.
    pub(crate) fn new(dest: &Path) -> Result<TempOutput, QuantizeFileError> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let file = tempfile::Builder::new()
            .prefix(".rocmforge-")
            .suffix(".partial")
            .tempfile_in(dir)
            .map_err(|source| QuantizeFileError::Io {
                path: dest.to_path_buf(),
                source,
            })?;
        Ok(TempOutput {
            file,
            dest: dest.to_path_buf(),
        })
    }

    /// The destination path (for messages).
    pub(crate) fn path(&self) -> &Path {
        &self.dest
    }

    /// The open file to write.
    pub(crate) fn file(&self) -> Result<File, QuantizeFileError> {
        self.file
            .as_file()
            .try_clone()
            .map_err(|source| QuantizeFileError::Io {
                path: self.dest.clone(),
                source,
            })
    }

    /// Renames the finished file over the destination.
    pub(crate) fn commit(self) -> Result<(), QuantizeFileError> {
        let dest = self.dest;
        self.file
            .persist(&dest)
            .map(drop)
            .map_err(|e| QuantizeFileError::Io {
                path: dest,
                source: e.error,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_to_the_input_are_the_input() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.gguf");
        std::fs::write(&input, b"model").unwrap();
        let hard = dir.path().join("hard.gguf");
        std::fs::hard_link(&input, &hard).unwrap();
        let other = dir.path().join("other.gguf");
        std::fs::write(&other, b"model").unwrap();
        assert!(check_distinct(&input, &hard).is_err());
        assert!(check_distinct(&input, &input).is_err());
        #[cfg(unix)]
        {
            let sym = dir.path().join("sym.gguf");
            std::os::unix::fs::symlink(&input, &sym).unwrap();
            assert!(check_distinct(&input, &sym).is_err());
        }
        assert!(check_distinct(&input, &other).is_ok());
        assert!(check_distinct(&input, &dir.path().join("new.gguf")).is_ok());
    }

    #[test]
    fn an_uncommitted_output_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.gguf");
        let t = TempOutput::new(&dest).unwrap();
        std::io::Write::write_all(&mut t.file().unwrap(), b"half").unwrap();
        drop(t);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let t = TempOutput::new(&dest).unwrap();
        std::io::Write::write_all(&mut t.file().unwrap(), b"whole").unwrap();
        t.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"whole");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
