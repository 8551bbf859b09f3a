//! Chat templates: turns a conversation into prompt text, with the model's own Jinja
//! template (`tokenizer.chat_template`, rendered by a sandboxed `minijinja` environment that
//! behaves like transformers' Jinja2 one) or, for a model that ships none, a built-in format
//! chosen by architecture (see [`Fallback`]).

mod bounds;
mod clock;
mod fallback;
mod pyjson;

use std::fmt;
use std::io;

use ggml_core::gguf::{keys, GgufFile};
use minijinja::{Environment, ErrorKind, Value};
use serde::{Deserialize, Serialize};

pub use bounds::MAX_VALUE_BYTES;
pub use fallback::Fallback;

use crate::tokenizer::Tokenizer;

/// Name under which the model's template is registered in the environment.
const TEMPLATE_NAME: &str = "chat_template";
/// Instruction budget for one render: ample for real templates, stops runaway loops.
const FUEL: u64 = 5_000_000;
/// Largest rendered prompt accepted, in bytes.
pub const MAX_OUTPUT_BYTES: usize = 16 << 20;
/// Jinja2's whitespace rules as transformers sets them.
const WHITESPACE: minijinja::machinery::WhitespaceConfig = minijinja::machinery::WhitespaceConfig {
    keep_trailing_newline: false,
    lstrip_blocks: true,
    trim_blocks: true,
};
/// Marks errors raised by the template itself through `raise_exception`.
const RAISED_MARKER: &str = "raise_exception: ";

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant` (templates may accept others, such as `tool`).
    pub role: String,
    /// The message text.
    pub content: String,
}

impl ChatMessage {
    /// A message with the given role and text.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// Why a conversation could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ChatTemplateError {
    /// The model file's metadata could not be read for the template.
    #[error("chat template metadata `{key}`: {detail}")]
    Metadata {
        /// The key involved.
        key: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The template source does not parse.
    #[error("chat template does not compile (line {line:?}): {detail}")]
    Syntax {
        /// Line of the template, where known.
        line: Option<usize>,
        /// What the parser said.
        detail: String,
    },
    /// The template called `raise_exception(message)`, usually to reject the conversation.
    #[error("chat template rejected the conversation: {message}")]
    Raised {
        /// The template's message.
        message: String,
    },
    /// Rendering failed for another reason (a bad operation, an unknown method, …).
    #[error("chat template failed at line {line:?}: {detail}")]
    Render {
        /// Line of the template, where known.
        line: Option<usize>,
        /// What went wrong.
        detail: String,
    },
    /// The template ran past its instruction budget.
    #[error("chat template ran past its budget of {fuel} instructions")]
    OutOfFuel {
        /// The budget.
        fuel: u64,
    },
    /// The template built a value larger than [`MAX_VALUE_BYTES`].
    #[error("chat template builds a value past {limit} bytes{}", at_line(*line))]
    ValueTooLarge {
        /// The limit in bytes.
        limit: usize,
        /// Line of the template, where known.
        line: Option<usize>,
    },
    /// The rendered text is larger than [`MAX_OUTPUT_BYTES`].
    #[error("chat template output exceeds {limit} bytes")]
    OutputTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

/// Where a [`ChatTemplate`]'s format comes from.
enum Source {
    /// The model's Jinja template, compiled once.
    Jinja(Box<Environment<'static>>),
    /// A built-in format.
    Builtin(Fallback),
}

/// A model's chat format, ready to render conversations.
pub struct ChatTemplate {
    source: Source,
    bos_token: String,
    eos_token: String,
}

impl fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.source {
            Source::Jinja(_) => "jinja".to_string(),
            Source::Builtin(fb) => format!("{fb:?}"),
        };
        f.debug_struct("ChatTemplate")
            .field("source", &source)
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish()
    }
}

impl ChatTemplate {
    /// Compiles a Jinja chat template; `bos_token`/`eos_token` are the texts of the model's
    /// BOS and EOS tokens, visible to the template under those names.
    pub fn jinja(
        source: &str,
        bos_token: impl Into<String>,
        eos_token: impl Into<String>,
    ) -> Result<Self, ChatTemplateError> {
        let syntax = |e: minijinja::Error| ChatTemplateError::Syntax {
            line: e.line(),
            detail: e.detail().unwrap_or("syntax error").to_owned(),
        };
        let mut env = sandboxed_environment();
        let guarded = bounds::guard_operators(source, WHITESPACE).map_err(syntax)?;
        env.add_template_owned(TEMPLATE_NAME, guarded)
            .map_err(syntax)?;
        Ok(Self {
            source: Source::Jinja(Box::new(env)),
            bos_token: bos_token.into(),
            eos_token: eos_token.into(),
        })
    }

    /// A built-in format.
    pub fn builtin(fallback: Fallback) -> Self {
        Self {
            source: Source::Builtin(fallback),
            bos_token: String::new(),
            eos_token: String::new(),
        }
    }

    /// The model's template when it has one, else the fallback for its architecture
    /// (`general.architecture`), as [`Fallback::for_architecture`] picks it.
    pub fn for_model(
        template: Option<&str>,
        architecture: &str,
        bos_token: &str,
        eos_token: &str,
    ) -> Result<Self, ChatTemplateError> {
        match template {
            Some(src) if !src.trim().is_empty() => Self::jinja(src, bos_token, eos_token),
            _ => Ok(Self::builtin(Fallback::for_architecture(architecture))),
        }
    }

    /// The template of a model file: `tokenizer.chat_template` if present, else the
    /// fallback for `general.architecture`; BOS/EOS texts come from the tokenizer.
    pub fn from_gguf(file: &GgufFile, tokenizer: &Tokenizer) -> Result<Self, ChatTemplateError> {
        let md = file.metadata();
        let template = md
            .get_opt::<&str>(keys::tokenizer::CHAT_TEMPLATE)
            .map_err(|e| ChatTemplateError::Metadata {
                key: keys::tokenizer::CHAT_TEMPLATE,
                detail: e.to_string(),
            })?;
        let architecture = file
            .architecture()
            .map_err(|e| ChatTemplateError::Metadata {
                key: keys::general::ARCHITECTURE,
                detail: e.to_string(),
            })?;
        let special = tokenizer.special_tokens();
        let text = |id: Option<u32>| id.and_then(|id| tokenizer.token_text(id)).unwrap_or("");
        Self::for_model(
            template,
            architecture,
            text(special.bos()),
            text(special.eos()),
        )
    }

    /// The built-in format in use, or `None` for the model's own template.
    pub fn fallback(&self) -> Option<Fallback> {
        match self.source {
            Source::Builtin(fb) => Some(fb),
            Source::Jinja(_) => None,
        }
    }

    /// Renders a conversation; with `add_generation_prompt` the text ends where the
    /// assistant's answer begins.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, ChatTemplateError> {
        let env = match &self.source {
            Source::Builtin(fb) => return Ok(fb.render(messages, add_generation_prompt)),
            Source::Jinja(env) => env,
        };
        let template = env.get_template(TEMPLATE_NAME).map_err(render_error)?;
        let ctx = minijinja::context! {
            messages => Value::from_serialize(messages),
            add_generation_prompt => add_generation_prompt,
            bos_token => &self.bos_token,
            eos_token => &self.eos_token,
        };
        let mut out = BoundedWriter {
            buf: Vec::new(),
            limit: MAX_OUTPUT_BYTES,
            overflowed: false,
        };
        match template.render_captured_to(ctx, &mut out) {
            Ok(_) => {}
            Err(_) if out.overflowed => {
                return Err(ChatTemplateError::OutputTooLarge {
                    limit: MAX_OUTPUT_BYTES,
                })
            }
            Err(e) => return Err(render_error(e)),
        }
        // The writer only ever receives `str` fragments from minijinja.
        String::from_utf8(out.buf).map_err(|e| ChatTemplateError::Render {
            line: None,
            detail: format!("output is not UTF-8: {e}"),
        })
    }

    /// `text` without the BOS token's text at its start: templates that write `bos_token`
    /// themselves would otherwise get a second BOS from a tokenizer that adds one.
    pub fn strip_leading_bos<'a>(&self, text: &'a str) -> &'a str {
        if self.bos_token.is_empty() {
            return text;
        }
        text.strip_prefix(self.bos_token.as_str()).unwrap_or(text)
    }
}

/// An environment with no loader (no file system), Jinja2's whitespace rules as transformers
/// sets them, Python string/dict/list methods, `raise_exception`, `strftime_now`, `tojson`
/// and an instruction budget.
fn sandboxed_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_trim_blocks(WHITESPACE.trim_blocks);
    env.set_lstrip_blocks(WHITESPACE.lstrip_blocks);
    env.set_keep_trailing_newline(WHITESPACE.keep_trailing_newline);
    env.set_fuel(Some(FUEL));
    bounds::install(&mut env);
    env.add_function(
        "raise_exception",
        |message: String| -> Result<Value, minijinja::Error> {
            Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!("{RAISED_MARKER}{message}"),
            ))
        },
    );
    env.add_function("strftime_now", clock::strftime_now);
    env.add_filter("tojson", pyjson::tojson);
    env
}

/// ` at line N` where the line is known.
fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!(" at line {l}")).unwrap_or_default()
}

fn render_error(e: minijinja::Error) -> ChatTemplateError {
    if e.kind() == ErrorKind::OutOfFuel {
        return ChatTemplateError::OutOfFuel { fuel: FUEL };
    }
    let detail = e
        .detail()
        .map(str::to_owned)
        .unwrap_or_else(|| e.kind().to_string());
    if detail.starts_with(bounds::TOO_LARGE_MARKER) {
        return ChatTemplateError::ValueTooLarge {
            limit: MAX_VALUE_BYTES,
            line: e.line(),
        };
    }
    match detail.strip_prefix(RAISED_MARKER) {
        Some(message) => ChatTemplateError::Raised {
            message: message.to_owned(),
        },
        None => ChatTemplateError::Render {
            line: e.line(),
            detail,
        },
    }
}

/// Collects output up to a limit, then fails the render.
struct BoundedWriter {
    buf: Vec<u8>,
    limit: usize,
    overflowed: bool,
}

impl io::Write for BoundedWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > self.limit {
            self.overflowed = true;
            return Err(io::Error::other("chat template output too large"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs() -> Vec<ChatMessage> {
        vec![
            ChatMessage::new("user", "  Hi  "),
            ChatMessage::new("assistant", "Hello"),
        ]
    }

    #[test]
    fn python_string_methods_and_special_tokens_are_available() {
        let t = ChatTemplate::jinja(
            "{{ bos_token }}{% for m in messages %}{{ m.role.upper() }}:{{ m['content'].strip() }}|{% endfor %}{{ eos_token }}",
            "<s>",
            "</s>",
        )
        .unwrap();
        assert_eq!(
            t.render(&msgs(), false).unwrap(),
            "<s>USER:Hi|ASSISTANT:Hello|</s>"
        );
        assert_eq!(t.strip_leading_bos("<s>x<s>"), "x<s>");
    }

    #[test]
    fn raise_exception_becomes_a_structured_error() {
        let t = ChatTemplate::jinja(
            "{% if messages[0].role != 'system' %}{{ raise_exception('need a system message') }}{% endif %}",
            "",
            "",
        )
        .unwrap();
        match t.render(&msgs(), true) {
            Err(ChatTemplateError::Raised { message }) => {
                assert_eq!(message, "need a system message")
            }
            other => panic!("expected Raised, got {other:?}"),
        }
    }

    #[test]
    fn syntax_errors_are_reported_with_their_line() {
        match ChatTemplate::jinja("ok\n{% for m in messages %}", "", "") {
            Err(ChatTemplateError::Syntax { line, .. }) => assert!(line.is_some()),
            other => panic!("expected Syntax, got {other:?}"),
        }
    }

    #[test]
    fn runaway_templates_are_stopped() {
        let t = ChatTemplate::jinja(
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
            "",
            "",
        )
        .unwrap();
        assert!(matches!(
            t.render(&msgs(), false),
            Err(ChatTemplateError::OutOfFuel { .. })
        ));
        let big = ChatTemplate::jinja(
            "{% for a in range(20000) %}{{ 'x' * 1000 }}{% endfor %}",
            "",
            "",
        )
        .unwrap();
        assert!(matches!(
            big.render(&msgs(), false),
            Err(ChatTemplateError::OutputTooLarge { .. })
        ));
    }

    #[test]
    fn values_built_inside_a_render_are_bounded() {
        let growing = [
            // String doubling, list doubling, repetition, joins and methods of big inputs.
            "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
            "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
            "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
            "{{ ('x' * 100000000)|length }}",
            "{{ ([1, 2] * 100000000)|length }}",
            "{% set s = 'x' * 1000000 %}{{ ([s] * 1000)|join|length }}",
            "{% set s = 'x' * 1000000 %}{% set l = [s, s, s, s, s, s, s, s, s, s] %}{{ (l ~ l ~ l)|length }}",
            "{% set s = 'x' * 1000000 %}{{ s.ljust(100000000)|length }}",
            "{% set s = 'ab' * 500000 %}{{ s.replace('a', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')|length }}",
            "{% set s = 'ab' * 500000 %}{{ s|replace('a', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')|length }}",
            "{% set s = 'x' * 1000000 %}{{ [s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s]|tojson|length }}",
        ];
        for src in growing {
            let t = ChatTemplate::jinja(src, "", "").unwrap();
            match t.render(&msgs(), false) {
                Err(ChatTemplateError::ValueTooLarge { limit, .. }) => {
                    assert_eq!(limit, MAX_VALUE_BYTES)
                }
                other => panic!("{src}: expected ValueTooLarge, got {other:?}"),
            }
        }
        let endless = ChatTemplate::jinja(
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
            "",
            "",
        )
        .unwrap();
        let err = endless.render(&msgs(), false).unwrap_err();
        assert!(err.to_string().contains("recursion"), "{err}");
        // Real templates' arithmetic is unchanged.
        let t = ChatTemplate::jinja(
            "{{ 2 + 3 }} {{ 'a' ~ 1 }} {{ [1] + [2] }} {{ 'ab' * 2 }} {{ 3 * 'c' }} {{ 1.5 * 2 }}",
            "",
            "",
        )
        .unwrap();
        assert_eq!(
            t.render(&msgs(), false).unwrap(),
            "5 a1 [1, 2] abab ccc 3.0"
        );
    }

    #[test]
    fn templates_cannot_include_other_files() {
        let t = ChatTemplate::jinja("{% include '/etc/passwd' %}", "", "").unwrap();
        assert!(matches!(
            t.render(&msgs(), false),
            Err(ChatTemplateError::Render { .. })
        ));
    }

    #[test]
    fn models_without_a_template_get_their_architecture_fallback() {
        let g = ChatTemplate::for_model(None, "gemma3", "<bos>", "<eos>").unwrap();
        assert_eq!(g.fallback(), Some(Fallback::Gemma));
        let l = ChatTemplate::for_model(Some("  "), "llama", "", "").unwrap();
        assert_eq!(l.fallback(), Some(Fallback::ChatMl));
        let own = ChatTemplate::for_model(Some("{{ 1 }}"), "gemma3", "", "").unwrap();
        assert_eq!(own.fallback(), None);
    }
}
