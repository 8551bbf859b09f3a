//! Weights on the device: a matrix is its tensor's bytes (quant blocks as stored in the
//! file) copied once through the backend's pinned staging ring, with its type and shape.

use hip_runtime::{DeviceBuffer, Stream, Uploader};

use crate::backend::BackendError;
use crate::dtype::GgmlType;
use crate::tensor::Tensor;

/// A weight matrix resident on the device.
pub struct HipMatrix {
    pub(crate) data: DeviceBuffer<u8>,
    pub(crate) ty: GgmlType,
    pub(crate) n_rows: usize,
    pub(crate) row_len: usize,
}

impl std::fmt::Debug for HipMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HipMatrix({} {} × {})",
            self.ty.name(),
            self.n_rows,
            self.row_len
        )
    }
}

impl HipMatrix {
    /// Uploads `t` through `uploader` (asynchronously; the caller finishes the uploader
    /// before the weights are used from another stream).
    pub(crate) fn upload(
        stream: &Stream,
        uploader: &mut Uploader,
        t: &Tensor,
    ) -> Result<HipMatrix, BackendError> {
        let bytes = t.data();
        let dev = |e| BackendError::device("load_matrix", e);
        let mut data = DeviceBuffer::new(stream, bytes.len()).map_err(dev)?;
        uploader
            .upload(&mut data.as_slice_mut(), bytes)
            .map_err(dev)?;
        Ok(HipMatrix {
            data,
            ty: t.ty(),
            n_rows: t.n_rows(),
            row_len: t.row_len(),
        })
    }
}
