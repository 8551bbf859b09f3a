//! The ggml data types: their GGUF type ids, names and block geometry.

use std::fmt;

/// Elements per super-block in the K-quant and i-quant families.
pub const QK_K: usize = 256;

/// A ggml tensor data type as stored in GGUF tensor infos.
///
/// The discriminant is the type id used on disk (`ggml_type` in ggml).
#[allow(non_camel_case_types, missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum GgmlType {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
}

/// One row of the type table: type, name, elements per block, bytes per block.
struct TypeInfo {
    ty: GgmlType,
    name: &'static str,
    block_size: usize,
    type_size: usize,
}

const fn info(ty: GgmlType, name: &'static str, block_size: usize, type_size: usize) -> TypeInfo {
    TypeInfo {
        ty,
        name,
        block_size,
        type_size,
    }
}

/// Block geometry of every type, as ggml defines it (`ggml-common.h`).
const TYPES: &[TypeInfo] = &[
    info(GgmlType::F32, "F32", 1, 4),
    info(GgmlType::F16, "F16", 1, 2),
    info(GgmlType::Q4_0, "Q4_0", 32, 18),
    info(GgmlType::Q4_1, "Q4_1", 32, 20),
    info(GgmlType::Q5_0, "Q5_0", 32, 22),
    info(GgmlType::Q5_1, "Q5_1", 32, 24),
    info(GgmlType::Q8_0, "Q8_0", 32, 34),
    info(GgmlType::Q8_1, "Q8_1", 32, 36),
    info(GgmlType::Q2_K, "Q2_K", QK_K, 84),
    info(GgmlType::Q3_K, "Q3_K", QK_K, 110),
    info(GgmlType::Q4_K, "Q4_K", QK_K, 144),
    info(GgmlType::Q5_K, "Q5_K", QK_K, 176),
    info(GgmlType::Q6_K, "Q6_K", QK_K, 210),
    info(GgmlType::Q8_K, "Q8_K", QK_K, 292),
    info(GgmlType::IQ2_XXS, "IQ2_XXS", QK_K, 66),
    info(GgmlType::IQ2_XS, "IQ2_XS", QK_K, 74),
    info(GgmlType::IQ3_XXS, "IQ3_XXS", QK_K, 98),
    info(GgmlType::IQ1_S, "IQ1_S", QK_K, 50),
    info(GgmlType::IQ4_NL, "IQ4_NL", 32, 18),
    info(GgmlType::IQ3_S, "IQ3_S", QK_K, 110),
    info(GgmlType::IQ2_S, "IQ2_S", QK_K, 82),
    info(GgmlType::IQ4_XS, "IQ4_XS", QK_K, 136),
    info(GgmlType::I8, "I8", 1, 1),
    info(GgmlType::I16, "I16", 1, 2),
    info(GgmlType::I32, "I32", 1, 4),
    info(GgmlType::I64, "I64", 1, 8),
    info(GgmlType::F64, "F64", 1, 8),
    info(GgmlType::IQ1_M, "IQ1_M", QK_K, 56),
    info(GgmlType::BF16, "BF16", 1, 2),
    info(GgmlType::TQ1_0, "TQ1_0", QK_K, 54),
    info(GgmlType::TQ2_0, "TQ2_0", QK_K, 66),
    info(GgmlType::MXFP4, "MXFP4", 32, 17),
];

impl GgmlType {
    /// Every known type, in type-id order.
    pub fn all() -> impl Iterator<Item = GgmlType> {
        TYPES.iter().map(|t| t.ty)
    }

    /// The type with GGUF type id `id`, or `None` for an id ggml does not define.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        TYPES.iter().find(|t| t.ty as u32 == id).map(|t| t.ty)
    }

    /// The type named `name` (case-insensitive, as ggml prints it: `Q4_K`, `BF16`).
    pub fn from_name(name: &str) -> Option<GgmlType> {
        TYPES
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
            .map(|t| t.ty)
    }

    fn info(self) -> &'static TypeInfo {
        TYPES
            .iter()
            .find(|t| t.ty == self)
            // tidy: allow(panic): every GgmlType variant has a row in TYPES
            .expect("every GgmlType variant has a row in TYPES")
    }

    /// The GGUF type id.
    pub fn id(self) -> u32 {
        self as u32
    }

    /// ggml's name for the type.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// Elements per block (1 for plain scalar types).
    pub fn block_size(self) -> usize {
        self.info().block_size
    }

    /// Bytes per block.
    pub fn type_size(self) -> usize {
        self.info().type_size
    }

    /// Whether the type is a quantized block format (not a plain scalar).
    pub fn is_quantized(self) -> bool {
        self.block_size() > 1
    }

    /// Bytes taken by `n_elements` elements, or `None` if `n_elements` is not a whole
    /// number of blocks or the size overflows.
    pub fn bytes_for(self, n_elements: u64) -> Option<u64> {
        let bs = self.block_size() as u64;
        if n_elements % bs != 0 {
            return None;
        }
        (n_elements / bs).checked_mul(self.type_size() as u64)
    }

    /// Bits stored per element, including block scales.
    pub fn bits_per_weight(self) -> f64 {
        self.type_size() as f64 * 8.0 / self.block_size() as f64
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_names_are_unique() {
        for ty in GgmlType::all() {
            assert_eq!(GgmlType::from_id(ty.id()), Some(ty));
            assert_eq!(GgmlType::from_name(ty.name()), Some(ty));
        }
        assert_eq!(GgmlType::from_id(4), None, "Q4_2 was removed from ggml");
        assert_eq!(GgmlType::from_id(1000), None);
    }

    #[test]
    fn byte_sizes_follow_blocks() {
        assert_eq!(GgmlType::Q4_0.bytes_for(64), Some(36));
        assert_eq!(GgmlType::Q4_K.bytes_for(256), Some(144));
        assert_eq!(GgmlType::Q4_K.bytes_for(255), None);
        assert_eq!(GgmlType::F32.bytes_for(u64::MAX), None);
        assert_eq!(GgmlType::Q4_0.bits_per_weight(), 4.5);
    }
}
