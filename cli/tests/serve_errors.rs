//! `rocmforge serve` refuses bad requests with the right status and an OpenAI-shaped error
//! (`{"error":{"message","type","param","code"}}`), and stays healthy after each one,
//! including a 10 MB body and a client that goes away in the middle of a stream.

mod serve_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;
use serve_support::Server;

const KEY: &str = "sk-test";

fn chat(extra: &str) -> String {
    format!(r#"{{"messages":[{{"role":"user","content":"Hi"}}],"max_tokens":4{extra}}}"#)
}

fn assert_openai_error(status: u16, want: u16, body: &str, case: &str) {
    assert_eq!(status, want, "{case}: {body}");
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{case}: {e}: {body}"));
    let err = &v["error"];
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{case}: {body}"
    );
    assert!(err["type"].is_string(), "{case}: {body}");
    assert!(
        err.get("param").is_some() && err.get("code").is_some(),
        "{case}: {body}"
    );
}

#[test]
fn bad_requests_get_openai_errors_and_the_server_stays_healthy() {
    let s = Server::start(&["-c", "512", "--parallel", "2", "--api-key", KEY]);
    let long_prompt = "word ".repeat(700);
    let cases: Vec<(&str, &str, String, u16)> = vec![
        ("malformed JSON", "/v1/chat/completions", r#"{"messages": ["#.into(), 400),
        ("body is not an object", "/v1/chat/completions", "[1, 2]".into(), 400),
        ("missing messages", "/v1/chat/completions", r#"{"max_tokens": 3}"#.into(), 400),
        ("empty messages", "/v1/chat/completions", r#"{"messages": []}"#.into(), 400),
        ("messages not a list", "/v1/chat/completions", r#"{"messages": "hi"}"#.into(), 400),
        ("unknown role", "/v1/chat/completions", r#"{"messages":[{"role":"wizard","content":"x"}]}"#.into(), 400),
        ("message without content", "/v1/chat/completions", r#"{"messages":[{"role":"user"}]}"#.into(), 400),
        ("image content part", "/v1/chat/completions", r#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}"#.into(), 400),
        ("negative max_tokens", "/v1/chat/completions", chat(r#","max_completion_tokens":-5"#), 400),
        ("zero max_tokens", "/v1/completions", r#"{"prompt":"a","max_tokens":0}"#.into(), 400),
        ("huge max_tokens", "/v1/completions", r#"{"prompt":"a","max_tokens":1000000000}"#.into(), 400),
        ("max_tokens of the wrong type", "/v1/completions", r#"{"prompt":"a","max_tokens":"ten"}"#.into(), 400),
        ("n > 1", "/v1/chat/completions", chat(r#","n":2"#), 400),
        ("temperature out of range", "/v1/chat/completions", chat(r#","temperature":5"#), 400),
        ("temperature of the wrong type", "/v1/chat/completions", chat(r#","temperature":"hot""#), 400),
        ("top_p out of range", "/v1/chat/completions", chat(r#","top_p":1.5"#), 400),
        ("unsupported tools", "/v1/chat/completions", chat(r#","tools":[{"type":"function"}]"#), 400),
        ("json response_format", "/v1/chat/completions", chat(r#","response_format":{"type":"json_object"}"#), 400),
        ("unknown model", "/v1/chat/completions", chat(r#","model":"gpt-9""#), 404),
        ("prompt beyond the context", "/v1/completions", format!(r#"{{"prompt":"{long_prompt}","max_tokens":4}}"#), 400),
        ("missing prompt", "/v1/completions", r#"{"max_tokens":4}"#.into(), 400),
        ("several prompts", "/v1/completions", r#"{"prompt":["a","b"]}"#.into(), 400),
        ("bad logit_bias token", "/v1/completions", r#"{"prompt":"a","logit_bias":{"99999999":5}}"#.into(), 400),
        ("stop of the wrong type", "/v1/completions", r#"{"prompt":"a","stop":7}"#.into(), 400),
        ("stream of the wrong type", "/v1/completions", r#"{"prompt":"a","stream":"yes"}"#.into(), 400),
        ("too many top_logprobs", "/v1/chat/completions", chat(r#","logprobs":true,"top_logprobs":30"#), 400),
        ("top_logprobs without logprobs", "/v1/chat/completions", chat(r#","top_logprobs":2"#), 400),
        ("stream_options without stream", "/v1/completions", r#"{"prompt":"a","stream_options":{"include_usage":true}}"#.into(), 400),
        ("seed of the wrong type", "/v1/completions", r#"{"prompt":"a","seed":"x"}"#.into(), 400),
        ("completions logprobs above 5", "/v1/completions", r#"{"prompt":"a","logprobs":10}"#.into(), 400),
        ("bad detokenize input", "/detokenize", r#"{"tokens":["a"]}"#.into(), 400),
        ("unknown route", "/v1/embeddings", r#"{"input":"a"}"#.into(), 404),
    ];
    assert!(cases.len() >= 25);
    for (case, path, body, want) in &cases {
        let (status, text) = s.post(path, body, Some(KEY));
        assert_openai_error(status, *want, &text, case);
        assert_eq!(s.get("/health", None).0, 200, "health after {case}");
    }
    // The unsupported parameter is named.
    let (_, text) = s.post("/v1/chat/completions", &chat(r#","tools":[]"#), Some(KEY));
    assert!(text.contains("tools"), "{text}");
    // Authentication: wrong and missing keys; /health needs none.
    let (status, text) = s.post("/v1/chat/completions", &chat(""), Some("wrong"));
    assert_openai_error(status, 401, &text, "wrong API key");
    let (status, text) = s.get("/v1/models", None);
    assert_openai_error(status, 401, &text, "missing API key");
    assert_eq!(s.get("/health", None).0, 200);

    // A 10 MB body: 413 (the server may close the connection before reading it all).
    let mut tcp = TcpStream::connect(s.addr()).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let body = vec![b'a'; 10 << 20];
    let head = format!(
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).expect("write head");
    let _ = tcp.write_all(&body);
    let mut reply = String::new();
    let _ = tcp.read_to_string(&mut reply);
    assert!(
        reply.starts_with("HTTP/1.1 413"),
        "{}",
        &reply[..reply.len().min(200)]
    );
    assert!(reply.contains("\"error\""), "{reply}");
    drop(tcp);
    assert_eq!(s.get("/health", None).0, 200, "health after a 10 MB body");

    // A client that goes away mid-stream: its sequence ends and its blocks are freed.
    let mut tcp = TcpStream::connect(s.addr()).expect("connect");
    let body = r#"{"prompt":"Once upon a time","max_tokens":400,"ignore_eos":true,"stream":true}"#;
    let req = format!(
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(req.as_bytes()).expect("write");
    let mut buf = [0u8; 2048];
    let n = tcp.read(&mut buf).expect("first bytes");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    drop(tcp);
    let mut freed = false;
    for _ in 0..300 {
        if s.metric("rocmforge_running_sequences", Some(KEY)) == 0.0
            && s.metric("rocmforge_kv_blocks_used", Some(KEY)) == 0.0
        {
            freed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        freed,
        "the abandoned stream still holds its sequence or blocks"
    );
    assert_eq!(
        s.get("/health", None).0,
        200,
        "health after a client went away"
    );
    // And the server still answers.
    let (status, text) = s.post("/v1/chat/completions", &chat(""), Some(KEY));
    assert_eq!(status, 200, "{text}");
}
