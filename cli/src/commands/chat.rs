//! `rocmforge chat`: an interactive conversation on the terminal. Each stdin line is a user
//! message; the whole conversation is rendered with the model's chat template and only the
//! part the cache doesn't hold yet is evaluated. `/reset` starts over, `/exit` or end of
//! input quits; Ctrl-C stops the current answer (at the prompt it quits).

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use model::chat_template::{ChatMessage, ChatTemplate};
use model::generate::{GenerateError, Session, StopReason};

use attention::AttentionBackend;
use model::{with_model, Model};

use super::run::{stream_to_stdout, timing_line, Loaded, ModelArgs, SamplingArgs};

/// Arguments of `rocmforge chat`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// System message at the start of the conversation.
    #[arg(long = "system")]
    system: Option<String>,
    #[command(flatten)]
    sampling: SamplingArgs,
}

/// Ctrl-C state shared with the signal handler.
struct Interrupt {
    generating: AtomicBool,
    cancel: AtomicBool,
}

/// Runs `chat`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let loaded = args.model.load()?;
    with_model!(&loaded.model, m => converse(m, &loaded, &args))
}

/// `chat` on the model's backend.
fn converse<B: AttentionBackend>(
    model: &Model<B>,
    loaded: &Loaded,
    args: &Args,
) -> anyhow::Result<ExitCode> {
    let template = ChatTemplate::from_gguf(model.gguf(), &loaded.tokenizer)?;
    let sampler = args.sampling.sampler(model.n_ctx());
    let mut session = Session::new(model, &loaded.tokenizer, 0, sampler)?;
    let opts = args.sampling.generate_options();

    let interrupt = Arc::new(Interrupt {
        generating: AtomicBool::new(false),
        cancel: AtomicBool::new(false),
    });
    let handler_state = Arc::clone(&interrupt);
    ctrlc::set_handler(move || {
        if handler_state.generating.load(Ordering::SeqCst) {
            handler_state.cancel.store(true, Ordering::SeqCst);
        } else {
            eprintln!();
            std::process::exit(130);
        }
    })
    .context("installing the Ctrl-C handler")?;

    let initial: Vec<ChatMessage> = args
        .system
        .iter()
        .map(|s| ChatMessage::new("system", s.as_str()))
        .collect();
    let mut messages = initial.clone();
    eprintln!(
        "chatting with {} — /reset starts over, /exit or Ctrl-D quits, Ctrl-C stops an answer",
        loaded.path.display()
    );
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut line = String::new();
    loop {
        if interactive {
            eprint!("> ");
            std::io::stderr().flush()?;
        }
        line.clear();
        if stdin.lock().read_line(&mut line).context("reading stdin")? == 0 {
            if interactive {
                eprintln!();
            }
            break;
        }
        let input = line.trim_end_matches(['\n', '\r']);
        match input.trim() {
            "" => continue,
            "/exit" | "/quit" => break,
            "/reset" => {
                messages.clone_from(&initial);
                session.reset();
                eprintln!("(conversation reset)");
                continue;
            }
            _ => {}
        }
        messages.push(ChatMessage::new("user", input));
        let text = template.render(&messages, true)?;
        let prompt = session.tokenize(template.strip_leading_bos(&text), true)?;
        interrupt.cancel.store(false, Ordering::SeqCst);
        interrupt.generating.store(true, Ordering::SeqCst);
        let mut answer = String::new();
        let result = stream_to_stdout(&mut session, &prompt, &opts, Some(&interrupt.cancel), |t| {
            answer.push_str(t)
        });
        interrupt.generating.store(false, Ordering::SeqCst);
        println!();
        match result {
            Ok(stats) => {
                if stats.stop_reason == StopReason::Cancelled {
                    eprintln!("(stopped)");
                }
                if args.model.verbose {
                    eprintln!("{}", timing_line(&stats));
                }
                messages.push(ChatMessage::new("assistant", answer));
            }
            Err(e) => match e.downcast_ref::<GenerateError>() {
                Some(too_long @ GenerateError::PromptTooLong { .. }) => {
                    eprintln!("error: {too_long}; /reset to start over");
                    messages.pop();
                }
                _ => return Err(e),
            },
        }
    }
    Ok(ExitCode::SUCCESS)
}
