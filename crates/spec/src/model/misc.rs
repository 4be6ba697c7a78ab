//! The smaller service attributes: command lines, healthchecks, depends_on,
//! per-service networks, ulimits, devices, hooks, logging, develop.watch…

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use crate::convert::{
    Extensions, FromNode, Mapping, StringList, expected, int_of, join, scalar_string,
};
use crate::error::{Raw, RawResult};
use crate::from_node;
use crate::units::Duration;
use crate::yaml::{Kind, Node};

fn is_false(b: &bool) -> bool {
    !*b
}

/// A command line: a list, or a string split like a POSIX shell would
/// (without running one).
pub type Command = Vec<String>;

/// Reads `command`/`entrypoint`: a string (shell-split) or a list.
pub fn command_from_node(n: &Node, path: &str) -> RawResult<Option<Command>> {
    match &n.kind {
        Kind::Null => Ok(None),
        Kind::Str(s) => shell_split(s)
            .map(Some)
            .map_err(|e| Raw::new(n.pos, format!("{path}: {e}"))),
        Kind::Seq(_) => Vec::<crate::convert::ScalarString>::from_node(n, path)
            .map(|v| Some(v.into_iter().map(|s| s.0).collect())),
        _ => Err(expected(n, path, "a string or a list of strings")),
    }
}

/// Splits a command string like go-shellwords does for Compose: quotes and
/// backslash escapes, no expansion.
pub fn shell_split(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(n) => cur.push(n),
                    None => cur.push('\\'),
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => cur.push(n),
                        None => return Err(format!("unterminated single quote in `{s}`")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(n @ ('"' | '\\' | '$' | '`')) => cur.push(n),
                            Some('\n') => {}
                            Some(n) => {
                                cur.push('\\');
                                cur.push(n);
                            }
                            None => return Err(format!("unterminated double quote in `{s}`")),
                        },
                        Some(n) => cur.push(n),
                        None => return Err(format!("unterminated double quote in `{s}`")),
                    }
                }
            }
            _ => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// `depends_on` entry (long form).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Dependency {
    /// `service_started`, `service_healthy` or `service_completed_successfully`.
    pub condition: String,
    #[serde(skip_serializing_if = "is_false")]
    pub restart: bool,
    #[serde(flatten)]
    pub extensions: Extensions,
    pub required: bool,
}

impl Default for Dependency {
    fn default() -> Self {
        Dependency {
            condition: "service_started".into(),
            restart: false,
            extensions: Extensions::default(),
            required: true,
        }
    }
}

pub const CONDITIONS: &[&str] = &[
    "service_started",
    "service_healthy",
    "service_completed_successfully",
];

impl FromNode for Dependency {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        let m = crate::convert::obj(n, path, &["condition", "restart", "required"], true)?;
        let mut d = Dependency::default();
        if let Some(c) = m.get("condition") {
            let c_path = join(path, "condition");
            d.condition = String::from_node(c, &c_path)?;
            if !CONDITIONS.contains(&d.condition.as_str()) {
                return Err(expected(
                    c,
                    &c_path,
                    "one of service_started, service_healthy, service_completed_successfully",
                ));
            }
        }
        if let Some(r) = m.get("restart") {
            d.restart = bool::from_node(r, &join(path, "restart"))?;
        }
        if let Some(r) = m.get("required") {
            d.required = bool::from_node(r, &join(path, "required"))?;
        }
        d.extensions = crate::convert::extensions(m);
        Ok(d)
    }
}

/// Reads `depends_on`: a list of names or a map of name → [`Dependency`].
pub fn depends_on_from_node(n: &Node, path: &str) -> RawResult<BTreeMap<String, Dependency>> {
    match &n.kind {
        Kind::Seq(items) => {
            let mut out = BTreeMap::new();
            for (i, it) in items.iter().enumerate() {
                let name = String::from_node(it, &format!("{path}[{i}]"))?;
                out.insert(name, Dependency::default());
            }
            Ok(out)
        }
        _ => BTreeMap::<String, Dependency>::from_node(n, path),
    }
}

/// `healthcheck`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Healthcheck {
    /// `["CMD", …]`, `["CMD-SHELL", "…"]` or `["NONE"]`; a string becomes CMD-SHELL.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<Duration>,
    #[serde(skip_serializing_if = "is_false")]
    pub disable: bool,
    #[serde(flatten)]
    pub extensions: Extensions,
}

impl FromNode for Healthcheck {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        const KEYS: &[&str] = &[
            "test",
            "timeout",
            "interval",
            "retries",
            "start_period",
            "start_interval",
            "disable",
        ];
        let m = crate::convert::obj(n, path, KEYS, true)?;
        let f = |k: &str| m.get(k);
        let mut h = Healthcheck::default();
        if let Some(t) = f("test") {
            let tp = join(path, "test");
            h.test = match &t.kind {
                Kind::Str(s) => vec!["CMD-SHELL".into(), s.clone()],
                _ => Vec::<String>::from_node(t, &tp)?,
            };
            if let Some(first) = h.test.first()
                && !["CMD", "CMD-SHELL", "NONE"].contains(&first.as_str())
            {
                return Err(Raw::new(
                    t.pos,
                    format!("{tp}: the first item must be CMD, CMD-SHELL or NONE, got `{first}`"),
                ));
            }
        }
        let d = |k: &str| -> RawResult<Option<Duration>> {
            f(k).map(|v| Option::<Duration>::from_node(v, &join(path, k)))
                .transpose()
                .map(Option::flatten)
        };
        h.timeout = d("timeout")?;
        h.interval = d("interval")?;
        h.start_period = d("start_period")?;
        h.start_interval = d("start_interval")?;
        h.retries = f("retries")
            .map(|v| Option::<u64>::from_node(v, &join(path, "retries")))
            .transpose()?
            .flatten();
        h.disable = f("disable")
            .map(|v| bool::from_node(v, &join(path, "disable")))
            .transpose()?
            .unwrap_or(false);
        h.extensions = crate::convert::extensions(m);
        Ok(h)
    }
}

/// A service's settings on one network.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ServiceNetwork {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub driver_opts: Mapping,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gw_priority: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub link_local_ips: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(ServiceNetwork {
    aliases, driver_opts, gw_priority, interface_name, ipv4_address, ipv6_address,
    link_local_ips, mac_address, priority
} ext);

/// Reads service `networks`: a list of names or a map name → settings.
pub fn service_networks_from_node(
    n: &Node,
    path: &str,
) -> RawResult<BTreeMap<String, Option<ServiceNetwork>>> {
    match &n.kind {
        Kind::Seq(items) => {
            let mut out = BTreeMap::new();
            for (i, it) in items.iter().enumerate() {
                out.insert(String::from_node(it, &format!("{path}[{i}]"))?, None);
            }
            Ok(out)
        }
        _ => BTreeMap::<String, Option<ServiceNetwork>>::from_node(n, path),
    }
}

/// One `ulimits` entry: a single value (soft = hard) or `{soft, hard}`.
#[derive(Clone, Debug, PartialEq)]
pub enum Ulimit {
    Single(i64),
    SoftHard { soft: i64, hard: i64 },
}

impl Ulimit {
    pub fn soft(&self) -> i64 {
        match self {
            Ulimit::Single(v) => *v,
            Ulimit::SoftHard { soft, .. } => *soft,
        }
    }
    pub fn hard(&self) -> i64 {
        match self {
            Ulimit::Single(v) => *v,
            Ulimit::SoftHard { hard, .. } => *hard,
        }
    }
}

impl Serialize for Ulimit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        match self {
            Ulimit::Single(v) => s.serialize_i64(*v),
            Ulimit::SoftHard { soft, hard } => {
                let mut st = s.serialize_struct("Ulimit", 2)?;
                st.serialize_field("soft", soft)?;
                st.serialize_field("hard", hard)?;
                st.end()
            }
        }
    }
}

impl FromNode for Ulimit {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        match &n.kind {
            Kind::Map(_) => {
                let m = crate::convert::obj(n, path, &["soft", "hard"], true)?;
                let get = |k: &str| -> RawResult<i64> {
                    m.get(k)
                        .map(|v| int_of(v, &join(path, k)))
                        .transpose()
                        .map(|v| v.unwrap_or(0))
                };
                Ok(Ulimit::SoftHard {
                    soft: get("soft")?,
                    hard: get("hard")?,
                })
            }
            _ => int_of(n, path).map(Ulimit::Single),
        }
    }
}

/// `extra_hosts`: host → addresses, printed as `host=ip` lines.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostsList(pub BTreeMap<String, Vec<String>>);

impl HostsList {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn entries(&self) -> Vec<String> {
        self.0
            .iter()
            .flat_map(|(h, ips)| ips.iter().map(move |ip| format!("{h}={ip}")))
            .collect()
    }
}

impl Serialize for HostsList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.entries())
    }
}

impl FromNode for HostsList {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        match &n.kind {
            Kind::Map(m) => {
                for (k, v) in m {
                    let ips = StringList::from_node(v, &join(path, k))?;
                    out.entry(k.clone()).or_default().extend(ips.0);
                }
            }
            Kind::Seq(items) => {
                for (i, it) in items.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    let s = scalar_string(it, &p)?;
                    // `host=ip` or `host:ip` (the ip may itself contain ':').
                    let (h, ip) = s
                        .split_once('=')
                        .or_else(|| s.split_once(':'))
                        .ok_or_else(|| expected(it, &p, "HOST:IP or HOST=IP"))?;
                    out.entry(h.trim().to_owned())
                        .or_default()
                        .push(ip.trim().to_owned());
                }
            }
            Kind::Null => {}
            _ => return Err(expected(n, path, "a list of HOST:IP or a mapping")),
        }
        Ok(HostsList(out))
    }
    fn absent() -> Option<Self> {
        Some(HostsList::default())
    }
}

/// `logging`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Logging {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub options: Mapping,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(Logging { driver, options } ext);

/// `devices` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Device {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub target: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub permissions: String,
    #[serde(flatten)]
    pub extensions: Extensions,
}

impl FromNode for Device {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        if let Kind::Str(s) = &n.kind {
            let parts: Vec<&str> = s.split(':').collect();
            let (source, target, permissions) = match parts.as_slice() {
                [a] => (*a, *a, "rwm"),
                [a, b] => (*a, *b, "rwm"),
                [a, b, p] => (*a, *b, *p),
                _ => return Err(expected(n, path, "SOURCE[:TARGET[:PERMISSIONS]]")),
            };
            return Ok(Device {
                source: source.into(),
                target: target.into(),
                permissions: permissions.into(),
                extensions: Extensions::default(),
            });
        }
        let m = crate::convert::obj(n, path, &["source", "target", "permissions"], true)?;
        let mut d = Device {
            source: crate::convert::field(m, n, path, "source")?,
            target: crate::convert::field::<Option<String>>(m, n, path, "target")?
                .unwrap_or_default(),
            permissions: crate::convert::field::<Option<String>>(m, n, path, "permissions")?
                .unwrap_or_default(),
            extensions: crate::convert::extensions(m),
        };
        if d.target.is_empty() {
            d.target = d.source.clone();
        }
        if d.permissions.is_empty() {
            d.permissions = "rwm".into();
        }
        Ok(d)
    }
}

/// `env_file` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvFile {
    pub path: String,
    pub required: bool,
    pub format: Option<String>,
}

/// A required file prints as its path, as Compose prints it.
impl Serialize for EnvFile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if self.required && self.format.is_none() {
            return s.serialize_str(&self.path);
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("path", &self.path)?;
        m.serialize_entry("required", &self.required)?;
        if let Some(f) = &self.format {
            m.serialize_entry("format", f)?;
        }
        m.end()
    }
}

impl FromNode for EnvFile {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        if let Kind::Str(s) = &n.kind {
            return Ok(EnvFile {
                path: s.clone(),
                required: true,
                format: None,
            });
        }
        let m = crate::convert::obj(n, path, &["path", "required", "format"], false)?;
        Ok(EnvFile {
            path: crate::convert::field(m, n, path, "path")?,
            required: match m.get("required") {
                Some(r) => bool::from_node(r, &join(path, "required"))?,
                None => true,
            },
            format: crate::convert::field(m, n, path, "format")?,
        })
    }
}

/// `env_file`: a string, or a list of strings or `{path, required, format}`.
pub fn env_files_from_node(n: &Node, path: &str) -> RawResult<Vec<EnvFile>> {
    match &n.kind {
        Kind::Str(_) => Ok(vec![EnvFile::from_node(n, path)?]),
        _ => Vec::<EnvFile>::from_node(n, path),
    }
}

/// `extends`: `extends: svc` or `{service, file}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Extends {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub service: String,
}

impl FromNode for Extends {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        if let Kind::Str(s) = &n.kind {
            return Ok(Extends {
                file: None,
                service: s.clone(),
            });
        }
        let m = crate::convert::obj(n, path, &["service", "file"], false)?;
        Ok(Extends {
            file: crate::convert::field(m, n, path, "file")?,
            service: crate::convert::field(m, n, path, "service")?,
        })
    }
}
