//! The batching engine with the SmolLM2 test model: requests batched together give exactly
//! the tokens and log-probabilities each gives alone (batch invariance), a shared prompt
//! prefix is evaluated once, cancelled requests free their KV blocks, and the queue is
//! bounded.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use model::engine::{Engine, EngineConfig, Event, FinishReason, Finished, Request, SubmitError};
use model::sampler::SamplerConfig;
use model::tokenizer::Tokenizer;
use model::{LoadOptions, Model};

fn engine(config: EngineConfig) -> (Engine, Arc<Tokenizer>) {
    let path = model::cache::resolve("smollm2").unwrap_or_else(|e| {
        panic!("test model `smollm2` is missing ({e}); run `cargo xtask fetch-models`")
    });
    let model = Model::load(&path, &LoadOptions::default()).expect("load");
    let tokenizer = Arc::new(Tokenizer::from_gguf(model.gguf()).expect("tokenizer"));
    let engine = Engine::start(model, Arc::clone(&tokenizer), config).expect("engine");
    (engine, tokenizer)
}

fn config(max_running: usize) -> EngineConfig {
    EngineConfig {
        n_ctx: 1024,
        max_running,
        max_waiting: 64,
        step_tokens: 48,
        prefix_sharing: true,
    }
}

fn request(tokenizer: &Tokenizer, prompt: &str, max_tokens: usize) -> Request {
    Request {
        prompt: tokenizer.encode(prompt, true, false).expect("tokenize"),
        max_tokens: Some(max_tokens),
        sampler: SamplerConfig::greedy(),
        stop: Vec::new(),
        ignore_eos: true,
        logprobs: Some(3),
    }
}

/// Tokens, log-probabilities (as bits) and the end of one request.
type Outcome = (Vec<u32>, Vec<Vec<u32>>, Finished);

fn submit(engine: &Engine, req: Request) -> mpsc::Receiver<Event> {
    let (tx, rx) = mpsc::channel();
    engine
        .submit(req, Box::new(move |ev| tx.send(ev).is_ok()))
        .expect("submit");
    rx
}

fn collect(rx: mpsc::Receiver<Event>) -> Outcome {
    let (mut ids, mut lps) = (Vec::new(), Vec::new());
    loop {
        match rx.recv_timeout(Duration::from_secs(300)).expect("event") {
            Event::Token(t) => {
                ids.push(t.id);
                let lp = t.logprob.expect("logprobs asked for");
                let mut bits = vec![lp.logprob.to_bits()];
                for (id, l) in lp.top {
                    bits.extend([id, l.to_bits()]);
                }
                lps.push(bits);
            }
            Event::Done(f) => return (ids, lps, f),
            Event::Error(e) => panic!("request failed: {e}"),
        }
    }
}

fn prompts() -> Vec<String> {
    let base = "The history of the city begins with a small settlement by the river, where \
                fishermen and traders met every spring to exchange salt, grain and stories.";
    (0..16)
        .map(|i| {
            let words: Vec<&str> = base.split(' ').collect();
            let n = 2 + (i * 5) % (words.len() - 2);
            format!("{} ({i})", words[..n].join(" "))
        })
        .collect()
}

#[test]
fn batched_requests_equal_each_request_alone() {
    let (engine, tok) = engine(config(16));
    let prompts = prompts();
    let alone: Vec<Outcome> = prompts
        .iter()
        .map(|p| collect(submit(&engine, request(&tok, p, 10))))
        .collect();
    let receivers: Vec<_> = prompts
        .iter()
        .map(|p| submit(&engine, request(&tok, p, 10)))
        .collect();
    let batched: Vec<Outcome> = receivers.into_iter().map(collect).collect();
    assert!(
        engine.stats().steps > 0 && engine.stats().batch_tokens > 16 * 10,
        "{:?}",
        engine.stats()
    );
    for (i, (a, b)) in alone.iter().zip(&batched).enumerate() {
        assert_eq!(a.0, b.0, "request {i}: tokens differ alone and batched");
        assert_eq!(a.1, b.1, "request {i}: logprobs differ alone and batched");
        assert_eq!(b.2.reason, FinishReason::Length);
        assert_eq!(b.2.completion_tokens, 10);
    }
    assert_eq!(engine.stats().kv_blocks_used, 0);
}

#[test]
fn a_shared_prefix_is_evaluated_once_and_changes_nothing() {
    let (engine, tok) = engine(config(4));
    let system = "You are a careful assistant. Answer briefly and precisely, and never invent \
                  facts that you do not know. If a question is unclear, ask what is meant. ";
    let a = request(&tok, &format!("{system}Question: what is rain?"), 40);
    let b = request(&tok, &format!("{system}Question: why is the sky blue?"), 6);
    let alone_b = collect(submit(&engine, b.clone()));
    assert_eq!(alone_b.2.cached_tokens, 0);
    let rx_a = submit(&engine, a);
    // Once A generates, its prompt's blocks are all in the cache.
    assert!(matches!(rx_a.recv().expect("event"), Event::Token(_)));
    let with_b = collect(submit(&engine, b.clone()));
    let shared = with_b.2.cached_tokens;
    let common = (b.prompt.len() - 1).min(40) / 16 * 16;
    assert!(
        shared >= 16 && shared < b.prompt.len(),
        "{shared} (common ≥ {common})"
    );
    assert!(engine.stats().prompt_tokens_shared >= shared as u64);
    assert_eq!(with_b.0, alone_b.0, "sharing changes the tokens");
    assert_eq!(with_b.1, alone_b.1, "sharing changes the logprobs");
    collect(rx_a);
    assert_eq!(engine.stats().kv_blocks_used, 0);
}

#[test]
fn cancelled_and_abandoned_requests_free_their_blocks() {
    let (engine, tok) = engine(config(4));
    let (tx, rx) = mpsc::channel();
    let ticket = engine
        .submit(
            request(&tok, "Tell me a long story.", 500),
            Box::new(move |ev| tx.send(ev).is_ok()),
        )
        .expect("submit");
    assert!(matches!(rx.recv().expect("event"), Event::Token(_)));
    ticket.cancel();
    let done = loop {
        if let Event::Done(f) = rx.recv().expect("event") {
            break f;
        }
    };
    assert_eq!(done.reason, FinishReason::Cancelled);
    // A receiver that goes away cancels at its next token.
    let rx = submit(&engine, request(&tok, "Another long story, please.", 500));
    assert!(matches!(rx.recv().expect("event"), Event::Token(_)));
    drop(rx);
    for _ in 0..200 {
        let s = engine.stats();
        if s.running == 0 && s.kv_blocks_used == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("blocks still held: {:?}", engine.stats());
}

#[test]
fn the_queue_is_bounded_and_bad_requests_are_refused() {
    let (engine, tok) = engine(EngineConfig {
        max_waiting: 1,
        ..config(1)
    });
    let long = |max| request(&tok, "Count to one hundred.", max);
    let _running = submit(&engine, long(200));
    // Wait until the first one runs, so exactly one may wait.
    while engine.stats().running == 0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _waiting = submit(&engine, long(5));
    let err = engine
        .submit(long(5), Box::new(|_| true))
        .expect_err("queue full");
    assert_eq!(err, SubmitError::QueueFull { waiting: 1 });
    let mut empty = long(5);
    empty.prompt.clear();
    assert_eq!(
        engine.submit(empty, Box::new(|_| true)).unwrap_err(),
        SubmitError::EmptyPrompt
    );
    let too_long = engine.submit(long(1020), Box::new(|_| true)).unwrap_err();
    assert!(
        matches!(too_long, SubmitError::TooLong { n_ctx: 1024, .. }),
        "{too_long}"
    );
    let mut bad = long(5);
    bad.sampler.top_p = 2.0;
    assert!(matches!(
        engine.submit(bad, Box::new(|_| true)),
        Err(SubmitError::Sampler(_))
    ));
}
