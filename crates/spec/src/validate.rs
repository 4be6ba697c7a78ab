//! Consistency checks on the loaded project (compose-go's
//! `checkConsistency`): every reference resolves, no dependency cycle, no
//! contradictory settings. Errors point at the attribute in the file.

use std::collections::HashSet;

use crate::error::{Pos, Raw, SpecError};
use crate::loader::Ctx;
use crate::model::{Project, Service};
use crate::yaml::Node;

/// The key position of the deepest node along `path` that exists.
pub fn pos_at(tree: &Node, path: &[&str]) -> Option<Pos> {
    let mut cur = tree;
    let mut pos = None;
    for k in path {
        match cur.get(k) {
            Some(n) => {
                pos = Some(n.key);
                cur = n;
            }
            None => break,
        }
    }
    pos
}

struct V<'a> {
    ctx: &'a Ctx<'a>,
    tree: &'a Node,
}

impl V<'_> {
    fn err(&self, path: &[&str], msg: String) -> SpecError {
        match pos_at(self.tree, path) {
            Some(p) => self.ctx.err(Raw::new(p, msg)),
            None => SpecError::msg(msg),
        }
    }
}

pub fn validate(ctx: &Ctx, p: &Project, tree: &Node) -> Result<(), SpecError> {
    let v = V { ctx, tree };
    for s in p.services.values() {
        service(&v, p, s)?;
    }
    for (kind, map) in [("secrets", &p.secrets), ("configs", &p.configs)] {
        for (k, o) in map {
            let has =
                o.external || o.file.is_some() || o.environment.is_some() || o.content.is_some();
            if !has {
                return Err(v.err(
                    &[kind, k],
                    format!(
                        "{kind}.{k}: one of `file`, `environment`{} or `external` is required",
                        if kind == "configs" { ", `content`" } else { "" }
                    ),
                ));
            }
        }
    }
    cycles(&v, p)
}

fn service(v: &V, p: &Project, s: &Service) -> Result<(), SpecError> {
    let n = s.name.as_str();
    if s.image.is_none() && s.build.is_none() && s.provider.is_none() {
        return Err(v.err(
            &["services", n],
            format!("service {n:?} has neither an image nor a build context specified"),
        ));
    }
    if let Some(b) = &s.build
        && b.dockerfile.is_some()
        && b.dockerfile_inline.is_some()
        && b.dockerfile.as_deref() != Some("Dockerfile")
    {
        return Err(v.err(
            &["services", n, "build"],
            format!("service {n:?} declares both `dockerfile` and `dockerfile_inline`"),
        ));
    }
    for d in s.depends_on.keys() {
        if !p.services.contains_key(d) && !p.disabled_services.contains_key(d) {
            let known: Vec<&str> = p.services.keys().map(String::as_str).collect();
            let mut msg = format!("service {n:?} depends on undefined service {d:?}");
            if let Some(b) = crate::convert::did_you_mean(d, &known) {
                msg.push_str(&format!(" (did you mean {b:?}?)"));
            }
            return Err(v.err(&["services", n, "depends_on", d], msg));
        }
    }
    if s.network_mode.is_some() && !s.networks.is_empty() {
        return Err(v.err(
            &["services", n, "network_mode"],
            format!("service {n:?} declares mutually exclusive `network_mode` and `networks`"),
        ));
    }
    if let Some(nm) = s
        .network_mode
        .as_deref()
        .and_then(|m| m.strip_prefix("service:"))
        && !p.services.contains_key(nm)
        && !p.disabled_services.contains_key(nm)
    {
        return Err(v.err(
            &["services", n, "network_mode"],
            format!("service {n:?}: network_mode refers to undefined service {nm:?}"),
        ));
    }
    for net in s.networks.keys() {
        if !p.networks.contains_key(net) {
            return Err(v.err(
                &["services", n, "networks", net],
                format!("service {n:?} refers to undefined network {net}"),
            ));
        }
    }
    let mut targets = HashSet::new();
    for (i, m) in s.volumes.iter().enumerate() {
        if m.kind == "volume"
            && let Some(src) = &m.source
            && !p.volumes.contains_key(src)
        {
            return Err(v.err(
                &["services", n, "volumes"],
                format!("service {n:?} refers to undefined volume {src}"),
            ));
        }
        if m.target.is_empty() {
            return Err(v.err(
                &["services", n, "volumes"],
                format!("services.{n}.volumes[{i}]: `target` is required"),
            ));
        }
        if !targets.insert(m.target.clone()) {
            return Err(v.err(
                &["services", n, "volumes"],
                format!("service {n:?}: duplicate mount target {}", m.target),
            ));
        }
    }
    for (kind, refs, defined) in [
        ("secret", &s.secrets, &p.secrets),
        ("config", &s.configs, &p.configs),
    ] {
        for r in refs {
            if !defined.contains_key(&r.source) {
                return Err(v.err(
                    &["services", n, &format!("{kind}s")],
                    format!("service {n:?} refers to undefined {kind} {}", r.source),
                ));
            }
        }
    }
    let replicas = s.deploy.as_ref().and_then(|d| d.replicas);
    if let (Some(a), Some(b)) = (s.scale, replicas)
        && a != b
    {
        return Err(v.err(
            &["services", n, "scale"],
            format!("services.{n}: can't set distinct values on 'scale' and 'deploy.replicas'"),
        ));
    }
    if replicas.is_some_and(|r| r < 0) {
        return Err(v.err(
            &["services", n, "deploy", "replicas"],
            format!("services.{n}.deploy.replicas: must be greater than or equal to 0"),
        ));
    }
    if s.container_name.is_some() && s.scale.or(replicas).unwrap_or(1) > 1 {
        return Err(v.err(
            &["services", n, "container_name"],
            format!(
                "services.{n}: can't set container_name and {n} as container name must be unique"
            ),
        ));
    }
    let limits = s.deploy.as_ref().and_then(|d| d.resources.limits.as_ref());
    let res = s
        .deploy
        .as_ref()
        .and_then(|d| d.resources.reservations.as_ref());
    // Compose's rule: a service-level value (non-zero) must equal the one in
    // the deploy block whenever that block exists, unset counting as zero.
    let cpu = |v: Option<f64>| v.unwrap_or(0.0);
    let mem = |v: Option<crate::units::Bytes>| v.map_or(0, |b| b.0);
    let differ = [
        (
            "cpus",
            "deploy.resources.limits.cpus",
            cpu(s.cpus) != 0.0 && limits.is_some_and(|l| cpu(l.cpus) != cpu(s.cpus)),
        ),
        (
            "mem_limit",
            "deploy.resources.limits.memory",
            mem(s.mem_limit) != 0 && limits.is_some_and(|l| mem(l.memory) != mem(s.mem_limit)),
        ),
        (
            "pids_limit",
            "deploy.resources.limits.pids",
            s.pids_limit.unwrap_or(0) != 0
                && limits.is_some_and(|l| l.pids.unwrap_or(0) != s.pids_limit.unwrap_or(0)),
        ),
        (
            "mem_reservation",
            "deploy.resources.reservations.memory",
            mem(s.mem_reservation) != 0
                && res.is_some_and(|l| mem(l.memory) != mem(s.mem_reservation)),
        ),
    ];
    for (a, b, bad) in differ {
        if bad {
            return Err(v.err(
                &["services", n, a],
                format!("services.{n}: can't set distinct values on '{a}' and '{b}'"),
            ));
        }
    }
    if let Some(d) = &s.develop {
        for (i, w) in d.watch.iter().enumerate() {
            // Only the actions that copy files need somewhere to put them.
            let syncs = matches!(w.action.as_str(), "sync" | "sync+restart" | "sync+exec");
            if syncs && w.target.is_none() {
                return Err(v.err(
                    &["services", n, "develop"],
                    format!(
                        "services.{n}.develop.watch[{i}]: `target` is required for action {:?}",
                        w.action
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Depth-first search for a `depends_on` cycle; the error names it.
fn cycles(v: &V, p: &Project) -> Result<(), SpecError> {
    fn visit<'a>(
        p: &'a Project,
        n: &'a str,
        stack: &mut Vec<&'a str>,
        done: &mut HashSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|x| *x == n) {
            let mut c: Vec<String> = stack[i..].iter().map(|s| s.to_string()).collect();
            c.push(n.to_owned());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n);
        if let Some(s) = p.services.get(n) {
            for d in s.depends_on.keys() {
                if let Some(c) = visit(p, d, stack, done) {
                    return Some(c);
                }
            }
        }
        stack.pop();
        done.insert(n);
        None
    }
    let mut done = HashSet::new();
    for n in p.services.keys() {
        if let Some(c) = visit(p, n, &mut Vec::new(), &mut done) {
            return Err(v.err(
                &["services", &c[0], "depends_on"],
                format!("dependency cycle detected: {}", c.join(" -> ")),
            ));
        }
    }
    Ok(())
}
