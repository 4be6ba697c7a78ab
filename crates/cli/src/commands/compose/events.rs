//! `berth events`: container events of the project (create, start, die,
//! pause, unpause, health_status, destroy…) as its containers' state files
//! change, in Compose's text or `--json` form.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use berth_compose::engine::labels;
use berth_runtime::{Container, Status};
use serde_json::json;

use crate::global::Global;

#[derive(clap::Args, Debug)]
pub struct EventsArgs {
    /// Output events as a stream of json objects
    #[arg(long)]
    json: bool,
    services: Vec<String>,
}

/// What of a container's state produces events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub name: String,
    pub service: String,
    pub image: String,
    pub status: Status,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub exit_code: Option<i32>,
    pub health: String,
}

impl Seen {
    fn of(c: &Container) -> Seen {
        Seen {
            name: c.config.name.clone(),
            service: c
                .config
                .labels
                .get(labels::SERVICE)
                .cloned()
                .unwrap_or_default(),
            image: c.config.image.clone(),
            status: c.state.status,
            started_at: c.state.started_at.clone(),
            finished_at: c.state.finished_at.clone(),
            exit_code: c.state.exit_code,
            health: c
                .state
                .health
                .as_ref()
                .map(|h| h.status.clone())
                .unwrap_or_default(),
        }
    }
}

/// The events between two looks at one container (`before` None: new).
/// A start and an exit between two looks are both reported, from the
/// recorded times.
pub fn changes(before: Option<&Seen>, now: &Seen) -> Vec<(String, Option<i32>)> {
    let mut out = Vec::new();
    let Some(b) = before else {
        out.push(("create".to_string(), None));
        if now.started_at.is_some() {
            out.push(("start".into(), None));
        }
        if now.status == Status::Exited && now.finished_at.is_some() {
            out.push(("die".into(), now.exit_code));
        }
        return out;
    };
    let started = now.started_at != b.started_at && now.started_at.is_some();
    let finished = now.finished_at != b.finished_at && now.finished_at.is_some();
    if started {
        if b.status.is_active() {
            // The run seen last time ended before this one began.
            out.push(("die".into(), now.exit_code));
        }
        out.push(("start".into(), None));
    }
    if finished && !now.status.is_active() {
        out.push(("die".into(), now.exit_code));
    }
    match (b.status, now.status) {
        (Status::Running, Status::Paused) => out.push(("pause".into(), None)),
        (Status::Paused, Status::Running) => out.push(("unpause".into(), None)),
        _ => {}
    }
    if now.name != b.name {
        out.push(("rename".into(), None));
    }
    if now.health != b.health && !now.health.is_empty() {
        out.push((format!("health_status: {}", now.health), None));
    }
    out
}

fn emit(json: bool, id: &str, s: &Seen, action: &str, exit: Option<i32>) {
    let now = time::OffsetDateTime::now_utc();
    let mut attrs: BTreeMap<&str, String> = BTreeMap::new();
    attrs.insert("image", s.image.clone());
    attrs.insert("name", s.name.clone());
    if let Some(code) = exit {
        attrs.insert("exitCode", code.to_string());
    }
    let mut out = std::io::stdout().lock();
    if json {
        let t = now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let v = json!({"action": action, "attributes": attrs, "id": id, "service": s.service, "time": t, "type": "container"});
        let _ = writeln!(out, "{v}");
    } else {
        let f = time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:6]"
        );
        let attrs: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            out,
            "{} container {action} {id} ({})",
            now.format(&f).unwrap_or_default(),
            attrs.join(", ")
        );
    }
    let _ = out.flush();
}

/// Streams events until interrupted (or the output goes away).
pub fn events(g: &Global, a: EventsArgs) -> anyhow::Result<i32> {
    let engine = super::engine(g, &[])?;
    super::lifecycle::check_services(&engine, &a.services)?;
    let look = || -> anyhow::Result<BTreeMap<String, Seen>> {
        Ok(engine
            .containers()?
            .iter()
            .map(|c| (c.config.id.clone(), Seen::of(c)))
            .filter(|(_, s)| a.services.is_empty() || a.services.contains(&s.service))
            .collect())
    };
    let mut last = look()?;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = look()?;
        for (id, s) in &now {
            for (action, exit) in changes(last.get(id), s) {
                emit(a.json, id, s, &action, exit);
            }
        }
        for (id, s) in &last {
            if !now.contains_key(id) {
                emit(a.json, id, s, "destroy", None);
            }
        }
        last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(status: Status, started: Option<&str>, finished: Option<&str>) -> Seen {
        Seen {
            name: "app-web-1".into(),
            service: "web".into(),
            image: "busybox".into(),
            status,
            started_at: started.map(str::to_owned),
            finished_at: finished.map(str::to_owned),
            exit_code: finished.map(|_| 3),
            health: String::new(),
        }
    }

    fn actions(v: Vec<(String, Option<i32>)>) -> Vec<String> {
        v.into_iter().map(|(a, _)| a).collect()
    }

    #[test]
    fn transitions_become_docker_actions() {
        let created = seen(Status::Created, None, None);
        assert_eq!(actions(changes(None, &created)), ["create"]);
        let running = seen(Status::Running, Some("t1"), None);
        assert_eq!(actions(changes(Some(&created), &running)), ["start"]);
        let exited = seen(Status::Exited, Some("t1"), Some("t2"));
        let die = changes(Some(&running), &exited);
        assert_eq!(die, vec![("die".to_string(), Some(3))]);
        // Started and exited between two looks.
        assert_eq!(actions(changes(Some(&created), &exited)), ["start", "die"]);
        // Restarted by its policy between two looks.
        let again = seen(Status::Running, Some("t3"), Some("t2"));
        assert_eq!(actions(changes(Some(&running), &again)), ["die", "start"]);
        let mut paused = running.clone();
        paused.status = Status::Paused;
        assert_eq!(actions(changes(Some(&running), &paused)), ["pause"]);
        assert_eq!(actions(changes(Some(&paused), &running)), ["unpause"]);
        let mut healthy = running.clone();
        healthy.health = "healthy".into();
        assert_eq!(
            actions(changes(Some(&running), &healthy)),
            ["health_status: healthy"]
        );
    }
}
