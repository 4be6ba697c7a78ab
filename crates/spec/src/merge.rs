//! Merging Compose trees: several `-f` files, `extends`, `include`.
//!
//! Mappings merge recursively, scalars are replaced, sequences are appended
//! and then de-duplicated by a key (ports, volumes, secrets by target…).
//! `command`, `entrypoint` and `healthcheck.test` are replaced whole.
//! `!reset` removes an inherited value and `!override` replaces it.
//! Both trees are expected in canonical form (see [`crate::canonical`]).

use crate::error::{Raw, RawResult};
use crate::yaml::{Kind, Node, Tag};

/// Merges `over` into `base`. `path` is the dotted path of `base`
/// (`services.web`), used to pick the special rules.
pub fn merge(base: &mut Node, over: Node, path: &[&str]) -> RawResult<()> {
    if over.tag == Some(Tag::Override) || replaced_whole(path) {
        let mut over = over;
        over.tag = None;
        *base = over;
        return Ok(());
    }
    if over.is_null() {
        return Ok(());
    }
    if let (Some("logging"), 3) = (path.last().copied(), path.len()) {
        // A different driver starts from scratch; the same driver merges options.
        let bd = base.get("driver").and_then(Node::as_str).map(str::to_owned);
        let od = over.get("driver").and_then(Node::as_str).map(str::to_owned);
        if bd.is_some() && od.is_some() && bd != od {
            *base = over;
            return Ok(());
        }
    }
    match (&mut base.kind, over.kind) {
        (Kind::Map(bm), Kind::Map(om)) => {
            for (k, v) in om {
                if v.tag == Some(Tag::Reset) {
                    bm.shift_remove(&k);
                    continue;
                }
                match bm.get_mut(&k) {
                    Some(existing) => {
                        let mut p = path.to_vec();
                        p.push(&k);
                        merge(existing, v, &p)?;
                    }
                    None => {
                        bm.insert(k, v);
                    }
                }
            }
        }
        (Kind::Seq(bs), Kind::Seq(os)) => {
            bs.extend(os);
            dedup(bs, path);
        }
        (Kind::Map(_), k) | (Kind::Seq(_), k) => {
            let what = Node::new(k, over.pos);
            return Err(Raw::new(
                over.pos,
                format!(
                    "{}: cannot override {} with {}",
                    path.join("."),
                    base.type_name(),
                    what.type_name()
                ),
            ));
        }
        (_, k) => {
            base.kind = k;
            base.pos = over.pos;
            base.tag = None;
        }
    }
    Ok(())
}

fn replaced_whole(path: &[&str]) -> bool {
    matches!(
        path,
        ["services", _, "command"]
            | ["services", _, "entrypoint"]
            | ["services", _, "healthcheck", "test"]
            | ["services", _, "ulimits", _]
    )
}

/// Removes earlier entries that a later one with the same key replaces; the
/// replacement takes the earlier one's place.
pub fn dedup(items: &mut Vec<Node>, path: &[&str]) {
    let Some(index) = indexer(path) else { return };
    let mut out: Vec<Node> = Vec::with_capacity(items.len());
    let mut keys: Vec<Option<String>> = Vec::with_capacity(items.len());
    for it in items.drain(..) {
        let key = index(&it);
        match key
            .as_ref()
            .and_then(|k| keys.iter().position(|x| x.as_ref() == Some(k)))
        {
            Some(j) => out[j] = it,
            None => {
                keys.push(key);
                out.push(it);
            }
        }
    }
    *items = out;
}

type Indexer = fn(&Node) -> Option<String>;

fn indexer(path: &[&str]) -> Option<Indexer> {
    Some(match path {
        ["services", _, "ports"] => port_key,
        ["services", _, "volumes"] | ["services", _, "devices"] => target_key,
        ["services", _, "secrets"] => |n| mount_key(n, "/run/secrets"),
        ["services", _, "configs"] => |n| mount_key(n, ""),
        ["services", _, "env_file"] => |n| n.scalar_text().or_else(|| n.get("path")?.scalar_text()),
        [
            "services",
            _,
            "cap_add" | "cap_drop" | "dns" | "dns_opt" | "dns_search" | "expose" | "links"
            | "profiles" | "tmpfs" | "external_links" | "security_opt" | "label_file",
        ]
        | ["services", _, "networks", _, "aliases" | "link_local_ips"]
        | [
            "services",
            _,
            "build",
            "tags" | "platforms" | "cache_from" | "cache_to",
        ] => Node::scalar_text,
        ["networks", _, "ipam", "config"] => |n| n.get("subnet")?.scalar_text(),
        _ => return None,
    })
}

fn port_key(n: &Node) -> Option<String> {
    let t = |k: &str| n.get(k).and_then(Node::scalar_text).unwrap_or_default();
    Some(format!(
        "{}:{}:{}/{}",
        t("host_ip"),
        t("published"),
        t("target"),
        t("protocol")
    ))
}

fn target_key(n: &Node) -> Option<String> {
    match &n.kind {
        Kind::Str(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            Some(parts.get(1).unwrap_or(&parts[0]).to_string())
        }
        _ => n
            .get("target")?
            .scalar_text()
            .map(|t| crate::model::mounts::clean_path(&t)),
    }
}

fn mount_key(n: &Node, default_dir: &str) -> Option<String> {
    match n.get("target").and_then(Node::scalar_text) {
        Some(t) => Some(t),
        None => Some(format!("{default_dir}/{}", n.get("source")?.scalar_text()?)),
    }
}

/// Drops nodes tagged `!reset` that had nothing to reset (first file), and
/// clears `!override` tags.
pub fn strip_tags(n: &mut Node) {
    n.tag = None;
    match &mut n.kind {
        Kind::Map(m) => {
            m.retain(|_, v| v.tag != Some(Tag::Reset));
            m.values_mut().for_each(strip_tags);
        }
        Kind::Seq(v) => {
            v.retain(|x| x.tag != Some(Tag::Reset));
            v.iter_mut().for_each(strip_tags);
        }
        _ => {}
    }
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
