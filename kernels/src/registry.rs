//! The typed kernel registry: every module (one `.hip` file) and every kernel (one
//! unmangled C-linkage symbol in it) named by an enum, never by a formatted string.

use std::fmt;

/// One kernel source file under `kernels/hip/`, compiled into one code object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModuleId {
    /// `elementwise.hip`: fill, copy, add, scale over f32 arrays.
    Elementwise,
    /// `convert.hip`: f32 ↔ f16 and f32 ↔ bf16.
    Convert,
    /// `reduce.hip`: block and warp reductions (f32 and i32 sums, int8 dot products).
    Reduce,
}

impl ModuleId {
    /// Every module, in a fixed order.
    pub const ALL: [ModuleId; 3] = [ModuleId::Elementwise, ModuleId::Convert, ModuleId::Reduce];

    /// The module's name: its file name without `.hip` (used in cache and prebuilt names).
    pub fn name(self) -> &'static str {
        match self {
            ModuleId::Elementwise => "elementwise",
            ModuleId::Convert => "convert",
            ModuleId::Reduce => "reduce",
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
}

impl KernelId {
    /// Every kernel, in a fixed order.
    pub const ALL: [KernelId; 11] = [
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
    ];

    /// The module that defines this kernel.
    pub fn module(self) -> ModuleId {
        match self {
            KernelId::FillF32 | KernelId::CopyF32 | KernelId::AddF32 | KernelId::ScaleF32 => {
                ModuleId::Elementwise
            }
            KernelId::F16ToF32 | KernelId::F32ToF16 | KernelId::Bf16ToF32 | KernelId::F32ToBf16 => {
                ModuleId::Convert
            }
            KernelId::SumF32 | KernelId::SumI32 | KernelId::DotI8 => ModuleId::Reduce,
        }
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
    }
}
