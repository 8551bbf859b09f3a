//! The `tojson` filter as chat templates expect it: Python's `json.dumps(ensure_ascii=False)`
//! layout (`", "` and `": "` separators, optional indent), as transformers renders it.

use std::fmt::Write as _;

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Error, ErrorKind, Value};

/// `{{ value | tojson }}`, `tojson(indent=2)`, `tojson(2)`: Python-style JSON text.
pub(super) fn tojson(value: &Value, indent: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let indent = match indent {
        Some(v) => Some(v),
        None => kwargs.get::<Option<Value>>("indent")?,
    };
    // transformers accepts `separators` and `sort_keys`; only the defaults are supported here.
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let indent = match indent {
        None => None,
        Some(v) if v.is_none() || v.is_undefined() => None,
        Some(v) => Some(usize::try_from(v.clone()).map_err(|_| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("tojson: indent must be an integer, got {v}"),
            )
        })?),
    };
    let mut out = String::new();
    write_value(&mut out, value, indent, 0, sort_keys.unwrap_or(false))?;
    Ok(Value::from_safe_string(out))
}

fn write_value(
    out: &mut String,
    value: &Value,
    indent: Option<usize>,
    depth: usize,
    sort_keys: bool,
) -> Result<(), Error> {
    if out.len() > super::MAX_VALUE_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "{}tojson output past {} bytes",
                super::bounds::TOO_LARGE_MARKER,
                out.len()
            ),
        ));
    }
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => write_number(out, value),
        ValueKind::String | ValueKind::Bytes => write_string(out, &value.to_string()),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            write_container(out, '[', ']', items.len(), indent, depth, |out, i| {
                write_value(out, &items[i], indent, depth + 1, sort_keys)
            })?;
        }
        ValueKind::Map => {
            let mut keys: Vec<Value> = value.try_iter()?.collect();
            if sort_keys {
                keys.sort_by_key(|k| k.to_string());
            }
            write_container(out, '{', '}', keys.len(), indent, depth, |out, i| {
                write_string(out, &keys[i].to_string());
                out.push_str(": ");
                write_value(
                    out,
                    &value.get_item(&keys[i])?,
                    indent,
                    depth + 1,
                    sort_keys,
                )
            })?;
        }
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("tojson: cannot serialize a value of kind {}", value.kind()),
            ))
        }
    }
    Ok(())
}

fn write_container(
    out: &mut String,
    open: char,
    close: char,
    len: usize,
    indent: Option<usize>,
    depth: usize,
    mut item: impl FnMut(&mut String, usize) -> Result<(), Error>,
) -> Result<(), Error> {
    out.push(open);
    if len == 0 {
        out.push(close);
        return Ok(());
    }
    for i in 0..len {
        match indent {
            Some(n) => {
                if i > 0 {
                    out.push(',');
                }
                out.push('\n');
                out.extend(std::iter::repeat_n(' ', n * (depth + 1)));
            }
            None if i > 0 => out.push_str(", "),
            None => {}
        }
        item(out, i)?;
    }
    if let Some(n) = indent {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', n * depth));
    }
    out.push(close);
    Ok(())
}

fn write_number(out: &mut String, value: &Value) {
    if value.is_integer() {
        let _ = write!(out, "{value}");
        return;
    }
    // Python's float repr: shortest round-trip digits, a ".0" on whole numbers, exponent
    // form from 1e16 up (or below 1e-4).
    match f64::try_from(value.clone()) {
        Ok(f) if f.is_nan() => out.push_str("NaN"),
        Ok(f) if f.is_infinite() => out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" }),
        Ok(f) if f != 0.0 && (f.abs() >= 1e16 || f.abs() < 1e-4) => {
            let s = format!("{f:e}");
            match s.split_once('e') {
                Some((mantissa, exp)) => {
                    let (sign, digits) = exp.strip_prefix('-').map_or(("+", exp), |d| ("-", d));
                    let _ = write!(out, "{mantissa}e{sign}{digits:0>2}");
                }
                None => out.push_str(&s),
            }
        }
        Ok(f) if f.fract() == 0.0 => {
            let _ = write!(out, "{f:.1}");
        }
        Ok(f) => {
            let _ = write!(out, "{f}");
        }
        Err(_) => {
            let _ = write!(out, "{value}");
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use minijinja::Environment;

    fn render(src: &str, ctx: serde_json::Value) -> String {
        let mut env = Environment::new();
        env.add_filter("tojson", super::tojson);
        env.render_str(src, ctx).unwrap()
    }

    #[test]
    fn matches_python_json_dumps_layout() {
        let ctx = serde_json::json!({"s": "a\"b\n<é>"});
        let src = r#"{% set v = {"name": "f", "args": [1, 2.5, true, none], "s": s} %}"#;
        assert_eq!(
            render(&format!("{src}{{{{ v | tojson }}}}"), ctx.clone()),
            r#"{"name": "f", "args": [1, 2.5, true, null], "s": "a\"b\n<é>"}"#
        );
        assert_eq!(
            render(&format!("{src}{{{{ v.args | tojson(indent=2) }}}}"), ctx),
            "[\n  1,\n  2.5,\n  true,\n  null\n]"
        );
    }

    #[test]
    fn whole_floats_keep_their_point_and_empty_containers_stay_short() {
        let ctx = serde_json::json!({"f": 3.0, "big": 1e20, "small": 2.5e-7, "e": [], "m": {}});
        assert_eq!(
            render("{{ f | tojson }} {{ big | tojson }} {{ small | tojson }} {{ e | tojson }} {{ m | tojson(indent=4) }}", ctx),
            "3.0 1e+20 2.5e-07 [] {}"
        );
    }
}
