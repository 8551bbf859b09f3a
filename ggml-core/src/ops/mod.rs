//! The op set on host memory: the scalar CPU reference every other backend is checked
//! against (get_rows, mul_mat, rms_norm, rope, softmax, GLU, add/mul/scale, soft-capping).

pub mod elementwise;
pub mod fused;
pub mod matmul;
pub mod pool;
pub mod qdot;
pub mod qmatmul;
pub mod rope;
pub mod simd;

pub use elementwise::GluKind;
pub use rope::{RopeMode, RopeParams};

use crate::dtype::GgmlType;

/// Why an op could not run.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum OpError {
    /// Operand sizes do not fit the op.
    #[error("{op} on `{tensor}`: {detail}")]
    Shape {
        /// The op.
        op: &'static str,
        /// The tensor involved.
        tensor: String,
        /// What did not fit.
        detail: String,
    },
    /// A row index past the end of a tensor (a token id beyond the vocabulary).
    #[error("row {row} of `{tensor}` requested, it has {n_rows} rows")]
    RowOutOfRange {
        /// The tensor.
        tensor: String,
        /// The requested row.
        row: usize,
        /// Rows in the tensor.
        n_rows: usize,
    },
    /// Data cannot be converted to or from the type.
    #[error("cannot convert {ty}: {reason}")]
    Convert {
        /// The type.
        ty: GgmlType,
        /// Why.
        reason: String,
    },
}
