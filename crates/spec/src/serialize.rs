//! Printing a [`Project`] the way `docker compose config` does: YAML (go-yaml
//! v3 style, two-space indent) or JSON (Go's `encoding/json`: struct fields in
//! declaration order, map keys sorted, `x-*` only at the top level).

use std::cell::Cell;
use std::fmt::Write as _;

use indexmap::IndexMap;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::model::Project;

thread_local! {
    /// Set while serialising for JSON output or hashing: Go's JSON tags
    /// differ from its YAML tags (extensions are `json:"-"`, `command` and
    /// `entrypoint` are not `omitempty`).
    static JSON_MODE: Cell<bool> = const { Cell::new(false) };
}

pub(crate) fn json_mode() -> bool {
    JSON_MODE.with(Cell::get)
}

/// Serialises `v` to a JSON tree with Go's JSON field rules.
pub(crate) fn to_json_value<T: Serialize>(v: &T) -> Value {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            JSON_MODE.with(|m| m.set(self.0));
        }
    }
    let _reset = Reset(JSON_MODE.with(|m| m.replace(true)));
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// `x-*` fields, kept verbatim.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extensions(pub IndexMap<String, Value>);

impl Serialize for Extensions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if json_mode() {
            s.collect_map(std::iter::empty::<(&str, &Value)>())
        } else {
            // Go keeps extensions in maps, so they print with sorted keys.
            let mut keys: Vec<&String> = self.0.keys().collect();
            keys.sort();
            s.collect_map(keys.into_iter().map(|k| (k, sorted_value(&self.0[k]))))
        }
    }
}

/// A copy of `v` with every object's keys sorted.
pub(crate) fn sorted_value(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut pairs: Vec<(&String, &Value)> = o.iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted_value(v)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted_value).collect()),
        other => other.clone(),
    }
}

pub(crate) fn skip_null_cmd(v: &Option<Vec<String>>) -> bool {
    v.is_none() && !json_mode()
}

/// Serialises a map with its keys sorted (Go prints maps sorted).
pub(crate) fn sorted<V: Serialize, S: Serializer>(
    m: &IndexMap<String, V>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    s.collect_map(keys.into_iter().map(|k| (k, &m[k])))
}

impl crate::convert::Mapping {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
impl crate::convert::MappingWithEquals {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
impl crate::convert::StringList {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Doubles every `$` in string values, as `docker compose config` does so
/// that its output can be loaded again with the same values.
fn escape_dollars(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('$') => *s = s.replace('$', "$$"),
        Value::Array(a) => a.iter_mut().for_each(escape_dollars),
        Value::Object(o) => o.values_mut().for_each(escape_dollars),
        _ => {}
    }
}

/// Whole floats as integers (`1`, not `1.0`), as Go prints them.
fn go_numbers(v: &mut Value) {
    match v {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15) {
                *v = Value::from(f as i64);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(go_numbers),
        Value::Object(o) => o.values_mut().for_each(go_numbers),
        _ => {}
    }
}

/// The project as `docker compose config --format json` prints it.
pub fn to_json(p: &Project) -> String {
    to_json_with(p, true)
}

/// [`to_json`], with `$` escaped as `$$` or left as is (for a project
/// loaded without interpolation).
pub fn to_json_with(p: &Project, escape: bool) -> String {
    let mut top = serde_json::Map::new();
    let mut v = to_json_value(p);
    go_numbers(&mut v);
    if escape {
        escape_dollars(&mut v);
    }
    let mut pairs: Vec<(String, Value)> = match v {
        Value::Object(o) => o.into_iter().collect(),
        _ => Vec::new(),
    };
    // Compose's JSON writer leaves top-level `models` out (its YAML has it).
    pairs.retain(|(k, _)| k != "models");
    pairs.extend(p.extensions.0.iter().map(|(k, v)| {
        let mut v = sorted_value(v);
        if escape {
            escape_dollars(&mut v);
        }
        (k.clone(), v)
    }));
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, v) in pairs {
        top.insert(k, v);
    }
    let out = serde_json::to_string_pretty(&Value::Object(top)).unwrap_or_default();
    // Go's encoder escapes these for HTML safety; they can only occur inside
    // strings, so replacing them in the text is exact.
    let out = out
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    // Like Compose, no newline after the closing brace.
    out
}

/// The project as `docker compose config` prints it (YAML).
pub fn to_yaml(p: &Project) -> String {
    to_yaml_with(p, true)
}

/// [`to_yaml`], with `$` escaped as `$$` or left as is.
pub fn to_yaml_with(p: &Project, escape: bool) -> String {
    let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
    if escape {
        escape_dollars(&mut v);
    }
    yaml_string(&v)
}

/// Skips a struct that Go's YAML encoder would omit as empty but its JSON
/// encoder always prints (`ipam`, `deploy.placement`, …).
pub(crate) fn skip_empty_struct<T: Default + PartialEq>(v: &T) -> bool {
    !json_mode() && *v == T::default()
}

/// Any JSON tree as YAML text.
pub fn yaml_string(v: &Value) -> String {
    let mut out = String::new();
    emit(&mut out, v, 0, Ctx::Top);
    // Always: a `|+` block may end in empty lines that are part of its value.
    out.push('\n');
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Top,
    MapValue,
    SeqItem,
}

fn emit(out: &mut String, v: &Value, indent: usize, ctx: Ctx) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            let mut first = true;
            for (k, val) in m {
                // The first key of a sequence item goes on the "- " line.
                if !(first && ctx == Ctx::SeqItem) {
                    if ctx != Ctx::Top || !first {
                        out.push('\n');
                    }
                    pad(out, indent);
                }
                first = false;
                // A plain `<<` key would read back as a merge key.
                let key = if k == "<<" {
                    "\"<<\"".to_owned()
                } else {
                    scalar_str(k)
                };
                if key.len() > 1000 {
                    // YAML caps implicit keys at 1024 characters: use the
                    // explicit `? key` / `: value` form.
                    out.push_str("? ");
                    out.push_str(&key);
                    out.push('\n');
                    pad(out, indent);
                } else {
                    out.push_str(&key);
                }
                out.push(':');
                emit_child(out, val, indent);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, item) in a.iter().enumerate() {
                if ctx != Ctx::Top || i > 0 {
                    if !(i == 0 && ctx == Ctx::SeqItem) {
                        out.push('\n');
                        pad(out, indent);
                    }
                } else {
                    pad(out, indent);
                }
                out.push_str("- ");
                emit(out, item, indent + 2, Ctx::SeqItem);
            }
        }
        _ => {
            if ctx == Ctx::Top {
                pad(out, indent);
            }
            scalar(out, v, indent);
        }
    }
}

fn emit_child(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => emit(out, v, indent + 2, Ctx::MapValue),
        Value::Array(a) if !a.is_empty() => emit(out, v, indent + 2, Ctx::MapValue),
        _ => {
            out.push(' ');
            scalar(out, v, indent + 2);
        }
    }
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn scalar(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                out.push_str(&crate::yaml::format_float(f));
            } else {
                let _ = write!(out, "{n}");
            }
        }
        Value::String(s) => {
            // A literal block needs its first content line unindented (YAML
            // takes the indentation from it) and some content at all.
            let first = s.trim_start_matches('\n');
            if s.contains('\n')
                && !first.is_empty()
                && !first.starts_with([' ', '\t'])
                && s.chars().all(|c| c == '\n' || !needs_escape(c))
            {
                literal_block(out, s, indent);
            } else {
                out.push_str(&scalar_str(s));
            }
        }
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
    }
}

fn literal_block(out: &mut String, s: &str, indent: usize) {
    let trailing = s.len() - s.trim_end_matches('\n').len();
    out.push_str(match trailing {
        0 => "|-",
        1 => "|",
        _ => "|+",
    });
    for line in s.trim_end_matches('\n').split('\n') {
        out.push('\n');
        if !line.is_empty() {
            pad(out, indent);
            out.push_str(line);
        }
    }
    // The last line's break comes from whatever follows the block; with
    // `|+` the other trailing breaks are kept as empty lines.
    for _ in 1..trailing {
        out.push('\n');
    }
}

/// A plain, single-quoted or double-quoted scalar, chosen like go-yaml v3.
fn scalar_str(s: &str) -> String {
    if s.is_empty() {
        return "\"\"".into();
    }
    if s.chars().any(|c| c == '\t' || c == '\n' || needs_escape(c)) {
        return double_quoted(s);
    }
    if resolves_to_non_string(s) {
        return format!("\"{s}\"");
    }
    if needs_quotes(s) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    s.to_owned()
}

/// Characters YAML does not allow raw in a document (controls, the BOM,
/// non-characters) or that it reads as line breaks.
fn needs_escape(c: char) -> bool {
    matches!(c as u32, 0..=0x08 | 0x0b..=0x1f | 0x7f..=0x9f | 0x2028 | 0x2029 | 0xfeff | 0xfffe | 0xffff)
        || c == '\r'
}

/// A double-quoted scalar with YAML escapes.
fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// YAML 1.1 sexagesimal numbers (`1:20`), which go-yaml quotes.
fn is_base60(s: &str) -> bool {
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let mut parts = int.split(':');
    let head = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    !rest.is_empty()
        && head.starts_with(|c: char| c.is_ascii_digit())
        && head.chars().all(|c| c.is_ascii_digit() || c == '_')
        && rest.iter().all(|p| {
            (1..=2).contains(&p.len())
                && p.chars().all(|c| c.is_ascii_digit())
                && (p.len() == 1 || p.as_bytes()[0] <= b'5')
        })
        && frac.chars().all(|c| c.is_ascii_digit() || c == '_')
}

/// YAML timestamps (`2001-01-01`, `2001-12-14t21:59:43.10-05:00`).
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |from: usize, n: usize| {
        b.len() >= from + n && b[from..from + n].iter().all(u8::is_ascii_digit)
    };
    if !(digits(0, 4) && b.get(4) == Some(&b'-')) {
        return false;
    }
    let mut i = 5;
    for part in 0..2 {
        let n = if digits(i, 2) {
            2
        } else if digits(i, 1) {
            1
        } else {
            return false;
        };
        i += n;
        if part == 0 {
            if b.get(i) != Some(&b'-') {
                return false;
            }
            i += 1;
        }
    }
    let sep = match b.get(i) {
        None => return true,
        Some(&c @ (b'T' | b't' | b' ')) => c,
        _ => return false,
    };
    // 15:4:5[.999999999], then a zone (`Z`, `-05:00`) after T, none after a space.
    i += 1;
    for part in 0..3 {
        let n = if digits(i, 2) {
            2
        } else if digits(i, 1) {
            1
        } else {
            return false;
        };
        i += n;
        if part < 2 {
            if b.get(i) != Some(&b':') {
                return false;
            }
            i += 1;
        }
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    let zone = &s[i..];
    if sep == b' ' {
        return zone.is_empty();
    }
    zone == "Z"
        || (zone.len() == 6
            && matches!(zone.as_bytes()[0], b'+' | b'-')
            && zone.as_bytes()[3] == b':'
            && digits(i + 1, 2)
            && digits(i + 4, 2))
}

fn resolves_to_non_string(s: &str) -> bool {
    if is_base60(s) || is_timestamp(s) {
        return true;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "y"
            | "n"
            | "null"
            | "~"
            | ".inf"
            | "-.inf"
            | "+.inf"
            | ".nan"
    ) {
        return true;
    }
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    if t.is_empty() {
        return false;
    }
    let t = t.replace('_', "");
    t.parse::<f64>().is_ok()
        && t.chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '.')
        || t.starts_with("0x") && i64::from_str_radix(&t[2..], 16).is_ok()
        || t.starts_with("0o") && i64::from_str_radix(&t[2..], 8).is_ok()
        || t.starts_with("0b") && i64::from_str_radix(&t[2..], 2).is_ok()
}

fn needs_quotes(s: &str) -> bool {
    let first = s.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        // `-` and `?`, `:` are fine when followed by a non-space.
        let second = s.chars().nth(1);
        let ok = matches!(first, '-' | '?' | ':') && second.is_some_and(|c| c != ' ');
        if !ok {
            return true;
        }
    }
    s.starts_with(' ')
        || s.ends_with(' ')
        || s.ends_with(':')
        || s.contains(": ")
        || s.contains(" #")
        || s == "-"
        || s.starts_with("---")
        || s.starts_with("...")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_layout_and_quoting() {
        let v: Value = serde_json::from_str(
            r#"{"a":{"b":[{"c":1,"d":"x"},"y"],"e":{},"f":"5054","g":"a: b","h":"line1\nline2\n","i":null,"j":0.5}}"#,
        )
        .unwrap();
        let y = yaml_string(&v);
        assert_eq!(
            y,
            "a:\n  b:\n    - c: 1\n      d: x\n    - \"y\"\n  e: {}\n  f: \"5054\"\n  g: 'a: b'\n  h: |\n    line1\n    line2\n  i: null\n  j: 0.5\n"
        );
    }

    #[test]
    fn odd_characters_are_escaped_and_read_back() {
        let odd = "a\u{feff}b\u{85}c\td\u{1}\"\\";
        assert_eq!(scalar_str(odd), "\"a\\uFEFFb\\u0085c\\td\\u0001\\\"\\\\\"");
        let doc = format!("k: {}", scalar_str(odd));
        let back = crate::yaml::parse(&doc, 0).unwrap();
        assert_eq!(back.get("k").and_then(|n| n.as_str()), Some(odd));
    }
}

#[cfg(test)]
mod key_tests {
    #[test]
    fn literal_blocks_keep_trailing_newlines() {
        for text in [
            "a\nb",
            "a\nb\n",
            "a\n\nb\n\n\n",
            "T\n\n\n\nx\n\nA\n\n",
            "\n",
            "\n\n",
            " x\ny\n",
            "\n  x\n",
            "x\n  y\n",
            "a\tb\nc",
        ] {
            for v in [
                serde_json::json!({"k": text}),
                serde_json::json!({"k": text, "next": 1}),
                serde_json::json!({"l": [text, text]}),
            ] {
                let y = super::yaml_string(&v);
                let back = crate::yaml::parse(&y, 0).unwrap();
                assert_eq!(back.to_json(), v, "{y:?}");
            }
        }
    }

    #[test]
    fn a_merge_key_lookalike_reads_back_as_a_key() {
        let v = serde_json::json!({"env": {"<<": "", "A": "<<"}});
        let y = super::yaml_string(&v);
        assert_eq!(crate::yaml::parse(&y, 0).unwrap().to_json(), v, "{y}");
    }

    #[test]
    fn very_long_keys_use_the_explicit_form() {
        let long = "k".repeat(2000);
        for v in [
            serde_json::json!({ long.clone(): "v", "next": {"a": 1} }),
            serde_json::json!({"m": { long.clone(): {"x": [1, 2]} }}),
            serde_json::json!({"l": [{ long.clone(): 1, "b": 2 }]}),
        ] {
            let y = super::yaml_string(&v);
            let back = crate::yaml::parse(&y, 0).unwrap_or_else(|e| panic!("{e}\n{y}"));
            assert_eq!(back.to_json(), v);
        }
    }

    #[test]
    fn keys_with_line_breaks_are_quoted() {
        let v: serde_json::Value = serde_json::json!({"a\nb": "x\ny", "c\rd": 1});
        let y = super::yaml_string(&v);
        let back = crate::yaml::parse(&y, 0).unwrap();
        assert_eq!(back.to_json(), v, "{y}");
    }
}
