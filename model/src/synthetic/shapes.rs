//! The model shapes `--synthetic` offers: three real small models' hyperparameters
//! (SmolLM2-135M, Gemma 3 270M, Qwen3-0.6B, from their published configs) and llama-style
//! 1B and 8B shapes, each also as a tiny variant (`NAME-tiny`) for tests.

/// Hyperparameters of a synthetic model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    /// The shape's name (`llama-1b`), without the `-tiny` suffix.
    pub name: &'static str,
    /// Whether this is the scaled-down test variant of the named shape.
    pub tiny: bool,
    /// `general.architecture`.
    pub arch: &'static str,
    /// Hidden size.
    pub n_embd: usize,
    /// Transformer blocks.
    pub n_layer: usize,
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads.
    pub n_head_kv: usize,
    /// Head dimension (keys, queries and values).
    pub head_dim: usize,
    /// FFN hidden size.
    pub n_ff: usize,
    /// Vocabulary size.
    pub n_vocab: usize,
    /// Training context length written to the metadata.
    pub n_ctx_train: usize,
    /// Rope base (of global layers).
    pub rope_base: f32,
    /// RMS norm epsilon.
    pub rms_eps: f32,
    /// Whether the output head is tied to the token embedding (no `output.weight`).
    pub tied_output: bool,
    /// Sliding window of local layers, for architectures that have them.
    pub sliding_window: Option<u32>,
}

/// Every full-size shape.
pub const SHAPES: &[Shape] = &[
    // HuggingFaceTB/SmolLM2-135M.
    Shape {
        name: "smollm2-135m",
        tiny: false,
        arch: "llama",
        n_embd: 576,
        n_layer: 30,
        n_head: 9,
        n_head_kv: 3,
        head_dim: 64,
        n_ff: 1536,
        n_vocab: 49_152,
        n_ctx_train: 8192,
        rope_base: 100_000.0,
        rms_eps: 1e-5,
        tied_output: true,
        sliding_window: None,
    },
    // google/gemma-3-270m.
    Shape {
        name: "gemma3-270m",
        tiny: false,
        arch: "gemma3",
        n_embd: 640,
        n_layer: 18,
        n_head: 4,
        n_head_kv: 1,
        head_dim: 256,
        n_ff: 2048,
        n_vocab: 262_144,
        n_ctx_train: 32_768,
        rope_base: 1_000_000.0,
        rms_eps: 1e-6,
        tied_output: true,
        sliding_window: Some(512),
    },
    // Qwen/Qwen3-0.6B.
    Shape {
        name: "qwen3-0.6b",
        tiny: false,
        arch: "qwen3",
        n_embd: 1024,
        n_layer: 28,
        n_head: 16,
        n_head_kv: 8,
        head_dim: 128,
        n_ff: 3072,
        n_vocab: 151_936,
        n_ctx_train: 40_960,
        rope_base: 1_000_000.0,
        rms_eps: 1e-6,
        tied_output: true,
        sliding_window: None,
    },
    Shape {
        name: "llama-1b",
        tiny: false,
        arch: "llama",
        n_embd: 2048,
        n_layer: 16,
        n_head: 32,
        n_head_kv: 8,
        head_dim: 64,
        n_ff: 8192,
        n_vocab: 49_152,
        n_ctx_train: 131_072,
        rope_base: 500_000.0,
        rms_eps: 1e-5,
        tied_output: false,
        sliding_window: None,
    },
    Shape {
        name: "llama-8b",
        tiny: false,
        arch: "llama",
        n_embd: 4096,
        n_layer: 32,
        n_head: 32,
        n_head_kv: 8,
        head_dim: 128,
        n_ff: 14_336,
        n_vocab: 49_152,
        n_ctx_train: 131_072,
        rope_base: 500_000.0,
        rms_eps: 1e-5,
        tied_output: false,
        sliding_window: None,
    },
];

/// Suffix naming a shape's tiny variant.
const TINY_SUFFIX: &str = "-tiny";
/// Hidden size a tiny variant scales down to (at least).
const TINY_EMBD: usize = 512;
/// Layers of a tiny variant.
const TINY_LAYERS: usize = 2;
/// Vocabulary of a tiny variant (room for the byte tokens and a few more).
const TINY_VOCAB: usize = 512;

/// The shape named `name` (case-insensitive), or its tiny variant for `NAME-tiny`.
pub fn lookup(name: &str) -> Option<Shape> {
    let lower = name.to_ascii_lowercase();
    let (base, tiny) = match lower.strip_suffix(TINY_SUFFIX) {
        Some(base) => (base, true),
        None => (lower.as_str(), false),
    };
    let shape = *SHAPES.iter().find(|s| s.name == base)?;
    Some(if tiny { shape.tiny() } else { shape })
}

/// Names of the full-size shapes, comma-separated.
pub fn names() -> String {
    SHAPES.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
}

impl Shape {
    /// The test variant: two layers, a 512-token vocabulary, and hidden size, FFN size and
    /// head counts divided by the largest power of two that keeps the hidden size at least
    /// 512 and divides the KV heads (architecture, head size and GQA ratio unchanged).
    pub fn tiny(self) -> Shape {
        let mut f = 1;
        while self.n_embd / (2 * f) >= TINY_EMBD && self.n_head_kv % (2 * f) == 0 {
            f *= 2;
        }
        Shape {
            tiny: true,
            n_embd: self.n_embd / f,
            n_layer: TINY_LAYERS,
            n_head: self.n_head / f,
            n_head_kv: self.n_head_kv / f,
            n_ff: self.n_ff / f,
            n_vocab: TINY_VOCAB,
            ..self
        }
    }

    /// The display name: `llama-1b`, or `llama-1b-tiny` for the test variant.
    pub fn display_name(&self) -> String {
        if self.tiny {
            format!("{}{TINY_SUFFIX}", self.name)
        } else {
            self.name.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_shapes_and_tiny_variants() {
        for s in SHAPES {
            assert_eq!(lookup(s.name), Some(*s));
            let t = lookup(&format!("{}-TINY", s.name)).unwrap();
            assert!(t.tiny && t.n_layer == 2 && t.arch == s.arch);
            assert_eq!(t.n_head / t.n_head_kv, s.n_head / s.n_head_kv);
            assert!(t.n_embd >= TINY_EMBD && t.n_embd <= s.n_embd);
            assert_eq!(t.display_name(), format!("{}-tiny", s.name));
        }
        let t = lookup("llama-8b-tiny").unwrap();
        assert_eq!((t.n_embd, t.n_head, t.n_head_kv, t.n_ff), (512, 4, 1, 1792));
        assert_eq!(lookup("llama-3b"), None);
    }
}
