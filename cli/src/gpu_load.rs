//! Loading a model onto a GPU as the user sees it: a progress bar over the bytes of weights
//! uploaded, and out-of-memory turned into one line saying what to do.

use std::path::Path;

use ggml_core::backend::hip::UploadProgress;
use indicatif::{ProgressBar, ProgressStyle};
use model::ModelError;

/// A bar over the model file's size (weights dominate it), hidden off a terminal.
pub fn upload_bar(path: &Path) -> Option<ProgressBar> {
    let total = std::fs::metadata(path).ok()?.len();
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "uploading weights [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
    )
    .ok()?
    .progress_chars("=> ");
    bar.set_style(style);
    Some(bar)
}

/// The backend's upload callback, moving `bar`.
pub fn upload_progress(bar: ProgressBar) -> UploadProgress {
    Box::new(move |bytes| bar.set_position(bytes as u64))
}

/// A load error as the user should read it: a GPU out of memory says what to try.
pub fn explain_load_error(e: ModelError) -> anyhow::Error {
    let oom = matches!(&e, ModelError::Backend(b) if b.is_out_of_memory());
    if oom {
        anyhow::anyhow!(
            "the GPU is out of memory for this model ({e}); try a smaller context (-c), \
             or --device cpu"
        )
    } else {
        e.into()
    }
}
