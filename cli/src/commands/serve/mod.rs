//! `rocmforge serve`: an OpenAI-compatible HTTP server (axum) over the batching engine.
//! Endpoints: `POST /v1/chat/completions`, `POST /v1/completions` (streamed or not),
//! `GET /v1/models`, `GET /health`, `GET /metrics`, `POST /tokenize`, `POST /detokenize`.
//! Flags are named as llama-server names them.

mod error;
mod generate;
mod metrics;
mod params;
mod prompt;
mod routes;
mod wire;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use model::chat_template::ChatTemplate;
use model::engine::{Engine, EngineConfig};
use model::tokenizer::Tokenizer;

use super::run::ModelArgs;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 4 << 20;

/// Command-line options of `serve`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Sequences generated at once (more requests wait in the queue).
    #[arg(long = "parallel", visible_alias = "np", default_value_t = 8)]
    parallel: usize,
    /// Tokens per forward step: one per generating sequence, the rest prompt chunks.
    #[arg(long = "batch-size", short = 'b', default_value_t = 256)]
    batch_size: usize,
    /// Requests that may wait for a place; more get 429 with Retry-After.
    #[arg(long = "queue-size", default_value_t = 64)]
    queue_size: usize,
    /// Require `Authorization: Bearer KEY` on every endpoint but /health (default:
    /// $ROCMFORGE_API_KEY).
    #[arg(long = "api-key")]
    api_key: Option<String>,
    /// Do not let requests with a common prompt prefix share KV blocks.
    #[arg(long = "no-prefix-sharing")]
    no_prefix_sharing: bool,
    /// Seconds to let running requests finish after SIGINT/SIGTERM.
    #[arg(long = "drain-timeout", default_value_t = 30)]
    drain_timeout: u64,
}

/// What every handler shares.
pub struct AppState {
    engine: Engine,
    tokenizer: Arc<Tokenizer>,
    template: ChatTemplate,
    model_id: String,
    created: u64,
    metrics: metrics::Metrics,
    api_key: Option<String>,
}

/// Loads the model, starts the engine and serves until SIGINT/SIGTERM.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let api_key = args
        .api_key
        .clone()
        .or_else(|| std::env::var("ROCMFORGE_API_KEY").ok())
        .filter(|k| !k.is_empty());
    let loaded = args.model.load()?;
    let template =
        ChatTemplate::from_gguf(loaded.model.gguf(), &loaded.tokenizer).context("chat template")?;
    let tokenizer = Arc::new(loaded.tokenizer);
    let model_id = if loaded.path.exists() && args.model.model.ends_with(".gguf") {
        loaded
            .path
            .file_stem()
            .map_or(args.model.model.clone(), |s| {
                s.to_string_lossy().into_owned()
            })
    } else {
        args.model.model.clone()
    };
    let config = EngineConfig {
        n_ctx: loaded.model.n_ctx(),
        max_running: args.parallel.max(1),
        max_waiting: args.queue_size,
        step_tokens: args.batch_size.max(args.parallel + 1),
        prefix_sharing: !args.no_prefix_sharing,
    };
    let engine = model::with_model!(loaded.model, model => {
        Engine::start(model, Arc::clone(&tokenizer), config)?
    });
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let state = Arc::new(AppState {
        engine,
        tokenizer,
        template,
        model_id,
        created,
        metrics: metrics::Metrics::default(),
        api_key,
    });
    let addr: SocketAddr = format!("{}:{}", args.host, args.port)
        .parse()
        .with_context(|| format!("--host {} --port {}", args.host, args.port))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let drain = Duration::from_secs(args.drain_timeout);
    rt.block_on(serve(state, addr, drain))?;
    Ok(ExitCode::SUCCESS)
}

/// Serves until a signal, then drains for at most `drain`.
async fn serve(state: Arc<AppState>, addr: SocketAddr, drain: Duration) -> anyhow::Result<()> {
    let signal = shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    eprintln!(
        "rocmforge serve: {} on http://{} ({} sequences at once, context {})",
        state.model_id,
        listener.local_addr().unwrap_or(addr),
        state.engine.config().max_running,
        state.engine.n_ctx()
    );
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let app = routes::router(Arc::clone(&state));
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        signal.await;
        tracing::warn!("shutting down: draining running requests");
        let _ = stop_tx.send(true);
    });
    let deadline = async move {
        let _ = stop_rx.wait_for(|&s| s).await;
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        r = server => r.context("server")?,
        _ = deadline => {
            eprintln!("rocmforge serve: drain timeout; exiting with requests still running");
            std::process::exit(0);
        }
    }
    eprintln!("rocmforge serve: stopped");
    Ok(())
}

/// A future that resolves at SIGINT or SIGTERM. The handlers are installed when this is
/// called, not when the future is first polled, so a signal sent as soon as the server
/// says it listens is handled, never fatal.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

/// A future that resolves at Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
