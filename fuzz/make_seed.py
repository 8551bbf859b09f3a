"""Writes the fuzz seed: a small valid GGUF with every value type, a nested array and three
tensor types. Models and seeds are made, never committed.

Command (from the repository root; `pip install gguf numpy`):

    python3 fuzz/make_seed.py fuzz/seeds/gguf_reader/small.gguf
"""

import os
import sys

import gguf
import numpy as np


def main(path):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    w = gguf.GGUFWriter(path, "llama")
    w.add_block_count(1)
    w.add_rope_freq_base(10000.0)
    w.add_add_bos_token(True)
    w.add_name("seed")
    w.add_token_list(["a", "b", "ab"])
    w.add_token_scores([0.5, -1.0, 2.0])
    w.add_array("nested", [[1, 2], [3]])
    w.add_int8("i8", -3)
    w.add_uint8("u8", 3)
    w.add_int16("i16", -300)
    w.add_uint16("u16", 300)
    w.add_int64("i64", -5)
    w.add_uint64("u64", 5)
    w.add_float64("f64", 0.25)
    w.add_int32("i32", -7)
    w.add_tensor("a", np.arange(8, dtype=np.float32).reshape(2, 4))
    w.add_tensor("b", np.arange(6, dtype=np.float16))
    q = gguf.quants.quantize(np.linspace(-1, 1, 64, dtype=np.float32).reshape(2, 32),
                             gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("c", q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main(sys.argv[1])
