//! Turning a request's `messages` (chat) or `prompt` (completions) into prompt tokens:
//! messages are checked (roles, content as a string or text parts) and rendered with the
//! model's chat template.

use serde_json::Value;

use model::chat_template::{ChatMessage, ChatTemplate};
use model::tokenizer::Tokenizer;

use super::error::ApiError;

/// Roles a message may have.
const ROLES: &[&str] = &["system", "developer", "user", "assistant"];

/// Reads `messages`: a non-empty list of `{role, content, name?}`.
pub fn messages(v: Option<&Value>) -> Result<Vec<ChatMessage>, ApiError> {
    let bad = |m: String| ApiError::invalid("messages", m);
    let Some(v) = v else {
        return Err(bad("`messages` is required".into()));
    };
    let Value::Array(items) = v else {
        return Err(bad("`messages` must be a list".into()));
    };
    if items.is_empty() {
        return Err(bad("`messages` must not be empty".into()));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let Value::Object(m) = m else {
                return Err(bad(format!("messages[{i}] must be an object")));
            };
            if let Some(k) = m
                .keys()
                .find(|k| !["role", "content", "name"].contains(&k.as_str()))
            {
                return Err(bad(format!(
                    "messages[{i}].{k} is not supported by this server"
                )));
            }
            let role = match m.get("role") {
                Some(Value::String(r)) if ROLES.contains(&r.as_str()) => r.as_str(),
                Some(Value::String(r)) => {
                    return Err(bad(format!(
                        "messages[{i}].role `{r}` is not one of {}",
                        ROLES.join(", ")
                    )))
                }
                _ => return Err(bad(format!("messages[{i}].role must be a string"))),
            };
            let role = if role == "developer" { "system" } else { role };
            Ok(ChatMessage::new(role, content(m.get("content"), i)?))
        })
        .collect()
}

/// A message's content: a string, or a list of `{"type":"text","text":…}` parts.
fn content(v: Option<&Value>, i: usize) -> Result<String, ApiError> {
    let bad = |m: String| ApiError::invalid("messages", m);
    match v {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut out = String::new();
            for (j, p) in parts.iter().enumerate() {
                match (p.get("type").and_then(Value::as_str), p.get("text")) {
                    (Some("text"), Some(Value::String(t))) => out.push_str(t),
                    (Some(t), _) if t != "text" => {
                        return Err(bad(format!(
                        "messages[{i}].content[{j}]: content parts of type `{t}` are not supported"
                    )))
                    }
                    _ => {
                        return Err(bad(format!(
                            "messages[{i}].content[{j}] must be {{\"type\": \"text\", \"text\": …}}"
                        )))
                    }
                }
            }
            Ok(out)
        }
        None | Some(Value::Null) => Err(bad(format!("messages[{i}].content is required"))),
        Some(_) => Err(bad(format!(
            "messages[{i}].content must be a string or a list of text parts"
        ))),
    }
}

/// Renders `messages` for the assistant's answer and tokenizes the text.
pub fn chat_tokens(
    template: &ChatTemplate,
    tokenizer: &Tokenizer,
    messages: &[ChatMessage],
) -> Result<Vec<u32>, ApiError> {
    let text = template
        .render(messages, true)
        .map_err(|e| ApiError::invalid("messages", format!("chat template: {e}")))?;
    let text = template.strip_leading_bos(&text);
    tokenizer
        .encode(text, true, true)
        .map_err(|e| ApiError::invalid("messages", e.to_string()))
}

/// Reads `prompt`: a string, a list of one string, a list of token ids, or a list of one
/// such list; then tokenizes it (BOS where the model wants it).
pub fn completion_tokens(v: Option<&Value>, tokenizer: &Tokenizer) -> Result<Vec<u32>, ApiError> {
    let bad = |m: &str| ApiError::invalid("prompt", m.to_string());
    let ids = |items: &[Value]| -> Result<Vec<u32>, ApiError> {
        items
            .iter()
            .map(|t| {
                t.as_u64()
                    .and_then(|t| u32::try_from(t).ok())
                    .ok_or_else(|| bad("token ids must be non-negative integers"))
            })
            .collect()
    };
    let text = |s: &str| {
        tokenizer
            .encode(s, true, false)
            .map_err(|e| ApiError::invalid("prompt", e.to_string()))
    };
    match v {
        None => Err(bad("`prompt` is required")),
        Some(Value::String(s)) => text(s),
        Some(Value::Array(items)) => match items.as_slice() {
            [] => Err(bad("`prompt` must not be empty")),
            [Value::String(s)] => text(s),
            [Value::Array(inner)] => ids(inner),
            items if items.iter().all(Value::is_number) => ids(items),
            items if items.len() > 1 && items.iter().all(|i| i.is_string() || i.is_array()) => Err(
                bad("one prompt per request: batches of prompts are not supported"),
            ),
            _ => Err(bad(
                "`prompt` must be a string, a list of token ids, or a list of one of those",
            )),
        },
        Some(_) => Err(bad("`prompt` must be a string or a list")),
    }
}
