//! `build`: a context path, or the long form with every BuildKit option.

use std::collections::BTreeMap;

use serde::Serialize;

use super::misc::{HostsList, Ulimit};
use super::resources::FileRef;
use crate::convert::{Extensions, FromNode, Mapping, MappingWithEquals, StringList, expected};
use crate::error::RawResult;

use crate::units::Bytes;
use crate::yaml::{Kind, Node};

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Build {
    /// Absolute path (or URL) once loaded; defaults to `.`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Defaults to `Dockerfile` unless `dockerfile_inline` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile_inline: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<String>,
    #[serde(skip_serializing_if = "MappingWithEquals::is_empty")]
    pub args: MappingWithEquals,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sbom: Option<String>,
    /// `id` → path (`default` when only an id is given).
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "ssh_ser")]
    pub ssh: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    #[serde(skip_serializing_if = "StringList::is_empty")]
    pub cache_from: StringList,
    #[serde(skip_serializing_if = "StringList::is_empty")]
    pub cache_to: StringList,
    #[serde(skip_serializing_if = "is_false")]
    pub no_cache: bool,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub additional_contexts: Mapping,
    #[serde(skip_serializing_if = "is_false")]
    pub pull: bool,
    #[serde(skip_serializing_if = "HostsList::is_empty")]
    pub extra_hosts: HostsList,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<FileRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<Bytes>,
    #[serde(skip_serializing_if = "StringList::is_empty")]
    pub tags: StringList,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub ulimits: BTreeMap<String, Ulimit>,
    #[serde(skip_serializing_if = "StringList::is_empty")]
    pub platforms: StringList,
    #[serde(skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(flatten)]
    pub extensions: Extensions,
}

fn ssh_ser<S: serde::Serializer>(v: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|(k, p)| {
        if p.is_empty() {
            k.clone()
        } else {
            format!("{k}={p}")
        }
    }))
}

/// `ssh`: `["default", "id=path"]` or `{id: path}`.
#[derive(Default)]
struct Ssh(Vec<(String, String)>);

impl FromNode for Ssh {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        match &n.kind {
            Kind::Map(_) => Ok(Ssh(Mapping::from_node(n, path)?.0.into_iter().collect())),
            _ => {
                let l = StringList::from_node(n, path)?;
                Ok(Ssh(l
                    .0
                    .into_iter()
                    .map(|e| match e.split_once('=') {
                        Some((k, v)) => (k.to_owned(), v.to_owned()),
                        None => (e, String::new()),
                    })
                    .collect()))
            }
        }
    }
    fn absent() -> Option<Self> {
        Some(Ssh::default())
    }
}

const BUILD_KEYS: &[&str] = &[
    "context",
    "dockerfile",
    "dockerfile_inline",
    "entitlements",
    "args",
    "provenance",
    "sbom",
    "ssh",
    "labels",
    "cache_from",
    "cache_to",
    "no_cache",
    "additional_contexts",
    "pull",
    "extra_hosts",
    "isolation",
    "network",
    "target",
    "secrets",
    "shm_size",
    "tags",
    "ulimits",
    "platforms",
    "privileged",
];

impl FromNode for Build {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        use crate::convert::{ScalarString, extensions, field, obj};
        let m = match &n.kind {
            Kind::Str(s) => {
                return Ok(Build {
                    context: Some(s.clone()),
                    ..Default::default()
                });
            }
            Kind::Map(_) => obj(n, path, BUILD_KEYS, true)?,
            _ => return Err(expected(n, path, "a context path or a mapping")),
        };
        let s = |k: &str| field::<Option<String>>(m, n, path, k);
        let scalar = |k: &str| {
            Ok::<_, crate::error::Raw>(field::<Option<ScalarString>>(m, n, path, k)?.map(|s| s.0))
        };
        Ok(Build {
            context: s("context")?,
            dockerfile: s("dockerfile")?,
            dockerfile_inline: s("dockerfile_inline")?,
            entitlements: field(m, n, path, "entitlements")?,
            args: field(m, n, path, "args")?,
            provenance: scalar("provenance")?,
            sbom: scalar("sbom")?,
            ssh: field::<Ssh>(m, n, path, "ssh")?.0,
            labels: field(m, n, path, "labels")?,
            cache_from: field(m, n, path, "cache_from")?,
            cache_to: field(m, n, path, "cache_to")?,
            no_cache: field(m, n, path, "no_cache")?,
            additional_contexts: field(m, n, path, "additional_contexts")?,
            pull: field(m, n, path, "pull")?,
            extra_hosts: field(m, n, path, "extra_hosts")?,
            isolation: s("isolation")?,
            network: s("network")?,
            target: s("target")?,
            secrets: field(m, n, path, "secrets")?,
            shm_size: field(m, n, path, "shm_size")?,
            tags: field(m, n, path, "tags")?,
            ulimits: field(m, n, path, "ulimits")?,
            platforms: field(m, n, path, "platforms")?,
            privileged: field(m, n, path, "privileged")?,
            extensions: extensions(m),
        })
    }
}
