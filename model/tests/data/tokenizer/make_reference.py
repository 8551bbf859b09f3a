#!/usr/bin/env python3
"""Writes the tokenizer reference data that `model/tests/tokenizer_reference.rs` compares against.

The reference is llama.cpp itself, through the `llama-cpp-python` package (built from source by
pip); nothing in this repository takes part in producing it. For every model and every input
string it records the token ids of `llama_tokenize` with each combination of `add_special`
(BOS/EOS as the model's metadata asks) and `parse_special`, the bytes of `llama_detokenize` of
those ids, the bytes of `llama_token_to_piece` for every id that appears (with and without
`special`), and the vocabulary facts (BOS, EOS, EOT, the end-of-generation set, add_bos/add_eos).

Exact command (from the repository root, with the models fetched by `cargo xtask fetch-models`):

    pip install llama-cpp-python==0.3.36 gguf==0.19.0
    python3 model/tests/data/tokenizer/make_reference.py ~/.cache/rocmforge/models

It writes `smollm2.json` and `gemma3-270m.json` beside this script. To reach the
pre-tokenizers that neither model uses, SmolLM2's vocabulary and merges are also written, with
`tokenizer.ggml.pre` changed and no tensors, to temporary GGUF files that llama.cpp loads
vocabulary-only; their ids and detokenizations go under `pre_variants` in `smollm2.json`.
Under `bpe_edges` are the same for SmolLM2's vocabulary with a few tokens renamed, so that
bytes and merge results that are not tokens are met (`BPE_EDGE_RENAMES`).
"""

import ctypes
import json
import os
import sys
import tempfile

import gguf
import llama_cpp

MODELS = {
    "smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3-270m": "gemma-3-270m-q4_k_m.gguf",
}

# At least 40 strings: unicode, emoji, CJK, code with tabs and runs of spaces, digits,
# leading/trailing/multiple spaces, newlines, and text that looks like special tokens.
STRINGS = [
    "",
    " ",
    "  ",
    "   ",
    "\t",
    "\n",
    "\n\n\n",
    " \n ",
    "Hello",
    "Hello world",
    " Hello world",
    "Hello world ",
    "  Hello   world  ",
    "Hello, world! How are you today?",
    "The quick brown fox jumps over the lazy dog.",
    "I'm sure you've seen it; they'll say it's what we'd done. DON'T SHOUT",
    "3.14159 and 2718281828 and 1,000,000 and 42",
    "Call 555-0123 in 2024/06/01 at 12:30pm.",
    "\u00e9t\u00e9 na\u00efve caf\u00e9 r\u00e9sum\u00e9 \u00fcber Stra\u00dfe",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u041a\u0430\u043a \u0434\u0435\u043b\u0430?",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u4eca\u5929\u5929\u6c14\u600e\u4e48\u6837\uff1f",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068\u30ab\u30bf\u30ab\u30ca",
    "\ud55c\uad6d\uc5b4 \ubb38\uc7a5\uc785\ub2c8\ub2e4",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    "Emoji: \U0001f600\U0001f680\U0001f44d\U0001f3fd \u2764\ufe0f \U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\U0001f999\U0001fae0\U0001f9ec",
    "def f(x):\n\treturn x * 2\n",
    "if (a) {\n        b();\n    }\n",
    "\t\tindented with tabs\t\tand\ttabs",
    "int main() { return 0; }  // comment",
    "x    =    1",
    "a\u00a0b\u3000c",
    "line1\r\nline2\rline3",
    "<s>",
    "</s>",
    "<bos>Hello<eos>",
    "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>text after<|endoftext|>",
    "<unk> <pad> <mask> [multimodal]",
    "<table><tr><td>1</td></tr></table>",
    "<0x41> \u2581 \u2581\u2581 \u0120",
    "https://example.com/path?q=1&r=two#frag",
    "$\\sum_{i=1}^{n} x_i^2$ and e^{i\\pi} + 1 = 0",
    "------ ====== ****** ......",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "\u00c0\u00c1\u00c2\u00c3\u00c4\u00c5 \u0391\u03b2\u03b3 \u05e9\u05dc\u05d5\u05dd",
    "Mixed: English, \u4e2d\u6587, \u0440\u0443\u0441\u0441\u043a\u0438\u0439, \U0001f600 and 123!",
    "trailing newline\n",
    "\n leading newline",
    "multiple\n\n\nnewlines\n\n",
    "ends with spaces    ",
    "    starts with spaces",
    "(hello) [world] {foo} \"bar\" 'baz'",
    "x\n  \n\ty\r\n\r\nz",
    "$100+200=300|x^2~y<=z>=w",
    "HE'LL WE'VE YOU'RE SHE'D IT'S I'M",
    "...wait!!! --really?? ;-) :)",
    "\u00bfQu\u00e9? \u00a1Hola! \u00abquotes\u00bb \u201csmart\u201d",
]

assert len(STRINGS) >= 40

# `tokenizer.ggml.pre` values checked on SmolLM2's vocabulary beside its own `smollm`.
PRE_VARIANTS = ["llama-bpe", "qwen2", "default", "gpt-2"]


def tokenize(vocab, data, add_special, parse_special):
    n_max = len(data) + 16
    buf = (llama_cpp.llama_token * n_max)()
    n = llama_cpp.llama_tokenize(vocab, data, len(data), buf, n_max, add_special, parse_special)
    if n < 0:
        raise RuntimeError(f"tokenize needs {-n} slots")
    return [int(buf[i]) for i in range(n)]


def token_to_piece(vocab, token, special):
    size = 256
    buf = ctypes.create_string_buffer(size)
    n = llama_cpp.llama_token_to_piece(vocab, token, buf, size, 0, special)
    if n < 0:
        raise RuntimeError(f"piece of {token} needs {-n} bytes")
    return list(buf.raw[:n])


def detokenize(vocab, tokens, remove_special, unparse_special):
    arr = (llama_cpp.llama_token * max(1, len(tokens)))(*tokens)
    size = 64 + 64 * len(tokens)
    buf = ctypes.create_string_buffer(size)
    n = llama_cpp.llama_detokenize(vocab, arr, len(tokens), buf, size, remove_special, unparse_special)
    if n < 0:
        raise RuntimeError(f"detokenize needs {-n} bytes")
    return list(buf.raw[:n])


def variant(src, dst, pre=None, renames=None, drop_merges=()):
    """Copies the metadata of `src` to `dst`, no tensors, with `tokenizer.ggml.pre` set to
    `pre` (when given), the tokens at the ids of `renames` given the new texts, and the
    merges in `drop_merges` left out."""
    reader = gguf.GGUFReader(src)
    writer = gguf.GGUFWriter(dst, arch=reader.fields["general.architecture"].contents())
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        value = field.contents()
        if key == "tokenizer.ggml.pre" and pre is not None:
            value = pre
        if key == "tokenizer.ggml.tokens" and renames:
            value = [renames.get(i, t) for i, t in enumerate(value)]
        if key == "tokenizer.ggml.merges" and drop_merges:
            value = [m for m in value if m not in drop_merges]
        vtype = field.types[0]
        sub_type = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, value, vtype, sub_type=sub_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# Byte-level BPE edges on SmolLM2's vocabulary: the tokens of a few bytes renamed (ids
# kept; "Ã" is byte 0xC3, "©" 0xA9, "Ċ" the newline) and the merges naming them dropped, so
# that words hold symbols that are not tokens.
BPE_EDGE_RENAMES = ["Ã", "©", "Ċ"]
EDGE_STRINGS = [
    "café, résumé, naïve",
    "the theme of the thing",
    "singing\nin the rain\n\n",
    "Ã© literally",
    "Grüße aus Köln 🎉",
]


def bpe_edges(path):
    """The renamed token ids and texts, and llama.cpp's ids and detokenizations."""
    reader = gguf.GGUFReader(path)
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    merges = reader.fields["tokenizer.ggml.merges"].contents()
    ids = {t: i for i, t in enumerate(tokens)}
    renames = {ids[t]: f"<renamed {ids[t]}>" for t in BPE_EDGE_RENAMES}
    # A merge must name tokens: those naming a renamed text (either half or the result) go.
    old = set(BPE_EDGE_RENAMES)
    dropped = [m for m in merges if (set(m.split(" ", 1)) | {m.replace(" ", "", 1)}) & old]
    with tempfile.TemporaryDirectory() as tmp:
        dst = os.path.join(tmp, "edges.gguf")
        variant(path, dst, renames=renames, drop_merges=set(dropped))
        cases = variant_cases(dst, EDGE_STRINGS)
    return {
        "renamed": {str(i): t for i, t in renames.items()},
        "dropped_merges": dropped,
        "cases": cases,
    }


def variant_cases(path, strings=STRINGS):
    llm = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
    vocab = llm._model.vocab
    cases = []
    for text in strings:
        ids = tokenize(vocab, text.encode("utf-8"), False, False)
        cases.append({"text": text, "tokens": ids, "detok": detokenize(vocab, ids, False, False)})
    return cases


def opt(tok):
    return None if tok < 0 else int(tok)


def reference(path):
    llm = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
    vocab = llm._model.vocab
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    seen = set()
    cases = []
    for text in STRINGS:
        data = text.encode("utf-8")
        for add_special in (True, False):
            for parse_special in (False, True):
                ids = tokenize(vocab, data, add_special, parse_special)
                seen.update(ids)
                cases.append(
                    {
                        "text": text,
                        "add_special": add_special,
                        "parse_special": parse_special,
                        "tokens": ids,
                        "detok": detokenize(vocab, ids, False, False),
                        "detok_remove_special": detokenize(vocab, ids, True, False),
                        "detok_unparse_special": detokenize(vocab, ids, False, True),
                    }
                )
    pieces = {
        str(t): {
            "special": token_to_piece(vocab, t, True),
            "plain": token_to_piece(vocab, t, False),
        }
        for t in sorted(seen)
    }
    return {
        "generator": f"llama-cpp-python {llama_cpp.__version__}",
        "n_vocab": n_vocab,
        "bos": opt(llama_cpp.llama_vocab_bos(vocab)),
        "eos": opt(llama_cpp.llama_vocab_eos(vocab)),
        "eot": opt(llama_cpp.llama_vocab_eot(vocab)),
        "add_bos": bool(llama_cpp.llama_vocab_get_add_bos(vocab)),
        "add_eos": bool(llama_cpp.llama_vocab_get_add_eos(vocab)),
        "eog": [t for t in range(n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, t)],
        "cases": cases,
        "pieces": pieces,
    }


def main():
    models_dir = os.path.expanduser(sys.argv[1] if len(sys.argv) > 1 else "~/.cache/rocmforge/models")
    out_dir = os.path.dirname(os.path.abspath(__file__))
    for name, file in MODELS.items():
        path = os.path.join(models_dir, file)
        data = reference(path)
        if name == "smollm2":
            data["pre_variants"] = {}
            with tempfile.TemporaryDirectory() as tmp:
                for pre in PRE_VARIANTS:
                    variant_path = os.path.join(tmp, f"{pre}.gguf")
                    variant(path, variant_path, pre=pre)
                    data["pre_variants"][pre] = variant_cases(variant_path)
            data["bpe_edges"] = bpe_edges(path)
        out = os.path.join(out_dir, f"{name}.json")
        with open(out, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=True, indent=None, separators=(",", ":"))
            f.write("\n")
        print(f"{out}: {len(data['cases'])} cases, {len(data['pieces'])} pieces")


if __name__ == "__main__":
    main()
