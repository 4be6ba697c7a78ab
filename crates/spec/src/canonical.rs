//! Rewrites short syntaxes into their long forms *in the tree*, per file and
//! before merging, so that merging and `extends` see one shape (compose-go
//! does the same in its `transform` package). Nodes of an unexpected type
//! are left alone: the typed conversion reports them with their position.

use crate::model::{mounts, ports};
use crate::yaml::{Kind, Map, Node};

/// Converts a serialised value back to a node at `pos` (used for long forms
/// built from short syntax).
pub fn node_from_json(v: &serde_json::Value, pos: crate::error::Pos) -> Node {
    use serde_json::Value;
    let kind = match v {
        Value::Null => Kind::Null,
        Value::Bool(b) => Kind::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Kind::Int(i),
            None => Kind::Float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Kind::Str(s.clone()),
        Value::Array(a) => Kind::Seq(a.iter().map(|x| node_from_json(x, pos)).collect()),
        Value::Object(o) => Kind::Map(
            o.iter()
                .map(|(k, x)| (k.clone(), node_from_json(x, pos)))
                .collect(),
        ),
    };
    Node::new(kind, pos)
}

/// Canonicalises a whole file (`services`, `networks`, `volumes`, …).
pub fn canonical_file(root: &mut Node) {
    let Some(m) = root.as_map_mut() else { return };
    if let Some(services) = m.get_mut("services").and_then(Node::as_map_mut) {
        for svc in services.values_mut() {
            canonical_service(svc);
        }
    }
    for section in ["networks", "volumes", "secrets", "configs"] {
        if let Some(sec) = m.get_mut(section).and_then(Node::as_map_mut) {
            for item in sec.values_mut() {
                if let Some(im) = item.as_map_mut() {
                    to_map(im, "labels", false);
                }
            }
        }
    }
}

/// Canonicalises one service node.
pub fn canonical_service(svc: &mut Node) {
    let Some(m) = svc.as_map_mut() else { return };
    {
        let k = "environment";
        to_map(m, k, true);
    }
    for k in ["labels", "annotations", "sysctls"] {
        to_map(m, k, false);
    }
    hosts_to_map(m, "extra_hosts");
    if let Some(b) = m.get_mut("build") {
        if let Kind::Str(s) = &b.kind {
            let ctx = Node::str(s.clone(), b.pos);
            b.kind = Kind::Map(Map::from([("context".to_owned(), ctx)]));
        }
        if let Some(bm) = b.as_map_mut() {
            to_map(bm, "args", true);
            to_map(bm, "labels", false);
            to_map(bm, "additional_contexts", false);
            hosts_to_map(bm, "extra_hosts");
        }
    }
    if let Some(d) = m.get_mut("deploy").and_then(Node::as_map_mut) {
        to_map(d, "labels", false);
    }
    if let Some(e) = m.get_mut("extends")
        && let Kind::Str(s) = &e.kind
    {
        let svc = Node::str(s.clone(), e.pos);
        e.kind = Kind::Map(Map::from([("service".to_owned(), svc)]));
    }
    if let Some(d) = m.get_mut("depends_on")
        && let Kind::Seq(items) = &d.kind
    {
        let mut out = Map::new();
        for it in items {
            if let Some(name) = it.scalar_text() {
                let mut dep = Map::new();
                dep.insert("condition".into(), Node::str("service_started", it.pos));
                dep.insert("required".into(), Node::new(Kind::Bool(true), it.pos));
                out.insert(name, Node::map(dep, it.pos));
            }
        }
        if out.len() == items.len() {
            d.kind = Kind::Map(out);
        }
    }
    for k in ["networks", "models"] {
        if let Some(n) = m.get_mut(k)
            && let Kind::Seq(items) = &n.kind
        {
            let out: Map = items
                .iter()
                .filter_map(|it| it.as_str().map(|s| (s.to_owned(), Node::null(it.pos))))
                .collect();
            if out.len() == items.len() {
                n.kind = Kind::Map(out);
            }
        }
    }
    for k in ["dns", "dns_search", "tmpfs", "env_file", "label_file"] {
        if let Some(n) = m.get_mut(k)
            && let Kind::Str(_) = n.kind
        {
            let item = n.clone();
            n.kind = Kind::Seq(vec![item]);
        }
    }
    if let Some(Kind::Seq(items)) = m.get_mut("ports").map(|n| &mut n.kind) {
        let mut out = Vec::with_capacity(items.len());
        for it in items.drain(..) {
            match it
                .scalar_text()
                .filter(|_| !matches!(it.kind, Kind::Map(_)))
            {
                Some(s) => match ports::parse_short(&s) {
                    Ok(ps) => out.extend(ps.iter().map(|p| {
                        node_from_json(&serde_json::to_value(p).unwrap_or_default(), it.pos)
                    })),
                    Err(_) => out.push(it),
                },
                None => out.push(it),
            }
        }
        *items = out;
    }
    if let Some(Kind::Seq(items)) = m.get_mut("volumes").map(|n| &mut n.kind) {
        for it in items.iter_mut() {
            if let Kind::Str(s) = &it.kind
                && let Ok(v) = mounts::parse_short(s)
            {
                let pos = it.pos;
                *it = node_from_json(&serde_json::to_value(&v).unwrap_or_default(), pos);
            }
        }
    }
    for k in ["secrets", "configs"] {
        if let Some(Kind::Seq(items)) = m.get_mut(k).map(|n| &mut n.kind) {
            for it in items.iter_mut() {
                if let Kind::Str(s) = &it.kind {
                    let src = Node::str(s.clone(), it.pos);
                    it.kind = Kind::Map(Map::from([("source".to_owned(), src)]));
                }
            }
        }
    }
}

/// `["K=V", "K"]` → `{K: V, K: null}` (`null_bare`) or `{K: ""}`.
fn to_map(m: &mut Map, key: &str, null_bare: bool) {
    let Some(n) = m.get_mut(key) else { return };
    let Kind::Seq(items) = &n.kind else { return };
    let mut out = Map::new();
    for it in items {
        let Some(s) = it.scalar_text() else { return };
        let (k, v) = match s.split_once('=') {
            Some((k, v)) => (k.to_owned(), Node::str(v, it.pos)),
            None if null_bare => (s, Node::null(it.pos)),
            None => (s, Node::str("", it.pos)),
        };
        let mut v = v;
        v.key = it.pos;
        out.insert(k, v);
    }
    n.kind = Kind::Map(out);
}

/// `["host:ip", "host=ip"]` → `{host: [ip, …]}`.
fn hosts_to_map(m: &mut Map, key: &str) {
    let Some(n) = m.get_mut(key) else { return };
    if let Kind::Map(hosts) = &mut n.kind {
        for v in hosts.values_mut() {
            if v.scalar_text().is_some() {
                let one = v.clone();
                v.kind = Kind::Seq(vec![one]);
            }
        }
        return;
    }
    let Kind::Seq(items) = &n.kind else { return };
    let mut out = Map::new();
    for it in items {
        let Some(s) = it.scalar_text() else { return };
        let Some((h, ip)) = s.split_once('=').or_else(|| s.split_once(':')) else {
            return;
        };
        let entry = out
            .entry(h.trim().to_owned())
            .or_insert_with(|| Node::seq(Vec::new(), it.pos));
        if let Kind::Seq(v) = &mut entry.kind {
            v.push(Node::str(ip.trim(), it.pos));
        }
    }
    n.kind = Kind::Map(out);
}
