//! The router: authentication, body limits and one handler per endpoint.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use model::engine::Request as EngineRequest;

use super::error::ApiError;
use super::generate::{self, Job};
use super::params::{self, Body as Params};
use super::prompt;
use super::wire::{Header, Kind};
use super::{AppState, MAX_BODY_BYTES};

type St = State<Arc<AppState>>;

/// Every route, behind the API-key check.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/tokenize", post(tokenize))
        .route("/detokenize", post(detokenize))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&state), auth))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

/// With an API key set, everything but `/health` needs `Authorization: Bearer KEY`.
async fn auth(State(st): St, req: Request, next: Next) -> Response {
    if let Some(key) = &st.api_key {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if req.uri().path() != "/health" && given != Some(key.as_str()) {
            st.metrics.request("auth", 401);
            let msg = if given.is_some() {
                "invalid API key"
            } else {
                "missing API key: send `Authorization: Bearer KEY`"
            };
            return ApiError::new(StatusCode::UNAUTHORIZED, "invalid_api_key", msg).into_response();
        }
    }
    next.run(req).await
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route {} {}", req.method(), req.uri().path()),
    )
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn metrics(State(st): St) -> Response {
    let text = st.metrics.render(&st.engine.stats());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn models(State(st): St) -> Json<Value> {
    Json(json!({"object": "list", "data": [{
        "id": st.model_id,
        "object": "model",
        "created": st.created,
        "owned_by": "rocmforge",
        "meta": {"n_ctx": st.engine.n_ctx(), "n_vocab": st.tokenizer.n_vocab()},
    }]}))
}

/// The body, at most [`MAX_BODY_BYTES`] (413 beyond).
async fn read(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
            )
        })
}

/// Counts a refused request and answers with its error.
fn refuse(st: &AppState, endpoint: &'static str, e: ApiError) -> Response {
    st.metrics.request(endpoint, e.status.as_u16());
    tracing::info!(endpoint, status = e.status.as_u16(), error = %e.message, "request");
    e.into_response()
}

async fn chat(State(st): St, body: Body) -> Response {
    let ep = Kind::Chat.endpoint();
    match job(&st, Kind::Chat, body).await {
        Ok(job) => generate::run(Arc::clone(&st), job)
            .await
            .unwrap_or_else(|e| refuse(&st, ep, e)),
        Err(e) => refuse(&st, ep, e),
    }
}

async fn completions(State(st): St, body: Body) -> Response {
    let ep = Kind::Completion.endpoint();
    match job(&st, Kind::Completion, body).await {
        Ok(job) => generate::run(Arc::clone(&st), job)
            .await
            .unwrap_or_else(|e| refuse(&st, ep, e)),
        Err(e) => refuse(&st, ep, e),
    }
}

/// Reads and checks a generation request and tokenizes its prompt.
async fn job(st: &Arc<AppState>, kind: Kind, body: Body) -> Result<Job, ApiError> {
    let started = Instant::now();
    let bytes = read(body).await?;
    let extra = match kind {
        Kind::Chat => params::CHAT,
        Kind::Completion => params::COMPLETION,
    };
    let p = Params::parse(&bytes, extra)?;
    if let Some(m) = p.str("model")? {
        if m != st.model_id {
            return Err(ApiError {
                param: Some("model".into()),
                ..ApiError::new(
                    StatusCode::NOT_FOUND,
                    "model_not_found",
                    format!(
                        "the model `{m}` does not exist here (this server has `{}`)",
                        st.model_id
                    ),
                )
            });
        }
    }
    p.str("user")?;
    p.check_n()?;
    let n_vocab = st.tokenizer.n_vocab();
    let sampler = p.sampler(n_vocab)?;
    let (stream, include_usage) = p.streaming()?;
    let stop = p.stop()?;
    let ignore_eos = p.bool("ignore_eos")?.unwrap_or(false);
    let (max_tokens, logprobs) = match kind {
        Kind::Chat => {
            if let Some(rf) = p.get("response_format") {
                if rf.get("type").and_then(Value::as_str) != Some("text") {
                    return Err(ApiError::invalid(
                        "response_format",
                        "only `{\"type\": \"text\"}` is supported",
                    ));
                }
            }
            let top = p.int_in("top_logprobs", 0, 20)?;
            let on = p.bool("logprobs")?.unwrap_or(false);
            if top.is_some() && !on {
                return Err(ApiError::invalid(
                    "top_logprobs",
                    "`top_logprobs` needs `logprobs: true`",
                ));
            }
            let lp = on.then(|| top.unwrap_or(0) as usize);
            (p.max_tokens(Some("max_completion_tokens"))?, lp)
        }
        Kind::Completion => {
            let lp = p.int_in("logprobs", 0, 5)?.map(|n| n as usize);
            (p.max_tokens(None)?, lp)
        }
    };
    let st2 = Arc::clone(st);
    let prompt_value =
        p.0.get(match kind {
            Kind::Chat => "messages",
            Kind::Completion => "prompt",
        })
        .cloned();
    let tokens = tokio::task::spawn_blocking(move || match kind {
        Kind::Chat => {
            let msgs = prompt::messages(prompt_value.as_ref())?;
            prompt::chat_tokens(&st2.template, &st2.tokenizer, &msgs)
        }
        Kind::Completion => prompt::completion_tokens(prompt_value.as_ref(), &st2.tokenizer),
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))??;
    let prefix = match kind {
        Kind::Chat => "chatcmpl",
        Kind::Completion => "cmpl",
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ok(Job {
        header: Header {
            id: format!("{prefix}-{:x}{:04x}", now.as_micros(), rand_suffix()),
            created: now.as_secs(),
            model: st.model_id.clone(),
            kind,
        },
        request: EngineRequest {
            prompt: tokens,
            max_tokens,
            sampler,
            stop,
            ignore_eos,
            logprobs,
        },
        stream,
        include_usage,
        started,
    })
}

/// A per-process counter to keep ids of requests in the same microsecond apart.
fn rand_suffix() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

async fn tokenize(State(st): St, body: Body) -> Response {
    let r = async {
        let bytes = read(body).await?;
        let p = Params::parse_any(&bytes)?;
        let content = p
            .str("content")?
            .ok_or_else(|| ApiError::invalid("content", "`content` (a string) is required"))?;
        let add_special = p.bool("add_special")?.unwrap_or(true);
        let tokens = st
            .tokenizer
            .encode(content, add_special, true)
            .map_err(|e| ApiError::invalid("content", e.to_string()))?;
        Ok::<_, ApiError>(Json(json!({ "tokens": tokens })))
    };
    match r.await {
        Ok(j) => j.into_response(),
        Err(e) => refuse(&st, "tokenize", e),
    }
}

async fn detokenize(State(st): St, body: Body) -> Response {
    let r = async {
        let bytes = read(body).await?;
        let p = Params::parse_any(&bytes)?;
        let bad = || ApiError::invalid("tokens", "`tokens` must be a list of token ids");
        let ids: Vec<u32> = match p.get("tokens") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|t| {
                    t.as_u64()
                        .and_then(|t| u32::try_from(t).ok())
                        .ok_or_else(bad)
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(bad()),
        };
        let text = st
            .tokenizer
            .decode(&ids)
            .map_err(|e| ApiError::invalid("tokens", e.to_string()))?;
        Ok(Json(json!({ "content": text })))
    };
    match r.await {
        Ok(j) => j.into_response(),
        Err(e) => refuse(&st, "detokenize", e),
    }
}
