//! `ports`: the short syntax `[HOST_IP:][HOST[-RANGE]:]CONTAINER[-RANGE][/PROTO]`
//! and the long syntax, both normalised to one [`Port`] per container port.

use serde::Serialize;

use crate::convert::{Extensions, FromNode, expected, join, obj, scalar_string};
use crate::error::{Raw, RawResult};
use crate::yaml::{Kind, Node};

/// A published or exposed port, long form.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Port {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `ingress` (default) or `host`.
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    pub target: u32,
    /// A port or a range (`8000-8010`); `None` = an ephemeral host port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// `tcp` (default), `udp` or `sctp`.
    pub protocol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

fn port_range(s: &str) -> Option<(u32, u32)> {
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a, b),
        None => (s, s),
    };
    let a: u32 = a.trim().parse().ok()?;
    let b: u32 = b.trim().parse().ok()?;
    (a <= b && b <= 65535).then_some((a, b))
}

/// Parses one short-syntax entry into one port per container port.
pub fn parse_short(spec: &str) -> Result<Vec<Port>, String> {
    let bad = || {
        format!(
            "invalid port spec `{spec}`: expected [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]"
        )
    };
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_owned()),
        None => (spec, "tcp".to_owned()),
    };
    if !["tcp", "udp", "sctp"].contains(&proto.as_str()) {
        return Err(format!(
            "invalid port spec `{spec}`: unknown protocol `{proto}`"
        ));
    }
    let (ip, host, container) = if let Some(stripped) = rest.strip_prefix('[') {
        let (ip, after) = stripped.split_once("]:").ok_or_else(bad)?;
        let (h, c) = after.split_once(':').ok_or_else(bad)?;
        (Some(ip.to_owned()), h, c)
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        match parts.as_slice() {
            [c] => (None, "", *c),
            [h, c] => (None, *h, *c),
            [ip, h, c] => (Some((*ip).to_owned()), *h, *c),
            _ => {
                // An unbracketed IPv6 address: the last two parts are ports.
                let n = parts.len();
                (Some(parts[..n - 2].join(":")), parts[n - 2], parts[n - 1])
            }
        }
    };
    let ip = ip.filter(|s| !s.is_empty());
    let (c0, c1) = port_range(container).ok_or_else(bad)?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(port_range(host).ok_or_else(bad)?)
    };
    let mk = |target: u32, published: Option<String>| Port {
        mode: "ingress".into(),
        host_ip: ip.clone(),
        target,
        published,
        protocol: proto.clone(),
        ..Port::default()
    };
    let mut out = Vec::new();
    match host_range {
        None => (c0..=c1).for_each(|t| out.push(mk(t, None))),
        Some((h0, h1)) if c0 == c1 => {
            let p = if h0 == h1 {
                h0.to_string()
            } else {
                format!("{h0}-{h1}")
            };
            out.push(mk(c0, Some(p)));
        }
        Some((h0, h1)) => {
            if h1 - h0 != c1 - c0 {
                return Err(format!(
                    "invalid port spec `{spec}`: host range and container range differ in size"
                ));
            }
            (c0..=c1).for_each(|t| out.push(mk(t, Some((h0 + t - c0).to_string()))));
        }
    }
    Ok(out)
}

/// Reads a `ports` list (short and long entries mixed).
pub fn ports_from_node(n: &Node, path: &str) -> RawResult<Vec<Port>> {
    let items = match &n.kind {
        Kind::Seq(v) => v,
        Kind::Null => return Ok(Vec::new()),
        _ => return Err(expected(n, path, "a list of ports")),
    };
    let mut out = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        match &it.kind {
            Kind::Map(_) => out.push(long_port(it, &p)?),
            Kind::Str(_) | Kind::Int(_) => {
                let s = scalar_string(it, &p)?;
                out.extend(parse_short(&s).map_err(|e| Raw::new(it.pos, format!("{p}: {e}")))?);
            }
            _ => {
                return Err(expected(
                    it,
                    &p,
                    "a port string like \"8080:80\" or a mapping",
                ));
            }
        }
    }
    Ok(out)
}

fn long_port(n: &Node, path: &str) -> RawResult<Port> {
    const KEYS: &[&str] = &[
        "name",
        "mode",
        "host_ip",
        "target",
        "published",
        "protocol",
        "app_protocol",
    ];
    let m = obj(n, path, KEYS, true)?;
    let target_node = m
        .get("target")
        .ok_or_else(|| Raw::new(n.pos, format!("{path}: `target` is required")))?;
    let target = u32::from_node(target_node, &join(path, "target"))?;
    if target > 65535 {
        return Err(expected(
            target_node,
            &join(path, "target"),
            "a port number (0-65535)",
        ));
    }
    let published = match m.get("published") {
        Some(p) if !p.is_null() => {
            let s = scalar_string(p, &join(path, "published"))?;
            if !s.is_empty() && port_range(&s).is_none() {
                return Err(expected(
                    p,
                    &join(path, "published"),
                    "a port or a port range",
                ));
            }
            Some(s).filter(|s| !s.is_empty())
        }
        _ => None,
    };
    let opt = |k: &str| -> RawResult<Option<String>> {
        m.get(k)
            .map(|v| Option::<String>::from_node(v, &join(path, k)))
            .transpose()
            .map(Option::flatten)
    };
    let protocol = opt("protocol")?.unwrap_or_else(|| "tcp".into());
    let mode = opt("mode")?.unwrap_or_else(|| "ingress".into());
    Ok(Port {
        name: opt("name")?,
        mode,
        host_ip: opt("host_ip")?,
        target,
        published,
        protocol,
        app_protocol: opt("app_protocol")?,
        extensions: crate::convert::extensions(m),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Vec<(Option<String>, u32, Option<String>, String)> {
        parse_short(s)
            .unwrap()
            .into_iter()
            .map(|p| (p.host_ip, p.target, p.published, p.protocol))
            .collect()
    }

    #[test]
    fn short_syntax_forms() {
        assert_eq!(one("80"), vec![(None, 80, None, "tcp".into())]);
        assert_eq!(
            one("8080:80/udp"),
            vec![(None, 80, Some("8080".into()), "udp".into())]
        );
        assert_eq!(
            one("127.0.0.1:8080-8081:80-81"),
            vec![
                (
                    Some("127.0.0.1".into()),
                    80,
                    Some("8080".into()),
                    "tcp".into()
                ),
                (
                    Some("127.0.0.1".into()),
                    81,
                    Some("8081".into()),
                    "tcp".into()
                ),
            ]
        );
        assert_eq!(
            one("9000-9002:80"),
            vec![(None, 80, Some("9000-9002".into()), "tcp".into())]
        );
        assert_eq!(
            one("[::1]:80:80"),
            vec![(Some("::1".into()), 80, Some("80".into()), "tcp".into())]
        );
        assert_eq!(
            one("127.0.0.1::80"),
            vec![(Some("127.0.0.1".into()), 80, None, "tcp".into())]
        );
        assert_eq!(one("3000-3001").len(), 2);
    }

    #[test]
    fn bad_short_syntax() {
        for s in ["abc", "80/xyz", "1-2:3-5", "70000", "80:", "a:b:c:d"] {
            assert!(parse_short(s).is_err(), "{s}");
        }
        assert!(
            parse_short("80/xyz")
                .unwrap_err()
                .contains("unknown protocol `xyz`")
        );
    }
}
