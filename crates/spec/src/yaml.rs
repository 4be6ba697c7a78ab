//! The untyped tree every later stage works on: YAML parsed by serde-saphyr
//! with each node's line and column (and its `!reset`/`!override` tag) kept,
//! so interpolation, merging and validation can point at the source.
//!
//! serde-saphyr resolves anchors, aliases and `<<` merge keys itself and
//! rejects duplicate keys. It is configured like go-yaml v3 (what Compose
//! uses): `yes`/`on` and `0755` stay strings.

use std::fmt;

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Spanned, Tagged};

use crate::error::Pos;

/// The Compose tags that change how a node is merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    /// `!reset`: remove the value inherited from earlier files.
    Reset,
    /// `!override`: replace the inherited value instead of merging.
    Override,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Map),
}

pub type Map = IndexMap<String, Node>;

/// One YAML node. `pos` is where the value starts; `key` is where its key
/// starts when the node is a mapping value (else equal to `pos`).
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub pos: Pos,
    pub key: Pos,
    pub tag: Option<Tag>,
}

impl Node {
    pub fn new(kind: Kind, pos: Pos) -> Self {
        Node {
            kind,
            pos,
            key: pos,
            tag: None,
        }
    }
    pub fn null(pos: Pos) -> Self {
        Node::new(Kind::Null, pos)
    }
    pub fn str(s: impl Into<String>, pos: Pos) -> Self {
        Node::new(Kind::Str(s.into()), pos)
    }
    pub fn map(m: Map, pos: Pos) -> Self {
        Node::new(Kind::Map(m), pos)
    }
    pub fn seq(v: Vec<Node>, pos: Pos) -> Self {
        Node::new(Kind::Seq(v), pos)
    }
    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }
    pub fn as_map(&self) -> Option<&Map> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match &mut self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_seq(&self) -> Option<&Vec<Node>> {
        match &self.kind {
            Kind::Seq(v) => Some(v),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }
    /// A map value by key.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map().and_then(|m| m.get(key))
    }
    /// The scalar as text the way go-yaml would give it to a string field
    /// (numbers and booleans in their plain spelling). `None` for null,
    /// sequences and mappings.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            Kind::Str(s) => Some(s.clone()),
            Kind::Bool(b) => Some(b.to_string()),
            Kind::Int(i) => Some(i.to_string()),
            Kind::Float(f) => Some(format_float(*f)),
            _ => None,
        }
    }
    /// A short word for messages: "a string", "a mapping", …
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a sequence",
            Kind::Map(_) => "a mapping",
        }
    }
    /// Sets the file index on this node and everything below it.
    pub fn set_file(&mut self, file: u32) {
        self.pos.file = file;
        self.key.file = file;
        match &mut self.kind {
            Kind::Seq(v) => v.iter_mut().for_each(|n| n.set_file(file)),
            Kind::Map(m) => m.values_mut().for_each(|n| n.set_file(file)),
            _ => {}
        }
    }
    /// Converts to JSON (for `x-*` extensions, which are kept verbatim).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Int(i) => Value::from(*i),
            Kind::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Kind::Str(s) => Value::String(s.clone()),
            Kind::Seq(v) => Value::Array(v.iter().map(Node::to_json).collect()),
            Kind::Map(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }
}

/// Formats a float the way Go's `strconv.FormatFloat(f, 'g', -1, 64)` does
/// for the values that occur in Compose files (`0.5`, `1`, `1e+06`).
pub fn format_float(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

fn pos_of(l: &serde_saphyr::Location) -> Pos {
    Pos {
        file: 0,
        line: l.line() as u32,
        col: l.column() as u32,
    }
}

/// Parses one YAML document. An empty document gives a null node; more
/// than one document is an error (see [`parse_documents`]).
pub fn parse(text: &str, file: u32) -> Result<Node, String> {
    let mut docs = parse_documents(text, file)?;
    match docs.len() {
        0 => Ok(Node::null(Pos {
            file,
            line: 1,
            col: 1,
        })),
        1 => Ok(docs.remove(0)),
        _ => Err(format!(
            "{}:{}: expected a single YAML document",
            docs[1].pos.line, docs[1].pos.col
        )),
    }
}

/// Parses every document of a YAML stream (`---` separated), skipping
/// empty ones. Errors start with `LINE:COL: `.
pub fn parse_documents(text: &str, file: u32) -> Result<Vec<Node>, String> {
    // Compose files legitimately reuse one anchor (`<<: *defaults`) in
    // hundreds of services, so the alias/anchor ratio heuristic is off; the
    // replay limits (1M events, depth 64) still stop "billion laughs".
    let mut budget = serde_saphyr::Budget::default();
    budget.enforce_alias_anchor_ratio = false;
    let opts = serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        with_snippet: false,
        budget: Some(budget),
    };
    let docs: Vec<Option<Spanned<Tagged<RawNode>>>> =
        serde_saphyr::from_str_multiple_with_options(text, opts).map_err(|e| {
            // "LINE:COL: message", so the caller can prefix the file name.
            let msg = tidy(&e.to_string());
            if starts_with_position(&msg) {
                return msg;
            }
            match e.location() {
                Some(l) if l.line() > 0 => {
                    let prefix = format!("line {} column {}: ", l.line(), l.column());
                    let rest = msg.strip_prefix(&prefix).unwrap_or(&msg);
                    format!("{}:{}: {rest}", l.line(), l.column())
                }
                _ => msg,
            }
        })?;
    let mut out = Vec::new();
    for d in docs.into_iter().flatten() {
        let mut node = into_node(d)?;
        if node.is_null() {
            continue;
        }
        node.set_file(file);
        out.push(node);
    }
    Ok(out)
}

/// Drops serde-saphyr's advice meant for programmers and the position it
/// repeats at the end (the caller prints it first).
fn tidy(msg: &str) -> String {
    let mut m = msg.strip_prefix("error: ").unwrap_or(msg).to_owned();
    if let Some(i) = m.find(", set DuplicateKeyPolicy") {
        let rest = m[i..]
            .find(" at line ")
            .map(|j| m[i + j..].to_owned())
            .unwrap_or_default();
        m = format!("{}{rest}", &m[..i]);
    }
    if let Some(i) = m.rfind(" at line ")
        && m[i + 9..]
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == ' ' || c.is_alphabetic())
    {
        m.truncate(i);
    }
    m
}

fn starts_with_position(m: &str) -> bool {
    let mut parts = m.splitn(3, ':');
    let num =
        |s: Option<&str>| s.is_some_and(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()));
    num(parts.next()) && num(parts.next())
}

fn into_node(s: Spanned<Tagged<RawNode>>) -> Result<Node, String> {
    let pos = pos_of(&s.referenced);
    let Tagged(raw, tag) = s.value;
    let tag = match tag.as_deref() {
        None => None,
        Some("!reset") => Some(Tag::Reset),
        Some("!override") => Some(Tag::Override),
        // Core-schema tags (`!!str` …) are resolved by the parser already.
        Some(t) if t.starts_with("!!") || t.starts_with("tag:yaml.org,2002:") => None,
        Some(t) => {
            return Err(format!(
                "{}:{}: unsupported tag `{t}` (Compose knows `!reset` and `!override`)",
                pos.line, pos.col
            ));
        }
    };
    let mut node = Node::new(raw.0, pos);
    node.tag = tag;
    Ok(node)
}

/// serde's view of a node: the value only. Positions and tags come from the
/// `Spanned<Tagged<…>>` wrapper around it.
struct RawNode(Kind);

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor).map(RawNode)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_none<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        d.deserialize_any(RawVisitor)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Kind, E> {
        Ok(Kind::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Kind, E> {
        Ok(Kind::Int(v))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Kind, E> {
        Ok(i64::try_from(v).map_or(Kind::Float(v as f64), Kind::Int))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Kind, E> {
        Ok(i64::try_from(v).map_or(Kind::Float(v as f64), Kind::Int))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Kind, E> {
        Ok(i64::try_from(v).map_or(Kind::Float(v as f64), Kind::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Kind, E> {
        Ok(Kind::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Kind, E> {
        Ok(Kind::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Kind, E> {
        Ok(Kind::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Kind, E> {
        Ok(Kind::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Kind, A::Error> {
        let mut out = Vec::new();
        while let Some(el) = a.next_element::<Spanned<Tagged<RawNode>>>()? {
            out.push(into_node(el).map_err(de::Error::custom)?);
        }
        Ok(Kind::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Kind, A::Error> {
        let mut out = Map::new();
        while let Some(k) = a.next_key::<Spanned<RawNode>>()? {
            let kpos = pos_of(&k.referenced);
            let key = match k.value.0 {
                Kind::Str(s) => s,
                Kind::Null => {
                    return Err(de::Error::custom(format!(
                        "{}:{}: a mapping key must not be null (quote it: \"null\")",
                        kpos.line, kpos.col
                    )));
                }
                other => Node::new(other, kpos).scalar_text().ok_or_else(|| {
                    de::Error::custom(format!(
                        "line {} column {}: a mapping key must be a scalar",
                        kpos.line, kpos.col
                    ))
                })?,
            };
            let v: Spanned<Tagged<RawNode>> = a.next_value()?;
            let mut node = into_node(v).map_err(de::Error::custom)?;
            node.key = kpos;
            out.insert(key, node);
        }
        Ok(Kind::Map(out))
    }
}

#[cfg(test)]
#[path = "yaml_tests.rs"]
mod tests;
