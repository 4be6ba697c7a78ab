//! `berth ps`: the project's containers, as a table, Compose's JSON, or a
//! `--format` template.

use std::io::Write;

use berth_compose::engine::labels;
use berth_runtime::{Container, MountKind, Status};
use serde_json::{Value, json};

use crate::global::Global;
use crate::output::human;
use crate::output::table;
use crate::output::template::Template;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show all stopped containers (including those created by the run command)
    #[arg(short, long)]
    all: bool,
    /// Only display IDs
    #[arg(short, long)]
    quiet: bool,
    /// Display services
    #[arg(long)]
    services: bool,
    /// Filter services by status. Values: [paused | restarting | removing | running | dead | created | exited]
    #[arg(long)]
    status: Vec<String>,
    /// Filter services by a property (supported filters: status)
    #[arg(long)]
    filter: Option<String>,
    /// Format output: table, json, or a Go template ('{{.Name}} {{.State}}')
    #[arg(long, default_value = "table")]
    format: String,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Include orphaned services (not declared by project)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    orphans: bool,
    service_names: Vec<String>,
}

const STATUSES: [&str; 7] = [
    "paused",
    "restarting",
    "removing",
    "running",
    "dead",
    "created",
    "exited",
];

/// Docker's status column: `Up 5 seconds (healthy)`, `Exited (0) 3 seconds ago`.
pub fn status_text(c: &Container) -> String {
    let st = &c.state;
    match st.status {
        Status::Running | Status::Paused => {
            let mut s = format!(
                "Up {}",
                human::duration(human::since(st.started_at.as_deref().unwrap_or("")))
            );
            if st.status == Status::Paused {
                s.push_str(" (Paused)");
            }
            if let Some(h) = &st.health {
                s.push_str(&format!(
                    " ({})",
                    if h.status == "starting" {
                        "health: starting"
                    } else {
                        &h.status
                    }
                ));
            }
            s
        }
        Status::Restarting => format!(
            "Restarting ({}) {}",
            st.exit_code.unwrap_or(0),
            human::ago(st.finished_at.as_deref().unwrap_or(""))
        ),
        Status::Exited => format!(
            "Exited ({}) {}",
            st.exit_code.unwrap_or(0),
            human::ago(st.finished_at.as_deref().unwrap_or(&st.created_at))
        ),
        Status::Created => "Created".into(),
        Status::Dead => "Dead".into(),
    }
}

fn ports(g: &Global, c: &Container) -> Vec<berth_net::firewall::Published> {
    if !c.state.status.is_active() {
        return Vec::new();
    }
    berth_net::ports::published(&g.root(), &c.config.id).unwrap_or_default()
}

pub fn ports_text(p: &[berth_net::firewall::Published]) -> String {
    p.iter()
        .map(|p| {
            let ip = if p.host_ip.contains(':') {
                format!("[{}]", p.host_ip)
            } else {
                p.host_ip.clone()
            };
            format!("{ip}:{}->{}/{}", p.host_port, p.container_port, p.protocol)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Docker's `Ellipsis`: at most `n` characters, the last one `…`.
fn ellipsis(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_owned();
    }
    s.chars().take(n - 1).collect::<String>() + "…"
}

fn command(c: &Container, trunc: bool) -> String {
    let s = c.config.process.args.join(" ");
    let s = if trunc { ellipsis(&s, 20) } else { s };
    serde_json::to_string(&s).unwrap_or_default()
}

/// Go's `time.Time.String()` of an RFC 3339 UTC time:
/// `2024-05-01 10:00:00 +0000 UTC`, as Compose prints `CreatedAt`.
fn go_time(rfc3339: &str) -> String {
    let rfc = &time::format_description::well_known::Rfc3339;
    match time::OffsetDateTime::parse(rfc3339, rfc) {
        Ok(t) => {
            let f = time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] +0000 UTC"
            );
            t.to_offset(time::UtcOffset::UTC)
                .format(&f)
                .unwrap_or_default()
        }
        Err(_) => rfc3339.to_owned(),
    }
}

fn service(c: &Container) -> String {
    c.config
        .labels
        .get(labels::SERVICE)
        .cloned()
        .unwrap_or_default()
}

/// The fields of Compose's `ContainerSummary` as `ps --format json` prints
/// them (keys sorted, as Go's JSON of a map).
fn summary(g: &Global, c: &Container, trunc: bool) -> Value {
    let p = ports(g, c);
    let volumes: Vec<&berth_runtime::Mount> = c
        .config
        .mounts
        .iter()
        .filter(|m| m.kind == MountKind::Volume)
        .collect();
    let mounts: Vec<String> = c
        .config
        .mounts
        .iter()
        .filter(|m| m.kind != MountKind::Tmpfs)
        .map(|m| {
            let name = m.source.clone().unwrap_or_default();
            if trunc { ellipsis(&name, 15) } else { name }
        })
        .collect();
    let networks: Vec<String> = match &c.config.network {
        berth_runtime::NetworkMode::Bridge(a) => a.iter().map(|a| a.network.clone()).collect(),
        _ => Vec::new(),
    };
    let mut publishers: Vec<Value> = p
        .iter()
        .map(|p| {
            json!({"URL": p.host_ip, "TargetPort": p.container_port, "PublishedPort": p.host_port, "Protocol": p.protocol})
        })
        .collect();
    publishers.sort_by_key(|v| v.to_string());
    json!({
        "Command": command(c, trunc),
        "CreatedAt": go_time(&c.state.created_at),
        "ExitCode": c.state.exit_code.unwrap_or(0),
        "Health": c.state.health.as_ref().map(|h| h.status.clone()).unwrap_or_default(),
        "ID": if trunc { c.config.id[..12].to_owned() } else { c.config.id.clone() },
        "Image": c.config.image,
        "Labels": c.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
        "LocalVolumes": volumes.len().to_string(),
        "Mounts": mounts.join(","),
        "Name": c.config.name,
        "Names": c.config.name,
        "Networks": networks.join(","),
        "Ports": ports_text(&p),
        "Project": c.config.labels.get(labels::PROJECT).cloned().unwrap_or_default(),
        "Publishers": publishers,
        "RunningFor": human::ago(&c.state.created_at),
        "Service": service(c),
        "Size": "0B",
        "State": c.state.status.as_str(),
        "Status": status_text(c),
    })
}

pub fn run(g: &Global, mut a: Args) -> anyhow::Result<i32> {
    if let Some(f) = &a.filter {
        match f.split_once('=') {
            Some(("status", v)) => a.status.push(v.to_owned()),
            Some((k, _)) => anyhow::bail!("unknown filter {k}"),
            None => anyhow::bail!("arguments to --filter should be in form KEY=VAL"),
        }
    }
    for s in &a.status {
        if !STATUSES.contains(&s.as_str()) {
            anyhow::bail!(
                "invalid status {s:?}: expected one of {}",
                STATUSES.join(", ")
            );
        }
    }
    let engine = super::engine(g, &[])?;
    for s in &a.service_names {
        if !engine.project.services.contains_key(s) {
            anyhow::bail!("no such service: {s}");
        }
    }
    let mut cs = engine.containers()?;
    if a.all {
        // `-a` also lists the one-off containers of `run`.
        cs.extend(engine.oneoff_containers()?);
    }
    let all = a.all || !a.status.is_empty();
    cs.retain(|c| all || c.state.status.is_active());
    cs.retain(|c| a.status.is_empty() || a.status.iter().any(|s| s == c.state.status.as_str()));
    cs.retain(|c| a.service_names.is_empty() || a.service_names.contains(&service(c)));
    cs.retain(|c| a.orphans || engine.project.services.contains_key(&service(c)));
    cs.sort_by(|x, y| x.config.name.cmp(&y.config.name));
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for c in &cs {
            writeln!(out, "{}", c.config.id)?;
        }
        return Ok(0);
    }
    if a.services {
        let mut names: Vec<String> = Vec::new();
        for c in &cs {
            let s = service(c);
            if !names.contains(&s) {
                names.push(s);
            }
        }
        for n in names {
            writeln!(out, "{n}")?;
        }
        return Ok(0);
    }
    let trunc = !a.no_trunc;
    match a.format.as_str() {
        "json" => {
            for c in &cs {
                writeln!(out, "{}", summary(g, c, trunc))?;
            }
        }
        "table" | "" => {
            let head = [
                "NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS",
            ];
            let rows: Vec<Vec<String>> = cs
                .iter()
                .map(|c| {
                    vec![
                        c.config.name.clone(),
                        c.config.image.clone(),
                        command(c, trunc),
                        service(c),
                        human::ago(&c.state.created_at),
                        status_text(c),
                        ports_text(&ports(g, c)),
                    ]
                })
                .collect();
            write!(out, "{}", table::render(&head, &rows))?;
        }
        custom => {
            let t = Template::parse(custom).map_err(anyhow::Error::msg)?;
            if t.table {
                writeln!(out, "{}", t.header())?;
            }
            for c in &cs {
                writeln!(
                    out,
                    "{}",
                    t.render(&summary(g, c, trunc))
                        .map_err(anyhow::Error::msg)?
                )?;
            }
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_formats() {
        assert_eq!(
            go_time("2024-05-01T10:00:00.123456789Z"),
            "2024-05-01 10:00:00 +0000 UTC"
        );
        assert_eq!(
            ellipsis("sh -c 'sleep 1000; echo'", 20),
            "sh -c 'sleep 1000; …"
        );
        assert_eq!(ellipsis("short", 20), "short");
    }
}
