//! Memory bounds inside a render. The instruction budget and the output cap stop long and
//! loud templates, but a few instructions can still build huge values (`s ~ s` doubled 40
//! times, `'x' * 10**8`, a list joined with itself). So before compiling, every `~`, `+`
//! and `*` of the template is rewritten into a call of [`OP_FUNCTION`], which estimates the
//! result's size from its operands and refuses one over [`MAX_VALUE_BYTES`] before building
//! it; the filters and Python methods that can grow a string (`join`, `replace`, `indent`,
//! `format`, `string`, `center`, `ljust`, …) check their result's size the same way first.
//! Recursion is bounded by minijinja's depth limit, set lower here.

use std::sync::OnceLock;

use minijinja::machinery::{parse, WhitespaceConfig};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Rest, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, Value};

/// Largest value (string, list or map, measured as its text) a render may build.
pub const MAX_VALUE_BYTES: usize = super::MAX_OUTPUT_BYTES;
/// Deepest nesting of macro calls and includes.
pub(super) const MAX_RECURSION: usize = 100;
/// Marks errors raised by these bounds.
pub(super) const TOO_LARGE_MARKER: &str = "value too large: ";
/// The function the rewritten operators call: `__rocmforge_op(OP, LEFT, RIGHT)`.
const OP_FUNCTION: &str = "__rocmforge_op";
/// Bytes counted for every value, so counts of small values are bounded too.
const MIN_VALUE_BYTES: usize = 16;

/// `source` with every `a ~ b`, `a + b` and `a * b` replaced by a bounded call; lines stay
/// where they were, so errors keep their line numbers.
pub(super) fn guard_operators(source: &str, ws: WhitespaceConfig) -> Result<String, Error> {
    let ast = parse(source, "chat_template", SyntaxConfig, ws)?;
    let tree = serde_json::to_value(&ast).map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("inspecting the template: {e}"),
        )
    })?;
    let mut ops = Vec::new();
    collect_ops(&tree, &mut ops);
    ops.sort_by_key(|o| (o.start, std::cmp::Reverse(o.end)));
    let mut out = String::with_capacity(source.len() + ops.len() * 24);
    rewrite(source, 0, source.len(), &ops, &mut out);
    Ok(out)
}

/// A growing binary operation found in the template: its extent, operator and operands.
#[derive(Debug)]
struct Op {
    start: usize,
    end: usize,
    op: &'static str,
    left: (usize, usize),
    right: (usize, usize),
}

/// `(start, end)` byte offsets of a serialized `Spanned` node.
fn span(node: &serde_json::Value) -> Option<(usize, usize)> {
    let s = node.get("inner")?.get(1)?;
    let at = |k: &str| s.get(k)?.as_u64().and_then(|v| usize::try_from(v).ok());
    Some((at("start_offset")?, at("end_offset")?))
}

/// Every `BinOp` node with a growing operator in the serialized AST.
fn collect_ops(node: &serde_json::Value, out: &mut Vec<Op>) {
    match node {
        serde_json::Value::Object(map) => {
            if map.get("expr").and_then(|e| e.as_str()) == Some("BinOp") {
                if let Some(op) = bin_op(node) {
                    out.push(op);
                }
            }
            map.values().for_each(|v| collect_ops(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_ops(v, out)),
        _ => {}
    }
}

fn bin_op(node: &serde_json::Value) -> Option<Op> {
    let body = node.get("inner")?.get(0)?;
    let op = match body.get("op")?.as_str()? {
        "Concat" => "~",
        "Add" => "+",
        "Mul" => "*",
        _ => return None,
    };
    let (left, right) = (span(body.get("left")?)?, span(body.get("right")?)?);
    let (s, e) = span(node)?;
    Some(Op {
        start: s.min(left.0),
        end: e.max(right.1),
        op,
        left,
        right,
    })
}

/// Writes `source[from..to]` to `out` with the outermost `ops` inside it rewritten.
fn rewrite(source: &str, from: usize, to: usize, ops: &[Op], out: &mut String) {
    let mut at = from;
    for op in ops {
        if op.start < at || op.end > to || op.start < from {
            continue; // before the cursor (nested in one already written) or outside
        }
        out.push_str(&source[at..op.start]);
        out.push_str(&format!("{OP_FUNCTION}('{}', (", op.op));
        rewrite(source, op.left.0, op.left.1, ops, out);
        out.push_str("), (");
        rewrite(source, op.right.0, op.right.1, ops, out);
        out.push_str("))");
        at = op.end;
    }
    out.push_str(&source[at..to]);
}

/// Registers [`OP_FUNCTION`], the guarded filters and the guarded Python methods.
pub(super) fn install(env: &mut Environment<'static>) {
    env.set_recursion_limit(MAX_RECURSION);
    env.add_function(OP_FUNCTION, bounded_op);
    for (name, builtin, size) in GUARDED_FILTERS {
        let builtin = builtin();
        env.add_filter(*name, move |state: &State<'_, '_>, args: Rest<Value>| {
            check(size(&args))?;
            builtin.call(state, &args)
        });
    }
    env.set_unknown_method_callback(|state, value, method, args| {
        check(method_size(value, method, args))?;
        minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
    });
}

/// `left OP right`, refused when its result would exceed the bound.
fn bounded_op(op: &str, left: Value, right: Value) -> Result<Value, Error> {
    let size = match op {
        "*" => {
            let n = [&left, &right]
                .iter()
                .find(|v| v.kind() == ValueKind::Number)
                .and_then(|v| usize::try_from((*v).clone()).ok())
                .unwrap_or(1);
            let other = if left.kind() == ValueKind::Number {
                &right
            } else {
                &left
            };
            estimate(other).saturating_mul(n)
        }
        _ => estimate(&left).saturating_add(estimate(&right)),
    };
    check(size)?;
    static EXPRS: OnceLock<Environment<'static>> = OnceLock::new();
    let env = EXPRS.get_or_init(Environment::new);
    let source = match op {
        "~" => "a ~ b",
        "+" => "a + b",
        _ => "a * b",
    };
    env.compile_expression(source)?
        .eval(minijinja::context! { a => left, b => right })
}

fn check(size: usize) -> Result<(), Error> {
    if size > MAX_VALUE_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("{TOO_LARGE_MARKER}about {size} bytes"),
        ));
    }
    Ok(())
}

/// Bytes a value takes as text (at least [`MIN_VALUE_BYTES`] per value), counted only up
/// to just past the bound.
fn estimate(v: &Value) -> usize {
    let mut total = 0usize;
    add_estimate(v, &mut total);
    total
}

fn add_estimate(v: &Value, total: &mut usize) {
    if *total > MAX_VALUE_BYTES {
        return;
    }
    match v.kind() {
        ValueKind::String => *total = total.saturating_add(v.as_str().map_or(0, str::len)),
        ValueKind::Seq | ValueKind::Iterable => {
            if let Ok(iter) = v.try_iter() {
                for item in iter {
                    add_estimate(&item, total);
                    if *total > MAX_VALUE_BYTES {
                        return;
                    }
                }
            }
        }
        ValueKind::Map => {
            if let Ok(iter) = v.try_iter() {
                for key in iter {
                    add_estimate(&key, total);
                    if let Ok(item) = v.get_item(&key) {
                        add_estimate(&item, total);
                    }
                    if *total > MAX_VALUE_BYTES {
                        return;
                    }
                }
            }
        }
        _ => {}
    }
    *total = total.saturating_add(MIN_VALUE_BYTES);
}

type Builtin = fn() -> Value;
type SizeOf = fn(&[Value]) -> usize;

/// Built-in filters that can grow a string, with an upper bound of their result's size.
const GUARDED_FILTERS: &[(&str, Builtin, SizeOf)] = &[
    (
        "join",
        || Value::from_function(minijinja::filters::join),
        |a| {
            let joiner = a.get(1).map_or(0, estimate);
            let n = a.first().and_then(|v| v.len()).unwrap_or(1);
            estimate_at(a, 0).saturating_add(joiner.saturating_mul(n))
        },
    ),
    (
        "replace",
        || Value::from_function(minijinja::filters::replace),
        |a| replace_size(a.first(), a.get(1), a.get(2)),
    ),
    (
        "indent",
        || Value::from_function(minijinja::filters::indent),
        |a| {
            let text = a.first().and_then(Value::as_str).unwrap_or("");
            let width = a
                .get(1)
                .and_then(|w| usize::try_from(w.clone()).ok())
                .unwrap_or(4);
            let lines = text.lines().count() + 1;
            text.len().saturating_add(width.saturating_mul(lines))
        },
    ),
    (
        "format",
        || Value::from_function(minijinja::filters::format),
        |a| {
            a.iter()
                .map(estimate)
                .fold(0, usize::saturating_add)
                .saturating_mul(2)
        },
    ),
    (
        "string",
        || Value::from_function(minijinja::filters::string),
        |a| estimate_at(a, 0),
    ),
];

fn estimate_at(args: &[Value], i: usize) -> usize {
    args.get(i).map_or(0, estimate)
}

/// Upper bound of `text.replace(from, to)`.
fn replace_size(text: Option<&Value>, from: Option<&Value>, to: Option<&Value>) -> usize {
    let text = text.and_then(Value::as_str).unwrap_or("");
    let from = from.and_then(Value::as_str).unwrap_or("");
    let to = to.map_or(0, estimate);
    let hits = if from.is_empty() {
        text.chars().count() + 1
    } else {
        text.matches(from).count()
    };
    text.len().saturating_add(hits.saturating_mul(to))
}

/// Upper bound of the result of Python string method `method` on `value`.
fn method_size(value: &Value, method: &str, args: &[Value]) -> usize {
    let len = estimate(value);
    let width = || {
        args.first()
            .and_then(|w| usize::try_from(w.clone()).ok())
            .unwrap_or(0)
    };
    match (value.kind(), method) {
        (ValueKind::String, "join") => {
            let n = args.first().and_then(Value::len).unwrap_or(1);
            estimate_at(args, 0).saturating_add(len.saturating_mul(n))
        }
        (ValueKind::String, "replace") => replace_size(Some(value), args.first(), args.get(1)),
        (ValueKind::String, "center" | "ljust" | "rjust" | "zfill") => len.max(width()),
        (ValueKind::String, "expandtabs") => len.saturating_mul(width().max(8)),
        (ValueKind::String, "format") => args
            .iter()
            .map(estimate)
            .fold(len, usize::saturating_add)
            .saturating_mul(2),
        _ => len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growing_operators_become_bounded_calls_on_the_same_lines() {
        let src = "{{ a ~ b }}\n{% set x = (a + 'q') * 3 %}{{ 1 - 2 }}{{ [1] + [a ~ b ~ c] }}";
        let out = guard_operators(src, WhitespaceConfig::default()).unwrap();
        assert_eq!(
            out,
            "{{ __rocmforge_op('~', (a), (b)) }}\n\
             {% set x = __rocmforge_op('*', (__rocmforge_op('+', (a), ('q'))), (3)) %}\
             {{ 1 - 2 }}\
             {{ __rocmforge_op('+', ([1]), ([__rocmforge_op('~', (__rocmforge_op('~', (a), (b))), (c))])) }}"
        );
    }
}
