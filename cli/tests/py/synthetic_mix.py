"""Checks a synthetic GGUF file (`rocmforge bench --synthetic ... --save FILE`) with gguf-py:
every tensor's type is what llama.cpp's quantization rules give in the file's mix, every
weight's shape follows the hyperparameters in the metadata, and the vocabulary has
vocab_size tokens. The rules are restated here from llama.cpp's llama_tensor_get_type for
the mixes bench offers (Q4_K_M, Q4_0, Q8_0, F16), independently of the Rust code.

usage: python3 synthetic_mix.py FILE
output: {"mix", "n_tensors", "errors": [...]}
"""
import json
import sys

from gguf import GGUFReader

MIXES = {15: "Q4_K_M", 2: "Q4_0", 7: "Q8_0", 1: "F16"}
BASE = {"Q4_K_M": "Q4_K", "Q4_0": "Q4_0", "Q8_0": "Q8_0", "F16": "F16"}
# llama.cpp's fallback when rows are not whole 256-element super-blocks.
FALLBACK = {"Q4_K": "Q5_0", "Q6_K": "Q8_0"}

reader = GGUFReader(sys.argv[1])


def field(key):
    return reader.fields[key].contents()


arch = field("general.architecture")
mix = MIXES[field("general.file_type")]
hp = {k: field(f"{arch}.{k}") for k in (
    "embedding_length", "block_count", "feed_forward_length", "attention.head_count",
    "attention.head_count_kv", "attention.key_length", "vocab_size")}
n_embd, n_layer, n_ff = hp["embedding_length"], hp["block_count"], hp["feed_forward_length"]
hd = hp["attention.key_length"]
q, kv = hp["attention.head_count"] * hd, hp["attention.head_count_kv"] * hd
n_vocab = hp["vocab_size"]
names = {t.name for t in reader.tensors}
has_output = "output.weight" in names


def more_bits(i, n):
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def expected_type(name, shape):
    if not name.endswith("weight") or len(shape) < 2 or "_norm.weight" in name:
        return "F32"
    if mix == "F16":
        return "F16"
    is_output = name == "output.weight" or (not has_output and name == "token_embd.weight")
    layer = int(name.split(".")[1]) if name.startswith("blk.") else None
    if is_output:
        t = "Q8_0" if mix == "Q8_0" else "Q6_K"
    elif mix == "Q4_K_M" and ("attn_v." in name or "ffn_down." in name) and more_bits(layer, n_layer):
        t = "Q6_K"
    else:
        t = BASE[mix]
    if shape[0] % 256 and t in FALLBACK:
        t = FALLBACK[t]
    return t


SHAPES = {
    "token_embd.weight": [n_embd, n_vocab], "output.weight": [n_embd, n_vocab],
    "attn_q.weight": [n_embd, q], "attn_k.weight": [n_embd, kv], "attn_v.weight": [n_embd, kv],
    "attn_output.weight": [q, n_embd], "ffn_gate.weight": [n_embd, n_ff],
    "ffn_up.weight": [n_embd, n_ff], "ffn_down.weight": [n_ff, n_embd],
    "attn_q_norm.weight": [hd], "attn_k_norm.weight": [hd],
}
errors = []
for t in reader.tensors:
    shape = [int(d) for d in t.shape]
    want = expected_type(t.name, shape)
    if t.tensor_type.name != want:
        errors.append(f"{t.name}: {t.tensor_type.name}, llama.cpp's {mix} gives {want}")
    suffix = t.name.split(".", 2)[-1] if t.name.startswith("blk.") else t.name
    want_shape = SHAPES.get(suffix, [n_embd])
    if shape != want_shape:
        errors.append(f"{t.name}: shape {shape}, hyperparameters give {want_shape}")
for i in range(n_layer):
    for part in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"):
        if f"blk.{i}.{part}.weight" not in names:
            errors.append(f"blk.{i}.{part}.weight missing")
if len(field("tokenizer.ggml.tokens")) != n_vocab:
    errors.append("vocabulary size differs from vocab_size")
json.dump({"mix": mix, "n_tensors": len(reader.tensors), "errors": errors}, sys.stdout)
