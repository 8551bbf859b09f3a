#!/usr/bin/env python3
"""Writes reference.json: llama.cpp's perplexity of both test models on text.txt.

llama.cpp (through llama-cpp-python, which pip builds from llama.cpp's sources) evaluates
the logits; this script applies the method of llama.cpp's `llama-perplexity` tool:

* tokenize the whole text once, with BOS only if the vocabulary asks for one
  (`tokenizer.ggml.add_bos_token`);
* cut it into floor(n_tokens / n_ctx) chunks of n_ctx tokens; clear the KV cache per chunk;
* when the vocabulary adds BOS, the first token of every chunk is *replaced* by BOS;
* score only the second half: positions first = n_ctx / 2 .. n_ctx - 2 predict the tokens
  at first + 1 .. n_ctx - 1; nll = -log softmax(logits)[next];
* PPL = exp(mean nll); its standard error = PPL * sqrt((mean(nll^2) - mean(nll)^2) / (N - 1)).

Usage: python3 make_reference.py [MODELS_DIR] (default ~/.cache/rocmforge/models)
Needs: pip install numpy llama-cpp-python
"""

import json
import math
import os
import platform
import sys
import time

import llama_cpp
import numpy as np

# llama.cpp's AMX matmul (an "extra buffer type") dies with SIGILL in VMs that don't grant
# the AMX tile state; the plain CPU kernels compute the same figures.
_default_model_params = llama_cpp.llama_cpp.llama_model_default_params


def _model_params_without_extra_buffers():
    params = _default_model_params()
    params.use_extra_bufts = False
    return params


llama_cpp.llama_cpp.llama_model_default_params = _model_params_without_extra_buffers

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/rocmforge/models")
FILES = {"smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf", "gemma3-270m": "gemma-3-270m-q4_k_m.gguf"}
CONTEXTS = (128, 512)


def perplexity(path, text, n_ctx):
    llm = llama_cpp.Llama(
        path, n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx, logits_all=True,
        n_threads=os.cpu_count(), verbose=False,
    )
    add_bos = llama_cpp.llama_vocab_get_add_bos(llama_cpp.llama_model_get_vocab(llm.model))
    tokens = llm.tokenize(text.encode(), add_bos=add_bos, special=False)
    n_chunk = len(tokens) // n_ctx
    assert len(tokens) >= 2 * n_ctx, f"need at least {2 * n_ctx} tokens, have {len(tokens)}"
    first = n_ctx // 2
    nll = nll2 = 0.0
    count = 0
    running = []
    for i in range(n_chunk):
        chunk = list(tokens[i * n_ctx:(i + 1) * n_ctx])
        if add_bos:
            chunk[0] = llm.token_bos()
        llm.reset()
        llm.eval(chunk)
        logits = np.array(llm.scores[:n_ctx], dtype=np.float64)
        for pos in range(first, n_ctx - 1):
            row = logits[pos]
            m = row.max()
            logprob = row[chunk[pos + 1]] - m - math.log(np.exp(row - m).sum())
            nll -= logprob
            nll2 += logprob * logprob
            count += 1
        running.append(math.exp(nll / count))
    mean = nll / count
    ppl = math.exp(mean)
    var = nll2 / count - mean * mean
    stderr = ppl * math.sqrt(var / (count - 1)) if var > 0 else 0.0
    return {"ppl": ppl, "stderr": stderr, "tokens": len(tokens), "chunks": n_chunk, "scored": count,
            "running_ppl": running}


def cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown cpu"


def main():
    with open(os.path.join(HERE, "text.txt"), encoding="utf-8") as f:
        text = f.read()
    out = {
        "made_by": f"model/tests/data/perplexity/make_reference.py (llama-cpp-python {llama_cpp.__version__})",
        "machine": f"{cpu_name()}, {os.cpu_count()} cpus ({platform.machine()})",
        "date": time.strftime("%Y-%m-%d"),
        "models": {},
    }
    for name, file in FILES.items():
        out["models"][name] = {}
        for n_ctx in CONTEXTS:
            t = time.time()
            r = perplexity(os.path.join(MODELS, file), text, n_ctx)
            r["seconds"] = round(time.time() - t, 1)
            out["models"][name][str(n_ctx)] = r
            print(name, n_ctx, r, flush=True)
    with open(os.path.join(HERE, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
