//! The rarely used service attributes: lifecycle hooks, `develop.watch`,
//! `blkio_config`, `credential_spec`, `provider`, `models`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::misc::{Command, command_from_node};
use crate::convert::{Extensions, FromNode, MappingWithEquals, StringList, join};
use crate::error::RawResult;
use crate::from_node;
use crate::yaml::Node;

fn is_false(b: &bool) -> bool {
    !*b
}

/// `post_start`, `pre_stop` (and `pre_start`) hooks.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Hook {
    #[serde(skip_serializing_if = "crate::serialize::skip_null_cmd")]
    pub command: Option<Command>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(skip_serializing_if = "MappingWithEquals::is_empty")]
    pub environment: MappingWithEquals,
    #[serde(flatten)]
    pub extensions: Extensions,
}

impl FromNode for Hook {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        const KEYS: &[&str] = &[
            "command",
            "user",
            "privileged",
            "working_dir",
            "environment",
        ];
        let m = crate::convert::obj(n, path, KEYS, true)?;
        Ok(Hook {
            command: match m.get("command") {
                Some(c) => command_from_node(c, &join(path, "command"))?,
                None => None,
            },
            user: crate::convert::field(m, n, path, "user")?,
            privileged: crate::convert::field(m, n, path, "privileged")?,
            working_dir: crate::convert::field(m, n, path, "working_dir")?,
            environment: crate::convert::field(m, n, path, "environment")?,
            extensions: crate::convert::extensions(m),
        })
    }
    fn absent() -> Option<Self> {
        Some(Hook::default())
    }
}

/// `develop`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Develop {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub watch: Vec<Trigger>,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(Develop { watch } ext);

/// One `develop.watch` rule.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Trigger {
    pub path: String,
    /// `sync`, `rebuild`, `restart`, `sync+restart`, `sync+exec`.
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Printed as `{command: null}` in JSON even when unset, as Compose does.
    #[serde(skip_serializing_if = "crate::serialize::skip_empty_struct")]
    pub exec: Hook,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub initial_sync: bool,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(Trigger { path, action, target, exec, include, ignore, initial_sync } ext);

/// `blkio_config`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Blkio {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub weight_device: Vec<WeightDevice>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_read_bps: Vec<ThrottleDevice>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_read_iops: Vec<ThrottleDevice>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_write_bps: Vec<ThrottleDevice>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_write_iops: Vec<ThrottleDevice>,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(Blkio {
    weight, weight_device, device_read_bps, device_read_iops, device_write_bps, device_write_iops
} ext);

#[derive(Clone, Debug, Default, PartialEq)]
pub struct WeightDevice {
    pub path: String,
    pub weight: u64,
    pub extensions: Extensions,
}
from_node!(WeightDevice { path, weight } ext);

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ThrottleDevice {
    pub path: String,
    pub rate: crate::units::Bytes,
    pub extensions: Extensions,
}

/// Compose's Go types for these two have no JSON tags, so its JSON output
/// (and config hash) spells the keys `Path`, `Weight`, `Rate`; YAML uses
/// the lowercase names. berth prints the same.
fn device_ser<S: serde::Serializer, V: Serialize>(
    s: S,
    path: &str,
    key: &str,
    value: &V,
    ext: &Extensions,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let json = crate::serialize::json_mode();
    let mut m = s.serialize_map(None)?;
    m.serialize_entry(if json { "Path" } else { "path" }, path)?;
    let cap = format!("{}{}", key[..1].to_uppercase(), &key[1..]);
    m.serialize_entry(if json { cap.as_str() } else { key }, value)?;
    if !json {
        for (k, v) in &ext.0 {
            m.serialize_entry(k, v)?;
        }
    }
    m.end()
}

impl Serialize for WeightDevice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        device_ser(s, &self.path, "weight", &self.weight, &self.extensions)
    }
}

impl Serialize for ThrottleDevice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        device_ser(s, &self.path, "rate", &self.rate, &self.extensions)
    }
}
from_node!(ThrottleDevice { path, rate } ext);

/// `credential_spec` (Windows).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CredentialSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(CredentialSpec { config, file, registry } ext);

/// `provider` (services managed by an external plugin).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Provider {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, StringList>,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(Provider { kind = "type", options } ext);

/// A service's use of a top-level model.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ServiceModel {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_var: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_var: Option<String>,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(ServiceModel { endpoint_var, model_var } ext);
