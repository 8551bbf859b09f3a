//! The typed kernel registry: every module (one `.hip` file) and every kernel (one
//! unmangled C-linkage symbol in it) named by an enum, never by a formatted string.

use std::fmt;

use crate::weight::WeightType;

/// One kernel source file under `kernels/hip/`, compiled into one code object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModuleId {
    /// `elementwise.hip`: fill, copy, add, scale, row broadcasts, soft-capping, row gathers.
    Elementwise,
    /// `convert.hip`: f32 ↔ f16 and f32 ↔ bf16.
    Convert,
    /// `reduce.hip`: block and warp reductions (f32 and i32 sums, int8 dot products).
    Reduce,
    /// `norm.hip`: RMS norm, alone and fused with the residual add.
    Norm,
    /// `rope.hip`: rotary position embedding and the KV-cache stores.
    Rope,
    /// `glu.hip`: SwiGLU and GeGLU.
    Glu,
    /// `attention.hip`: paged f16 KV attention (prefill tiles, split-K decode, combine).
    Attention,
    /// `sample.hip`: argmax and the sampling chain.
    Sample,
    /// `quant_rows.hip`: get_rows and dequantize-to-f16 of every weight type.
    QuantRows,
    /// `matvec.hip`: q8_1 activation quantization and matrix x vector (plain and fused GLU)
    /// for every weight type.
    MatVec,
}

impl ModuleId {
    /// Every module, in a fixed order.
    pub const ALL: [ModuleId; 10] = [
        ModuleId::Elementwise,
        ModuleId::Convert,
        ModuleId::Reduce,
        ModuleId::Norm,
        ModuleId::Rope,
        ModuleId::Glu,
        ModuleId::Attention,
        ModuleId::Sample,
        ModuleId::QuantRows,
        ModuleId::MatVec,
    ];

    /// The module's name: its file name without `.hip` (used in cache and prebuilt names).
    pub fn name(self) -> &'static str {
        match self {
            ModuleId::Elementwise => "elementwise",
            ModuleId::Convert => "convert",
            ModuleId::Reduce => "reduce",
            ModuleId::Norm => "norm",
            ModuleId::Rope => "rope",
            ModuleId::Glu => "glu",
            ModuleId::Attention => "attention",
            ModuleId::Sample => "sample",
            ModuleId::QuantRows => "quant_rows",
            ModuleId::MatVec => "matvec",
        }
    }

    /// The module whose [`name`](Self::name) is `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The source file's text as shipped in the crate (header not yet inlined).
    pub(crate) fn raw_source(self) -> &'static str {
        match self {
            ModuleId::Elementwise => include_str!("../hip/elementwise.hip"),
            ModuleId::Convert => include_str!("../hip/convert.hip"),
            ModuleId::Reduce => include_str!("../hip/reduce.hip"),
            ModuleId::Norm => include_str!("../hip/norm.hip"),
            ModuleId::Rope => include_str!("../hip/rope.hip"),
            ModuleId::Glu => include_str!("../hip/glu.hip"),
            ModuleId::Attention => include_str!("../hip/attention.hip"),
            ModuleId::Sample => include_str!("../hip/sample.hip"),
            ModuleId::QuantRows => include_str!("../hip/quant_rows.hip"),
            ModuleId::MatVec => include_str!("../hip/matvec.hip"),
        }
    }

    /// The kernels this module defines.
    pub fn kernels(self) -> impl Iterator<Item = KernelId> {
        KernelId::ALL
            .into_iter()
            .filter(move |k| k.module() == self)
    }
}

impl fmt::Display for ModuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.hip", self.name())
    }
}

/// One GPU kernel: a symbol in one module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KernelId {
    /// `y[i] = value` (f32).
    FillF32,
    /// `y[i] = x[i]` (f32).
    CopyF32,
    /// `z[i] = x[i] + y[i]` (f32).
    AddF32,
    /// `y[i] = x[i] * factor` (f32).
    ScaleF32,
    /// IEEE half → f32.
    F16ToF32,
    /// f32 → IEEE half, round to nearest even.
    F32ToF16,
    /// bfloat16 → f32.
    Bf16ToF32,
    /// f32 → bfloat16, round to nearest even.
    F32ToBf16,
    /// Per-block partial sums of f32 (warp shuffles, wave32 and wave64).
    SumF32,
    /// Per-block partial sums of i32.
    SumI32,
    /// Per-block partial sums of 4-way int8 dot products.
    DotI8,
    /// `x[r] += v` for every row (bias broadcast).
    AddRowF32,
    /// `x[r] *= v` for every row.
    MulRowF32,
    /// Tanh soft-capping in place.
    SoftcapF32,
    /// `out[i] = src[rows[i]]`, row indices from a device buffer.
    CopyRowsF32,
    /// Busy-waits a number of clock ticks (profiling lets the host get ahead of the GPU).
    Spin,
    /// RMS norm over rows, optional weight.
    RmsNormF32,
    /// Residual add then RMS norm: `x += y; xn = rms_norm(x) * w`.
    AddRmsNormF32,
    /// RoPE in place, positions from a device buffer.
    RopeF32,
    /// K/V rows into an f16 cache at device-given slots.
    StoreKvF16,
    /// K/V rows into an f32 cache at device-given slots.
    StoreKvF32,
    /// RoPE of K fused with the f16 KV store.
    RopeStoreKvF16,
    /// `gate = silu(gate) * up`.
    SwigluF32,
    /// `gate = gelu_tanh(gate) * up`.
    GegluF32,
    /// Attention over the paged f16 KV cache (whole or split over key chunks).
    AttnF16,
    /// Merges split attention partials.
    AttnCombine,
    /// Index of the largest logit per row.
    ArgmaxF32,
    /// The sampling chain (top-k, top-p, min-p, temperature, seeded draw) per row.
    SampleF32,
    /// f32 activations → split q8_1 (int8 quants, f16 scale and scaled sum per 32).
    QuantizeQ8_1,
    /// Rows picked by device-side ids, dequantized to f32.
    GetRows(WeightType),
    /// A whole weight matrix dequantized to f16.
    DequantF16(WeightType),
    /// Matrix x vector (1–8 columns), optionally fused gate/up with the GLU.
    MatVec(WeightType),
}

/// The kernels that are not per weight type.
const PRIMITIVES: [KernelId; 29] = [
    KernelId::FillF32,
    KernelId::CopyF32,
    KernelId::AddF32,
    KernelId::ScaleF32,
    KernelId::F16ToF32,
    KernelId::F32ToF16,
    KernelId::Bf16ToF32,
    KernelId::F32ToBf16,
    KernelId::SumF32,
    KernelId::SumI32,
    KernelId::DotI8,
    KernelId::AddRowF32,
    KernelId::MulRowF32,
    KernelId::SoftcapF32,
    KernelId::CopyRowsF32,
    KernelId::Spin,
    KernelId::RmsNormF32,
    KernelId::AddRmsNormF32,
    KernelId::RopeF32,
    KernelId::StoreKvF16,
    KernelId::StoreKvF32,
    KernelId::RopeStoreKvF16,
    KernelId::SwigluF32,
    KernelId::GegluF32,
    KernelId::AttnF16,
    KernelId::AttnCombine,
    KernelId::ArgmaxF32,
    KernelId::SampleF32,
    KernelId::QuantizeQ8_1,
];

/// Kernel families with one kernel per weight type (get_rows, dequantize, matrix x vector).
const TYPE_FAMILIES: usize = 3;

/// Number of registered kernels.
const KERNEL_COUNT: usize = PRIMITIVES.len() + TYPE_FAMILIES * WeightType::ALL.len();

/// Every kernel: the primitives, then each family for every weight type.
const fn all_kernels() -> [KernelId; KERNEL_COUNT] {
    let mut out = [KernelId::FillF32; KERNEL_COUNT];
    let mut i = 0;
    while i < PRIMITIVES.len() {
        out[i] = PRIMITIVES[i];
        i += 1;
    }
    let mut t = 0;
    while t < WeightType::ALL.len() {
        let ty = WeightType::ALL[t];
        out[i] = KernelId::GetRows(ty);
        out[i + 1] = KernelId::DequantF16(ty);
        out[i + 2] = KernelId::MatVec(ty);
        i += 3;
        t += 1;
    }
    out
}

impl KernelId {
    /// Every kernel, in a fixed order.
    pub const ALL: [KernelId; KERNEL_COUNT] = all_kernels();

    /// The module that defines this kernel.
    pub fn module(self) -> ModuleId {
        match self {
            KernelId::FillF32
            | KernelId::CopyF32
            | KernelId::AddF32
            | KernelId::ScaleF32
            | KernelId::AddRowF32
            | KernelId::MulRowF32
            | KernelId::SoftcapF32
            | KernelId::CopyRowsF32
            | KernelId::Spin => ModuleId::Elementwise,
            KernelId::F16ToF32 | KernelId::F32ToF16 | KernelId::Bf16ToF32 | KernelId::F32ToBf16 => {
                ModuleId::Convert
            }
            KernelId::SumF32 | KernelId::SumI32 | KernelId::DotI8 => ModuleId::Reduce,
            KernelId::RmsNormF32 | KernelId::AddRmsNormF32 => ModuleId::Norm,
            KernelId::RopeF32
            | KernelId::StoreKvF16
            | KernelId::StoreKvF32
            | KernelId::RopeStoreKvF16 => ModuleId::Rope,
            KernelId::SwigluF32 | KernelId::GegluF32 => ModuleId::Glu,
            KernelId::AttnF16 | KernelId::AttnCombine => ModuleId::Attention,
            KernelId::ArgmaxF32 | KernelId::SampleF32 => ModuleId::Sample,
            KernelId::GetRows(_) | KernelId::DequantF16(_) => ModuleId::QuantRows,
            KernelId::QuantizeQ8_1 | KernelId::MatVec(_) => ModuleId::MatVec,
        }
    }

    /// Whether this kernel is one of a family with one kernel per weight type.
    pub fn per_weight_type(self) -> bool {
        matches!(
            self,
            KernelId::GetRows(_) | KernelId::DequantF16(_) | KernelId::MatVec(_)
        )
    }

    /// The unmangled (C-linkage) symbol of this kernel in its module's code object.
    pub fn symbol(self) -> &'static str {
        match self {
            KernelId::FillF32 => "rf_fill_f32",
            KernelId::CopyF32 => "rf_copy_f32",
            KernelId::AddF32 => "rf_add_f32",
            KernelId::ScaleF32 => "rf_scale_f32",
            KernelId::F16ToF32 => "rf_f16_to_f32",
            KernelId::F32ToF16 => "rf_f32_to_f16",
            KernelId::Bf16ToF32 => "rf_bf16_to_f32",
            KernelId::F32ToBf16 => "rf_f32_to_bf16",
            KernelId::SumF32 => "rf_sum_f32",
            KernelId::SumI32 => "rf_sum_i32",
            KernelId::DotI8 => "rf_dot_i8",
            KernelId::AddRowF32 => "rf_add_row_f32",
            KernelId::MulRowF32 => "rf_mul_row_f32",
            KernelId::SoftcapF32 => "rf_softcap_f32",
            KernelId::CopyRowsF32 => "rf_copy_rows_f32",
            KernelId::Spin => "rf_spin",
            KernelId::RmsNormF32 => "rf_rms_norm_f32",
            KernelId::AddRmsNormF32 => "rf_add_rms_norm_f32",
            KernelId::RopeF32 => "rf_rope_f32",
            KernelId::StoreKvF16 => "rf_store_kv_f16",
            KernelId::StoreKvF32 => "rf_store_kv_f32",
            KernelId::RopeStoreKvF16 => "rf_rope_store_kv_f16",
            KernelId::SwigluF32 => "rf_swiglu_f32",
            KernelId::GegluF32 => "rf_geglu_f32",
            KernelId::AttnF16 => "rf_attn_f16",
            KernelId::AttnCombine => "rf_attn_combine",
            KernelId::ArgmaxF32 => "rf_argmax_f32",
            KernelId::SampleF32 => "rf_sample_f32",
            KernelId::QuantizeQ8_1 => "rf_quantize_q8_1",
            KernelId::GetRows(ty) => ty.symbols()[0],
            KernelId::DequantF16(ty) => ty.symbols()[1],
            KernelId::MatVec(ty) => ty.symbols()[2],
        }
    }
}

impl fmt::Display for KernelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `RF_KERNEL void <name>(` definitions in a source text.
    fn defined_symbols(source: &str) -> Vec<&str> {
        source
            .split("RF_KERNEL void ")
            .skip(1)
            .filter_map(|rest| rest.split('(').next())
            .collect()
    }

    #[test]
    fn registry_and_sources_agree() {
        for module in ModuleId::ALL {
            let mut defined = defined_symbols(module.raw_source());
            defined.sort_unstable();
            let mut registered: Vec<&str> = module.kernels().map(KernelId::symbol).collect();
            registered.sort_unstable();
            assert_eq!(defined, registered, "{module}");
            assert_eq!(ModuleId::from_name(module.name()), Some(module));
        }
        let mut all = KernelId::ALL.to_vec();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), KernelId::ALL.len(), "a kernel is listed twice");
        assert_eq!(TYPE_FAMILIES, WeightType::ALL[0].symbols().len());
    }
}
