//! Service `volumes`: the short syntax `[SOURCE:]TARGET[:MODE]` and the long
//! syntax, normalised to [`ServiceVolume`].

use serde::Serialize;

use crate::convert::{Extensions, FromNode, Mapping, expected, join, obj};
use crate::error::{Raw, RawResult};
use crate::from_node;
use crate::units::Bytes;
use crate::yaml::{Kind, Node};

fn is_false(b: &bool) -> bool {
    !*b
}

fn not_true(b: &Option<bool>) -> bool {
    *b != Some(true)
}

/// One mount of a service.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ServiceVolume {
    /// `bind`, `volume`, `tmpfs`, `image`, `npipe` or `cluster`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Host path (bind, absolute once loaded), volume name, image reference;
    /// `None` for anonymous volumes and tmpfs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub target: String,
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<BindOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<TmpfsOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageOptions>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BindOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selinux: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation: Option<String>,
    /// Create the host path if missing (the default for the short syntax).
    /// Compose prints it only when true.
    #[serde(skip_serializing_if = "not_true")]
    pub create_host_path: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recursive: Option<String>,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(BindOptions { selinux, propagation, create_host_path, recursive } ext);

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct VolumeOptions {
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    #[serde(skip_serializing_if = "is_false")]
    pub nocopy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(VolumeOptions { labels, nocopy, subpath } ext);

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TmpfsOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<Bytes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<FileMode>,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(TmpfsOptions { size, mode } ext);

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ImageOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(ImageOptions { subpath } ext);

/// A numeric file mode, read as octal when written as a string (`"0755"`)
/// and printed as a number, as Compose does for tmpfs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct FileMode(pub u32);

impl FromNode for FileMode {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        let v = match &n.kind {
            Kind::Int(i) => Some(*i),
            Kind::Str(s) => {
                crate::convert::parse_go_int(s).or_else(|| i64::from_str_radix(s, 8).ok())
            }
            _ => None,
        };
        v.and_then(|v| u32::try_from(v).ok())
            .map(FileMode)
            .ok_or_else(|| expected(n, path, "a file mode like 0755"))
    }
}

const PROPAGATION: &[&str] = &[
    "shared", "rshared", "slave", "rslave", "private", "rprivate",
];

/// Whether a short-syntax source is a host path rather than a volume name.
pub fn is_path(src: &str) -> bool {
    src.starts_with('.') || src.starts_with('/') || src.starts_with('~') || src.starts_with('$')
}

/// Cleans a container path like Go's `path.Clean`.
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let abs = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !abs {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let j = parts.join("/");
    match (abs, j.is_empty()) {
        (true, _) => format!("/{j}"),
        (false, true) => ".".into(),
        (false, false) => j,
    }
}

/// Parses the short syntax.
pub fn parse_short(spec: &str) -> Result<ServiceVolume, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [d] => (None, *d, None),
        [s, d] => (Some(*s), *d, None),
        [s, d, m] => (Some(*s), *d, Some(*m)),
        _ => return Err(format!("invalid volume spec `{spec}`: too many colons")),
    };
    if dst.is_empty() {
        return Err(format!("invalid volume spec `{spec}`: empty target"));
    }
    let mut v = ServiceVolume {
        target: clean_path(dst),
        ..Default::default()
    };
    match src {
        None => v.kind = "volume".into(),
        Some("") => {
            return Err(format!("invalid volume spec `{spec}`: empty source"));
        }
        Some(s) if is_path(s) => {
            v.kind = "bind".into();
            v.source = Some(s.into());
        }
        Some(s) => {
            v.kind = "volume".into();
            v.source = Some(s.into());
        }
    }
    let mut bind = BindOptions {
        create_host_path: Some(true),
        ..Default::default()
    };
    let mut vol = VolumeOptions::default();
    for opt in mode.unwrap_or("").split(',').filter(|o| !o.is_empty()) {
        match opt {
            "ro" => v.read_only = true,
            "rw" => v.read_only = false,
            "z" | "Z" => bind.selinux = Some(opt.into()),
            "nocopy" => vol.nocopy = true,
            "cached" | "delegated" | "consistent" => v.consistency = Some(opt.into()),
            p if PROPAGATION.contains(&p) => bind.propagation = Some(p.into()),
            other => {
                return Err(format!(
                    "invalid volume spec `{spec}`: unknown mode `{other}`"
                ));
            }
        }
    }
    if v.kind == "bind" {
        v.bind = Some(bind);
    } else {
        if bind.selinux.is_some() || bind.propagation.is_some() {
            return Err(format!(
                "invalid volume spec `{spec}`: bind options on a named volume"
            ));
        }
        v.volume = Some(vol);
    }
    Ok(v)
}

const TYPES: &[&str] = &["bind", "volume", "tmpfs", "image", "npipe", "cluster"];

impl FromNode for ServiceVolume {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        if let Kind::Str(s) = &n.kind {
            return parse_short(s).map_err(|e| Raw::new(n.pos, format!("{path}: {e}")));
        }
        const KEYS: &[&str] = &[
            "type",
            "source",
            "target",
            "read_only",
            "consistency",
            "bind",
            "volume",
            "tmpfs",
            "image",
        ];
        let m = obj(n, path, KEYS, true)?;
        let kind_node = m
            .get("type")
            .ok_or_else(|| Raw::new(n.pos, format!("{path}: `type` is required")))?;
        let kind = String::from_node(kind_node, &join(path, "type"))?;
        if !TYPES.contains(&kind.as_str()) {
            return Err(expected(
                kind_node,
                &join(path, "type"),
                "one of bind, volume, tmpfs, image, npipe, cluster",
            ));
        }
        let f = |k: &str| crate::convert::field::<Option<String>>(m, n, path, k);
        let target = f("target")?.unwrap_or_default();
        Ok(ServiceVolume {
            kind,
            source: f("source")?.filter(|s| !s.is_empty()),
            target: if target.is_empty() {
                target
            } else {
                clean_path(&target)
            },
            read_only: crate::convert::field(m, n, path, "read_only")?,
            consistency: f("consistency")?,
            bind: crate::convert::field(m, n, path, "bind")?,
            volume: crate::convert::field(m, n, path, "volume")?,
            tmpfs: crate::convert::field(m, n, path, "tmpfs")?,
            image: crate::convert::field(m, n, path, "image")?,
            extensions: crate::convert::extensions(m),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_syntax() {
        let v = parse_short("./data:/data:ro,z").unwrap();
        assert_eq!(
            (v.kind.as_str(), v.source.as_deref(), v.target.as_str()),
            ("bind", Some("./data"), "/data")
        );
        assert!(v.read_only);
        assert_eq!(v.bind.unwrap().selinux.as_deref(), Some("z"));
        let v = parse_short("named:/var/lib/").unwrap();
        assert_eq!(
            (v.kind.as_str(), v.source.as_deref(), v.target.as_str()),
            ("volume", Some("named"), "/var/lib")
        );
        let v = parse_short("/anon").unwrap();
        assert_eq!((v.kind.as_str(), v.source), ("volume", None));
        assert!(parse_short("a:b:c:d").is_err());
        assert!(
            parse_short("./x:/y:bogus")
                .unwrap_err()
                .contains("unknown mode `bogus`")
        );
        assert!(parse_short(":/x").is_err());
    }

    #[test]
    fn clean_paths() {
        assert_eq!(clean_path("/a/b/../c/"), "/a/c");
        assert_eq!(clean_path("/"), "/");
        assert_eq!(clean_path("a/./b"), "a/b");
    }
}
