//! Running one request through the engine and answering it: all at once, or as a stream of
//! server-sent events (`data: {chunk}` … `data: [DONE]`). Records latency and token metrics
//! and one log line per request. A client that goes away cancels its request.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::mpsc;

use model::engine::{Event, Finished, Request, SubmitError, Ticket};

use super::error::ApiError;
use super::wire::{self, Header, TokenInfo};
use super::AppState;

/// Everything about a request besides the engine's part.
pub struct Job {
    /// Repeated in every response object.
    pub header: Header,
    /// What the engine generates.
    pub request: Request,
    /// Answer as server-sent events.
    pub stream: bool,
    /// A final usage chunk in the stream.
    pub include_usage: bool,
    /// When the request arrived.
    pub started: Instant,
}

/// Cancels the engine request when dropped (the client went away or the answer is done).
struct CancelOnDrop(Ticket);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Timing and counts of one request, for metrics and the log line.
struct Tracker {
    state: Arc<AppState>,
    header: Header,
    started: Instant,
    last: Option<Instant>,
    ttft_ms: Option<u128>,
}

impl Tracker {
    fn token(&mut self) {
        let now = Instant::now();
        match self.last {
            None => {
                self.state.metrics.ttft(now - self.started);
                self.ttft_ms = Some((now - self.started).as_millis());
            }
            Some(prev) => self.state.metrics.itl(now - prev),
        }
        self.last = Some(now);
    }

    fn done(&self, status: u16, f: Option<&Finished>) {
        let ep = self.header.kind.endpoint();
        self.state.metrics.request(ep, status);
        let (prompt, completion, cached) = f.map_or((0, 0, 0), |f| {
            (f.prompt_tokens, f.completion_tokens, f.cached_tokens)
        });
        if f.is_some() {
            self.state.metrics.tokens(prompt, completion);
        }
        tracing::info!(
            id = %self.header.id,
            endpoint = ep,
            status,
            prompt_tokens = prompt,
            cached_tokens = cached,
            completion_tokens = completion,
            finish = f.map_or("none", |f| wire::finish_reason(f.reason)),
            ttft_ms = self.ttft_ms.unwrap_or(0) as u64,
            total_ms = self.started.elapsed().as_millis() as u64,
            "request"
        );
    }
}

/// Maps a refused submission to its HTTP error.
fn submit_error(e: SubmitError) -> ApiError {
    match e {
        SubmitError::QueueFull { .. } => ApiError {
            retry_after: Some(1),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "queue_full", e.to_string())
        },
        SubmitError::TooLong { .. } => ApiError {
            code: Some("context_length_exceeded"),
            ..ApiError::invalid("max_tokens", e.to_string())
        },
        SubmitError::EmptyPrompt | SubmitError::BadToken { .. } => {
            ApiError::invalid("prompt", e.to_string())
        }
        SubmitError::Sampler(_) => ApiError::invalid("temperature", e.to_string()),
        SubmitError::Stopped => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            e.to_string(),
        ),
    }
}

/// Submits `job` and answers it.
pub async fn run(state: Arc<AppState>, job: Job) -> Result<Response, ApiError> {
    let (tx, rx) = mpsc::unbounded_channel();
    let ticket = state
        .engine
        .submit(job.request, Box::new(move |ev| tx.send(ev).is_ok()))
        .map_err(submit_error)?;
    let guard = CancelOnDrop(ticket);
    let tracker = Tracker {
        state: Arc::clone(&state),
        header: job.header.clone(),
        started: job.started,
        last: None,
        ttft_ms: None,
    };
    if job.stream {
        let (sse_tx, sse_rx) = mpsc::channel(64);
        tokio::spawn(stream(
            state,
            job.header,
            job.include_usage,
            rx,
            sse_tx,
            tracker,
            guard,
        ));
        let body = tokio_stream::wrappers::ReceiverStream::new(sse_rx);
        return Ok(Sse::new(body).into_response());
    }
    whole(state, job.header, rx, tracker, guard).await
}

/// Collects every event and answers with one JSON object.
async fn whole(
    state: Arc<AppState>,
    header: Header,
    mut rx: mpsc::UnboundedReceiver<Event>,
    mut tracker: Tracker,
    _guard: CancelOnDrop,
) -> Result<Response, ApiError> {
    let (mut text, mut infos, mut want_logprobs) = (String::new(), Vec::new(), false);
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Token(t) => {
                tracker.token();
                text.push_str(&t.text);
                if let Some(lp) = t.logprob {
                    want_logprobs = true;
                    infos.push(TokenInfo::new(&state.tokenizer, t.id, lp));
                }
            }
            Event::Done(f) => {
                text.push_str(&f.text);
                let lps = if want_logprobs {
                    wire::logprobs(header.kind, &infos, 0)
                } else {
                    Value::Null
                };
                let usage = wire::usage(f.prompt_tokens, f.completion_tokens, f.cached_tokens);
                let body =
                    wire::response(&header, &text, lps, wire::finish_reason(f.reason), usage);
                tracker.done(200, Some(&f));
                return Ok(axum::Json(body).into_response());
            }
            Event::Error(e) => {
                tracker.done(500, None);
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "engine_error",
                    e,
                ));
            }
        }
    }
    tracker.done(500, None);
    Err(ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "engine_error",
        "the engine stopped before the request finished",
    ))
}

/// Forwards events as SSE chunks until the end or until the client goes away.
async fn stream(
    state: Arc<AppState>,
    header: Header,
    include_usage: bool,
    mut rx: mpsc::UnboundedReceiver<Event>,
    tx: mpsc::Sender<Result<SseEvent, Infallible>>,
    mut tracker: Tracker,
    _guard: CancelOnDrop,
) {
    let send = |v: &Value| {
        let tx = tx.clone();
        let ev = SseEvent::default().data(v.to_string());
        async move { tx.send(Ok(ev)).await.is_ok() }
    };
    let mut first = true;
    let mut offset = 0;
    loop {
        let ev = tokio::select! {
            _ = tx.closed() => {
                tracker.done(499, None);
                return;
            }
            ev = rx.recv() => ev,
        };
        let Some(ev) = ev else {
            tracker.done(500, None);
            return;
        };
        let chunk = match &ev {
            Event::Token(t) => {
                tracker.token();
                let lps = t.logprob.clone().map_or(Value::Null, |lp| {
                    wire::logprobs(
                        header.kind,
                        &[TokenInfo::new(&state.tokenizer, t.id, lp)],
                        offset,
                    )
                });
                offset += t.text.len();
                if t.text.is_empty() && lps.is_null() && !first {
                    continue;
                }
                wire::chunk(&header, Some(&t.text), first, lps, None, include_usage)
            }
            Event::Done(f) => {
                let text = (!f.text.is_empty()).then_some(f.text.as_str());
                let reason = wire::finish_reason(f.reason);
                let last = wire::chunk(
                    &header,
                    text,
                    first,
                    Value::Null,
                    Some(reason),
                    include_usage,
                );
                let mut ok = send(&last).await;
                if ok && include_usage {
                    let u = wire::usage(f.prompt_tokens, f.completion_tokens, f.cached_tokens);
                    ok = send(&wire::usage_chunk(&header, u)).await;
                }
                if ok {
                    let _ = tx.send(Ok(SseEvent::default().data("[DONE]"))).await;
                }
                tracker.done(200, Some(f));
                return;
            }
            Event::Error(e) => {
                let err =
                    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "engine_error", e.clone());
                let _ = send(&err.body()).await;
                tracker.done(500, None);
                return;
            }
        };
        first = false;
        if !send(&chunk).await {
            tracker.done(499, None);
            return;
        }
    }
}
