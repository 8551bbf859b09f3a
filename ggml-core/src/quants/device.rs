//! The bridge to the GPU kernels' weight formats: which ggml types have quantized-weight
//! kernels ([`weight_type`]), and ggml-core's scalar block codecs as the CPU reference the
//! kernel checks compare with ([`ScalarReference`]).

use kernels::check_quant::QuantReference;
use kernels::WeightType;

use super::{dequantize_row, quantize_row};
use crate::dtype::GgmlType;

/// The GPU weight format of `ty`, or `None` when no GPU kernel reads it.
pub fn weight_type(ty: GgmlType) -> Option<WeightType> {
    Some(match ty {
        GgmlType::F32 => WeightType::F32,
        GgmlType::F16 => WeightType::F16,
        GgmlType::BF16 => WeightType::BF16,
        GgmlType::Q4_0 => WeightType::Q4_0,
        GgmlType::Q4_1 => WeightType::Q4_1,
        GgmlType::Q5_0 => WeightType::Q5_0,
        GgmlType::Q5_1 => WeightType::Q5_1,
        GgmlType::Q8_0 => WeightType::Q8_0,
        GgmlType::Q2_K => WeightType::Q2_K,
        GgmlType::Q3_K => WeightType::Q3_K,
        GgmlType::Q4_K => WeightType::Q4_K,
        GgmlType::Q5_K => WeightType::Q5_K,
        GgmlType::Q6_K => WeightType::Q6_K,
        GgmlType::IQ4_NL => WeightType::IQ4_NL,
        GgmlType::IQ4_XS => WeightType::IQ4_XS,
        GgmlType::MXFP4 => WeightType::MXFP4,
        _ => return None,
    })
}

/// The ggml type stored in the GPU weight format `ty`.
pub fn ggml_type(ty: WeightType) -> GgmlType {
    match ty {
        WeightType::F32 => GgmlType::F32,
        WeightType::F16 => GgmlType::F16,
        WeightType::BF16 => GgmlType::BF16,
        WeightType::Q4_0 => GgmlType::Q4_0,
        WeightType::Q4_1 => GgmlType::Q4_1,
        WeightType::Q5_0 => GgmlType::Q5_0,
        WeightType::Q5_1 => GgmlType::Q5_1,
        WeightType::Q8_0 => GgmlType::Q8_0,
        WeightType::Q2_K => GgmlType::Q2_K,
        WeightType::Q3_K => GgmlType::Q3_K,
        WeightType::Q4_K => GgmlType::Q4_K,
        WeightType::Q5_K => GgmlType::Q5_K,
        WeightType::Q6_K => GgmlType::Q6_K,
        WeightType::IQ4_NL => GgmlType::IQ4_NL,
        WeightType::IQ4_XS => GgmlType::IQ4_XS,
        WeightType::MXFP4 => GgmlType::MXFP4,
    }
}

/// ggml-core's scalar quantizers and dequantizers, for `kernels::check_quant`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScalarReference;

impl QuantReference for ScalarReference {
    fn quantize(&self, ty: WeightType, x: &[f32], out: &mut [u8]) -> Result<(), String> {
        quantize_row(ggml_type(ty), x, out).map_err(|e| e.to_string())
    }

    fn dequantize(&self, ty: WeightType, bytes: &[u8], out: &mut [f32]) -> Result<(), String> {
        dequantize_row(ggml_type(ty), bytes, out).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_agree_with_the_type_table() {
        for ty in WeightType::ALL {
            let g = ggml_type(ty);
            assert_eq!(weight_type(g), Some(ty));
            assert_eq!(
                (ty.block_elems(), ty.block_bytes()),
                (g.block_size(), g.type_size()),
                "{ty}"
            );
            assert_eq!(ty.name(), g.to_string());
        }
        assert_eq!(weight_type(GgmlType::IQ2_XXS), None);
    }
}
