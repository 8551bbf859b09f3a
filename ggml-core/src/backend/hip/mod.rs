//! The HIP backend: activations in device buffers, weights uploaded once (quant blocks as
//! stored in the file) through pinned staging, every op a kernel from the `kernels` crate
//! queued on one stream, decode steps captured as graphs and replayed. The same code runs
//! on AMD GPUs (HIP) and NVIDIA GPUs (the CUDA driver behind `hip-ffi`).

mod graphs;
mod matmul;
mod matrix;
mod step;

pub use matrix::HipMatrix;
pub use step::HipStep;

use std::sync::{Mutex, MutexGuard};

use hip_runtime::{BlasHandle, Device, DeviceBuffer, DeviceSlice, Hip, Stream, Uploader};
use kernels::{Kernels, ModuleId};

use self::graphs::GraphCache;
use self::matmul::MatmulScratch;
use super::{ensure, Backend, BackendError, StepInput, StepLimits, StepShape};
use crate::ops::{matmul as host_matmul, GluKind, RopeParams};
use crate::tensor::Tensor;

/// Dependent multiply-adds the GPU spins through before each profiled step (about 10 ms at
/// 4 clock ticks each and 2 GHz), so that the host has queued the step's launches before
/// they run and the events around each launch time the kernel, not the host's launch
/// latency.
const PROFILE_SPIN_ITERS: u32 = 5_000_000;

/// Bytes of one pinned staging buffer for weight uploads (two are used in turn).
const UPLOAD_STAGE_BYTES: usize = 32 << 20;

/// Called with the bytes of weights uploaded so far, after each matrix or vector.
pub type UploadProgress = Box<dyn Fn(usize) + Send>;

/// How many captured steps were replayed and captured (graph replay counters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepStats {
    /// Steps run by replaying a captured graph.
    pub replays: u64,
    /// Steps captured into a graph (and run).
    pub captures: u64,
    /// Host–device synchronisations the backend made (reads of results).
    pub syncs: u64,
}

/// Mutable state behind the backend's shared reference.
struct State {
    graphs: GraphCache,
    uploader: Uploader,
    uploaded: usize,
    progress: Option<UploadProgress>,
    matmul: MatmulScratch,
    /// Token ids chosen on the device, read back by `argmax`.
    ids: DeviceBuffer<u32>,
    syncs: u64,
    capture: bool,
    /// Kernel timing on: steps run uncaptured so each launch can be bracketed by events.
    profiling: bool,
    /// Written by the spin kernel queued before each profiled step.
    spin_flag: Option<DeviceBuffer<u32>>,
}

/// The HIP backend on one device.
pub struct HipBackend {
    stream: Stream,
    kernels: Kernels,
    /// The vendor BLAS handle (its calls are serialised: a handle is not shareable).
    blas: Option<Mutex<BlasHandle>>,
    state: Mutex<State>,
}

impl std::fmt::Debug for HipBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HipBackend({:?})", self.kernels)
    }
}

fn dev(op: &'static str) -> impl Fn(hip_runtime::Error) -> BackendError {
    move |e| BackendError::device(op, e)
}

fn kern(op: &'static str) -> impl Fn(kernels::KernelError) -> BackendError {
    move |e| BackendError::device(op, e)
}

impl HipBackend {
    /// The backend on device `ordinal` of the platform found at run time: every kernel
    /// module is loaded (compiled for this GPU on first use, then cached on disk) before
    /// the first op, so that steps can be captured.
    pub fn new(ordinal: usize) -> Result<HipBackend, BackendError> {
        let hip = Hip::global().map_err(dev("open the GPU runtime"))?;
        let device = hip.device(ordinal).map_err(dev("open the GPU"))?;
        HipBackend::on_device(&device)
    }

    /// The backend on `device`.
    pub fn on_device(device: &Device) -> Result<HipBackend, BackendError> {
        let stream = Stream::new(device).map_err(dev("create a stream"))?;
        let kernels = Kernels::new(device).map_err(kern("load kernels"))?;
        for module in ModuleId::ALL {
            kernels.load(module).map_err(kern("load kernels"))?;
        }
        // GEMM for prefill where the vendor BLAS is present; matrix-vector kernels
        // otherwise.
        let blas = BlasHandle::new(&stream).ok().map(Mutex::new);
        let uploader =
            Uploader::new(&stream, 2, UPLOAD_STAGE_BYTES).map_err(dev("pinned staging"))?;
        let ids = DeviceBuffer::zeroed(&stream, crate::backend::hip::matmul::MAX_IDS)
            .map_err(dev("alloc"))?;
        Ok(HipBackend {
            state: Mutex::new(State {
                graphs: GraphCache::default(),
                uploader,
                uploaded: 0,
                progress: None,
                matmul: MatmulScratch::default(),
                ids,
                syncs: 0,
                capture: std::env::var_os("ROCMFORGE_NO_GRAPHS").is_none(),
                profiling: false,
                spin_flag: None,
            }),
            stream,
            kernels,
            blas,
        })
    }

    /// Calls `progress` with the bytes uploaded so far as weights are loaded.
    pub fn set_upload_progress(&self, progress: Option<UploadProgress>) {
        self.lock().progress = progress;
    }

    /// Turns capturing and replaying decode steps as graphs on or off (on by default;
    /// `ROCMFORGE_NO_GRAPHS` turns it off).
    pub fn set_graphs(&self, on: bool) {
        self.lock().capture = on;
    }

    /// Turns per-kernel GPU timing on or off (`bench --profile`); while on, steps are not
    /// captured or replayed as graphs.
    pub fn set_profiling(&self, on: bool) -> Result<(), BackendError> {
        let mut s = self.lock();
        if on && s.spin_flag.is_none() {
            s.spin_flag = Some(DeviceBuffer::zeroed(&self.stream, 1).map_err(dev("profile"))?);
        }
        self.kernels.set_profiling(on);
        s.profiling = on;
        Ok(())
    }

    /// Waits for the stream and returns the GPU time per kernel since profiling was turned
    /// on or last taken.
    pub fn take_profile(&self) -> Result<Vec<kernels::KernelTime>, BackendError> {
        self.kernels
            .take_profile(&self.stream)
            .map_err(kern("profile"))
    }

    /// Replay, capture and synchronisation counters.
    pub fn step_stats(&self) -> StepStats {
        let s = self.lock();
        StepStats {
            replays: s.graphs.replays,
            captures: s.graphs.captures,
            syncs: s.syncs,
        }
    }

    /// Waits for every upload queued so far (call once after loading the weights).
    pub fn finish_uploads(&self) -> Result<(), BackendError> {
        self.lock().uploader.finish().map_err(dev("upload"))
    }

    /// The device.
    pub fn device(&self) -> &Device {
        self.stream.device()
    }

    /// The stream every op is queued on.
    pub fn stream(&self) -> &Stream {
        &self.stream
    }

    /// The kernels of the device.
    pub fn kernels(&self) -> &Kernels {
        &self.kernels
    }

    /// Whether a vendor BLAS is in use for large products.
    pub fn has_blas(&self) -> bool {
        self.blas.is_some()
    }

    /// Waits for the stream and counts the synchronisation.
    pub fn synchronize(&self) -> Result<(), BackendError> {
        self.lock().syncs += 1;
        self.stream.synchronize().map_err(dev("synchronize"))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn report_upload(&self, bytes: usize) {
        let mut s = self.lock();
        s.uploaded += bytes;
        if let Some(p) = &s.progress {
            p(s.uploaded);
        }
    }
}

/// The first `len` elements of a buffer.
fn head<'b>(
    buf: &'b DeviceBuffer<f32>,
    len: usize,
    op: &'static str,
) -> Result<DeviceSlice<'b, f32>, BackendError> {
    ensure(op, len, buf.len())?;
    buf.slice(0..len).map_err(dev(op))
}

impl Backend for HipBackend {
    type Buffer = DeviceBuffer<f32>;
    type Matrix = HipMatrix;
    type Vector = DeviceBuffer<f32>;
    type Step = HipStep;

    fn name(&self) -> &'static str {
        "hip"
    }

    /// 512: a prefill step dequantizes every weight matrix to f16 once for its GEMM, so
    /// larger steps divide that cost (it was a third of pp512's time at 128 on an H200).
    fn max_step_tokens(&self) -> usize {
        512
    }

    fn alloc(&self, len: usize) -> Result<DeviceBuffer<f32>, BackendError> {
        DeviceBuffer::zeroed(&self.stream, len.max(1)).map_err(dev("alloc"))
    }

    fn load_matrix(&self, t: &Tensor) -> Result<HipMatrix, BackendError> {
        matmul::check_supported(t)?;
        let m = {
            let mut s = self.lock();
            let m = HipMatrix::upload(&self.stream, &mut s.uploader, t)?;
            s.matmul.note_matrix(&m);
            m
        };
        self.report_upload(t.data().len());
        Ok(m)
    }

    fn load_vector(&self, t: &Tensor) -> Result<DeviceBuffer<f32>, BackendError> {
        let mut v = vec![0.0; t.n_elements()];
        host_matmul::dequantize(t.ty(), t.data(), &mut v)?;
        let mut buf = self.alloc(v.len())?;
        self.lock()
            .uploader
            .upload(&mut buf.as_slice_mut(), &v)
            .map_err(dev("load_vector"))?;
        self.report_upload(t.data().len());
        Ok(buf)
    }

    fn write(&self, buf: &mut DeviceBuffer<f32>, data: &[f32]) -> Result<(), BackendError> {
        ensure("write", data.len(), buf.len())?;
        let mut dst = buf.slice_mut(0..data.len()).map_err(dev("write"))?;
        dst.copy_from_host(data).map_err(dev("write"))
    }

    fn read(
        &self,
        buf: &DeviceBuffer<f32>,
        offset: usize,
        out: &mut [f32],
    ) -> Result<(), BackendError> {
        ensure("read", offset + out.len(), buf.len())?;
        self.lock().syncs += 1;
        buf.slice(offset..offset + out.len())
            .map_err(dev("read"))?
            .copy_to_host(out)
            .map_err(dev("read"))
    }

    fn alloc_step(&self, limits: StepLimits) -> Result<HipStep, BackendError> {
        let step = HipStep::new(&self.stream, limits)?;
        self.lock()
            .matmul
            .reserve(&self.stream, limits.max_tokens)?;
        Ok(step)
    }

    fn upload_step(&self, step: &mut HipStep, input: &StepInput) -> Result<(), BackendError> {
        let mut s = self.lock();
        if let (true, Some(flag)) = (s.profiling, s.spin_flag.as_mut()) {
            self.kernels
                .spin(&mut flag.as_slice_mut(), PROFILE_SPIN_ITERS)
                .map_err(kern("profile"))?;
        }
        drop(s);
        step.upload(input)
    }

    fn replay_step(&self, key: u64, shape: StepShape) -> Result<bool, BackendError> {
        let mut s = self.lock();
        if !s.capture || s.profiling {
            return Ok(false);
        }
        s.graphs.replay(&self.stream, key, shape)
    }

    fn begin_step(&self, key: u64, shape: StepShape) -> Result<(), BackendError> {
        let mut s = self.lock();
        let enabled = s.capture && !s.profiling;
        s.graphs.begin(&self.stream, key, shape, enabled)
    }

    fn end_step(&self) -> Result<(), BackendError> {
        self.lock().graphs.end(&self.stream)
    }

    fn get_rows(
        &self,
        table: &HipMatrix,
        step: &HipStep,
        n_tokens: usize,
        out: &mut DeviceBuffer<f32>,
    ) -> Result<(), BackendError> {
        matmul::get_rows(&self.kernels, table, &step.ids(n_tokens)?, n_tokens, out)
    }

    fn copy(
        &self,
        src: &DeviceBuffer<f32>,
        dst: &mut DeviceBuffer<f32>,
        len: usize,
    ) -> Result<(), BackendError> {
        let x = head(src, len, "copy")?;
        ensure("copy", len, dst.len())?;
        let mut y = dst.slice_mut(0..len).map_err(dev("copy"))?;
        self.kernels.copy_f32(&x, &mut y).map_err(kern("copy"))
    }

    fn copy_out_rows(
        &self,
        src: &DeviceBuffer<f32>,
        step: &HipStep,
        n_out: usize,
        cols: usize,
        out: &mut DeviceBuffer<f32>,
    ) -> Result<(), BackendError> {
        let rows = step.out_rows(n_out)?;
        self.kernels
            .copy_rows_f32(&src.as_slice(), &rows, &mut out.as_slice_mut(), n_out, cols)
            .map_err(kern("copy_out_rows"))
    }

    fn mul_mat(
        &self,
        w: &HipMatrix,
        x: &DeviceBuffer<f32>,
        m: usize,
        out: &mut DeviceBuffer<f32>,
    ) -> Result<(), BackendError> {
        let blas = self
            .blas
            .as_ref()
            .map(|b| b.lock().unwrap_or_else(|p| p.into_inner()));
        let mut s = self.lock();
        matmul::mul_mat(&self.kernels, blas.as_deref(), &mut s.matmul, w, x, m, out)
    }

    fn rms_norm(
        &self,
        x: &mut DeviceBuffer<f32>,
        rows: usize,
        dim: usize,
        eps: f32,
        weight: Option<&DeviceBuffer<f32>>,
    ) -> Result<(), BackendError> {
        let w = weight.map(|w| w.as_slice());
        self.kernels
            .rms_norm_f32(&mut x.as_slice_mut(), w.as_ref(), rows, dim, eps)
            .map_err(kern("rms_norm"))
    }

    fn rope(
        &self,
        x: &mut DeviceBuffer<f32>,
        step: &HipStep,
        n_tokens: usize,
        n_head: usize,
        head_dim: usize,
        params: &RopeParams,
        freq_factors: Option<&DeviceBuffer<f32>>,
    ) -> Result<(), BackendError> {
        let ff = freq_factors.map(|f| f.as_slice());
        self.kernels
            .rope_f32(
                &mut x.as_slice_mut(),
                &step.positions(n_tokens)?,
                ff.as_ref(),
                n_tokens,
                n_head,
                head_dim,
                &params.gpu_consts(),
            )
            .map_err(kern("rope"))
    }

    fn glu(
        &self,
        kind: GluKind,
        gate: &mut DeviceBuffer<f32>,
        up: &DeviceBuffer<f32>,
        len: usize,
    ) -> Result<(), BackendError> {
        let (g, u) = (&mut gate.as_slice_mut(), &up.as_slice());
        match kind {
            GluKind::SwiGlu => self.kernels.swiglu_f32(g, u, len),
            GluKind::GeGluTanh => self.kernels.geglu_f32(g, u, len),
        }
        .map_err(kern("glu"))
    }

    fn add(
        &self,
        dst: &mut DeviceBuffer<f32>,
        src: &DeviceBuffer<f32>,
        len: usize,
    ) -> Result<(), BackendError> {
        self.kernels
            .add_assign_f32(&mut dst.as_slice_mut(), &src.as_slice(), len)
            .map_err(kern("add"))
    }

    fn add_row(
        &self,
        dst: &mut DeviceBuffer<f32>,
        v: &DeviceBuffer<f32>,
        rows: usize,
    ) -> Result<(), BackendError> {
        self.kernels
            .add_row_f32(&mut dst.as_slice_mut(), &v.as_slice(), rows)
            .map_err(kern("add_row"))
    }

    fn mul_row(
        &self,
        dst: &mut DeviceBuffer<f32>,
        v: &DeviceBuffer<f32>,
        rows: usize,
    ) -> Result<(), BackendError> {
        self.kernels
            .mul_row_f32(&mut dst.as_slice_mut(), &v.as_slice(), rows)
            .map_err(kern("mul_row"))
    }

    fn scale(&self, x: &mut DeviceBuffer<f32>, len: usize, s: f32) -> Result<(), BackendError> {
        self.kernels
            .scale_assign_f32(&mut x.as_slice_mut(), len, s)
            .map_err(kern("scale"))
    }

    fn softcap(&self, x: &mut DeviceBuffer<f32>, len: usize, cap: f32) -> Result<(), BackendError> {
        self.kernels
            .softcap_f32(&mut x.as_slice_mut(), len, cap)
            .map_err(kern("softcap"))
    }

    fn argmax(
        &self,
        logits: &DeviceBuffer<f32>,
        rows: usize,
        n_cols: usize,
        out: &mut [u32],
    ) -> Result<(), BackendError> {
        ensure("argmax", rows, out.len())?;
        let mut s = self.lock();
        ensure("argmax rows", rows, s.ids.len())?;
        let mut ids = s.ids.slice_mut(0..rows).map_err(dev("argmax"))?;
        self.kernels
            .argmax_f32(&logits.as_slice(), &mut ids, rows, n_cols)
            .map_err(kern("argmax"))?;
        ids.as_slice()
            .copy_to_host(&mut out[..rows])
            .map_err(dev("argmax"))?;
        s.syncs += 1;
        Ok(())
    }

    fn qkv(
        &self,
        w: [&HipMatrix; 3],
        x: &DeviceBuffer<f32>,
        m: usize,
        q: &mut DeviceBuffer<f32>,
        k: &mut DeviceBuffer<f32>,
        v: &mut DeviceBuffer<f32>,
    ) -> Result<(), BackendError> {
        let fused = {
            let mut s = self.lock();
            matmul::qkv_small(
                &self.kernels,
                &mut s.matmul,
                w,
                x,
                m,
                [&mut *q, &mut *k, &mut *v],
            )?
        };
        if fused {
            return Ok(());
        }
        self.mul_mat(w[0], x, m, q)?;
        self.mul_mat(w[1], x, m, k)?;
        self.mul_mat(w[2], x, m, v)
    }

    fn ffn_glu(
        &self,
        kind: GluKind,
        w_gate: &HipMatrix,
        w_up: &HipMatrix,
        x: &DeviceBuffer<f32>,
        m: usize,
        n_ff: usize,
        gate: &mut DeviceBuffer<f32>,
        up: &mut DeviceBuffer<f32>,
    ) -> Result<(), BackendError> {
        let glu = match kind {
            GluKind::SwiGlu => kernels::Glu::Silu,
            GluKind::GeGluTanh => kernels::Glu::GeluTanh,
        };
        let fused = {
            let mut s = self.lock();
            matmul::glu_small(&self.kernels, &mut s.matmul, glu, w_gate, w_up, x, m, gate)?
        };
        if fused {
            return Ok(());
        }
        self.mul_mat(w_gate, x, m, gate)?;
        self.mul_mat(w_up, x, m, up)?;
        self.glu(kind, gate, up, m * n_ff)
    }

    fn norm_into(
        &self,
        x: &DeviceBuffer<f32>,
        xn: &mut DeviceBuffer<f32>,
        rows: usize,
        dim: usize,
        eps: f32,
        weight: &DeviceBuffer<f32>,
    ) -> Result<(), BackendError> {
        self.kernels
            .rms_norm_f32_into(
                &x.as_slice(),
                &mut xn.as_slice_mut(),
                Some(&weight.as_slice()),
                rows,
                dim,
                eps,
            )
            .map_err(kern("rms_norm"))
    }

    fn add_norm(
        &self,
        x: &mut DeviceBuffer<f32>,
        y: &DeviceBuffer<f32>,
        xn: &mut DeviceBuffer<f32>,
        rows: usize,
        dim: usize,
        eps: f32,
        weight: &DeviceBuffer<f32>,
    ) -> Result<(), BackendError> {
        self.kernels
            .add_rms_norm_f32(
                &mut x.as_slice_mut(),
                &y.as_slice(),
                &mut xn.as_slice_mut(),
                Some(&weight.as_slice()),
                rows,
                dim,
                eps,
            )
            .map_err(kern("add_norm"))
    }
}
