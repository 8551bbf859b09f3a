"""The official `openai` client against `rocmforge serve` (base URL in argv[1], API key in
argv[2]): chat and completions, streamed and not, usage, stop strings, seeds, logprobs.
Prints one line per check and exits non-zero on the first failure."""

import math
import sys

import openai

client = openai.OpenAI(base_url=sys.argv[1] + "/v1", api_key=sys.argv[2], max_retries=0)
model = client.models.list().data[0].id
msgs = [{"role": "user", "content": "Name three colours."}]


def check(name, cond, detail=""):
    if not cond:
        print(f"FAIL {name}: {detail}")
        sys.exit(1)
    print(f"ok {name}")


# Chat, whole.
r = client.chat.completions.create(model=model, messages=msgs, max_tokens=16, temperature=0)
c = r.choices[0]
check("chat text", c.message.role == "assistant" and len(c.message.content) > 0, r)
check("chat finish", c.finish_reason in ("stop", "length"), c.finish_reason)
u = r.usage
check("chat usage", u.prompt_tokens > 5 and 0 < u.completion_tokens <= 16
      and u.total_tokens == u.prompt_tokens + u.completion_tokens, u)

# Chat, streamed with usage: the same text as the whole answer (greedy).
parts, usage, finish = [], None, None
for chunk in client.chat.completions.create(model=model, messages=msgs, max_tokens=16,
                                            temperature=0, stream=True,
                                            stream_options={"include_usage": True}):
    if chunk.usage is not None:
        usage = chunk.usage
    for ch in chunk.choices:
        if ch.delta.content:
            parts.append(ch.delta.content)
        if ch.finish_reason:
            finish = ch.finish_reason
check("chat stream text", "".join(parts) == c.message.content, ("".join(parts), c.message.content))
check("chat stream finish", finish == c.finish_reason, finish)
check("chat stream usage", usage is not None and usage.completion_tokens == u.completion_tokens, usage)

# Completions, whole and streamed.
p = "The capital of France is"
r = client.completions.create(model=model, prompt=p, max_tokens=8, temperature=0)
text = r.choices[0].text
check("completion text", len(text) > 0 and r.choices[0].finish_reason in ("stop", "length"), r)
check("completion usage", r.usage.completion_tokens <= 8 and r.usage.prompt_tokens > 0, r.usage)
streamed = "".join(ch.choices[0].text for ch in client.completions.create(
    model=model, prompt=p, max_tokens=8, temperature=0, stream=True) if ch.choices)
check("completion stream", streamed == text, (streamed, text))

# Length limit.
r = client.completions.create(model=model, prompt="Count: 1, 2, 3,", max_tokens=5,
                              temperature=0, extra_body={"ignore_eos": True})
check("max_tokens", r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 5, r)

# Stop strings: generation ends at the stop string, which is not returned.
full = client.completions.create(model=model, prompt="Count: 1, 2, 3,", max_tokens=20,
                                 temperature=0).choices[0].text
stop = full.strip().split(" ")[1] if len(full.strip().split(" ")) > 1 else full.strip()[:2]
r = client.completions.create(model=model, prompt="Count: 1, 2, 3,", max_tokens=20,
                              temperature=0, stop=[stop])
got = r.choices[0].text
check("stop string", r.choices[0].finish_reason == "stop" and stop not in got
      and full.startswith(got), (stop, got, full))
r = client.chat.completions.create(model=model, messages=msgs, max_tokens=30, temperature=0,
                                   stop="\n")
check("chat stop", "\n" not in r.choices[0].message.content, r.choices[0].message.content)

# Seeds: the same seed gives the same text at a high temperature; streaming agrees too.
def sampled(seed, stream=False):
    kw = dict(model=model, messages=[{"role": "user", "content": "Write a word."}],
              max_tokens=12, temperature=1.2, seed=seed)
    if stream:
        return "".join(ch.choices[0].delta.content or "" for ch in
                       client.chat.completions.create(stream=True, **kw) if ch.choices)
    return client.chat.completions.create(**kw).choices[0].message.content


a, b, s = sampled(1234), sampled(1234), sampled(1234, stream=True)
check("seed reproducible", a == b == s, (a, b, s))
others = {sampled(seed) for seed in (1, 2, 3, 4)}
check("seeds differ", len(others | {a}) > 1, others)

# Log-probabilities: chat.
r = client.chat.completions.create(model=model, messages=msgs, max_tokens=6, temperature=0,
                                   logprobs=True, top_logprobs=3)
content = r.choices[0].logprobs.content
check("chat logprobs count", len(content) == r.usage.completion_tokens
      or len(content) == r.usage.completion_tokens - 1, (len(content), r.usage))
for t in content:
    check("chat logprob range", t.logprob <= 0 and len(t.top_logprobs) == 3, t)
    # Greedy: the chosen token is the most likely one.
    check("chat greedy top", math.isclose(t.logprob, t.top_logprobs[0].logprob, abs_tol=1e-6), t)
check("chat logprob text", "".join(t.token for t in content) == r.choices[0].message.content,
      (content, r.choices[0].message.content))

# Log-probabilities: completions.
r = client.completions.create(model=model, prompt=p, max_tokens=5, temperature=0, logprobs=2,
                              extra_body={"ignore_eos": True})
lp = r.choices[0].logprobs
check("completion logprobs", len(lp.tokens) == 5 and len(lp.token_logprobs) == 5
      and all(len(t) == 2 for t in lp.top_logprobs) and lp.text_offset[0] == 0, lp)
check("completion logprob text", "".join(lp.tokens) == r.choices[0].text, lp)

# Errors reach the client as exceptions with the status.
try:
    client.chat.completions.create(model="no-such-model", messages=msgs)
    check("unknown model", False, "no error")
except openai.NotFoundError:
    check("unknown model", True)
try:
    client.chat.completions.create(model=model, messages=msgs, n=3)
    check("n > 1", False, "no error")
except openai.BadRequestError as e:
    check("n > 1", "n" in str(e), e)
try:
    openai.OpenAI(base_url=sys.argv[1] + "/v1", api_key="wrong", max_retries=0).models.list()
    check("wrong key", False, "no error")
except openai.AuthenticationError:
    check("wrong key", True)
print("all openai client checks passed")
