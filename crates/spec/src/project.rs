//! Typing the merged tree: the top-level sections of a Compose file.

use indexmap::IndexMap;

use crate::convert::{FromNode, extensions, join, obj};
use crate::error::RawResult;
use crate::model::{FileObject, Model, Network, Project, Service, Volume};
use crate::yaml::{Kind, Node};

const TOP_KEYS: &[&str] = &[
    "version", "name", "include", "services", "networks", "volumes", "secrets", "configs", "models",
];

fn section<T>(
    n: Option<&Node>,
    path: &str,
    f: impl Fn(&Node, &str) -> RawResult<T>,
) -> RawResult<IndexMap<String, T>> {
    let Some(n) = n else {
        return Ok(IndexMap::new());
    };
    match &n.kind {
        Kind::Null => Ok(IndexMap::new()),
        Kind::Map(m) => m
            .iter()
            .map(|(k, v)| Ok((k.clone(), f(v, &join(path, k))?)))
            .collect(),
        _ => Err(crate::convert::expected(n, path, "a mapping")),
    }
}

/// The typed project of a merged, canonical tree (name and paths are set by
/// the loader).
pub fn from_tree(root: &Node) -> RawResult<Project> {
    let m = obj(root, "", TOP_KEYS, true).map_err(|mut e| {
        e.message = e
            .message
            .trim_start_matches(": ")
            .replace(" attribute", " top-level attribute");
        e
    })?;
    let mut services = section(m.get("services"), "services", |v, p| {
        if !crate::model::service::valid_name(p.trim_start_matches("services.")) {
            return Err(crate::error::Raw::new(
                v.key,
                format!("{p}: invalid service name: use letters, digits, `_`, `.` and `-`"),
            ));
        }
        Service::from_node(v, p)
    })?;
    for (name, s) in services.iter_mut() {
        s.name = name.clone();
    }
    Ok(Project {
        services,
        networks: section(m.get("networks"), "networks", Network::from_node)?,
        volumes: section(m.get("volumes"), "volumes", Volume::from_node)?,
        secrets: section(m.get("secrets"), "secrets", |v, p| {
            FileObject::from_node_kind(v, p, false)
        })?,
        configs: section(m.get("configs"), "configs", |v, p| {
            FileObject::from_node_kind(v, p, true)
        })?,
        models: section(m.get("models"), "models", Model::from_node)?,
        extensions: extensions(m),
        ..Default::default()
    })
}
