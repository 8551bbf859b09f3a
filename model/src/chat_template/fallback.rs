//! Built-in chat formats for models whose GGUF carries no `tokenizer.chat_template`, chosen
//! the way llama.cpp's named templates are: Gemma's turn markers for the gemma family,
//! ChatML for everything else.

use super::ChatMessage;

/// A built-in chat format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// `<start_of_turn>user\n…<end_of_turn>\n` … `<start_of_turn>model\n`. Gemma has no
    /// system role: system text is trimmed and put before the next user message, followed
    /// by a blank line; the assistant's role is called `model`; contents are trimmed.
    Gemma,
    /// `<|im_start|>ROLE\n…<|im_end|>\n` … `<|im_start|>assistant\n`.
    ChatMl,
}

impl Fallback {
    /// The format for a `general.architecture` value: `gemma*` → [`Fallback::Gemma`],
    /// anything else → [`Fallback::ChatMl`].
    pub fn for_architecture(architecture: &str) -> Self {
        if architecture.starts_with("gemma") {
            Fallback::Gemma
        } else {
            Fallback::ChatMl
        }
    }

    /// Strings that end an assistant turn in this format, beyond the model's EOG tokens.
    pub fn turn_end(self) -> &'static str {
        match self {
            Fallback::Gemma => "<end_of_turn>",
            Fallback::ChatMl => "<|im_end|>",
        }
    }

    /// Renders a conversation.
    pub(super) fn render(self, messages: &[ChatMessage], add_generation_prompt: bool) -> String {
        let mut out = String::new();
        match self {
            Fallback::ChatMl => {
                for m in messages {
                    out.push_str("<|im_start|>");
                    out.push_str(&m.role);
                    out.push('\n');
                    out.push_str(&m.content);
                    out.push_str("<|im_end|>\n");
                }
                if add_generation_prompt {
                    out.push_str("<|im_start|>assistant\n");
                }
            }
            Fallback::Gemma => {
                let mut system = String::new();
                for m in messages {
                    if m.role == "system" {
                        system.push_str(m.content.trim());
                        continue;
                    }
                    let role = if m.role == "assistant" {
                        "model"
                    } else {
                        m.role.as_str()
                    };
                    out.push_str("<start_of_turn>");
                    out.push_str(role);
                    out.push('\n');
                    if !system.is_empty() && role != "model" {
                        out.push_str(&system);
                        out.push_str("\n\n");
                        system.clear();
                    }
                    out.push_str(m.content.trim());
                    out.push_str("<end_of_turn>\n");
                }
                if add_generation_prompt {
                    out.push_str("<start_of_turn>model\n");
                }
            }
        }
        out
    }
}
