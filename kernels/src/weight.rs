//! [`WeightType`]: the weight formats the quantized-weight kernels read (ggml block layouts,
//! decoded on the device by `kernels/hip/quants.hip.h`). `kernels` sits below ggml-core, so
//! ggml-core maps its own type enum onto this one.

use std::fmt;

/// A weight storage format: ggml's plain and block-quantized types that have GPU kernels.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WeightType {
    /// IEEE single precision.
    F32,
    /// IEEE half precision.
    F16,
    /// bfloat16.
    BF16,
    /// 32 weights: f16 scale, 4-bit quants.
    Q4_0,
    /// 32 weights: f16 scale and minimum, 4-bit quants.
    Q4_1,
    /// 32 weights: f16 scale, 5-bit quants.
    Q5_0,
    /// 32 weights: f16 scale and minimum, 5-bit quants.
    Q5_1,
    /// 32 weights: f16 scale, 8-bit quants.
    Q8_0,
    /// 256 weights: 2-bit quants, 4-bit group scales and mins.
    Q2_K,
    /// 256 weights: 3-bit quants, 6-bit group scales.
    Q3_K,
    /// 256 weights: 4-bit quants, 6-bit group scales and mins.
    Q4_K,
    /// 256 weights: 5-bit quants, 6-bit group scales and mins.
    Q5_K,
    /// 256 weights: 6-bit quants, 8-bit group scales.
    Q6_K,
    /// 32 weights: f16 scale, 4-bit indices into a non-linear table.
    IQ4_NL,
    /// 256 weights: 6-bit group scales, 4-bit indices into the IQ4_NL table.
    IQ4_XS,
    /// 32 e2m1 weights sharing a power-of-two scale (OCP microscaling).
    MXFP4,
}

macro_rules! weight_types {
    ($($ty:ident: $suffix:literal, $elems:expr, $bytes:expr;)*) => {
        impl WeightType {
            /// Every weight type, in a fixed order.
            pub const ALL: [WeightType; [$(WeightType::$ty),*].len()] = [$(WeightType::$ty),*];

            /// The name as ggml prints it (`Q4_K`).
            pub fn name(self) -> &'static str {
                match self {
                    $(WeightType::$ty => stringify!($ty),)*
                }
            }

            /// Weights per block (1 for the plain types).
            pub fn block_elems(self) -> usize {
                match self {
                    $(WeightType::$ty => $elems,)*
                }
            }

            /// Bytes per block.
            pub fn block_bytes(self) -> usize {
                match self {
                    $(WeightType::$ty => $bytes,)*
                }
            }

            /// The kernel symbols of this type: get_rows, dequantize to f16, matrix x vector.
            pub(crate) fn symbols(self) -> [&'static str; 3] {
                match self {
                    $(WeightType::$ty => [
                        concat!("rf_get_rows_", $suffix),
                        concat!("rf_dequant_f16_", $suffix),
                        concat!("rf_mv_", $suffix),
                    ],)*
                }
            }
        }
    };
}

weight_types! {
    F32: "f32", 1, 4;
    F16: "f16", 1, 2;
    BF16: "bf16", 1, 2;
    Q4_0: "q4_0", 32, 18;
    Q4_1: "q4_1", 32, 20;
    Q5_0: "q5_0", 32, 22;
    Q5_1: "q5_1", 32, 24;
    Q8_0: "q8_0", 32, 34;
    Q2_K: "q2_k", 256, 84;
    Q3_K: "q3_k", 256, 110;
    Q4_K: "q4_k", 256, 144;
    Q5_K: "q5_k", 256, 176;
    Q6_K: "q6_k", 256, 210;
    IQ4_NL: "iq4_nl", 32, 18;
    IQ4_XS: "iq4_xs", 256, 136;
    MXFP4: "mxfp4", 32, 17;
}

impl WeightType {
    /// Whether the type is stored as plain floats (f32/f16/bf16): its matrix x vector
    /// product takes f32 activations, the others take split q8_1 activations.
    pub fn is_plain(self) -> bool {
        self.block_elems() == 1
    }

    /// Bytes of `elems` weights, or `None` when `elems` is not a whole number of blocks.
    pub fn bytes_for(self, elems: usize) -> Option<usize> {
        (elems % self.block_elems() == 0).then(|| elems / self.block_elems() * self.block_bytes())
    }
}

impl fmt::Display for WeightType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_follow_the_type_names() {
        for ty in WeightType::ALL {
            let suffix = ty.name().to_ascii_lowercase();
            assert_eq!(
                ty.symbols(),
                [
                    format!("rf_get_rows_{suffix}").as_str(),
                    format!("rf_dequant_f16_{suffix}").as_str(),
                    format!("rf_mv_{suffix}").as_str()
                ]
            );
        }
        assert_eq!(WeightType::Q4_K.bytes_for(512), Some(288));
        assert_eq!(WeightType::Q4_K.bytes_for(500), None);
        assert!(WeightType::BF16.is_plain() && !WeightType::MXFP4.is_plain());
    }
}
