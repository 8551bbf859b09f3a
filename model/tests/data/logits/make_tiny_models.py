"""Tiny random-weight GGUF models of the architectures without a real test model, and
Hugging Face transformers' logits for them (for `logits_tiny_archs.rs`).

Command (from the repository root; `pip install gguf numpy torch transformers`):

    python3 model/tests/data/logits/make_tiny_models.py --out model/tests/data/logits/tiny

then delete the `.gguf` files it wrote there: models are never committed. The test runs
`make_tiny_models.py --gguf-only --out TMP` (needs only `gguf` and `numpy`), which writes
the same files byte for byte from fixed seeds, and compares against the committed JSON.

Each model has 2 layers, a 64-token vocabulary (a toy gpt2 tokenizer with no merges, which
transformers needs to load a GGUF) and Q8_0 matrices; norms are stored as llama.cpp's
converters store them (gemma: weight + 1). transformers dequantizes the same files and
runs them in f32 with eager attention; `tiny_transformers.json` holds the logits of every
position of one fixed token sequence. Head sizes follow what transformers' GGUF loader
assumes where the GGUF keys are not mapped (qwen3: 128, gemma2: 256).
"""

import argparse
import json
import os

import numpy as np
import gguf

TOKENS = [62, 5, 9, 3, 33, 2, 17, 40, 12, 7, 7, 51]

# arch: (n_embd, n_head, n_kv, head_dim, n_ff, extra)
SPECS = {
    "llama": (64, 4, 2, 16, 96, {}),
    "qwen2": (64, 4, 2, 16, 96, {"bias": True}),
    "qwen3": (64, 4, 2, 128, 96, {"qk_norm": True}),
    "gemma2": (64, 2, 1, 256, 96, {"gemma": True}),
    "phi3": (64, 4, 4, 16, 96, {"fused": True}),
}


def vocab():
    letters = [chr(ord("a") + i) for i in range(26)] + [chr(ord("A") + i) for i in range(26)]
    return letters + [str(i) for i in range(10)] + ["<s>", "</s>"]


def build(arch, path):
    n_embd, n_head, n_kv, hd, n_ff, extra = SPECS[arch]
    rng = np.random.default_rng(sum(map(ord, arch)))
    toks = vocab()
    w = gguf.GGUFWriter(path, arch)
    w.add_block_count(2)
    w.add_context_length(256)
    w.add_embedding_length(n_embd)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(10000.0)
    w.add_key_length(hd)
    w.add_value_length(hd)
    if extra.get("gemma"):
        w.add_sliding_window(4)
        w.add_float32(f"{arch}.attn_logit_softcapping", 50.0)
        w.add_float32(f"{arch}.final_logit_softcapping", 30.0)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(toks)
    w.add_token_types([1] * len(toks))
    w.add_token_merges([])
    w.add_bos_token_id(len(toks) - 2)
    w.add_eos_token_id(len(toks) - 1)
    w.add_pad_token_id(len(toks) - 1)

    def mat(name, rows, cols, scale=0.3):
        add_q8(name, (rng.standard_normal((rows, cols)) * scale).astype(np.float32))

    def add_q8(name, a):
        q = gguf.quants.quantize(a, gguf.GGMLQuantizationType.Q8_0)
        w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)

    def vec(name, n, norm=False):
        a = (rng.standard_normal(n) * 0.1).astype(np.float32)
        w.add_tensor(name, a + 1.0 if norm else a)

    w.add_tensor("token_embd.weight", rng.standard_normal((len(toks), n_embd)).astype(np.float32))
    vec("output_norm.weight", n_embd, norm=True)
    for il in range(2):
        p = f"blk.{il}."
        vec(p + "attn_norm.weight", n_embd, norm=True)
        if extra.get("fused"):
            rows = (n_head + 2 * n_kv) * hd
            add_q8(p + "attn_qkv.weight", (rng.standard_normal((rows, n_embd)) * 0.3).astype(np.float32))
        else:
            mat(p + "attn_q.weight", n_head * hd, n_embd)
            mat(p + "attn_k.weight", n_kv * hd, n_embd)
            mat(p + "attn_v.weight", n_kv * hd, n_embd)
        mat(p + "attn_output.weight", n_embd, n_head * hd, 0.1)
        if extra.get("bias"):
            vec(p + "attn_q.bias", n_head * hd)
            vec(p + "attn_k.bias", n_kv * hd)
            vec(p + "attn_v.bias", n_kv * hd)
        if extra.get("qk_norm"):
            vec(p + "attn_q_norm.weight", hd, norm=True)
            vec(p + "attn_k_norm.weight", hd, norm=True)
        if extra.get("gemma"):
            vec(p + "post_attention_norm.weight", n_embd, norm=True)
            vec(p + "post_ffw_norm.weight", n_embd, norm=True)
        vec(p + "ffn_norm.weight", n_embd, norm=True)
        if extra.get("fused"):
            mat(p + "ffn_up.weight", 2 * n_ff, n_embd)
        else:
            mat(p + "ffn_gate.weight", n_ff, n_embd)
            mat(p + "ffn_up.weight", n_ff, n_embd)
        mat(p + "ffn_down.weight", n_embd, n_ff)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="model/tests/data/logits/tiny")
    ap.add_argument("--gguf-only", action="store_true", help="write the models, no logits")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.gguf_only:
        for arch in SPECS:
            build(arch, os.path.join(args.out, f"{arch}.gguf"))
        return
    import torch
    from transformers import AutoModelForCausalLM, __version__ as TRANSFORMERS_VERSION

    result = {
        "generator": f"transformers {TRANSFORMERS_VERSION}, float32, eager attention",
        "tokens": TOKENS,
        "models": {},
    }
    for arch in SPECS:
        file = f"{arch}.gguf"
        build(arch, os.path.join(args.out, file))
        model = AutoModelForCausalLM.from_pretrained(
            args.out, gguf_file=file, dtype=torch.float32, attn_implementation="eager"
        )
        with torch.no_grad():
            logits = model(torch.tensor([TOKENS])).logits[0]
        result["models"][arch] = {
            "file": file,
            "class": type(model).__name__,
            "logits": [[round(float(v), 5) for v in row] for row in logits],
        }
    with open(os.path.join(args.out, "tiny_transformers.json"), "w") as f:
        json.dump(result, f)
        f.write("\n")


if __name__ == "__main__":
    main()
