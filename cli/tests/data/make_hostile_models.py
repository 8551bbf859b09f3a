"""Writes a tiny valid llama model (SentencePiece tokenizer, chat template) and a corpus of
hostile variants of it: valid GGUF containers whose hyperparameters, tensor shapes,
tokenizer arrays or chat templates are hostile. `cli/tests/hostile_models.rs` runs the
commands on every file; the fuzz target `model_from_bytes` starts from `base.gguf`.

Command (`pip install gguf numpy`):

    python3 cli/tests/data/make_hostile_models.py OUT_DIR

writes OUT_DIR/base.gguf, OUT_DIR/<case>.gguf for each case and OUT_DIR/manifest.json:
a list of {"file", "class", "needle"}: `class` says which part is hostile (hparams, tensors,
tokenizer, template), `needle` a text the one-line error must contain.
"""

import json
import os
import sys

import gguf
import numpy as np

T = gguf.GGUFValueType
ARCH = "llama"
N_EMBD, N_LAYER, N_HEAD, N_HEAD_KV, HEAD_DIM, N_FF, N_CTX = 32, 2, 4, 2, 8, 64, 64
WORDS = ["\u2581hi", "\u2581the", "\u2581cat", "\u2581sat", "h", "i", "t", "e", "\u2581"]
TEMPLATE = (
    "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def tokens():
    toks = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + WORDS
    types = [2, 3, 3] + [6] * 256 + [1] * len(WORDS)
    scores = [0.0, 0.0, 0.0] + [0.0] * 256 + [-float(i) for i in range(len(WORDS))]
    return toks, types, scores


def base_kv():
    """Metadata as {key: (value, type, sub_type)}."""
    toks, types, scores = tokens()
    a = ARCH
    return {
        "general.architecture": (a, T.STRING, None),
        "general.name": ("hostile-base", T.STRING, None),
        f"{a}.embedding_length": (N_EMBD, T.UINT32, None),
        f"{a}.block_count": (N_LAYER, T.UINT32, None),
        f"{a}.attention.head_count": (N_HEAD, T.UINT32, None),
        f"{a}.attention.head_count_kv": (N_HEAD_KV, T.UINT32, None),
        f"{a}.context_length": (N_CTX, T.UINT32, None),
        f"{a}.feed_forward_length": (N_FF, T.UINT32, None),
        f"{a}.attention.layer_norm_rms_epsilon": (1e-5, T.FLOAT32, None),
        "tokenizer.ggml.model": ("llama", T.STRING, None),
        "tokenizer.ggml.tokens": (toks, T.ARRAY, T.STRING),
        "tokenizer.ggml.scores": (scores, T.ARRAY, T.FLOAT32),
        "tokenizer.ggml.token_type": (types, T.ARRAY, T.INT32),
        "tokenizer.ggml.bos_token_id": (1, T.UINT32, None),
        "tokenizer.ggml.eos_token_id": (2, T.UINT32, None),
        "tokenizer.chat_template": (TEMPLATE, T.STRING, None),
    }


def base_tensors(n_vocab):
    """[(name, array in numpy order (ne1, ne0)), ...] of f32 weights from a fixed seed."""
    rng = np.random.default_rng(7)

    def w(*shape):
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)

    def norm():
        return np.ones(N_EMBD, dtype=np.float32)

    q, kv = N_HEAD * HEAD_DIM, N_HEAD_KV * HEAD_DIM
    out = [("token_embd.weight", w(n_vocab, N_EMBD)), ("output_norm.weight", norm())]
    for il in range(N_LAYER):
        p = f"blk.{il}."
        out += [
            (p + "attn_norm.weight", norm()),
            (p + "attn_q.weight", w(q, N_EMBD)),
            (p + "attn_k.weight", w(kv, N_EMBD)),
            (p + "attn_v.weight", w(kv, N_EMBD)),
            (p + "attn_output.weight", w(N_EMBD, q)),
            (p + "ffn_norm.weight", norm()),
            (p + "ffn_gate.weight", w(N_FF, N_EMBD)),
            (p + "ffn_up.weight", w(N_FF, N_EMBD)),
            (p + "ffn_down.weight", w(N_EMBD, N_FF)),
        ]
    return out


class Writer(gguf.GGUFWriter):
    """gguf-py's writer, which also writes empty arrays (gguf-py refuses them)."""

    def _pack_val(self, val, vtype, add_vtype, sub_type=None):
        if vtype == T.ARRAY and len(val) == 0:
            prefix = self._pack("I", vtype) if add_vtype else b""
            return prefix + self._pack("I", sub_type) + self._pack("Q", 0)
        return super()._pack_val(val, vtype, add_vtype, sub_type)


def write(path, kv, tensors, raw_shapes=None):
    """Writes `kv` and `tensors`; `raw_shapes` overrides a tensor's shape in the header."""
    raw_shapes = raw_shapes or {}
    w = Writer(path, kv["general.architecture"][0])
    # The writer adds general.architecture itself.
    for key, (value, vtype, sub) in kv.items():
        if key != "general.architecture":
            w.add_key_value(key, value, vtype, sub_type=sub)
    for name, arr in tensors:
        w.add_tensor(name, arr, raw_shape=raw_shapes.get(name))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def key(suffix):
    return f"{ARCH}.{suffix}"


def cases():
    """(name, class, needle, kv changes, tensor edit) for every hostile file."""
    U64, U32, F32, STR = T.UINT64, T.UINT32, T.FLOAT32, T.STRING
    n_vocab = len(tokens()[0])

    def hp(name, suffix, value, vtype, needle=None):
        return (name, "hparams", needle or key(suffix), {key(suffix): (value, vtype, None)}, None)

    def tok(name, k, value, vtype, sub=None, needle=None):
        return (name, "tokenizer", needle or k, {k: (value, vtype, sub)}, None)

    def tmpl(name, source, needle):
        return (name, "template", needle, {"tokenizer.chat_template": (source, STR, None)}, None)

    def tens(name, needle, edit):
        return (name, "tensors", needle, {}, edit)

    toks = tokens()[0]
    return [
        hp("block_count_max", "block_count", 2**64 - 1, U64),
        hp("block_count_2e40", "block_count", 2**40, U64),
        hp("block_count_zero", "block_count", 0, U32),
        hp("block_count_past_tensors", "block_count", 3, U32),
        hp("block_count_string", "block_count", "two", STR),
        hp("key_length_wraps", "attention.key_length", 2**63 + 4, U64),
        hp("key_length_zero", "attention.key_length", 0, U32),
        hp("key_length_mismatch", "attention.key_length", 16, U32, "blk.0.attn_q.weight"),
        hp("head_count_zero", "attention.head_count", 0, U32),
        hp("head_count_2e32", "attention.head_count", 2**32, U64),
        hp("head_count_kv_not_dividing", "attention.head_count_kv", 3, U32),
        hp("head_count_kv_zero", "attention.head_count_kv", 0, U32),
        hp("embedding_length_2e40", "embedding_length", 2**40, U64),
        hp("embedding_length_mismatch", "embedding_length", 48, U32, "token_embd.weight"),
        hp("context_length_2e40", "context_length", 2**40, U64),
        hp("context_length_zero", "context_length", 0, U32),
        hp("feed_forward_2e62", "feed_forward_length", 2**62, U64),
        hp("vocab_size_past_embedding", "vocab_size", n_vocab + 1, U32),
        hp("rope_dims_odd", "rope.dimension_count", 7, U32),
        hp("rope_dims_2e40", "rope.dimension_count", 2**40, U64),
        hp("rope_freq_base_nan", "rope.freq_base", float("nan"), F32),
        hp("rms_eps_infinite", "attention.layer_norm_rms_epsilon", float("inf"), F32),
        hp("rope_scaling_infinite", "rope.scaling.factor", float("inf"), F32),
        tens(
            "tensor_past_file_end",
            "token_embd.weight",
            ("raw_shape", "token_embd.weight", [N_EMBD, 2**40]),
        ),
        tens("tensor_shape_swapped", "blk.0.attn_k.weight", ("transpose", "blk.0.attn_k.weight")),
        tens("tensor_missing", "blk.1.ffn_down.weight", ("drop", "blk.1.ffn_down.weight")),
        tok("tokenizer_unknown_model", "tokenizer.ggml.model", "t5", STR),
        tok("tokens_empty", "tokenizer.ggml.tokens", [], T.ARRAY, STR),
        tok("tokens_not_strings", "tokenizer.ggml.tokens", [1, 2, 3], T.ARRAY, U32),
        tok("scores_short", "tokenizer.ggml.scores", [0.0] * 5, T.ARRAY, F32),
        tok("token_type_long", "tokenizer.ggml.token_type", [1] * (n_vocab + 3), T.ARRAY, T.INT32),
        tok("bos_past_vocab", "tokenizer.ggml.bos_token_id", 2**31, U32),
        tok("eos_past_vocab", "tokenizer.ggml.eos_token_id", n_vocab, U32),
        (
            "merges_unknown_token",
            "tokenizer",
            "tokenizer.ggml.merges",
            {
                "tokenizer.ggml.model": ("gpt2", STR, None),
                "tokenizer.ggml.pre": ("default", STR, None),
                "tokenizer.ggml.merges": (["h i", "q zz"], T.ARRAY, STR),
            },
            None,
        ),
        (
            "tokens_fewer_than_embedding_rows",
            "vocab",
            "tokenizer.ggml.tokens",
            {
                "tokenizer.ggml.tokens": (toks[:-1], T.ARRAY, STR),
                "tokenizer.ggml.scores": (tokens()[2][:-1], T.ARRAY, F32),
                "tokenizer.ggml.token_type": (tokens()[1][:-1], T.ARRAY, T.INT32),
            },
            None,
        ),
        tmpl(
            "template_string_doubling",
            "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
            "chat template",
        ),
        tmpl(
            "template_list_doubling",
            "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}"
            "{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | length }}",
            "chat template",
        ),
        tmpl(
            "template_repeat_concat",
            "{% set s = 'x' * 100000000 %}{{ (s ~ s ~ s ~ s ~ s ~ s ~ s ~ s) | length }}",
            "chat template",
        ),
        tmpl(
            "template_recursion",
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
            "chat template",
        ),
        tmpl(
            "template_endless_loop",
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
            "chat template",
        ),
        tmpl("template_raises", "{{ raise_exception('no chat here') }}", "no chat here"),
        tmpl("template_syntax", "{% for m in messages %}", "chat template"),
        tmpl(
            "template_huge_output",
            "{% for a in range(100000) %}{{ 'y' * 1000 }}{% endfor %}",
            "chat template",
        ),
    ]


def main(out):
    os.makedirs(out, exist_ok=True)
    toks = tokens()[0]
    write(os.path.join(out, "base.gguf"), base_kv(), base_tensors(len(toks)))
    manifest = []
    for name, cls, needle, changes, edit in cases():
        kv = base_kv()
        kv.update(changes)
        tensors = base_tensors(len(toks))
        raw = {}
        if edit is not None:
            what, tname = edit[0], edit[1]
            if what == "drop":
                tensors = [(n, a) for n, a in tensors if n != tname]
            elif what == "transpose":
                tensors = [(n, a.T.copy() if n == tname else a) for n, a in tensors]
            elif what == "raw_shape":
                raw[tname] = list(reversed(edit[2]))
        file = f"{name}.gguf"
        write(os.path.join(out, file), kv, tensors, raw)
        manifest.append({"file": file, "class": cls, "needle": needle})
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
