//! `berth logs`, and the log streaming of an attached `up`.

use std::io::IsTerminal;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use berth_compose::engine::labels;
use berth_runtime::Container;

use crate::global::Global;
use crate::output::logprint::{LogFormat, LogPrinter};
use crate::output::style::Style;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// Number of lines to show from the end of the logs for each container
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    since: Option<String>,
    /// Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    until: Option<String>,
    /// Produce monochrome output
    #[arg(long)]
    no_color: bool,
    /// Don't print prefix in logs
    #[arg(long)]
    no_log_prefix: bool,
    /// index of the container if service has multiple replicas
    #[arg(long)]
    index: Option<u32>,
    services: Vec<String>,
}

/// The prefix Compose shows: the container name without the project
/// (`web-1`), or the whole name for `container_name`.
pub fn prefix(c: &Container) -> String {
    let project = c
        .config
        .labels
        .get(labels::PROJECT)
        .map(String::as_str)
        .unwrap_or("");
    c.config
        .name
        .strip_prefix(&format!("{project}-"))
        .unwrap_or(&c.config.name)
        .to_owned()
}

/// A time bound as RFC 3339: a timestamp (RFC 3339, or Unix seconds), or a
/// duration ago (`10m`, `1h30m`, `45s`).
pub fn bound(s: &str) -> anyhow::Result<String> {
    let rfc = &time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, rfc) {
        return Ok(t.format(rfc)?);
    }
    if let Ok(secs) = s.parse::<f64>() {
        let t = time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds_f64(secs);
        return Ok(t.format(rfc)?);
    }
    let d = berth_spec::Duration::parse(s).ok_or_else(|| {
        anyhow::anyhow!(
            "invalid value {s:?} for a time: use a timestamp (2013-01-02T13:23:37Z) or a duration (42m)"
        )
    })?;
    let t = time::OffsetDateTime::now_utc() - d.as_std();
    Ok(t.format(rfc)?)
}

/// Compares two RFC 3339 times (both UTC, as the shim writes them).
fn before(a: &str, b: &str) -> bool {
    let rfc = &time::format_description::well_known::Rfc3339;
    match (
        time::OffsetDateTime::parse(a, rfc),
        time::OffsetDateTime::parse(b, rfc),
    ) {
        (Ok(a), Ok(b)) => a < b,
        _ => a < b,
    }
}

/// One line of a container's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub time: String,
    pub stream: String,
    pub text: String,
}

/// One container's log file, read from an offset.
pub struct Tail {
    pub name: String,
    path: PathBuf,
    pub offset: u64,
}

impl Tail {
    pub fn new(c: &Container, root: &berth_store::Root, from_end: bool) -> Tail {
        let path = root.container(&c.config.id).join("container.log");
        let offset = if from_end {
            std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
        } else {
            0
        };
        Tail {
            name: prefix(c),
            path,
            offset,
        }
    }

    /// Complete lines written since the last call: (time, text).
    pub fn read(&mut self) -> Vec<(String, String)> {
        self.read_lines()
            .into_iter()
            .map(|l| (l.time, l.text))
            .collect()
    }

    /// Complete lines written since the last call, with their stream.
    pub fn read_lines(&mut self) -> Vec<Line> {
        let mut out = Vec::new();
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return out;
        };
        // A rotated log (max-size) starts again from the beginning.
        if f.metadata().is_ok_and(|m| m.len() < self.offset) {
            self.offset = 0;
        }
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return out;
        }
        let mut r = BufReader::new(f);
        let mut line = String::new();
        while r.read_line(&mut line).unwrap_or(0) > 0 {
            if !line.ends_with('\n') {
                break;
            }
            self.offset += line.len() as u64;
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                out.push(Line {
                    time: v["time"].as_str().unwrap_or("").to_owned(),
                    stream: v["stream"].as_str().unwrap_or("stdout").to_owned(),
                    text: v["log"]
                        .as_str()
                        .unwrap_or("")
                        .trim_end_matches('\n')
                        .to_owned(),
                });
            }
            line.clear();
        }
        out
    }
}

/// `--tail`: a number of lines, or `all`.
fn tail_count(s: &str) -> anyhow::Result<Option<usize>> {
    if s == "all" || s == "-1" {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| anyhow::anyhow!("--tail: expected a number or \"all\", got {s:?}"))
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let engine = super::engine(g, &[])?;
    for s in &a.services {
        if !engine.project.services.contains_key(s) {
            anyhow::bail!("no such service: {s}");
        }
    }
    let selected = |c: &Container| {
        let svc = c.config.labels.get(labels::SERVICE);
        let number = c.config.labels.get(labels::NUMBER);
        (a.services.is_empty() || svc.is_some_and(|s| a.services.contains(s)))
            && a.index
                .is_none_or(|i| number.is_some_and(|n| *n == i.to_string()))
    };
    let mut cs: Vec<Container> = engine.containers()?.into_iter().filter(selected).collect();
    cs.sort_by(|x, y| x.config.name.cmp(&y.config.name));
    let since = a.since.as_deref().map(bound).transpose()?;
    let until = a.until.as_deref().map(bound).transpose()?;
    let tail = tail_count(&a.tail)?;
    let tty = std::io::stdout().is_terminal();
    let style = if a.no_color {
        Style::plain()
    } else {
        Style::from_flag(&g.ansi, tty)
    };
    let names: Vec<String> = cs.iter().map(prefix).collect();
    let printer = LogPrinter::stdout(
        style,
        LogFormat {
            no_prefix: a.no_log_prefix,
            timestamps: a.timestamps,
        },
        &names,
    );
    let mut tails: Vec<Tail> = cs.iter().map(|c| Tail::new(c, &g.root(), false)).collect();
    // What is there already, each container's share cut by --since, --until
    // and --tail, then merged in time order.
    let mut backlog: Vec<(String, Line)> = Vec::new();
    for t in &mut tails {
        let mut lines = t.read_lines();
        lines.retain(|l| {
            since.as_deref().is_none_or(|s| !before(&l.time, s))
                && until.as_deref().is_none_or(|u| !before(u, &l.time))
        });
        if let Some(n) = tail {
            let skip = lines.len().saturating_sub(n);
            lines.drain(..skip);
        }
        backlog.extend(lines.into_iter().map(|l| (t.name.clone(), l)));
    }
    backlog.sort_by(|x, y| x.1.time.cmp(&y.1.time));
    for (name, l) in &backlog {
        printer.line_on(name, &l.time, &l.stream, &l.text);
    }
    if !a.follow || until.is_some() {
        return Ok(0);
    }
    // Follow until every selected container has stopped (as Compose does).
    loop {
        std::thread::sleep(Duration::from_millis(50));
        for t in &mut tails {
            for l in t.read_lines() {
                printer.line_on(&t.name, &l.time, &l.stream, &l.text);
            }
        }
        let running = engine
            .containers()?
            .iter()
            .any(|c| selected(c) && c.state.status.is_active());
        if !running {
            for t in &mut tails {
                for l in t.read_lines() {
                    printer.line_on(&t.name, &l.time, &l.stream, &l.text);
                }
            }
            break;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_bounds() {
        assert_eq!(
            bound("2024-05-01T10:00:00Z").unwrap(),
            "2024-05-01T10:00:00Z"
        );
        assert_eq!(bound("0").unwrap(), "1970-01-01T00:00:00Z");
        assert!(bound("10m").is_ok());
        assert!(bound("soon").unwrap_err().to_string().contains("42m"));
        assert!(before(
            "2024-05-01T10:00:00.5Z",
            "2024-05-01T10:00:01.000000001Z"
        ));
    }

    #[test]
    fn tail_values() {
        assert_eq!(tail_count("all").unwrap(), None);
        assert_eq!(tail_count("3").unwrap(), Some(3));
        assert!(tail_count("x").is_err());
    }
}
