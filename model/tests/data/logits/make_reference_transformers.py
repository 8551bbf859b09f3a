"""Record Hugging Face transformers reference logits for `logits_reference.rs`.

Command (from the repository root, after `make_reference.py` has written reference.json,
with `pip install torch transformers gguf`):

    python3 model/tests/data/logits/make_reference_transformers.py \
        --models ~/.cache/rocmforge/models \
        --tokens model/tests/data/logits/reference.json \
        --out model/tests/data/logits/reference_transformers.json

transformers loads the same GGUF files, dequantizes every weight to float32 and runs the
model in float32 with eager attention: an exact-arithmetic reference (no 8-bit activations,
no f16 KV cache). It is fed the prompt token ids llama.cpp produced (from reference.json),
and records, like make_reference.py, the top-64 logits of the last prompt position, the
logit statistics, and the greedy 32-token continuation (argmax each step, KV cache reused).
"""

import argparse
import json
import os

import torch
from transformers import AutoModelForCausalLM, __version__ as TRANSFORMERS_VERSION

TOP_K = 64
N_GEN = 32


def record(model, tokens):
    with torch.no_grad():
        out = model(torch.tensor([tokens]), use_cache=True)
        logits = out.logits[0, -1].double()
        order = torch.argsort(-logits, stable=True)[:TOP_K]
        entry = {
            "top_ids": [int(i) for i in order],
            "top_logits": [float(logits[i]) for i in order],
            "mean": float(logits.mean()),
            "std": float(logits.std(unbiased=False)),
            "min": float(logits.min()),
            "max": float(logits.max()),
        }
        past = out.past_key_values
        generated = []
        last = logits
        for _ in range(N_GEN):
            tok = int(torch.argmax(last))
            generated.append(tok)
            out = model(torch.tensor([[tok]]), past_key_values=past, use_cache=True)
            past = out.past_key_values
            last = out.logits[0, -1]
        entry["greedy"] = generated
    return entry


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=os.path.expanduser("~/.cache/rocmforge/models"))
    ap.add_argument("--tokens", default="model/tests/data/logits/reference.json")
    ap.add_argument("--out", default="model/tests/data/logits/reference_transformers.json")
    args = ap.parse_args()
    torch.set_num_threads(2)
    with open(args.tokens) as f:
        src = json.load(f)
    out = {
        "generator": f"transformers {TRANSFORMERS_VERSION}, torch {torch.__version__}, "
        "float32, eager attention",
        "top_k": TOP_K,
        "n_gen": N_GEN,
        "models": {},
    }
    for name, entry in src["models"].items():
        model = AutoModelForCausalLM.from_pretrained(
            args.models,
            gguf_file=entry["file"],
            dtype=torch.float32,
            attn_implementation="eager",
        )
        model.eval()
        prompts = []
        for p in entry["prompts"]:
            r = record(model, p["tokens"])
            prompts.append({"prompt": p["prompt"], "tokens": p["tokens"], **r})
        out["models"][name] = {"file": entry["file"], "n_vocab": entry["n_vocab"], "prompts": prompts}
        del model
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
