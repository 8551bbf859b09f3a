"""Prints every tensor of a GGUF file as gguf-py's GGUFReader sees it, as JSON.

usage: python3 gguf_tensors.py FILE
output: {"tensors": [{"name", "type", "shape" (ggml order, ne0 first), "offset" (absolute
file offset of the data), "n_bytes"}, ...]}
"""
import json
import sys

from gguf import GGUFReader

reader = GGUFReader(sys.argv[1])
tensors = [
    {
        "name": t.name,
        "type": t.tensor_type.name,
        "shape": [int(d) for d in t.shape],
        "offset": int(t.data_offset),
        "n_bytes": int(t.n_bytes),
    }
    for t in reader.tensors
]
json.dump({"tensors": tensors}, sys.stdout)
