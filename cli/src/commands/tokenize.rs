//! `rocmforge tokenize -m MODEL -p TEXT [--ids] [--no-bos] [--special]`: the tokens the
//! model's own tokenizer makes of a text, printed as llama.cpp's `llama-tokenize` prints them:
//! one `    ID -> 'PIECE'` line per token, or with `--ids` only the list `[ID, ID, …]`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use ggml_core::gguf::GgufFile;
use model::tokenizer::{TokenId, Tokenizer};

/// Arguments of `rocmforge tokenize`.
#[derive(clap::Args)]
pub struct Args {
    /// The model: a GGUF file, `smollm2`, `gemma3-270m`, or a pulled USER/REPO[:QUANT].
    #[arg(short = 'm', long = "model", default_value = "smollm2")]
    pub model: String,
    /// The text to tokenize.
    #[arg(short = 'p', long = "prompt")]
    pub prompt: String,
    /// Print only the token ids, as `[1, 2, 3]`.
    #[arg(long)]
    pub ids: bool,
    /// Add no BOS/EOS, even where the model asks for them.
    #[arg(long)]
    pub no_bos: bool,
    /// Recognise control tokens written in the text (such as `<|im_start|>`) as those tokens.
    #[arg(long)]
    pub special: bool,
}

/// Runs `tokenize`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let path = model::cache::resolve(&args.model)?;
    let file = GgufFile::open(&path).with_context(|| path.display().to_string())?;
    let tokenizer =
        Tokenizer::from_gguf(&file).with_context(|| format!("{}: tokenizer", path.display()))?;
    let ids = tokenizer.encode(&args.prompt, !args.no_bos, args.special)?;
    let mut out = std::io::stdout().lock();
    if args.ids {
        writeln!(out, "{}", id_list(&ids))?;
    } else {
        write_pieces(&mut out, &tokenizer, &ids)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `[1, 2, 3]`.
fn id_list(ids: &[TokenId]) -> String {
    let list: Vec<String> = ids.iter().map(TokenId::to_string).collect();
    format!("[{}]", list.join(", "))
}

/// One `%6d -> '%s'` line per token, the piece rendered with special tokens as their text and
/// written as raw bytes (a piece may be part of a UTF-8 character), as llama.cpp does.
fn write_pieces(
    out: &mut impl Write,
    tokenizer: &Tokenizer,
    ids: &[TokenId],
) -> anyhow::Result<()> {
    for &id in ids {
        write!(out, "{id:6} -> '")?;
        out.write_all(tokenizer.token_to_piece(id, true)?)?;
        writeln!(out, "'")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smollm2() -> Tokenizer {
        let path = model::cache::resolve("smollm2").unwrap_or_else(|e| {
            panic!("test model smollm2 is missing ({e}); run `cargo xtask fetch-models`")
        });
        Tokenizer::from_gguf(&GgufFile::open(&path).unwrap()).unwrap()
    }

    #[test]
    fn prints_like_llama_tokenize() {
        let tokenizer = smollm2();
        let ids = tokenizer
            .encode("<|im_start|>Hello world", true, true)
            .unwrap();
        let mut out = Vec::new();
        write_pieces(&mut out, &tokenizer, &ids).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "     1 -> '<|im_start|>'\n 19556 -> 'Hello'\n   905 -> ' world'\n"
        );
        assert_eq!(id_list(&ids), "[1, 19556, 905]");
        assert_eq!(id_list(&[]), "[]");
    }
}
