#!/usr/bin/env python3
"""Writes reference.json: chat template renderings made by tools nobody here wrote.

* Jinja templates (SmolLM2's own, read from its GGUF, plus small templates that exercise
  Python string methods, loop controls, namespaces, raise_exception and tojson) are rendered
  with Python jinja2 configured as Hugging Face transformers configures it
  (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, its tojson).
* The built-in fallbacks are rendered by llama.cpp itself, through llama-cpp-python's
  llama_chat_apply_template with the named templates "gemma" and "chatml".

Usage: python3 make_reference.py [MODELS_DIR]   (default ~/.cache/rocmforge/models)
Needs: pip install gguf jinja2 llama-cpp-python
"""

import ctypes
import json
import os
import sys

import gguf
import jinja2
import jinja2.ext
import jinja2.sandbox
import llama_cpp

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/rocmforge/models")

CONVERSATIONS = {
    "single_user": [{"role": "user", "content": "Hello!"}],
    "system_user": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is 2+2?"},
    ],
    "multi_turn": [
        {"role": "system", "content": "  Answer in French.  "},
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Bonjour !"},
        {"role": "user", "content": "How are you?\n"},
    ],
    "unicode_and_markup": [
        {"role": "user", "content": "日本語 ✓ émoji 🦀 <b>tags</b> {{ not a template }}"},
        {"role": "assistant", "content": "\tIndented\n\nlines\n"},
        {"role": "user", "content": ""},
    ],
    "assistant_first": [
        {"role": "assistant", "content": "I start."},
        {"role": "user", "content": "Then me."},
    ],
}

# Templates written for this test to cover what real templates use.
EXTRA_TEMPLATES = {
    "strip_and_roles": (
        "{{ bos_token }}{% for m in messages %}"
        "{% if m['role'] == 'system' %}[SYS] {{ m['content'].strip() }}\n"
        "{% elif m.role == 'user' %}[USER] {{ m.content.lstrip().rstrip('\\n') | trim }}\n"
        "{% else %}[BOT] {{ m.content.replace('\\n', ' ').title() }}{{ eos_token }}\n"
        "{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}[BOT]{% endif %}"
    ),
    "namespace_and_loop": (
        "{% set ns = namespace(system='', count=0) %}"
        "{% for m in messages %}{% if m.role == 'system' %}{% set ns.system = m.content %}"
        "{% continue %}{% endif %}{% set ns.count = ns.count + 1 %}"
        "    {{ loop.index }}/{{ loop.length }} {{ m.role | upper }}"
        "{% if loop.first and ns.system %} (system: {{ ns.system | length }} chars){% endif %}"
        ": {{ m.content.split() | join(' ') }}{% if not loop.last %}\n{% endif %}"
        "{% endfor %}\n"
        "{% if add_generation_prompt %}turns={{ ns.count }} starts_with_user="
        "{{ messages[-1].content.startswith('H') }}{% endif %}"
    ),
    "tojson_messages": (
        "{% for m in messages %}{{ m | tojson }}\n{% endfor %}"
        "{{ {'n': messages | length, 'ratio': 2.5, 'ok': true, 'none': none} | tojson(indent=2) }}"
    ),
    "raise_on_assistant_first": (
        "{% if messages[0]['role'] == 'assistant' %}"
        "{{ raise_exception('Conversations must start with a user or system message') }}"
        "{% endif %}{% for m in messages %}<{{ m.role }}>{{ m.content }}</{{ m.role }}>{% endfor %}"
    ),
}


class RaisedError(Exception):
    pass


def raise_exception(message):
    raise RaisedError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # As transformers defines it for chat templates.
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def hf_environment():
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def render_jinja(source, messages, add_generation_prompt, bos, eos):
    template = hf_environment().from_string(source)
    try:
        return {"output": template.render(
            messages=messages, add_generation_prompt=add_generation_prompt,
            bos_token=bos, eos_token=eos)}
    except RaisedError as e:
        return {"raised": str(e)}


def render_llama_cpp(name, messages, add_generation_prompt):
    keep = [(m["role"].encode(), m["content"].encode()) for m in messages]
    chat = (llama_cpp.llama_chat_message * len(keep))()
    for i, (role, content) in enumerate(keep):
        chat[i].role = role
        chat[i].content = content
    size = 1 << 16
    buf = ctypes.create_string_buffer(size)
    n = llama_cpp.llama_chat_apply_template(name.encode(), chat, len(keep), add_generation_prompt, buf, size)
    if n < 0 or n > size:
        raise RuntimeError(f"llama_chat_apply_template({name}) returned {n}")
    return {"output": buf.raw[:n].decode()}


def gguf_string(reader, key):
    field = reader.fields.get(key)
    return None if field is None else field.contents()


def main():
    cases = []
    smol = gguf.GGUFReader(os.path.join(MODELS, "SmolLM2-135M-Instruct.Q4_1.gguf"))
    templates = {"smollm2": gguf_string(smol, "tokenizer.chat_template")}
    templates.update(EXTRA_TEMPLATES)
    gemma = gguf.GGUFReader(os.path.join(MODELS, "gemma-3-270m-q4_k_m.gguf"))
    assert gguf_string(gemma, "tokenizer.chat_template") is None, "gemma now ships a template"
    for tname, source in templates.items():
        for cname, messages in CONVERSATIONS.items():
            for agp in (False, True):
                case = {"template": tname, "conversation": cname, "add_generation_prompt": agp}
                case.update(render_jinja(source, messages, agp, "<s>", "</s>"))
                cases.append(case)
    for fallback in ("gemma", "chatml"):
        for cname, messages in CONVERSATIONS.items():
            for agp in (False, True):
                case = {"fallback": fallback, "conversation": cname, "add_generation_prompt": agp}
                case.update(render_llama_cpp(fallback, messages, agp))
                cases.append(case)
    out = {
        "made_by": "model/tests/data/chat/make_reference.py "
        f"(jinja2 {jinja2.__version__}, llama-cpp-python {llama_cpp.__version__})",
        "templates": templates,
        "conversations": CONVERSATIONS,
        "cases": cases,
    }
    with open(os.path.join(HERE, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(cases)} cases")


if __name__ == "__main__":
    main()
