//! BPE pre-tokenizers: the regular expressions named by `tokenizer.ggml.pre` that split text
//! into words before merging, with the flags llama.cpp attaches to each name.

use fancy_regex::Regex;

use super::error::TokenizerError;

/// GPT-2's word pattern, as llama.cpp writes it.
const GPT2_WORDS: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";

/// Llama 3's pattern with the case-insensitive contractions spelled out.
const LLAMA3_WORDS: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Qwen 2's pattern: Llama 3's with single digits.
const QWEN2_WORDS: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A family of pre-tokenizers that share their regular expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreTokenizerKind {
    /// llama.cpp's default: punctuation runs, GPT-2 words, digit runs, then groups of three digits.
    Default,
    /// GPT-2 words only.
    Gpt2,
    /// Single digits, then GPT-2 words (StarCoder, SmolLM).
    StarCoder,
    /// Llama 3 (and DBRX, Smaug).
    Llama3,
    /// Qwen 2 (and StableLM 2).
    Qwen2,
    /// Falcon: punctuation runs, GPT-2 words, groups of three digits.
    Falcon,
}

impl PreTokenizerKind {
    /// The expressions applied in turn; each splits every piece the previous ones left.
    pub fn patterns(self) -> &'static [&'static str] {
        match self {
            PreTokenizerKind::Default => &[
                r"[\p{P}\$\+<=>\^~\|]+",
                GPT2_WORDS,
                r"\p{N}+",
                r"[0-9][0-9][0-9]",
            ],
            PreTokenizerKind::Gpt2 => &[GPT2_WORDS],
            PreTokenizerKind::StarCoder => &[r"\p{N}", GPT2_WORDS],
            PreTokenizerKind::Llama3 => &[LLAMA3_WORDS],
            PreTokenizerKind::Qwen2 => &[QWEN2_WORDS],
            PreTokenizerKind::Falcon => &[r"[\p{P}\$\+<=>\^~\|`]+", GPT2_WORDS, r"[0-9][0-9][0-9]"],
        }
    }
}

/// What a `tokenizer.ggml.pre` name selects, beside its expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PreConfig {
    pub(crate) kind: PreTokenizerKind,
    /// Detokenization removes spaces before punctuation and some contractions.
    pub(crate) clean_spaces: bool,
    /// A word that is a whole token is emitted without merging.
    pub(crate) ignore_merges: bool,
    /// The BOS default when `tokenizer.ggml.add_bos_token` is absent.
    pub(crate) add_bos: bool,
}

/// `(names, kind, clean_spaces, ignore_merges, add_bos)`, as llama.cpp maps pre-tokenizer names.
/// `gpt2` is accepted as another spelling of `gpt-2`.
const PRE_TABLE: &[(&[&str], PreTokenizerKind, bool, bool, bool)] = &[
    (&["default"], PreTokenizerKind::Default, true, false, false),
    (
        &["llama3", "llama-v3", "llama-bpe", "falcon3"],
        PreTokenizerKind::Llama3,
        true,
        true,
        true,
    ),
    (
        &["dbrx", "smaug-bpe"],
        PreTokenizerKind::Llama3,
        true,
        false,
        false,
    ),
    (&["qwen2"], PreTokenizerKind::Qwen2, false, false, false),
    (
        &["stablelm2", "megrez"],
        PreTokenizerKind::Qwen2,
        true,
        false,
        false,
    ),
    (
        &["smollm", "command-r"],
        PreTokenizerKind::StarCoder,
        false,
        false,
        false,
    ),
    (
        &["starcoder", "refact", "codeshell", "exaone", "minerva-7b"],
        PreTokenizerKind::StarCoder,
        true,
        false,
        false,
    ),
    (
        &[
            "gpt2",
            "gpt-2",
            "phi-2",
            "roberta-bpe",
            "mpt",
            "olmo",
            "jais",
        ],
        PreTokenizerKind::Gpt2,
        true,
        false,
        false,
    ),
    (&["falcon"], PreTokenizerKind::Falcon, true, false, false),
];

impl PreConfig {
    /// The configuration for a `tokenizer.ggml.pre` value; an absent name is `default`.
    pub(crate) fn from_name(name: Option<&str>) -> Result<PreConfig, TokenizerError> {
        let name = name.unwrap_or("default");
        PRE_TABLE
            .iter()
            .find(|(names, ..)| names.contains(&name))
            .map(
                |&(_, kind, clean_spaces, ignore_merges, add_bos)| PreConfig {
                    kind,
                    clean_spaces,
                    ignore_merges,
                    add_bos,
                },
            )
            .ok_or_else(|| TokenizerError::UnsupportedPreTokenizer {
                pre: name.to_owned(),
                supported: supported_names(),
            })
    }
}

fn supported_names() -> String {
    PRE_TABLE
        .iter()
        .flat_map(|(names, ..)| names.iter().copied())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The compiled expressions of one pre-tokenizer.
#[derive(Debug)]
pub(crate) struct Splitter {
    regexes: Vec<Regex>,
}

impl Splitter {
    /// Compiles the expressions of `kind`; `name` is for error messages.
    pub(crate) fn new(kind: PreTokenizerKind, name: &str) -> Result<Splitter, TokenizerError> {
        let regexes = kind
            .patterns()
            .iter()
            .map(|&pattern| {
                Regex::new(pattern).map_err(|e| TokenizerError::Regex {
                    pre: name.to_owned(),
                    pattern,
                    message: e.to_string(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Splitter { regexes })
    }

    /// Splits `text` into words: each expression in turn splits every piece into its matches
    /// and the text between them (nothing is dropped; each piece is matched on its own, so a
    /// lookahead never sees past the end of its piece).
    pub(crate) fn split<'t>(&self, text: &'t str) -> Result<Vec<&'t str>, TokenizerError> {
        let mut pieces = vec![text];
        for re in &self.regexes {
            let mut next = Vec::with_capacity(pieces.len() * 2);
            for piece in pieces {
                let mut last = 0;
                for m in re.find_iter(piece) {
                    let m = m.map_err(|e| TokenizerError::RegexRun {
                        pattern: re.as_str().to_owned(),
                        message: e.to_string(),
                    })?;
                    if m.start() == m.end() {
                        continue;
                    }
                    if m.start() > last {
                        next.push(&piece[last..m.start()]);
                    }
                    next.push(m.as_str());
                    last = m.end();
                }
                if last < piece.len() {
                    next.push(&piece[last..]);
                }
            }
            pieces = next;
        }
        Ok(pieces)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(kind: PreTokenizerKind, text: &str) -> Vec<String> {
        let s = Splitter::new(kind, "test").unwrap();
        s.split(text)
            .unwrap()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn every_pattern_compiles() {
        for &(_, kind, ..) in PRE_TABLE {
            Splitter::new(kind, "test").unwrap();
        }
    }

    #[test]
    fn gpt2_keeps_one_space_before_words() {
        assert_eq!(
            split(PreTokenizerKind::Gpt2, "Hello  world's 42!"),
            ["Hello", " ", " world", "'s", " 42", "!"]
        );
    }

    #[test]
    fn starcoder_splits_digits_first() {
        assert_eq!(
            split(PreTokenizerKind::StarCoder, "a 123"),
            ["a", " ", "1", "2", "3"]
        );
    }

    #[test]
    fn llama3_groups_three_digits_and_newlines() {
        assert_eq!(
            split(PreTokenizerKind::Llama3, "12345 I'M\n\nok"),
            ["123", "45", " I", "'M", "\n\n", "ok"]
        );
    }

    #[test]
    fn qwen2_single_digits() {
        assert_eq!(split(PreTokenizerKind::Qwen2, "x=42"), ["x", "=", "4", "2"]);
    }

    #[test]
    fn default_splits_punctuation_and_digit_triples() {
        assert_eq!(
            split(PreTokenizerKind::Default, "a,b 1234567"),
            ["a", ",", "b", " ", "123", "456", "7"]
        );
    }

    #[test]
    fn names_map_to_flags() {
        let smollm = PreConfig::from_name(Some("smollm")).unwrap();
        assert_eq!(smollm.kind, PreTokenizerKind::StarCoder);
        assert!(!smollm.clean_spaces);
        let llama3 = PreConfig::from_name(Some("llama-bpe")).unwrap();
        assert!(llama3.ignore_merges && llama3.add_bos);
        assert_eq!(
            PreConfig::from_name(None).unwrap().kind,
            PreTokenizerKind::Default
        );
        let err = PreConfig::from_name(Some("klingon")).unwrap_err();
        assert!(err.to_string().contains("'klingon'"), "{err}");
    }
}
