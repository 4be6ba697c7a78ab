//! `port`, `top`, `ls`, `images`, `version`, `events`.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use berth_compose::engine::labels;
use berth_runtime::Runtime;
use serde_json::json;

use crate::global::Global;

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
    /// Format the output: table or json
    #[arg(long, default_value = "table")]
    format: String,
}

pub fn ls(g: &Global, a: LsArgs) -> anyhow::Result<i32> {
    let rt = Runtime::open(&g.root());
    // project → (status → count, config files)
    let mut projects: BTreeMap<String, (BTreeMap<String, usize>, String)> = BTreeMap::new();
    for c in rt.list()? {
        let Some(p) = c.config.labels.get(labels::PROJECT) else {
            continue;
        };
        let e = projects.entry(p.clone()).or_default();
        *e.0.entry(c.state.status.as_str().to_owned()).or_default() += 1;
        e.1 = c
            .config
            .labels
            .get(labels::CONFIG_FILES)
            .cloned()
            .unwrap_or_default();
    }
    projects.retain(|_, (st, _)| a.all || st.contains_key("running"));
    let status = |st: &BTreeMap<String, usize>| {
        st.iter()
            .map(|(k, n)| format!("{k}({n})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for p in projects.keys() {
            writeln!(out, "{p}")?;
        }
    } else if a.format == "json" {
        let v: Vec<_> = projects
            .iter()
            .map(|(n, (st, f))| json!({"Name": n, "Status": status(st), "ConfigFiles": f}))
            .collect();
        writeln!(out, "{}", serde_json::to_string(&v)?)?;
    } else {
        let w = projects.keys().map(|k| k.len()).max().unwrap_or(4).max(4) + 3;
        let sw = projects
            .values()
            .map(|(st, _)| status(st).len())
            .max()
            .unwrap_or(6)
            .max(6)
            + 3;
        writeln!(out, "{:<w$}{:<sw$}CONFIG FILES", "NAME", "STATUS")?;
        for (n, (st, f)) in &projects {
            writeln!(out, "{:<w$}{:<sw$}{}", n, status(st), f)?;
        }
    }
    Ok(0)
}

#[derive(clap::Args, Debug)]
pub struct ImagesArgs {
    /// Only display IDs
    #[arg(short, long)]
    quiet: bool,
    /// Format the output: table or json
    #[arg(long, default_value = "table")]
    format: String,
    services: Vec<String>,
}

pub fn images(g: &Global, a: ImagesArgs) -> anyhow::Result<i32> {
    let engine = super::engine(g, &[])?;
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
        let id = c
            .config
            .image_id
            .trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect::<String>();
        let size = img.map(|i| i.size).unwrap_or(0);
        rows.push((c.config.name.clone(), repo, tag, id, size));
    }
    rows.sort();
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for r in &rows {
            writeln!(out, "{}", r.3)?;
        }
    } else if a.format == "json" {
        let v: Vec<_> = rows.iter().map(|r| json!({"ContainerName": r.0, "Repository": r.1, "Tag": r.2, "ID": r.3, "Size": r.4})).collect();
        writeln!(out, "{}", serde_json::to_string(&v)?)?;
    } else {
        writeln!(
            out,
            "{:<24}{:<40}{:<10}{:<15}SIZE",
            "CONTAINER", "REPOSITORY", "TAG", "IMAGE ID"
        )?;
        for r in rows {
            writeln!(
                out,
                "{:<24}{:<40}{:<10}{:<15}{:.1}MB",
                r.0,
                r.1,
                r.2,
                r.3,
                r.4 as f64 / 1e6
            )?;
        }
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
        println!("{}", json!({"version": v}));
    } else {
        println!("berth version v{v}");
    }
    Ok(0)
}

#[derive(clap::Args, Debug)]
pub struct EventsArgs {
    /// Output events as a stream of json objects
    #[arg(long)]
    json: bool,
    services: Vec<String>,
}

/// Streams container events (create, start, die, destroy, health_status…)
/// as the state files change.
pub fn events(g: &Global, a: EventsArgs) -> anyhow::Result<i32> {
    let engine = super::engine(g, &[])?;
    let mut last: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    let mut first = true;
    loop {
        let mut now: BTreeMap<String, (String, String, String)> = BTreeMap::new();
        for c in engine.containers()? {
            let svc = c
                .config
                .labels
                .get(labels::SERVICE)
                .cloned()
                .unwrap_or_default();
            if !a.services.is_empty() && !a.services.contains(&svc) {
                continue;
            }
            let health = c
                .state
                .health
                .as_ref()
                .map(|h| h.status.clone())
                .unwrap_or_default();
            now.insert(
                c.config.id.clone(),
                (
                    c.config.name.clone(),
                    c.state.status.as_str().to_owned(),
                    health,
                ),
            );
        }
        if !first {
            let emit = |id: &str, name: &str, action: &str| {
                let t = time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                if a.json {
                    println!(
                        "{}",
                        json!({"time": t, "type": "container", "action": action, "id": id, "service": name})
                    );
                } else {
                    println!("{t} container {action} {id} (name={name})");
                }
                let _ = std::io::stdout().flush();
            };
            for (id, (name, st, h)) in &now {
                match last.get(id) {
                    None => emit(id, name, "create"),
                    Some((_, old, oh)) => {
                        if old != st {
                            let action = match st.as_str() {
                                "running" if old == "paused" => "unpause",
                                "running" => "start",
                                "paused" => "pause",
                                "exited" => "die",
                                "restarting" => "restart",
                                other => other,
                            };
                            emit(id, name, action);
                        }
                        if oh != h && !h.is_empty() {
                            emit(id, name, &format!("health_status: {h}"));
                        }
                    }
                }
            }
            for (id, (name, _, _)) in &last {
                if !now.contains_key(id) {
                    emit(id, name, "destroy");
                }
            }
        }
        first = false;
        last = now;
        std::thread::sleep(Duration::from_millis(100));
    }
}
