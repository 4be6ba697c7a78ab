//! The watching itself: file events in, debounced work out, one entry per
//! service (what to sync for which rule, whether to restart, rebuild, run
//! `exec` hooks) plus whether the project's own files changed. Carrying the
//! work out (containers, images) is the caller's: this part needs no root
//! and is tested with injected events.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use crate::debounce::Debouncer;
use crate::error::Result;
use crate::notifier::{FsEvent, FsWatcher};
use crate::rules::{Action, Hit, Rule};

/// How long a tree must be quiet before its changes are acted on. Editors
/// and `git checkout` write their bursts well within it; it is most of the
/// latency from save to sync.
pub const QUIET: Duration = Duration::from_millis(40);
/// Changes are acted on after this long even if writes never stop.
pub const MAX_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Rule(usize),
    Project,
}

/// What one service needs after a batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ServiceWork {
    pub service: String,
    /// (rule index, changed paths of that rule), for sync actions.
    pub syncs: Vec<(usize, Vec<Hit>)>,
    pub restart: bool,
    pub rebuild: bool,
    /// Rules whose `exec` runs after the sync.
    pub exec: Vec<usize>,
}

impl ServiceWork {
    /// Number of changed paths to sync (what Compose reports).
    pub fn changes(&self) -> usize {
        self.syncs.iter().map(|(_, h)| h.len()).sum()
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Work {
    pub services: Vec<ServiceWork>,
    /// Project files that changed (reload the project).
    pub project: Vec<PathBuf>,
    /// Errors the watcher reported.
    pub errors: Vec<String>,
}

pub struct Session {
    rules: Vec<Rule>,
    sources: BTreeSet<PathBuf>,
    debouncer: Debouncer<Key>,
    rx: Receiver<FsEvent>,
    tx: Sender<FsEvent>,
    watcher: Option<FsWatcher>,
    errors: Vec<String>,
}

impl Session {
    /// Starts watching the rules' paths and the project's `sources`.
    pub fn start(rules: Vec<Rule>, sources: BTreeSet<PathBuf>) -> Result<Session> {
        let mut s = Session::detached(rules, sources, QUIET).0;
        s.watch()?;
        Ok(s)
    }

    /// A session fed only by the returned sender (tests).
    pub fn detached(
        rules: Vec<Rule>,
        sources: BTreeSet<PathBuf>,
        quiet: Duration,
    ) -> (Session, Sender<FsEvent>) {
        let (tx, rx) = mpsc::channel();
        (
            Session {
                rules,
                sources,
                debouncer: Debouncer::new(quiet, MAX_WAIT),
                rx,
                tx: tx.clone(),
                watcher: None,
                errors: Vec::new(),
            },
            tx,
        )
    }

    fn watch(&mut self) -> Result<()> {
        // Drop the old watcher first: its inotify instance goes with it.
        self.watcher = None;
        let trees: BTreeSet<PathBuf> = self.rules.iter().map(|r| r.path.clone()).collect();
        self.watcher = Some(FsWatcher::start(&trees, &self.sources, self.tx.clone())?);
        Ok(())
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// New rules and sources after the project was reloaded.
    pub fn replace(&mut self, rules: Vec<Rule>, sources: BTreeSet<PathBuf>) -> Result<()> {
        let same = self.sources == sources
            && self.rules.len() == rules.len()
            && self.rules.iter().zip(&rules).all(|(a, b)| a.path == b.path);
        self.rules = rules;
        self.sources = sources;
        if same || self.watcher.is_none() {
            return Ok(());
        }
        self.watch()
    }

    fn route(&mut self, ev: FsEvent, now: Instant) {
        match ev {
            FsEvent::Changed(p) => {
                if self.sources.contains(&p) {
                    self.debouncer.push(Key::Project, p.clone(), now);
                }
                for (i, r) in self.rules.iter().enumerate() {
                    if r.hit(&p).is_some() {
                        self.debouncer.push(Key::Rule(i), p.clone(), now);
                    }
                }
            }
            FsEvent::Rescan => {
                for (i, r) in self.rules.iter().enumerate() {
                    self.debouncer.push(Key::Rule(i), r.path.clone(), now);
                }
                if let Some(f) = self.sources.first().cloned() {
                    self.debouncer.push(Key::Project, f, now);
                }
            }
            FsEvent::Error(e) => self.errors.push(e),
        }
    }

    /// Waits up to `wait` for work; `None` when there is none yet (the
    /// caller checks for Ctrl-C and calls again).
    pub fn next(&mut self, wait: Duration) -> Option<Work> {
        let deadline = Instant::now() + wait;
        loop {
            let now = Instant::now();
            let ready = self.debouncer.ready(now);
            if !ready.is_empty() || !self.errors.is_empty() {
                return Some(self.group(ready));
            }
            if now >= deadline {
                return None;
            }
            let until = self
                .debouncer
                .next_deadline(now)
                .map_or(deadline - now, |d| d.min(deadline - now));
            match self.rx.recv_timeout(until) {
                Ok(ev) => {
                    let now = Instant::now();
                    self.route(ev, now);
                    while let Ok(ev) = self.rx.try_recv() {
                        self.route(ev, now);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    fn group(&mut self, batches: Vec<crate::debounce::Batch<Key>>) -> Work {
        let mut by_service: BTreeMap<String, ServiceWork> = BTreeMap::new();
        let mut work = Work {
            errors: std::mem::take(&mut self.errors),
            ..Default::default()
        };
        for b in batches {
            let i = match b.key {
                Key::Project => {
                    work.project = b.paths;
                    continue;
                }
                Key::Rule(i) => i,
            };
            let Some(rule) = self.rules.get(i) else {
                continue;
            };
            let hits: Vec<Hit> = b.paths.iter().filter_map(|p| rule.hit(p)).collect();
            if hits.is_empty() {
                continue;
            }
            let w = by_service
                .entry(rule.service.clone())
                .or_insert_with(|| ServiceWork {
                    service: rule.service.clone(),
                    ..Default::default()
                });
            if rule.action.syncs() {
                w.syncs.push((i, hits));
            }
            match rule.action {
                Action::Restart | Action::SyncRestart => w.restart = true,
                Action::Rebuild => w.rebuild = true,
                Action::SyncExec => w.exec.push(i),
                Action::Sync => {}
            }
        }
        work.services = by_service.into_values().collect();
        work
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_build::ignore::DockerIgnore;

    fn rule(service: &str, action: Action, ignore: &str) -> Rule {
        Rule {
            service: service.into(),
            path: "/p/src".into(),
            action,
            target: Some("/app".into()),
            ignore: DockerIgnore::parse(ignore, "ignore").unwrap(),
            include: None,
            context_ignore: None,
            exec: None,
            initial_sync: false,
        }
    }

    const WAIT: Duration = Duration::from_secs(5);

    #[test]
    fn a_burst_is_one_sync_per_service() {
        let rules = vec![
            rule("web", Action::Sync, ""),
            rule("worker", Action::SyncRestart, ""),
        ];
        let (mut s, tx) = Session::detached(rules, BTreeSet::new(), Duration::from_millis(30));
        for i in 0..200 {
            tx.send(FsEvent::Changed(format!("/p/src/f{i}.txt").into()))
                .unwrap();
        }
        let w = s.next(WAIT).expect("work");
        assert_eq!(w.services.len(), 2);
        assert_eq!(w.services[0].service, "web");
        assert_eq!(w.services[0].syncs.len(), 1);
        assert_eq!(w.services[0].changes(), 200);
        assert!(!w.services[0].restart);
        assert!(w.services[1].restart, "sync+restart restarts");
        assert!(s.next(Duration::from_millis(100)).is_none(), "nothing else");
    }

    #[test]
    fn ignored_paths_and_git_never_make_work() {
        let (mut s, tx) = Session::detached(
            vec![rule("web", Action::Sync, "*.tmp\n")],
            BTreeSet::new(),
            Duration::from_millis(10),
        );
        for p in [
            "/p/src/a.tmp",
            "/p/src/.git/HEAD",
            "/p/other/x",
            "/p/src/x.swp",
        ] {
            tx.send(FsEvent::Changed(p.into())).unwrap();
        }
        assert!(s.next(Duration::from_millis(200)).is_none());
    }

    #[test]
    fn project_files_ask_for_a_reload() {
        let sources: BTreeSet<PathBuf> = ["/p/compose.yaml".into(), "/p/.env".into()].into();
        let (mut s, tx) = Session::detached(
            vec![rule("web", Action::Rebuild, "")],
            sources,
            Duration::from_millis(10),
        );
        tx.send(FsEvent::Changed("/p/.env".into())).unwrap();
        let w = s.next(WAIT).unwrap();
        assert_eq!(w.project, vec![PathBuf::from("/p/.env")]);
        assert!(w.services.is_empty());
    }
}
