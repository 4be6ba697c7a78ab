//! `berth ps`: the project's containers, as a table or Compose's JSON.

use std::io::Write;

use berth_compose::engine::labels;
use berth_runtime::{Container, Status};
use serde_json::json;

use crate::global::Global;
use crate::output::human;

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
    /// Filter services by status (created, restarting, running, removing, paused, exited, dead)
    #[arg(long)]
    status: Vec<String>,
    /// Format output: table or json
    #[arg(long, default_value = "table")]
    format: String,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    service_names: Vec<String>,
}

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
            format!(
                "{}:{}->{}/{}",
                p.host_ip, p.host_port, p.container_port, p.protocol
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn command(c: &Container, trunc: bool) -> String {
    let mut s = c.config.process.args.join(" ");
    if trunc && s.chars().count() > 20 {
        s = s.chars().take(20).collect::<String>() + "…";
    }
    format!("\"{s}\"")
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let engine = super::engine(g, &[])?;
    let mut cs = engine.containers()?;
    cs.retain(|c| a.all || c.state.status.is_active() || !a.status.is_empty());
    cs.retain(|c| a.status.is_empty() || a.status.iter().any(|s| s == c.state.status.as_str()));
    let svc = |c: &Container| {
        c.config
            .labels
            .get(labels::SERVICE)
            .cloned()
            .unwrap_or_default()
    };
    cs.retain(|c| a.service_names.is_empty() || a.service_names.contains(&svc(c)));
    cs.sort_by(|x, y| x.config.name.cmp(&y.config.name));
    let mut out = std::io::stdout().lock();
    if a.services {
        let mut names: Vec<String> = cs.iter().map(svc).collect();
        names.dedup();
        for n in names {
            writeln!(out, "{n}")?;
        }
        return Ok(0);
    }
    if a.quiet {
        for c in &cs {
            writeln!(
                out,
                "{}",
                if a.no_trunc {
                    &c.config.id[..]
                } else {
                    &c.config.id[..12]
                }
            )?;
        }
        return Ok(0);
    }
    if a.format == "json" {
        for c in &cs {
            let p = ports(g, c);
            let v = json!({
                "Command": command(c, false),
                "CreatedAt": c.state.created_at,
                "ExitCode": c.state.exit_code.unwrap_or(0),
                "Health": c.state.health.as_ref().map(|h| h.status.clone()).unwrap_or_default(),
                "ID": &c.config.id[..12],
                "Image": c.config.image,
                "Labels": c.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                "Name": c.config.name,
                "Names": c.config.name,
                "Networks": match &c.config.network { berth_runtime::NetworkMode::Bridge(a) => a.iter().map(|a| a.network.clone()).collect::<Vec<_>>().join(","), _ => String::new() },
                "Ports": ports_text(&p),
                "Project": c.config.labels.get(labels::PROJECT).cloned().unwrap_or_default(),
                "Publishers": p.iter().map(|p| json!({"URL": p.host_ip, "TargetPort": p.container_port, "PublishedPort": p.host_port, "Protocol": p.protocol})).collect::<Vec<_>>(),
                "RunningFor": human::ago(&c.state.created_at),
                "Service": svc(c),
                "State": c.state.status.as_str(),
                "Status": status_text(c),
            });
            writeln!(out, "{v}")?;
        }
        return Ok(0);
    }
    if a.format != "table" {
        anyhow::bail!("--format {:?}: expected table or json", a.format);
    }
    let rows: Vec<[String; 7]> = cs
        .iter()
        .map(|c| {
            [
                c.config.name.clone(),
                c.config.image.clone(),
                command(c, !a.no_trunc),
                svc(c),
                human::ago(&c.state.created_at),
                status_text(c),
                ports_text(&ports(g, c)),
            ]
        })
        .collect();
    let head = [
        "NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS",
    ];
    let mut w = head.map(|h| h.chars().count());
    for r in &rows {
        for (i, cell) in r.iter().enumerate() {
            w[i] = w[i].max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(w[i] - c.chars().count() + 3));
            }
        }
        s.trim_end().to_owned()
    };
    writeln!(out, "{}", line(&head.map(String::from)))?;
    for r in &rows {
        writeln!(out, "{}", line(r))?;
    }
    Ok(0)
}
