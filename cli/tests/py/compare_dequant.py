"""Compares two GGUF files tensor by tensor through gguf-py: both are dequantized with
gguf.quants.dequantize and the relative RMS error of the second against the first is
reported.

usage: python3 compare_dequant.py SOURCE CONVERTED
output: {"file_type": general.file_type of CONVERTED,
         "tensors": [{"name", "source_type", "type", "shape", "rel_rms", "identical"}, ...]}
rel_rms = ||converted - source|| / ||source|| (0 when the source is all zeros);
identical: the dequantized values are bit-identical.
"""
import json
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

source = GGUFReader(sys.argv[1])
converted = GGUFReader(sys.argv[2])
by_name = {t.name: t for t in source.tensors}
field = converted.fields["general.file_type"]
file_type = int(field.parts[field.data[0]][0])

out = []
for t in converted.tensors:
    s = by_name[t.name]
    a = dequantize(s.data, s.tensor_type).astype(np.float64).reshape(-1)
    b = dequantize(t.data, t.tensor_type).astype(np.float64).reshape(-1)
    norm = float(np.linalg.norm(a))
    diff = float(np.linalg.norm(b - a))
    out.append(
        {
            "name": t.name,
            "source_type": s.tensor_type.name,
            "type": t.tensor_type.name,
            "shape": [int(d) for d in t.shape],
            "rel_rms": diff / norm if norm > 0 else diff,
            "identical": bool(np.array_equal(a, b)),
        }
    )
json.dump({"file_type": file_type, "tensors": out}, sys.stdout)
