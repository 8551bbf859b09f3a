#!/usr/bin/env python3
"""Prints {tensor name: {"type": ggml type name, "sha256": digest}} as JSON for every tensor
of a GGUF file, the digest taken over gguf.quants.dequantize's output as little-endian f32.

Usage: dequant_digests.py MODEL.gguf
"""
import hashlib
import json
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    reader = GGUFReader(sys.argv[1])
    digests = {}
    for tensor in reader.tensors:
        values = dequantize(tensor.data, tensor.tensor_type)
        data = np.ascontiguousarray(values, dtype="<f4")
        digests[tensor.name] = {
            "type": tensor.tensor_type.name,
            "sha256": hashlib.sha256(data.tobytes()).hexdigest(),
        }
    json.dump(digests, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
