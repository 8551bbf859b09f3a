//! OpenAI response shapes: completion and chat objects, their streaming chunks, usage and
//! log-probabilities, built as JSON values.

use serde_json::{json, Value};

use model::engine::{FinishReason, TokenLogprob};
use model::tokenizer::Tokenizer;

/// Which endpoint a response is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `/v1/chat/completions`.
    Chat,
    /// `/v1/completions`.
    Completion,
}

impl Kind {
    /// The endpoint label in metrics and logs.
    pub fn endpoint(self) -> &'static str {
        match self {
            Kind::Chat => "chat_completions",
            Kind::Completion => "completions",
        }
    }
}

/// What every response object of one request repeats.
#[derive(Debug, Clone)]
pub struct Header {
    /// `chatcmpl-…` or `cmpl-…`.
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    /// The model id.
    pub model: String,
    /// The endpoint.
    pub kind: Kind,
}

/// One generated token as the response reports it.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    /// The token's text (its bytes, lossily decoded).
    pub piece: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Log-probability and alternatives.
    pub logprob: TokenLogprob,
    /// Alternatives as (text, bytes, logprob).
    pub top: Vec<(String, Vec<u8>, f32)>,
}

impl TokenInfo {
    /// Describes token `id` with `logprob`.
    pub fn new(tokenizer: &Tokenizer, id: u32, logprob: TokenLogprob) -> TokenInfo {
        let piece = |id: u32| {
            let b = tokenizer
                .token_to_piece(id, true)
                .unwrap_or_default()
                .to_vec();
            (String::from_utf8_lossy(&b).into_owned(), b)
        };
        let (text, bytes) = piece(id);
        let top = logprob
            .top
            .iter()
            .map(|&(t, l)| {
                let (s, b) = piece(t);
                (s, b, l)
            })
            .collect();
        TokenInfo {
            piece: text,
            bytes,
            logprob,
            top,
        }
    }
}

/// `finish_reason`'s value.
pub fn finish_reason(r: FinishReason) -> &'static str {
    match r {
        FinishReason::Stop | FinishReason::Cancelled => "stop",
        FinishReason::Length => "length",
    }
}

/// The `usage` object.
pub fn usage(prompt: usize, completion: usize, cached: usize) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    })
}

/// The `logprobs` object of a choice (`null` when not asked for). `offset` is where the
/// first token's text starts in the completion (completions' `text_offset`).
pub fn logprobs(kind: Kind, tokens: &[TokenInfo], offset: usize) -> Value {
    match kind {
        Kind::Chat => {
            let content: Vec<Value> = tokens
                .iter()
                .map(|t| {
                    json!({
                        "token": t.piece,
                        "logprob": t.logprob.logprob,
                        "bytes": t.bytes,
                        "top_logprobs": t.top.iter().map(|(s, b, l)| json!({
                            "token": s, "logprob": l, "bytes": b,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            json!({ "content": content })
        }
        Kind::Completion => {
            let mut offsets = Vec::with_capacity(tokens.len());
            let mut at = offset;
            for t in tokens {
                offsets.push(at);
                at += t.piece.len();
            }
            json!({
                "tokens": tokens.iter().map(|t| &t.piece).collect::<Vec<_>>(),
                "token_logprobs": tokens.iter().map(|t| t.logprob.logprob).collect::<Vec<_>>(),
                "top_logprobs": tokens.iter().map(|t| {
                    t.top.iter().map(|(s, _, l)| (s.clone(), json!(l))).collect::<serde_json::Map<_, _>>()
                }).collect::<Vec<_>>(),
                "text_offset": offsets,
            })
        }
    }
}

/// A whole (non-streamed) response.
pub fn response(h: &Header, text: &str, logprobs: Value, finish: &str, usage: Value) -> Value {
    let choice = match h.kind {
        Kind::Chat => json!({
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "logprobs": logprobs,
            "finish_reason": finish,
        }),
        Kind::Completion => json!({
            "index": 0,
            "text": text,
            "logprobs": logprobs,
            "finish_reason": finish,
        }),
    };
    json!({
        "id": h.id,
        "object": match h.kind { Kind::Chat => "chat.completion", Kind::Completion => "text_completion" },
        "created": h.created,
        "model": h.model,
        "system_fingerprint": system_fingerprint(),
        "choices": [choice],
        "usage": usage,
    })
}

/// One streamed chunk: `text` (with the role on a chat's first chunk), `finish` on the last.
pub fn chunk(
    h: &Header,
    text: Option<&str>,
    first: bool,
    logprobs: Value,
    finish: Option<&str>,
    with_usage: bool,
) -> Value {
    let choice = match h.kind {
        Kind::Chat => {
            let mut delta = serde_json::Map::new();
            if first {
                delta.insert("role".into(), json!("assistant"));
            }
            if let Some(t) = text {
                delta.insert("content".into(), json!(t));
            }
            json!({"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish})
        }
        Kind::Completion => json!({
            "index": 0, "text": text.unwrap_or(""), "logprobs": logprobs, "finish_reason": finish,
        }),
    };
    let mut v = json!({
        "id": h.id,
        "object": match h.kind { Kind::Chat => "chat.completion.chunk", Kind::Completion => "text_completion" },
        "created": h.created,
        "model": h.model,
        "system_fingerprint": system_fingerprint(),
        "choices": [choice],
    });
    if with_usage {
        v["usage"] = Value::Null;
    }
    v
}

/// The final chunk of a stream with `include_usage`: no choices, the usage.
pub fn usage_chunk(h: &Header, usage: Value) -> Value {
    let mut v = chunk(h, None, false, Value::Null, None, true);
    v["choices"] = json!([]);
    v["usage"] = usage;
    v
}

/// Names this build (the same answers come from the same build and seed).
fn system_fingerprint() -> String {
    format!("rocmforge-{}", env!("CARGO_PKG_VERSION"))
}
