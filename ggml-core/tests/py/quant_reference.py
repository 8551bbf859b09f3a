#!/usr/bin/env python3
"""Runs gguf.quants over the cases in a JSON manifest and writes each result to a file.

Usage: quant_reference.py MANIFEST.json

The manifest is a list of {"op": "quantize" | "dequantize", "type": ggml type name,
"input": path, "output": path}. A quantize input holds little-endian f32 weights and its
output the quantized bytes; a dequantize input holds quantized bytes and its output
little-endian f32 weights.
"""
import json
import sys

import numpy as np
from gguf import GGMLQuantizationType
from gguf.quants import dequantize, quantize


def run(case: dict) -> None:
    qtype = GGMLQuantizationType[case["type"]]
    if case["op"] == "quantize":
        weights = np.fromfile(case["input"], dtype="<f4")
        out = np.ascontiguousarray(quantize(weights, qtype))
    elif case["op"] == "dequantize":
        raw = np.fromfile(case["input"], dtype=np.uint8)
        out = np.ascontiguousarray(dequantize(raw, qtype), dtype="<f4")
    else:
        raise ValueError(f"unknown op {case['op']!r}")
    with open(case["output"], "wb") as f:
        f.write(out.tobytes())


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    with np.errstate(all="ignore"):
        for case in cases:
            run(case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
