//! Where a model runs: `--device auto|gpu|cpu`. [`AnyModel`] holds a model on either
//! backend, and [`with_model!`](crate::with_model) runs code written once, generically over
//! the backend, on whichever it is.

use std::path::Path;
use std::sync::Arc;

use ggml_core::backend::hip::{HipBackend, UploadProgress};
use ggml_core::backend::CpuBackend;
use ggml_core::gguf::GgufFile;

use crate::error::ModelError;
use crate::forward::{LoadOptions, Model};

/// Which backend to run a model on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The GPU when one is usable, else the CPU (saying why).
    #[default]
    Auto,
    /// The GPU, or an error.
    Gpu,
    /// The CPU.
    Cpu,
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<DeviceChoice, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "gpu" | "hip" | "cuda" => Ok(DeviceChoice::Gpu),
            "cpu" => Ok(DeviceChoice::Cpu),
            _ => Err(format!("unknown device `{s}` (expected auto, gpu or cpu)")),
        }
    }
}

/// A model on the CPU or on a GPU.
// One value per process, made once: the size of the enum does not matter.
#[allow(clippy::large_enum_variant)]
pub enum AnyModel {
    /// On the CPU backend.
    Cpu(Model<CpuBackend>),
    /// On the HIP backend (AMD through HIP, NVIDIA through the CUDA driver).
    Hip(Model<HipBackend>),
}

/// Runs `$body` with `$m` bound to the model inside an [`AnyModel`], whichever backend it
/// is on (the body is compiled once per backend).
#[macro_export]
macro_rules! with_model {
    ($any:expr, $m:ident => $body:expr) => {
        match $any {
            $crate::AnyModel::Cpu($m) => $body,
            $crate::AnyModel::Hip($m) => $body,
        }
    };
}

impl AnyModel {
    /// The backend's name ("cpu", "hip").
    pub fn backend_name(&self) -> &'static str {
        crate::with_model!(self, m => m.backend_name())
    }

    /// The context length contexts get by default.
    pub fn n_ctx(&self) -> usize {
        crate::with_model!(self, m => m.n_ctx())
    }

    /// The GGUF file the model was loaded from.
    pub fn gguf(&self) -> &GgufFile {
        crate::with_model!(self, m => m.gguf())
    }
}

/// A loaded model and, when `auto` fell back to the CPU, why.
pub struct Placed {
    /// The model.
    pub model: AnyModel,
    /// Set when the GPU was wanted (`auto`) but not usable: one line saying why.
    pub fallback: Option<String>,
}

/// Opens `path` and builds the model on the backend `device` picks. `progress` (GPU only)
/// is told the bytes of weights uploaded so far.
pub fn load(
    path: &Path,
    opts: &LoadOptions,
    device: DeviceChoice,
    progress: Option<UploadProgress>,
) -> Result<Placed, ModelError> {
    let file = Arc::new(GgufFile::open(path)?);
    let cpu = |file| -> Result<AnyModel, ModelError> {
        let backend = CpuBackend::with_numerics(opts.threads, opts.numerics)?;
        Ok(AnyModel::Cpu(Model::from_file(file, backend, opts)?))
    };
    match device {
        DeviceChoice::Cpu => Ok(Placed {
            model: cpu(file)?,
            fallback: None,
        }),
        DeviceChoice::Gpu => Ok(Placed {
            model: AnyModel::Hip(on_gpu(file, HipBackend::new(0)?, opts, progress)?),
            fallback: None,
        }),
        DeviceChoice::Auto => match HipBackend::new(0) {
            Ok(backend) => Ok(Placed {
                model: AnyModel::Hip(on_gpu(file, backend, opts, progress)?),
                fallback: None,
            }),
            Err(e) => {
                let why = e.no_gpu_reason().unwrap_or_else(|| e.to_string());
                Ok(Placed {
                    model: cpu(file)?,
                    fallback: Some(format!(
                        "no usable GPU ({why}), running on the CPU; `rocmforge doctor` says more"
                    )),
                })
            }
        },
    }
}

/// Builds the model on `backend`, its weights uploaded before it returns.
fn on_gpu(
    file: Arc<GgufFile>,
    backend: HipBackend,
    opts: &LoadOptions,
    progress: Option<UploadProgress>,
) -> Result<Model<HipBackend>, ModelError> {
    backend.set_upload_progress(progress);
    let model = Model::from_file(file, backend, opts)?;
    model.backend().finish_uploads()?;
    Ok(model)
}
