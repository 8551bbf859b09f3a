//! `rocmforge info FILE [--json]`: what a GGUF file holds — metadata (long arrays and
//! strings summarized), architecture hyperparameters, the tensor table and totals per type.
//!
//! `--json` prints one object for scripts:
//! - `file`, `file_size`, `version`, `alignment`, `data_offset` (absolute byte offset of the
//!   data section);
//! - `metadata`: key → `{"type", "value"}` in file order. Strings are complete. Arrays of at
//!   most [`JSON_ARRAY_LIMIT`] elements are complete (`value` is a JSON array); longer ones
//!   are summarized as `{"type": "array", "element_type", "len", "head": [first 8]}`.
//! - `tensors`: every tensor in file order with `name`, `type`, `shape` (ggml order, `ne0`
//!   first), `offset` (ABSOLUTE file offset of its data), `relative_offset` (offset inside
//!   the data section, as stored in the header), `n_elements`, `n_bytes`;
//! - `totals`: `parameters`, `bytes`, `bits_per_weight`, and `by_type` (per type: `tensors`,
//!   `parameters`, `bytes`, `share` of all tensor bytes).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ggml_core::gguf::{keys, Array, GgufError, GgufFile, Value};
use ggml_core::quantize_file::Mix;
use ggml_core::GgmlType;
use serde_json::json;

use crate::format::{self, Align, Table};

/// Arrays longer than this are summarized in `--json` output.
pub const JSON_ARRAY_LIMIT: usize = 64;

/// Elements shown of a summarized array.
const HEAD: usize = 8;

/// Characters shown of a long string in the text output.
const TEXT_STRING_LIMIT: usize = 60;

/// Arguments of `rocmforge info`.
#[derive(clap::Args)]
pub struct Args {
    /// The GGUF file.
    pub file: PathBuf,
    /// Print one JSON object for scripts instead of tables: every tensor with `offset`
    /// (absolute byte offset of its data in the file) and `relative_offset` (inside the data
    /// section); metadata complete except arrays over 64 elements, which are summarized as
    /// {type, element_type, len, head}.
    #[arg(long)]
    pub json: bool,
}

/// Runs `info`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let file = open(&args.file)?;
    if args.json {
        let report = json_report(&args.file, &file);
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text_report(&args.file, &file));
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens `path` as GGUF. Errors are one line: those that do not name the file get its
/// path in front, and an empty file is called that.
pub fn open(path: &Path) -> anyhow::Result<GgufFile> {
    if std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0) {
        anyhow::bail!("{}: the file is empty, not a GGUF model", path.display());
    }
    GgufFile::open(path).map_err(|err| match err {
        // These name the path and the OS error already; the error chain would repeat it.
        GgufError::Open { .. } | GgufError::NotAFile { .. } => anyhow::anyhow!("{err}"),
        other => anyhow::anyhow!("{}: {other}", path.display()),
    })
}

/// Parameters, bytes and tensor count of one tensor type.
#[derive(Default)]
struct TypeTotal {
    tensors: usize,
    parameters: u64,
    bytes: u64,
}

/// Totals over every tensor of `file`, overall and per type.
fn totals(file: &GgufFile) -> (u64, u64, BTreeMap<GgmlType, TypeTotal>) {
    let mut by_type: BTreeMap<GgmlType, TypeTotal> = BTreeMap::new();
    for t in file.tensors() {
        let e = by_type.entry(t.ty()).or_default();
        e.tensors += 1;
        e.parameters += t.n_elements();
        e.bytes += t.n_bytes();
    }
    let parameters = by_type.values().map(|t| t.parameters).sum();
    let bytes = by_type.values().map(|t| t.bytes).sum();
    (parameters, bytes, by_type)
}

fn bits_per_weight(bytes: u64, parameters: u64) -> f64 {
    if parameters == 0 {
        0.0
    } else {
        bytes as f64 * 8.0 / parameters as f64
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The text report: header, metadata, hyperparameters, tensors, totals.
fn text_report(path: &Path, file: &GgufFile) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{}: GGUF v{}, {} ({} bytes), {} metadata keys, {} tensors, alignment {}, data at offset {}\n",
        path.display(),
        file.version(),
        format::bytes(file.file_size()),
        format::count(file.file_size()),
        file.metadata().len(),
        file.tensors().len(),
        file.alignment(),
        file.data_offset()
    ));

    let arch = file.architecture().ok().map(str::to_string);
    let arch_prefix = arch.as_ref().map(|a| format!("{a}."));
    let is_hyper = |key: &str| arch_prefix.as_ref().is_some_and(|p| key.starts_with(p));

    out.push_str("\nmetadata\n");
    let mut meta = Table::new(&[
        ("KEY", Align::Left),
        ("TYPE", Align::Left),
        ("VALUE", Align::Left),
    ]);
    for (key, value) in file.metadata().iter().filter(|(k, _)| !is_hyper(k)) {
        let mut shown = text_value(value);
        if key == keys::general::FILE_TYPE {
            let mix = value.as_integer().and_then(|id| u32::try_from(id).ok());
            if let Some(mix) = mix.and_then(Mix::from_file_type) {
                shown.push_str(&format!(" ({mix})"));
            }
        }
        meta.row(vec![key.to_string(), type_name(value), shown]);
    }
    out.push_str(&meta.render(2));

    if let (Some(arch), Some(prefix)) = (&arch, &arch_prefix) {
        out.push_str(&format!("\nhyperparameters ({arch})\n"));
        let mut hyper = Table::new(&[("KEY", Align::Left), ("VALUE", Align::Left)]);
        for (key, value) in file.metadata().iter().filter(|(k, _)| is_hyper(k)) {
            let suffix = key.strip_prefix(prefix.as_str()).unwrap_or(key);
            hyper.row(vec![suffix.to_string(), text_value(value)]);
        }
        out.push_str(&hyper.render(2));
    }

    out.push_str("\ntensors\n");
    let mut tensors = Table::new(&[
        ("NAME", Align::Left),
        ("TYPE", Align::Left),
        ("SHAPE", Align::Left),
        ("PARAMETERS", Align::Right),
        ("BYTES", Align::Right),
    ]);
    for t in file.tensors() {
        let shape: Vec<String> = t.shape().iter().map(u64::to_string).collect();
        tensors.row(vec![
            t.name().to_string(),
            t.ty().name().to_string(),
            shape.join(" x "),
            format::count(t.n_elements()),
            format::count(t.n_bytes()),
        ]);
    }
    out.push_str(&tensors.render(2));

    let (parameters, bytes, by_type) = totals(file);
    out.push_str("\ntotals\n");
    let mut types = Table::new(&[
        ("TYPE", Align::Left),
        ("TENSORS", Align::Right),
        ("PARAMETERS", Align::Right),
        ("BYTES", Align::Right),
        ("SHARE", Align::Right),
        ("BITS/WEIGHT", Align::Right),
    ]);
    let mut add = |name: &str, t: &TypeTotal| {
        types.row(vec![
            name.to_string(),
            t.tensors.to_string(),
            format::count(t.parameters),
            format::bytes(t.bytes),
            format!("{:.1}%", 100.0 * share(t.bytes, bytes)),
            format!("{:.2}", bits_per_weight(t.bytes, t.parameters)),
        ]);
    };
    for (ty, t) in &by_type {
        add(ty.name(), t);
    }
    add(
        "all",
        &TypeTotal {
            tensors: file.tensors().len(),
            parameters,
            bytes,
        },
    );
    out.push_str(&types.render(2));
    out.push_str(&format!(
        "\n  {} parameters in {}: {:.2} bits per weight\n",
        format::count(parameters),
        format::bytes(bytes),
        bits_per_weight(bytes, parameters)
    ));
    out
}

/// How a value's type is shown: `u32`, `string`, `array of string`.
fn type_name(value: &Value) -> String {
    match value {
        Value::Array(a) => format!("array of {}", a.element_type().name()),
        v => v.value_type().name().to_string(),
    }
}

/// A value for the text table: long strings truncated, long arrays summarized.
fn text_value(value: &Value) -> String {
    match value {
        Value::String(s) => text_string(s),
        Value::Array(a) => text_array(a),
        Value::F32(v) => v.to_string(),
        scalar => scalar_json(scalar).to_string(),
    }
}

fn text_string(s: &str) -> String {
    let n = s.chars().count();
    if n <= TEXT_STRING_LIMIT && !s.contains('\n') {
        return s.to_string();
    }
    let head: String = s.chars().take(TEXT_STRING_LIMIT).collect();
    let quoted = serde_json::Value::String(head).to_string();
    format!("{}…\" ({n} chars)", &quoted[..quoted.len() - 1])
}

fn text_array(a: &Array) -> String {
    let shown = if a.len() <= HEAD { a.len() } else { 3 };
    let items: Vec<String> = array_head(a, shown)
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) if s.chars().count() > 24 => text_string(&s),
            other => other.to_string(),
        })
        .collect();
    if shown == a.len() {
        format!("[{}]", items.join(", "))
    } else {
        format!(
            "[{} {}: {}, …]",
            a.len(),
            plural(a.element_type().name()),
            items.join(", ")
        )
    }
}

fn plural(type_name: &str) -> String {
    match type_name {
        "string" => "strings".to_string(),
        "array" => "arrays".to_string(),
        t => format!("{t} values"),
    }
}

/// A scalar (non-array) value as JSON; floats that JSON cannot hold become `null`.
fn scalar_json(value: &Value) -> serde_json::Value {
    match value {
        Value::U8(v) => json!(v),
        Value::I8(v) => json!(v),
        Value::U16(v) => json!(v),
        Value::I16(v) => json!(v),
        Value::U32(v) => json!(v),
        Value::I32(v) => json!(v),
        Value::U64(v) => json!(v),
        Value::I64(v) => json!(v),
        Value::F32(v) => json!(v),
        Value::F64(v) => json!(v),
        Value::Bool(v) => json!(v),
        Value::String(v) => json!(v),
        Value::Array(a) => json_array(a),
    }
}

/// The first `n` elements of `a` as JSON values (nested arrays summarized recursively).
fn array_head(a: &Array, n: usize) -> Vec<serde_json::Value> {
    fn take<T: serde::Serialize>(v: &[T], n: usize) -> Vec<serde_json::Value> {
        v.iter().take(n).map(|x| json!(x)).collect()
    }
    match a {
        Array::U8(v) => take(v, n),
        Array::I8(v) => take(v, n),
        Array::U16(v) => take(v, n),
        Array::I16(v) => take(v, n),
        Array::U32(v) => take(v, n),
        Array::I32(v) => take(v, n),
        Array::F32(v) => take(v, n),
        Array::Bool(v) => take(v, n),
        Array::String(v) => take(v, n),
        Array::U64(v) => take(v, n),
        Array::I64(v) => take(v, n),
        Array::F64(v) => take(v, n),
        Array::Array(v) => v.iter().take(n).map(json_array).collect(),
    }
}

/// An array as JSON: complete up to [`JSON_ARRAY_LIMIT`] elements, else summarized.
fn json_array(a: &Array) -> serde_json::Value {
    if a.len() <= JSON_ARRAY_LIMIT {
        serde_json::Value::Array(array_head(a, a.len()))
    } else {
        json!({
            "type": "array",
            "element_type": a.element_type().name(),
            "len": a.len(),
            "head": array_head(a, HEAD),
        })
    }
}

/// The `--json` report described in the module docs.
fn json_report(path: &Path, file: &GgufFile) -> serde_json::Value {
    let metadata: serde_json::Map<String, serde_json::Value> = file
        .metadata()
        .iter()
        .map(|(key, value)| {
            let entry = json!({"type": type_name(value), "value": scalar_json(value)});
            (key.to_string(), entry)
        })
        .collect();
    let tensors: Vec<serde_json::Value> = file
        .tensors()
        .iter()
        .map(|t| {
            json!({
                "name": t.name(),
                "type": t.ty().name(),
                "shape": t.shape(),
                "offset": file.data_offset() + t.offset(),
                "relative_offset": t.offset(),
                "n_elements": t.n_elements(),
                "n_bytes": t.n_bytes(),
            })
        })
        .collect();
    let (parameters, bytes, by_type) = totals(file);
    let by_type: serde_json::Map<String, serde_json::Value> = by_type
        .iter()
        .map(|(ty, t)| {
            let entry = json!({
                "tensors": t.tensors,
                "parameters": t.parameters,
                "bytes": t.bytes,
                "share": share(t.bytes, bytes),
            });
            (ty.name().to_string(), entry)
        })
        .collect();
    json!({
        "file": path.display().to_string(),
        "file_size": file.file_size(),
        "version": file.version(),
        "alignment": file.alignment(),
        "data_offset": file.data_offset(),
        "architecture": file.metadata().get_str(keys::general::ARCHITECTURE).ok(),
        "metadata": metadata,
        "tensors": tensors,
        "totals": {
            "parameters": parameters,
            "bytes": bytes,
            "bits_per_weight": bits_per_weight(bytes, parameters),
            "by_type": by_type,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_summarized() {
        let vocab = Value::Array(Array::String(
            [
                "<|endoftext|>",
                "<|im_start|>",
                "a",
                "b",
                "c",
                "d",
                "e",
                "f",
                "g",
            ]
            .map(String::from)
            .to_vec(),
        ));
        assert_eq!(
            text_value(&vocab),
            "[9 strings: \"<|endoftext|>\", \"<|im_start|>\", \"a\", …]"
        );
        assert_eq!(text_value(&Value::Array(Array::I32(vec![1, 2]))), "[1, 2]");
        let template = Value::String(format!("{{% for m in messages %}}\n{}", "x".repeat(80)));
        let shown = text_value(&template);
        assert!(
            shown.starts_with("\"{% for m in messages %}\\nxxx"),
            "{shown}"
        );
        assert!(shown.ends_with("…\" (104 chars)"), "{shown}");
        let long = Value::Array(Array::U32((0..100).collect()));
        let j = scalar_json(&long);
        assert_eq!(j["len"], 100);
        assert_eq!(j["head"].as_array().unwrap().len(), HEAD);
    }
}
