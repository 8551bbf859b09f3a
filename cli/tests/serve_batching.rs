//! `rocmforge serve` batches concurrent requests without changing them: 16 concurrent
//! greedy completions with mixed prompt lengths each equal the same request run alone
//! (text, tokens and log-probabilities); two requests that share a long system prompt use
//! its KV blocks once (visible in `/metrics`); SIGTERM drains and exits cleanly.

mod serve_support;

use std::io::{BufRead, BufReader};

use serde_json::{json, Value};
use serve_support::Server;

fn completion(s: &Server, prompt: &str) -> Value {
    let body = json!({
        "prompt": prompt, "max_tokens": 12, "temperature": 0, "logprobs": 3, "ignore_eos": true,
    });
    let (status, text) = s.post("/v1/completions", &body.to_string(), None);
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("JSON");
    v["choices"][0].clone()
}

#[test]
fn concurrent_requests_equal_each_request_alone() {
    let s = Server::start(&["--parallel", "16", "-b", "64"]);
    let base = "In the valley below the old mountain road, the farmers of the village gathered \
                every autumn to bring in the harvest, sing, and trade news from distant towns.";
    let words: Vec<&str> = base.split(' ').collect();
    let prompts: Vec<String> = (0..16)
        .map(|i| words[..2 + (i * 7) % (words.len() - 2)].join(" "))
        .collect();
    let alone: Vec<Value> = prompts.iter().map(|p| completion(&s, p)).collect();
    let batched: Vec<Value> = std::thread::scope(|scope| {
        let handles: Vec<_> = prompts
            .iter()
            .map(|p| scope.spawn(|| completion(&s, p)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    for (i, (a, b)) in alone.iter().zip(&batched).enumerate() {
        assert_eq!(a["text"], b["text"], "request {i}: text");
        assert_eq!(
            a["logprobs"], b["logprobs"],
            "request {i}: tokens and logprobs"
        );
        assert_eq!(b["logprobs"]["tokens"].as_array().map(Vec::len), Some(12));
    }
    let steps = s.metric("rocmforge_engine_steps_total", None);
    let tokens = s.metric("rocmforge_engine_batch_tokens_total", None);
    assert!(
        tokens / steps > 1.5,
        "requests were not batched: {tokens} tokens in {steps} steps"
    );
}

#[test]
fn a_shared_system_prompt_is_evaluated_once() {
    let s = Server::start(&["--parallel", "4"]);
    let system = "You are a meticulous assistant for a public library. You answer questions \
                  about opening hours, borrowing rules, late fees and events, politely and \
                  in at most two sentences. If you do not know, you say so.";
    let ask = |q: &str, max: u32, stream: bool| {
        json!({"messages": [{"role": "system", "content": system}, {"role": "user", "content": q}],
               "max_tokens": max, "temperature": 0, "ignore_eos": true, "stream": stream})
        .to_string()
    };
    // A long streamed answer keeps the first request running...
    let first = ureq::post(&s.url("/v1/chat/completions"))
        .set("Content-Type", "application/json")
        .send_string(&ask("When do you open on Sundays?", 120, true))
        .expect("stream");
    let mut lines = BufReader::new(first.into_reader()).lines();
    let chunk = lines.next().expect("a first chunk").expect("read");
    assert!(chunk.starts_with("data: {"), "{chunk}");
    // ... while a second request with the same system prompt shares its blocks.
    let (status, text) = s.post(
        "/v1/chat/completions",
        &ask("Can I renew a book online?", 4, false),
        None,
    );
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("JSON");
    let cached = v["usage"]["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .expect("cached_tokens");
    assert!(cached >= 32, "cached tokens: {cached} ({text})");
    let shared = s.metric("rocmforge_prompt_tokens_shared_total", None);
    assert!(shared >= cached as f64, "metrics: {shared} shared tokens");
    // Read the first stream to its end.
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l == "data: [DONE]"), "{rest:?}");
    assert_eq!(s.metric("rocmforge_kv_blocks_used", None), 0.0);
}

#[test]
fn sigterm_drains_and_exits_cleanly() {
    let mut s = Server::start(&[]);
    let pid = s.child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = s.child.wait().expect("wait");
    assert!(exit.success(), "{exit:?}");
}
