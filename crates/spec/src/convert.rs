//! Turning [`Node`]s into typed values, with errors that name the attribute
//! path (`services.web.ports[0]`), the position, and what was expected.
//!
//! Every model type implements [`FromNode`]. Structs with plain fields use the
//! [`from_node!`] macro, which also rejects unknown keys (with a "did you
//! mean") and keeps `x-*` extensions where Compose allows them.

use std::collections::BTreeMap;

use indexmap::IndexMap;

use crate::error::{Raw, RawResult};
use crate::yaml::{Kind, Map, Node};

/// Conversion from the untyped tree. `path` is the attribute path used in
/// messages.
pub trait FromNode: Sized {
    fn from_node(n: &Node, path: &str) -> RawResult<Self>;
    /// The value when the key is missing; `None` makes the key required.
    fn absent() -> Option<Self> {
        None
    }
}

/// `x-*` fields kept verbatim.
pub type Extensions = crate::serialize::Extensions;

pub fn expected(n: &Node, path: &str, what: &str) -> Raw {
    Raw::new(n.pos, format!("{path} must be {what}, got {}", describe(n)))
}

fn describe(n: &Node) -> String {
    match &n.kind {
        Kind::Str(s) if s.len() <= 40 => format!("\"{s}\""),
        Kind::Int(i) => i.to_string(),
        Kind::Bool(b) => b.to_string(),
        _ => n.type_name().to_owned(),
    }
}

/// The mapping of a struct-like node, checked for unknown keys.
pub fn obj<'a>(n: &'a Node, path: &str, keys: &[&str], ext: bool) -> RawResult<&'a Map> {
    let m = n.as_map().ok_or_else(|| expected(n, path, "a mapping"))?;
    for (k, v) in m {
        if keys.contains(&k.as_str()) || (ext && k.starts_with("x-")) {
            continue;
        }
        return Err(unknown_key(v, path, k, keys));
    }
    Ok(m)
}

pub fn unknown_key(v: &Node, path: &str, key: &str, keys: &[&str]) -> Raw {
    let mut msg = format!("{path}: unknown attribute `{key}`");
    if let Some(best) = did_you_mean(key, keys) {
        msg.push_str(&format!(" (did you mean `{best}`?)"));
    }
    Raw::new(v.key, msg)
}

/// The closest known name within a small edit distance.
pub fn did_you_mean<'a>(key: &str, keys: &[&'a str]) -> Option<&'a str> {
    let limit = (key.len() / 3).clamp(1, 3);
    keys.iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Reads one field of a struct mapping.
pub fn field<T: FromNode>(m: &Map, parent: &Node, path: &str, key: &str) -> RawResult<T> {
    match m.get(key) {
        Some(n) => T::from_node(n, &join(path, key)),
        None => {
            T::absent().ok_or_else(|| Raw::new(parent.pos, format!("{path}: `{key}` is required")))
        }
    }
}

pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

pub fn extensions(m: &Map) -> Extensions {
    let mut e = Extensions::default();
    for (k, v) in m.iter().filter(|(k, _)| k.starts_with("x-")) {
        e.0.insert(k.clone(), v.to_json());
    }
    e
}

/// Implements [`FromNode`] for a struct whose fields are named like the YAML
/// keys (`field = "key"` when they differ). `ext` keeps `x-*` keys in the
/// struct's `extensions` field.
#[macro_export]
#[doc(hidden)]
macro_rules! from_node {
    ($ty:ident { $($f:ident $(= $k:literal)?),* $(,)? }) => {
        $crate::from_node!(@imp $ty false { $($f $(= $k)?),* });
    };
    ($ty:ident { $($f:ident $(= $k:literal)?),* $(,)? } ext) => {
        $crate::from_node!(@imp $ty true { $($f $(= $k)?),* });
    };
    (@key $f:ident) => { stringify!($f) };
    (@key $f:ident $k:literal) => { $k };
    (@ext true $out:ident $m:ident) => { $out.extensions = $crate::convert::extensions($m); };
    (@ext false $out:ident $m:ident) => {};
    (@imp $ty:ident $ext:tt { $($f:ident $(= $k:literal)?),* }) => {
        impl $crate::convert::FromNode for $ty {
            fn from_node(n: &$crate::yaml::Node, path: &str) -> $crate::error::RawResult<Self> {
                const KEYS: &[&str] = &[$($crate::from_node!(@key $f $($k)?)),*];
                let m = $crate::convert::obj(n, path, KEYS, $ext)?;
                #[allow(clippy::needless_update, unused_mut)]
                let mut out = $ty {
                    $($f: $crate::convert::field(m, n, path, $crate::from_node!(@key $f $($k)?))?,)*
                    ..Default::default()
                };
                $crate::from_node!(@ext $ext out m);
                Ok(out)
            }
            fn absent() -> Option<Self> {
                Some(Self::default())
            }
        }
    };
}

impl<T: FromNode> FromNode for Option<T> {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        if n.is_null() {
            Ok(None)
        } else {
            T::from_node(n, path).map(Some)
        }
    }
    fn absent() -> Option<Self> {
        Some(None)
    }
}

impl FromNode for String {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        // Compose's schema wants a real string here; the places that also
        // take numbers read a [`ScalarString`] instead.
        match &n.kind {
            Kind::Str(s) => Ok(s.clone()),
            _ => Err(expected(n, path, "a string")),
        }
    }
}

impl FromNode for bool {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        match &n.kind {
            Kind::Bool(b) => Ok(*b),
            // After interpolation a boolean may be a string; Compose casts
            // the YAML 1.1 spellings.
            Kind::Str(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "yes" | "y" | "on" => Ok(true),
                "false" | "no" | "n" | "off" => Ok(false),
                _ => Err(expected(n, path, "a boolean (true or false)")),
            },
            _ => Err(expected(n, path, "a boolean (true or false)")),
        }
    }
    fn absent() -> Option<Self> {
        Some(false)
    }
}

pub fn int_of(n: &Node, path: &str) -> RawResult<i64> {
    match &n.kind {
        Kind::Int(i) => Ok(*i),
        Kind::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Ok(*f as i64),
        Kind::Str(s) => s
            .trim()
            .parse()
            .map_err(|_| expected(n, path, "an integer")),
        _ => Err(expected(n, path, "an integer")),
    }
}

impl FromNode for i64 {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        int_of(n, path)
    }
}

impl FromNode for u64 {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        let i = int_of(n, path)?;
        u64::try_from(i).map_err(|_| expected(n, path, "a non-negative integer"))
    }
}

impl FromNode for u32 {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        let i = int_of(n, path)?;
        u32::try_from(i).map_err(|_| expected(n, path, "a non-negative integer"))
    }
}

impl FromNode for i32 {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        let i = int_of(n, path)?;
        i32::try_from(i).map_err(|_| expected(n, path, "a 32-bit integer"))
    }
}

impl FromNode for f64 {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        match &n.kind {
            Kind::Int(i) => Ok(*i as f64),
            Kind::Float(f) => Ok(*f),
            Kind::Str(s) => s.trim().parse().map_err(|_| expected(n, path, "a number")),
            _ => Err(expected(n, path, "a number")),
        }
    }
}

impl<T: FromNode> FromNode for Vec<T> {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        match &n.kind {
            Kind::Seq(v) => v
                .iter()
                .enumerate()
                .map(|(i, el)| T::from_node(el, &format!("{path}[{i}]")))
                .collect(),
            Kind::Null => Ok(Vec::new()),
            _ => Err(expected(n, path, "a list")),
        }
    }
    fn absent() -> Option<Self> {
        Some(Vec::new())
    }
}

impl<T: FromNode> FromNode for BTreeMap<String, T> {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        match &n.kind {
            Kind::Map(m) => m
                .iter()
                .map(|(k, v)| Ok((k.clone(), T::from_node(v, &join(path, k))?)))
                .collect(),
            Kind::Null => Ok(BTreeMap::new()),
            _ => Err(expected(n, path, "a mapping")),
        }
    }
    fn absent() -> Option<Self> {
        Some(BTreeMap::new())
    }
}

impl<T: FromNode> FromNode for IndexMap<String, T> {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        match &n.kind {
            Kind::Map(m) => m
                .iter()
                .map(|(k, v)| Ok((k.clone(), T::from_node(v, &join(path, k))?)))
                .collect(),
            Kind::Null => Ok(IndexMap::new()),
            _ => Err(expected(n, path, "a mapping")),
        }
    }
    fn absent() -> Option<Self> {
        Some(IndexMap::new())
    }
}

/// A scalar map value as text (numbers and booleans spelled out), the way
/// Compose reads `labels`, `environment`, `driver_opts`…
pub fn scalar_string(n: &Node, path: &str) -> RawResult<String> {
    n.scalar_text()
        .ok_or_else(|| expected(n, path, "a string, number or boolean"))
}

/// A string or a list of strings (`dns: 8.8.8.8` or `dns: [8.8.8.8]`).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
#[serde(transparent)]
pub struct StringList(pub Vec<String>);

impl FromNode for StringList {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        match &n.kind {
            Kind::Str(_) | Kind::Int(_) | Kind::Float(_) => {
                Ok(StringList(vec![scalar_string(n, path)?]))
            }
            _ => Vec::<ScalarString>::from_node(n, path)
                .map(|v| StringList(v.into_iter().map(|s| s.0).collect())),
        }
    }
    fn absent() -> Option<Self> {
        Some(StringList::default())
    }
}

/// A string that may be written as a number or boolean (`expose: [3000]`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScalarString(pub String);

impl FromNode for ScalarString {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        scalar_string(n, path).map(ScalarString)
    }
}

/// `KEY: value` map or `["KEY=value"]` list with every value required
/// (labels, sysctls, driver options, annotations).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
#[serde(transparent)]
pub struct Mapping(pub BTreeMap<String, String>);

impl FromNode for Mapping {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        let mut out = BTreeMap::new();
        match &n.kind {
            Kind::Map(m) => {
                for (k, v) in m {
                    let s = if v.is_null() {
                        String::new()
                    } else {
                        scalar_string(v, &join(path, k))?
                    };
                    out.insert(k.clone(), s);
                }
            }
            Kind::Seq(items) => {
                for (i, it) in items.iter().enumerate() {
                    let s = scalar_string(it, &format!("{path}[{i}]"))?;
                    match s.split_once('=') {
                        Some((k, v)) => out.insert(k.to_owned(), v.to_owned()),
                        None => out.insert(s, String::new()),
                    };
                }
            }
            Kind::Null => {}
            _ => return Err(expected(n, path, "a mapping or a list of KEY=VALUE")),
        }
        Ok(Mapping(out))
    }
    fn absent() -> Option<Self> {
        Some(Mapping::default())
    }
}

/// Like [`Mapping`] but a key may have no value (`environment: [DEBUG]`,
/// `build.args`): `None` means "take it from the environment".
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
#[serde(transparent)]
pub struct MappingWithEquals(pub BTreeMap<String, Option<String>>);

impl FromNode for MappingWithEquals {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        let mut out = BTreeMap::new();
        match &n.kind {
            Kind::Map(m) => {
                for (k, v) in m {
                    let s = if v.is_null() {
                        None
                    } else {
                        Some(scalar_string(v, &join(path, k))?)
                    };
                    out.insert(k.clone(), s);
                }
            }
            Kind::Seq(items) => {
                for (i, it) in items.iter().enumerate() {
                    let s = scalar_string(it, &format!("{path}[{i}]"))?;
                    match s.split_once('=') {
                        Some((k, v)) => out.insert(k.to_owned(), Some(v.to_owned())),
                        None => out.insert(s, None),
                    };
                }
            }
            Kind::Null => {}
            _ => return Err(expected(n, path, "a mapping or a list of KEY=VALUE")),
        }
        Ok(MappingWithEquals(out))
    }
    fn absent() -> Option<Self> {
        Some(MappingWithEquals::default())
    }
}

/// Parses an integer the way Go's `strconv.ParseInt(s, 0, 64)` does
/// (`0o755`, `0755`, `0x1f`), used for file modes.
pub fn parse_go_int(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = s.strip_prefix("0o").or_else(|| s.strip_prefix("0O")) {
        i64::from_str_radix(o, 8).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        i64::from_str_radix(&s[1..], 8).ok()
    } else {
        s.parse().ok()
    }
}
