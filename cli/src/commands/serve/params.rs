//! Reading an OpenAI request body: every key must be one this server implements (others get
//! a 400 that names them), and each parameter is checked for type and range with its name
//! in the error.

use serde_json::{Map, Value};

use model::sampler::SamplerConfig;

use super::error::ApiError;

/// Keys both endpoints accept.
const COMMON: &[&str] = &[
    "model",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "seed",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "repetition_penalty",
    "logit_bias",
    "logprobs",
    "n",
    "user",
    "ignore_eos",
    "stream",
    "stream_options",
];
/// Keys only chat accepts.
pub const CHAT: &[&str] = &[
    "messages",
    "max_completion_tokens",
    "top_logprobs",
    "response_format",
];
/// Keys only completions accepts.
pub const COMPLETION: &[&str] = &["prompt"];

/// A parsed JSON object body.
pub struct Body(pub Map<String, Value>);

impl Body {
    /// Parses `bytes` as a JSON object whose keys are all in `COMMON` or `extra`.
    pub fn parse(bytes: &[u8], extra: &[&str]) -> Result<Body, ApiError> {
        let body = Self::parse_any(bytes)?;
        let unknown: Vec<&str> = body
            .0
            .keys()
            .map(String::as_str)
            .filter(|k| !COMMON.contains(k) && !extra.contains(k))
            .collect();
        if !unknown.is_empty() {
            return Err(ApiError {
                code: Some("unsupported_parameter"),
                ..ApiError::invalid(
                    unknown[0],
                    format!(
                        "unsupported parameter(s): {} (this server does not implement them)",
                        unknown.join(", ")
                    ),
                )
            });
        }
        Ok(body)
    }

    /// Parses `bytes` as a JSON object.
    pub fn parse_any(bytes: &[u8]) -> Result<Body, ApiError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the body is not valid JSON: {e}"),
            )
        })?;
        let Value::Object(map) = value else {
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid_json",
                "the body must be a JSON object",
            ));
        };
        Ok(Body(map))
    }

    /// The value of `key` unless absent or null.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    /// A number in `lo..=hi`.
    pub fn f32_in(&self, key: &str, lo: f64, hi: f64) -> Result<Option<f32>, ApiError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        match v.as_f64() {
            Some(x) if (lo..=hi).contains(&x) => Ok(Some(x as f32)),
            Some(x) => Err(ApiError::invalid(
                key,
                format!("`{key}` must be between {lo} and {hi}, got {x}"),
            )),
            None => Err(ApiError::invalid(key, format!("`{key}` must be a number"))),
        }
    }

    /// An integer in `lo..=hi`.
    pub fn int_in(&self, key: &str, lo: i64, hi: i64) -> Result<Option<i64>, ApiError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        match v.as_i64() {
            Some(x) if (lo..=hi).contains(&x) => Ok(Some(x)),
            Some(x) => Err(ApiError::invalid(
                key,
                format!("`{key}` must be between {lo} and {hi}, got {x}"),
            )),
            None => Err(ApiError::invalid(
                key,
                format!("`{key}` must be an integer"),
            )),
        }
    }

    /// A boolean.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::invalid(key, format!("`{key}` must be a boolean"))),
        }
    }

    /// A string.
    pub fn str(&self, key: &str) -> Result<Option<&str>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::invalid(key, format!("`{key}` must be a string"))),
        }
    }

    /// `stop`: a string or a list of up to 16 strings.
    pub fn stop(&self) -> Result<Vec<String>, ApiError> {
        let bad = || ApiError::invalid("stop", "`stop` must be a string or a list of strings");
        match self.get("stop") {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) if items.len() <= 16 => items
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(bad))
                .collect(),
            Some(Value::Array(_)) => Err(ApiError::invalid("stop", "at most 16 stop strings")),
            Some(_) => Err(bad()),
        }
    }

    /// `logit_bias`: token id (as a string key) → bias in -100..=100.
    pub fn logit_bias(&self, n_vocab: usize) -> Result<Vec<(u32, f32)>, ApiError> {
        let Some(v) = self.get("logit_bias") else {
            return Ok(Vec::new());
        };
        let Value::Object(map) = v else {
            return Err(ApiError::invalid(
                "logit_bias",
                "`logit_bias` must be an object of token ids to numbers",
            ));
        };
        map.iter()
            .map(|(k, v)| {
                let id: u32 = k
                    .parse()
                    .ok()
                    .filter(|&id: &u32| (id as usize) < n_vocab)
                    .ok_or_else(|| {
                        ApiError::invalid("logit_bias", format!("`{k}` is not a token id"))
                    })?;
                let bias = v
                    .as_f64()
                    .filter(|b| (-100.0..=100.0).contains(b))
                    .ok_or_else(|| {
                        ApiError::invalid("logit_bias", "biases must be numbers in -100..100")
                    })?;
                Ok((id, bias as f32))
            })
            .collect()
    }

    /// The sampling parameters (OpenAI's defaults: temperature 1, top-p 1, nothing else).
    pub fn sampler(&self, n_vocab: usize) -> Result<SamplerConfig, ApiError> {
        let d = SamplerConfig::default();
        Ok(SamplerConfig {
            temperature: self.f32_in("temperature", 0.0, 2.0)?.unwrap_or(1.0),
            top_k: self.int_in("top_k", 0, i64::from(u32::MAX))?.unwrap_or(0) as usize,
            top_p: self.f32_in("top_p", 0.0, 1.0)?.unwrap_or(1.0),
            min_p: self.f32_in("min_p", 0.0, 1.0)?.unwrap_or(0.0),
            typical_p: 1.0,
            repeat_last_n: d.repeat_last_n,
            repeat_penalty: self
                .f32_in("repetition_penalty", 0.01, 10.0)?
                .unwrap_or(1.0),
            frequency_penalty: self.f32_in("frequency_penalty", -2.0, 2.0)?.unwrap_or(0.0),
            presence_penalty: self.f32_in("presence_penalty", -2.0, 2.0)?.unwrap_or(0.0),
            logit_bias: self.logit_bias(n_vocab)?,
            seed: self.int_in("seed", i64::MIN, i64::MAX)?.map(|s| s as u64),
            min_keep: 1,
        })
    }

    /// `n` must be 1 (or absent).
    pub fn check_n(&self) -> Result<(), ApiError> {
        match self.int_in("n", 1, 128)? {
            None | Some(1) => Ok(()),
            Some(n) => Err(ApiError::invalid(
                "n",
                format!("n = {n}: this server returns one choice per request (n must be 1)"),
            )),
        }
    }

    /// `max_tokens` (or `alt`, its newer name), at least 1.
    pub fn max_tokens(&self, alt: Option<&str>) -> Result<Option<usize>, ApiError> {
        let keys = std::iter::once("max_tokens").chain(alt);
        let mut found = None;
        for key in keys {
            if let Some(v) = self.int_in(key, 1, i64::MAX)? {
                found = Some(v);
            }
        }
        Ok(found.map(|v| usize::try_from(v).unwrap_or(usize::MAX)))
    }

    /// `stream` and `stream_options.include_usage`.
    pub fn streaming(&self) -> Result<(bool, bool), ApiError> {
        let stream = self.bool("stream")?.unwrap_or(false);
        let usage = match self.get("stream_options") {
            None => false,
            Some(Value::Object(o)) => match o.get("include_usage") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(ApiError::invalid(
                        "stream_options",
                        "`stream_options.include_usage` must be a boolean",
                    ))
                }
            },
            Some(_) => {
                return Err(ApiError::invalid(
                    "stream_options",
                    "`stream_options` must be an object",
                ))
            }
        };
        if usage && !stream {
            return Err(ApiError::invalid(
                "stream_options",
                "`stream_options` is only allowed with `stream: true`",
            ));
        }
        Ok((stream, usage))
    }
}
