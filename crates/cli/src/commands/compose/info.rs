//! `port`, `top`, `ls`, `images`, `version`.

use std::collections::BTreeMap;
use std::io::Write;

use berth_compose::engine::labels;
use berth_runtime::Runtime;
use serde_json::json;

use crate::global::Global;
use crate::output::{human, table};

#[derive(clap::Args, Debug)]
pub struct PortArgs {
    /// tcp or udp
    #[arg(long, default_value = "tcp")]
    protocol: String,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value = "1")]
    index: u32,
    service: String,
    private_port: u16,
}

pub fn port(g: &Global, a: PortArgs) -> anyhow::Result<i32> {
    let engine = super::engine(g, &[])?;
    let c = engine
        .containers()?
        .into_iter()
        .find(|c| {
            c.config.labels.get(labels::SERVICE) == Some(&a.service)
                && c.config
                    .labels
                    .get(labels::NUMBER)
                    .is_some_and(|n| *n == a.index.to_string())
        })
        .ok_or_else(|| anyhow::anyhow!("service \"{}\" is not running", a.service))?;
    let published = berth_net::ports::published(&g.root(), &c.config.id)?;
    match published
        .iter()
        .find(|p| p.container_port == a.private_port && p.protocol == a.protocol)
    {
        Some(p) => {
            println!("{}:{}", p.host_ip, p.host_port);
            Ok(0)
        }
        None => anyhow::bail!(
            "no port {}/{} for container {}",
            a.private_port,
            a.protocol,
            c.config.name
        ),
    }
}

/// `ps -ef`-like rows for the processes of a container.
fn processes(pids: &[i32]) -> Vec<[String; 8]> {
    let ticks = 100.0;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let boot = time::OffsetDateTime::now_utc() - time::Duration::seconds_f64(uptime);
    pids.iter()
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let rest = &stat[stat.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split(' ').collect();
            let ppid = f.get(1)?.to_string();
            let cpu: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
            let start: f64 = f.get(19)?.parse::<f64>().ok()? / ticks;
            let stime = boot + time::Duration::seconds_f64(start);
            let uid = std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()?
                .lines()
                .find_map(|l| {
                    l.strip_prefix("Uid:")
                        .map(|v| v.split_whitespace().next().unwrap_or("0").to_owned())
                })?;
            let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .ok()?
                .replace('\0', " ")
                .trim()
                .to_owned();
            let secs = cpu / ticks as u64;
            Some([
                if uid == "0" { "root".into() } else { uid },
                pid.to_string(),
                ppid,
                "0".into(),
                format!("{:02}:{:02}", stime.hour(), stime.minute()),
                "?".into(),
                format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60),
                cmd,
            ])
        })
        .collect()
}

pub fn top(g: &Global, services: Vec<String>) -> anyhow::Result<i32> {
    let engine = super::engine(g, &[])?;
    let mut cs = engine.containers()?;
    cs.retain(|c| {
        c.state.status.is_active()
            && (services.is_empty()
                || c.config
                    .labels
                    .get(labels::SERVICE)
                    .is_some_and(|s| services.contains(s)))
    });
    cs.sort_by(|a, b| a.config.name.cmp(&b.config.name));
    let mut out = std::io::stdout().lock();
    for c in cs {
        writeln!(out, "{}", c.config.name)?;
        writeln!(
            out,
            "{:<8} {:<7} {:<7} {:<3} {:<5} {:<4} {:<8} CMD",
            "UID", "PID", "PPID", "C", "STIME", "TTY", "TIME"
        )?;
        for r in processes(&engine.runtime.pids(&c.config.id)?) {
            writeln!(
                out,
                "{:<8} {:<7} {:<7} {:<3} {:<5} {:<4} {:<8} {}",
                r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]
            )?;
        }
        writeln!(out)?;
    }
    Ok(0)
}

#[derive(clap::Args, Debug)]
pub struct LsArgs {
    /// Show all stopped Compose projects
    #[arg(short, long)]
    all: bool,
    /// Only display project names
    #[arg(short, long)]
    quiet: bool,
    /// Format the output. Values: [table | json]
    #[arg(long, default_value = "table")]
    format: String,
    /// Filter output based on conditions provided (name=NAME)
    #[arg(long)]
    filter: Vec<String>,
}

/// Compose's project status: `running(2), exited(1)`.
fn combined_status(st: &BTreeMap<String, usize>) -> String {
    st.iter()
        .map(|(k, n)| format!("{k}({n})"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn ls(g: &Global, a: LsArgs) -> anyhow::Result<i32> {
    let mut names: Vec<String> = Vec::new();
    for f in &a.filter {
        match f.split_once('=') {
            Some(("name", v)) => names.push(v.to_owned()),
            _ => anyhow::bail!("invalid filter {f:?}: supported filters: name=NAME"),
        }
    }
    let rt = Runtime::open(&g.root());
    // project → (status → count, config files)
    let mut projects: BTreeMap<String, (BTreeMap<String, usize>, String)> = BTreeMap::new();
    for c in rt.list()? {
        let Some(p) = c.config.labels.get(labels::PROJECT) else {
            continue;
        };
        if c.config.labels.get(labels::ONEOFF).map(String::as_str) == Some("True") {
            continue;
        }
        let e = projects.entry(p.clone()).or_default();
        *e.0.entry(c.state.status.as_str().to_owned()).or_default() += 1;
        e.1 = c
            .config
            .labels
            .get(labels::CONFIG_FILES)
            .cloned()
            .unwrap_or_default();
    }
    projects.retain(|name, (st, _)| {
        (a.all || st.contains_key("running"))
            && (names.is_empty() || names.iter().any(|n| name.contains(n.as_str())))
    });
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for p in projects.keys() {
            writeln!(out, "{p}")?;
        }
        return Ok(0);
    }
    match a.format.as_str() {
        "json" => {
            let v: Vec<_> = projects
                .iter()
                .map(|(n, (st, f))| json!({"Name": n, "Status": combined_status(st), "ConfigFiles": f}))
                .collect();
            writeln!(out, "{}", serde_json::to_string(&v)?)?;
        }
        "table" | "" => {
            let rows: Vec<Vec<String>> = projects
                .iter()
                .map(|(n, (st, f))| vec![n.clone(), combined_status(st), f.clone()])
                .collect();
            write!(
                out,
                "{}",
                table::render(&["NAME", "STATUS", "CONFIG FILES"], &rows)
            )?;
        }
        other => anyhow::bail!("--format {other:?}: expected table or json"),
    }
    Ok(0)
}

#[derive(clap::Args, Debug)]
pub struct ImagesArgs {
    /// Only display IDs
    #[arg(short, long)]
    quiet: bool,
    /// Format the output. Values: [table | json]
    #[arg(long, default_value = "table")]
    format: String,
    services: Vec<String>,
}

pub fn images(g: &Global, a: ImagesArgs) -> anyhow::Result<i32> {
    let engine = super::engine(g, &[])?;
    super::lifecycle::check_services(&engine, &a.services)?;
    struct Row {
        container: String,
        repo: String,
        tag: String,
        platform: String,
        id: String,
        size: u64,
        created: Option<String>,
    }
    let mut rows = Vec::new();
    for c in engine.containers()? {
        if !a.services.is_empty()
            && !c
                .config
                .labels
                .get(labels::SERVICE)
                .is_some_and(|s| a.services.contains(s))
        {
            continue;
        }
        let img = engine.store.resolve(&c.config.image_id)?;
        let (repo, tag) = match c
            .config
            .image
            .rsplit_once(':')
            .filter(|(_, t)| !t.contains('/'))
        {
            Some((r, t)) => (r.to_owned(), t.to_owned()),
            None => (c.config.image.clone(), "latest".to_owned()),
        };
        rows.push(Row {
            container: c.config.name.clone(),
            repo,
            tag,
            platform: img
                .as_ref()
                .map(|i| match &i.variant {
                    Some(v) => format!("{}/{}/{v}", i.os, i.architecture),
                    None => format!("{}/{}", i.os, i.architecture),
                })
                .unwrap_or_default(),
            id: c.config.image_id.clone(),
            size: img.as_ref().map(|i| i.size).unwrap_or(0),
            created: img.and_then(|i| i.created),
        });
    }
    rows.sort_by(|x, y| x.container.cmp(&y.container));
    let short = |id: &str| {
        id.trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect::<String>()
    };
    let mut out = std::io::stdout().lock();
    if a.quiet {
        let mut ids: Vec<String> = rows.iter().map(|r| short(&r.id)).collect();
        ids.dedup();
        for id in ids {
            writeln!(out, "{id}")?;
        }
        return Ok(0);
    }
    match a.format.as_str() {
        "json" => {
            let v: Vec<_> = rows
                .iter()
                .map(|r| {
                    json!({"ID": r.id, "ContainerName": r.container, "Repository": r.repo, "Tag": r.tag, "Platform": r.platform, "Size": r.size, "Created": r.created})
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string(&v)?)?;
        }
        "table" | "" => {
            let table_rows: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.container.clone(),
                        r.repo.clone(),
                        r.tag.clone(),
                        r.platform.clone(),
                        short(&r.id),
                        human::size(r.size),
                        r.created
                            .as_deref()
                            .map(human::ago)
                            .unwrap_or_else(|| "N/A".into()),
                    ]
                })
                .collect();
            write!(
                out,
                "{}",
                table::render(
                    &[
                        "CONTAINER",
                        "REPOSITORY",
                        "TAG",
                        "PLATFORM",
                        "IMAGE ID",
                        "SIZE",
                        "CREATED"
                    ],
                    &table_rows
                )
            )?;
        }
        other => anyhow::bail!("--format {other:?}: expected table or json"),
    }
    Ok(0)
}

#[derive(clap::Args, Debug)]
pub struct VersionArgs {
    /// Format the output: pretty or json
    #[arg(short, long, default_value = "pretty")]
    format: String,
    /// Shows only the version number
    #[arg(long)]
    short: bool,
}

pub fn version(a: VersionArgs) -> anyhow::Result<i32> {
    let v = env!("CARGO_PKG_VERSION");
    if a.short {
        println!("{v}");
    } else if a.format == "json" {
        println!("{}", json!({"version": format!("v{v}")}));
    } else {
        println!("berth version v{v}");
    }
    Ok(0)
}
