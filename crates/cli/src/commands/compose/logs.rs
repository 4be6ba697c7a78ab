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
    /// Show logs since timestamp (RFC 3339) or relative (e.g. 42m)
    #[arg(long)]
    since: Option<String>,
    /// Show logs before a timestamp (RFC 3339) or relative (e.g. 42m)
    #[arg(long)]
    until: Option<String>,
    /// Produce monochrome output
    #[arg(long)]
    no_color: bool,
    /// Don't print prefix in logs
    #[arg(long)]
    no_log_prefix: bool,
    /// Index of the container if the service has multiple replicas
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

/// A time bound: RFC 3339, or a duration ago (`10m`, `1h30m`, `45s`).
fn bound(s: &str) -> anyhow::Result<String> {
    if s.contains('T') || s.contains('-') && s.len() > 8 {
        return Ok(s.to_owned());
    }
    let d = berth_spec::Duration::parse(s).ok_or_else(|| {
        anyhow::anyhow!("invalid time {s:?}: use RFC 3339 or a duration like 10m")
    })?;
    let t = time::OffsetDateTime::now_utc() - d.as_std();
    Ok(t.format(&time::format_description::well_known::Rfc3339)?)
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
        let mut out = Vec::new();
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return out;
        };
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
                let text = v["log"]
                    .as_str()
                    .unwrap_or("")
                    .trim_end_matches('\n')
                    .to_owned();
                out.push((v["time"].as_str().unwrap_or("").to_owned(), text));
            }
            line.clear();
        }
        out
    }
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let engine = super::engine(g, &[])?;
    let mut cs = engine.containers()?;
    cs.retain(|c| {
        a.services.is_empty()
            || c.config
                .labels
                .get(labels::SERVICE)
                .is_some_and(|s| a.services.contains(s))
    });
    if let Some(i) = a.index {
        cs.retain(|c| {
            c.config
                .labels
                .get(labels::NUMBER)
                .is_some_and(|n| *n == i.to_string())
        });
    }
    cs.sort_by(|x, y| x.config.name.cmp(&y.config.name));
    let since = a.since.as_deref().map(bound).transpose()?;
    let until = a.until.as_deref().map(bound).transpose()?;
    let tail: Option<usize> = if a.tail == "all" {
        None
    } else {
        Some(a.tail.parse().map_err(|_| {
            anyhow::anyhow!("--tail: expected a number or \"all\", got {:?}", a.tail)
        })?)
    };
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
    for t in &mut tails {
        let mut lines = t.read();
        lines.retain(|(time, _)| {
            since.as_deref().is_none_or(|s| time.as_str() >= s)
                && until.as_deref().is_none_or(|u| time.as_str() <= u)
        });
        if let Some(n) = tail {
            let skip = lines.len().saturating_sub(n);
            lines.drain(..skip);
        }
        for (time, text) in lines {
            printer.line(&t.name, &time, &text);
        }
    }
    if !a.follow {
        return Ok(0);
    }
    loop {
        std::thread::sleep(Duration::from_millis(50));
        for t in &mut tails {
            for (time, text) in t.read() {
                printer.line(&t.name, &time, &text);
            }
        }
        let running = engine
            .containers()?
            .iter()
            .any(|c| c.state.status.is_active());
        if !running {
            break;
        }
    }
    Ok(0)
}
