//! The logs of `up --watch`: a thread follows the attached services'
//! containers, picking up the ones a rebuild or reload recreates, while the
//! main thread watches files.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use berth_compose::engine::{Engine, labels};
use berth_runtime::{Container, Runtime};

use super::super::logs::{Tail, prefix};
use super::super::up;
use crate::global::Global;
use crate::output::logprint::{LogFormat, LogPrinter};
use crate::output::style::Style;

pub struct Follower {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
    printer: Arc<LogPrinter>,
    width: usize,
}

struct Followed {
    tail: Tail,
    active: bool,
}

impl Follower {
    pub fn start(
        g: &Global,
        engine: &Engine,
        a: &up::Args,
        started_at: time::OffsetDateTime,
    ) -> anyhow::Result<Follower> {
        let attached = {
            let attach = a.attach.clone();
            let no_attach = a.no_attach.clone();
            let services = a.services.clone();
            move |svc: &str| {
                (attach.is_empty() || attach.iter().any(|s| s == svc))
                    && !no_attach.iter().any(|s| s == svc)
                    && (services.is_empty() || services.iter().any(|s| s == svc))
            }
        };
        let project = engine.project.name.clone();
        let names: Vec<String> = engine
            .containers()?
            .iter()
            .filter(|c| service(c).is_some_and(&attached))
            .map(prefix)
            .collect();
        let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
        let tty = std::io::stdout().is_terminal();
        let style = if a.no_color {
            Style::plain()
        } else {
            Style::from_flag(&g.ansi, tty)
        };
        let printer = Arc::new(LogPrinter::stdout(
            style,
            LogFormat {
                no_prefix: a.no_log_prefix,
                timestamps: a.timestamps,
            },
            &names,
        ));
        let started = started_at.format(&time::format_description::well_known::Rfc3339)?;
        let stop = Arc::new(AtomicBool::new(false));
        let root = g.root();
        let handle = {
            let stop = stop.clone();
            let printer = printer.clone();
            std::thread::spawn(move || {
                let rt = Runtime::open(&root);
                let mut followed: BTreeMap<String, Followed> = BTreeMap::new();
                loop {
                    let done = stop.load(Ordering::SeqCst);
                    let cs: Vec<Container> = rt
                        .list()
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|c| {
                            c.config.labels.get(labels::PROJECT) == Some(&project)
                                && c.config.labels.get(labels::ONEOFF).map(String::as_str)
                                    != Some("True")
                                && service(c).is_some_and(&attached)
                        })
                        .collect();
                    for c in &cs {
                        let f = followed.entry(c.config.id.clone()).or_insert_with(|| {
                            // Containers started since `up` began show from their first line.
                            let fresh = c
                                .state
                                .started_at
                                .as_deref()
                                .is_some_and(|s| s >= started.as_str());
                            Followed {
                                tail: Tail::new(c, &root, !fresh),
                                active: c.state.status.is_active(),
                            }
                        });
                        for (time, text) in f.tail.read() {
                            printer.line(&f.tail.name, &time, &text);
                        }
                        let active = c.state.status.is_active();
                        if f.active && !active {
                            let code = c.state.exit_code.unwrap_or(0);
                            printer.status(
                                &f.tail.name,
                                &format!("{} exited with code {code}", f.tail.name),
                            );
                        }
                        f.active = active;
                    }
                    followed.retain(|id, _| cs.iter().any(|c| &c.config.id == id));
                    if done {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        Ok(Follower {
            stop,
            handle,
            printer,
            width,
        })
    }

    pub fn printer(&self) -> Arc<LogPrinter> {
        self.printer.clone()
    }

    /// The width of the widest container prefix.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Prints what is left and stops following.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.handle.join();
    }
}

fn service(c: &Container) -> Option<&str> {
    c.config.labels.get(labels::SERVICE).map(String::as_str)
}
