//! Finding and opening shared libraries, and resolving their symbols into typed pointers.
//!
//! Libraries stay loaded for the life of the process: each path is opened once and never
//! closed. GPU runtimes are not built to be unloaded, and some (ROCm's comgr with a shared
//! LLVM that refuses to unload) abort the process when opened a second time after a close.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use libloading::Library;

use crate::error::LoadError;

/// Every library opened so far, by the path or name it was opened with.
static OPENED: Mutex<Option<HashMap<String, &'static Library>>> = Mutex::new(None);

/// Opens `path` once per process; later calls return the same handle.
fn open_once(path: &str) -> Result<&'static Library, libloading::Error> {
    let mut guard = OPENED.lock().unwrap_or_else(|p| p.into_inner());
    let opened = guard.get_or_insert_with(HashMap::new);
    if let Some(lib) = opened.get(path) {
        return Ok(lib);
    }
    // SAFETY: opening a vendor runtime library runs its initialisers; these are the
    // HIP/CUDA/BLAS libraries this crate exists to bind, which are designed to be loaded
    // with dlopen. The lock serialises first opens.
    let lib: &'static Library = Box::leak(Box::new(unsafe { Library::new(path) }?));
    opened.insert(path.to_string(), lib);
    Ok(lib)
}

/// An opened shared library and the path it was opened from.
pub struct Loaded {
    lib: &'static Library,
    /// The path or loader name that opened.
    pub path: String,
    /// The library family (for messages).
    pub family: &'static str,
}

/// Candidate files for a library: `<dir>/<name>` for each directory, then each bare name
/// (resolved by the dynamic loader's own search path).
pub fn candidates(dirs: &[String], names: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for dir in dirs {
        for name in names {
            out.push(Path::new(dir).join(name).to_string_lossy().into_owned());
        }
    }
    out.extend(names.iter().map(|n| n.to_string()));
    out
}

/// Directories named by environment variables (each given one or more sub-directories to
/// look in), skipping unset ones.
pub fn env_dirs(vars: &[&str], subdirs: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for var in vars {
        if let Some(root) = std::env::var_os(var) {
            for sub in subdirs {
                out.push(Path::new(&root).join(sub).to_string_lossy().into_owned());
            }
        }
    }
    out
}

/// Opens the first candidate that loads; the error lists every attempt and its reason.
pub fn open_first(family: &'static str, candidates: &[String]) -> Result<Loaded, LoadError> {
    let mut tried = Vec::new();
    for path in candidates {
        if path.contains('/') && !Path::new(path).exists() {
            tried.push((path.clone(), "no such file".to_string()));
            continue;
        }
        match open_once(path) {
            Ok(lib) => {
                return Ok(Loaded {
                    lib,
                    path: path.clone(),
                    family,
                })
            }
            Err(e) => tried.push((path.clone(), e.to_string())),
        }
    }
    Err(LoadError::LibraryNotFound {
        library: family,
        tried,
    })
}

impl Loaded {
    /// Resolves a required symbol as the function-pointer type `T`.
    ///
    /// # Safety
    /// `T` must be the exact C signature the library exports under `name`.
    pub unsafe fn sym<T: Copy>(&self, name: &'static str) -> Result<T, LoadError> {
        // SAFETY: the caller guarantees `T` matches the exported symbol's type.
        match unsafe { self.lib.get::<T>(name.as_bytes()) } {
            Ok(s) => Ok(*s),
            Err(e) => Err(LoadError::MissingSymbol {
                library: self.family,
                path: self.path.clone(),
                symbol: name,
                reason: e.to_string(),
            }),
        }
    }

    /// Resolves the first of several names that exists (versioned entry points such as
    /// `cuEventElapsedTime_v2` before `cuEventElapsedTime`).
    ///
    /// # Safety
    /// `T` must be the exact C signature of every name listed.
    pub unsafe fn sym_any<T: Copy>(&self, names: &[&'static str]) -> Result<T, LoadError> {
        let mut last = None;
        for name in names {
            // SAFETY: forwarded to the caller's guarantee.
            match unsafe { self.sym(name) } {
                Ok(f) => return Ok(f),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(LoadError::MissingSymbol {
            library: self.family,
            path: self.path.clone(),
            symbol: "<none>",
            reason: "no symbol names given".into(),
        }))
    }
}

/// Declares a table of C entry points and its loader: required entries fail the load with
/// the missing symbol's name; `optional` entries become `Option`s. Each entry lists the
/// exported names to try, first match wins.
macro_rules! fn_table {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $field:ident = [$($sym:literal),+] : fn($($arg:ty),* $(,)?) -> $ret:ty; )*
        }
        optional {
            $( $ofield:ident = [$($osym:literal),+] : fn($($oarg:ty),* $(,)?) -> $oret:ty; )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $(
                #[doc = concat!("Required entry point", $(" `", $sym, "`"),+, ".")]
                pub $field: unsafe extern "C" fn($($arg),*) -> $ret,
            )*
            $(
                #[doc = concat!("Optional entry point", $(" `", $osym, "`"),+, ".")]
                pub $ofield: Option<unsafe extern "C" fn($($oarg),*) -> $oret>,
            )*
        }

        impl $name {
            /// Resolves every entry point from `lib`.
            ///
            /// # Safety
            /// `lib` must be the library these C signatures were written for.
            pub unsafe fn load(lib: &$crate::loader::Loaded) -> Result<Self, $crate::error::LoadError> {
                Ok(Self {
                    // SAFETY: the signatures above are transcribed from the vendor headers.
                    $( $field: unsafe { lib.sym_any(&[$($sym),+])? }, )*
                    // SAFETY: as above.
                    $( $ofield: unsafe { lib.sym_any(&[$($osym),+]) }.ok(), )*
                })
            }
        }
    };
}
pub(crate) use fn_table;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_put_directories_before_bare_names() {
        let c = candidates(
            &["/opt/rocm/lib".into()],
            &["libamdhip64.so", "libamdhip64.so.5"],
        );
        assert_eq!(
            c,
            vec![
                "/opt/rocm/lib/libamdhip64.so",
                "/opt/rocm/lib/libamdhip64.so.5",
                "libamdhip64.so",
                "libamdhip64.so.5"
            ]
        );
    }

    #[test]
    fn a_library_is_opened_once_per_process() {
        let first = open_first("libm", &["libm.so.6".into()]).expect("libm");
        drop(open_first("libm", &["libm.so.6".into()]).expect("libm again"));
        let again = open_first("libm", &["libm.so.6".into()]).expect("libm a third time");
        assert!(
            std::ptr::eq(first.lib, again.lib),
            "reopened instead of reused"
        );
    }

    #[test]
    fn a_missing_symbol_names_itself() {
        let libm = open_first("libm", &["libm.so.6".into()]).expect("libm");
        // SAFETY: the symbol does not exist, so no pointer of this type is ever made.
        let err = unsafe { libm.sym::<unsafe extern "C" fn()>("rocmforge_no_such_symbol") }
            .expect_err("no such symbol");
        let msg = err.to_string();
        assert!(
            msg.starts_with("libm (libm.so.6) has no symbol `rocmforge_no_such_symbol`"),
            "{msg}"
        );
    }

    #[test]
    fn missing_library_lists_attempts() {
        let Err(err) = open_first(
            "libnothing",
            &[
                "/nonexistent/libnothing.so".into(),
                "libnothing-rocmforge.so".into(),
            ],
        ) else {
            panic!("a library that does not exist opened");
        };
        let msg = err.to_string();
        assert!(
            msg.contains("/nonexistent/libnothing.so (no such file)"),
            "{msg}"
        );
        assert!(msg.contains("libnothing-rocmforge.so ("), "{msg}");
    }
}
