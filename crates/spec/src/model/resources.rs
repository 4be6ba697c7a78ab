//! Top-level `networks`, `volumes`, `secrets`, `configs`, `models`, and the
//! service-side references to secrets and configs.

use serde::Serialize;

use crate::convert::{Extensions, FromNode, Mapping, expected, join, obj};
use crate::error::{Raw, RawResult};
use crate::from_node;
use crate::yaml::{Kind, Node};

fn is_false(b: &bool) -> bool {
    !*b
}

/// A top-level network.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Network {
    /// The real name: `<project>_<key>` unless set or external.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub driver_opts: Mapping,
    #[serde(skip_serializing_if = "crate::serialize::skip_empty_struct")]
    pub ipam: Ipam,
    #[serde(skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub internal: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub attachable: bool,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_ipv4: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Ipam {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<IpamPool>,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub options: Mapping,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(Ipam { driver, config, options } ext);

impl Ipam {
    pub fn is_empty(&self) -> bool {
        self.driver.is_none()
            && self.config.is_empty()
            && self.options.is_empty()
            && self.extensions.0.is_empty()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct IpamPool {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<String>,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub aux_addresses: Mapping,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(IpamPool { subnet, gateway, ip_range, aux_addresses } ext);

/// `external: true`, or the legacy `external: {name: x}` (which also sets the name).
fn external(m: &crate::yaml::Map, path: &str) -> RawResult<(bool, Option<String>)> {
    match m.get("external") {
        None => Ok((false, None)),
        Some(n) => match &n.kind {
            Kind::Map(_) => {
                let em = obj(n, &join(path, "external"), &["name"], true)?;
                let name = match em.get("name") {
                    Some(v) => Option::<String>::from_node(v, &join(path, "external.name"))?,
                    None => None,
                };
                Ok((true, name))
            }
            _ => Ok((bool::from_node(n, &join(path, "external"))?, None)),
        },
    }
}

impl FromNode for Network {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        use crate::convert::{extensions, field};
        const KEYS: &[&str] = &[
            "name",
            "driver",
            "driver_opts",
            "ipam",
            "external",
            "internal",
            "attachable",
            "labels",
            "enable_ipv4",
            "enable_ipv6",
        ];
        if n.is_null() {
            return Ok(Network::default());
        }
        let m = obj(n, path, KEYS, true)?;
        let (ext, ext_name) = external(m, path)?;
        let name: Option<String> = field(m, n, path, "name")?;
        Ok(Network {
            name: name.or(ext_name),
            driver: field(m, n, path, "driver")?,
            driver_opts: field(m, n, path, "driver_opts")?,
            ipam: field(m, n, path, "ipam")?,
            external: ext,
            internal: field(m, n, path, "internal")?,
            attachable: field(m, n, path, "attachable")?,
            labels: field(m, n, path, "labels")?,
            enable_ipv4: field(m, n, path, "enable_ipv4")?,
            enable_ipv6: field(m, n, path, "enable_ipv6")?,
            extensions: extensions(m),
        })
    }
}

/// A top-level volume.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Volume {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub driver_opts: Mapping,
    #[serde(skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    #[serde(flatten)]
    pub extensions: Extensions,
}

impl FromNode for Volume {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        use crate::convert::{extensions, field};
        if n.is_null() {
            return Ok(Volume::default());
        }
        let m = obj(
            n,
            path,
            &["name", "driver", "driver_opts", "external", "labels"],
            true,
        )?;
        let (ext, ext_name) = external(m, path)?;
        let name: Option<String> = field(m, n, path, "name")?;
        Ok(Volume {
            name: name.or(ext_name),
            driver: field(m, n, path, "driver")?,
            driver_opts: field(m, n, path, "driver_opts")?,
            external: ext,
            labels: field(m, n, path, "labels")?,
            extensions: extensions(m),
        })
    }
}

/// A top-level secret or config: where its content comes from.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FileObject {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Absolute path once loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Inline content (configs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub driver_opts: Mapping,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_driver: Option<String>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

impl FileObject {
    pub(crate) fn from_node_kind(n: &Node, path: &str, config: bool) -> RawResult<Self> {
        use crate::convert::{extensions, field};
        const KEYS: &[&str] = &[
            "name",
            "file",
            "environment",
            "content",
            "external",
            "labels",
            "driver",
            "driver_opts",
            "template_driver",
        ];
        if n.is_null() {
            return Ok(FileObject::default());
        }
        let m = obj(n, path, KEYS, true)?;
        if !config && m.contains_key("content") {
            return Err(Raw::new(
                m["content"].key,
                format!("{path}: unknown attribute `content` (only configs have inline content)"),
            ));
        }
        let (ext, ext_name) = external(m, path)?;
        let name: Option<String> = field(m, n, path, "name")?;
        Ok(FileObject {
            name: name.or(ext_name),
            file: field(m, n, path, "file")?,
            environment: field(m, n, path, "environment")?,
            content: field(m, n, path, "content")?,
            external: ext,
            labels: field(m, n, path, "labels")?,
            driver: field(m, n, path, "driver")?,
            driver_opts: field(m, n, path, "driver_opts")?,
            template_driver: field(m, n, path, "template_driver")?,
            extensions: extensions(m),
        })
    }
}

/// A service's use of a secret or config.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FileRef {
    pub source: String,
    /// Secrets default to `/run/secrets/<source>`; configs to `/<source>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "mode_ser")]
    pub mode: Option<u32>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

fn mode_ser<S: serde::Serializer>(m: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
    match m {
        Some(m) => s.collect_str(&format_args!("0{m:o}")),
        None => s.serialize_none(),
    }
}

impl FromNode for FileRef {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        use crate::convert::{ScalarString, extensions, field};
        if let Kind::Str(s) = &n.kind {
            return Ok(FileRef {
                source: s.clone(),
                ..Default::default()
            });
        }
        let m = obj(n, path, &["source", "target", "uid", "gid", "mode"], true)?;
        let mode = match m.get("mode") {
            None => None,
            Some(v) => Some(match &v.kind {
                Kind::Int(i) => u32::try_from(*i)
                    .map_err(|_| expected(v, &join(path, "mode"), "a file mode"))?,
                Kind::Str(s) => crate::convert::parse_go_int(s)
                    .or_else(|| i64::from_str_radix(s, 8).ok())
                    .and_then(|i| u32::try_from(i).ok())
                    .ok_or_else(|| expected(v, &join(path, "mode"), "a file mode like 0440"))?,
                _ => return Err(expected(v, &join(path, "mode"), "a file mode like 0440")),
            }),
        };
        Ok(FileRef {
            source: field(m, n, path, "source")?,
            target: field(m, n, path, "target")?,
            uid: field::<Option<ScalarString>>(m, n, path, "uid")?.map(|s| s.0),
            gid: field::<Option<ScalarString>>(m, n, path, "gid")?.map(|s| s.0),
            mode,
            extensions: extensions(m),
        })
    }
}

/// A top-level AI model (Docker Model Runner); kept and printed only.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Model {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_size: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runtime_flags: Vec<String>,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(Model { name, model, context_size, runtime_flags } ext);
