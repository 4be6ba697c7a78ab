//! Which changed paths a `develop.watch` rule cares about.

use std::path::{Path, PathBuf};

use berth_build::ignore::DockerIgnore;

/// `develop.watch[].action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Sync,
    Restart,
    Rebuild,
    SyncRestart,
    SyncExec,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "sync" => Action::Sync,
            "restart" => Action::Restart,
            "rebuild" => Action::Rebuild,
            "sync+restart" => Action::SyncRestart,
            "sync+exec" => Action::SyncExec,
            _ => return None,
        })
    }

    pub fn syncs(self) -> bool {
        matches!(self, Action::Sync | Action::SyncRestart | Action::SyncExec)
    }
}

/// One watch rule of one service, with its patterns compiled.
#[derive(Debug, Clone)]
pub struct Rule {
    pub service: String,
    /// Absolute host path watched (a directory or a file).
    pub path: PathBuf,
    pub action: Action,
    /// Path in the container that `path` maps to (sync actions).
    pub target: Option<String>,
    /// `ignore:` patterns, relative to `path`.
    pub ignore: DockerIgnore,
    /// `include:` patterns, relative to `path`; empty = everything.
    pub include: Option<DockerIgnore>,
    /// The build context's `.dockerignore`, relative to the context: as in
    /// Compose it applies to every rule of a service that has `build:` (a
    /// change Docker would not send to the build is no reason to act).
    pub context_ignore: Option<(PathBuf, DockerIgnore)>,
    /// `exec:` of a `sync+exec` rule.
    pub exec: Option<ExecHook>,
    /// `initial_sync`: copy the whole path when watching starts.
    pub initial_sync: bool,
}

/// The command a `sync+exec` rule runs in every replica after syncing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecHook {
    pub command: Vec<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    /// `KEY=value`
    pub environment: Vec<String>,
    pub privileged: bool,
}

/// What a change means for a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The changed path on the host.
    pub host: PathBuf,
    /// Where it goes in the container, for sync actions.
    pub container: Option<String>,
}

/// Files editors and tools write next to the real ones and never mean a change
/// of content: swap files, backups, vim's write test.
fn is_editor_noise(name: &str) -> bool {
    name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".swpx")
        || name.starts_with(".#")
        || name == "4913"
        || (name.starts_with('#') && name.ends_with('#'))
}

impl Rule {
    /// Whether a change of `changed` matters to this rule, and where it maps.
    pub fn hit(&self, changed: &Path) -> Option<Hit> {
        let rel = changed.strip_prefix(&self.path).ok()?;
        let rel_str = rel.to_string_lossy().replace('\\', "/");
        if rel.components().any(|c| c.as_os_str() == ".git") {
            return None;
        }
        if let Some(name) = changed.file_name().and_then(|n| n.to_str())
            && is_editor_noise(name)
        {
            return None;
        }
        if !rel_str.is_empty() && self.ignore.is_excluded(&rel_str) {
            return None;
        }
        if let Some(include) = &self.include
            && !rel_str.is_empty()
            && !include.is_excluded(&rel_str)
        {
            return None;
        }
        if let Some((ctx, ig)) = &self.context_ignore
            && let Ok(in_ctx) = changed.strip_prefix(ctx)
        {
            let p = in_ctx.to_string_lossy();
            if !p.is_empty() && ig.is_excluded(&p) {
                return None;
            }
        }
        let container = self
            .target
            .as_ref()
            .filter(|_| self.action.syncs())
            .map(|t| {
                if rel_str.is_empty() {
                    t.clone()
                } else {
                    format!("{}/{}", t.trim_end_matches('/'), rel_str)
                }
            });
        Some(Hit {
            host: changed.to_owned(),
            container,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(action: Action, ignore: &str, include: Option<&str>) -> Rule {
        Rule {
            service: "web".into(),
            path: "/p/src".into(),
            action,
            target: Some("/app/src".into()),
            ignore: DockerIgnore::parse(ignore, "ignore").unwrap(),
            include: include.map(|i| DockerIgnore::parse(i, "include").unwrap()),
            context_ignore: None,
            exec: None,
            initial_sync: false,
        }
    }

    #[test]
    fn maps_into_the_target() {
        let r = rule(Action::Sync, "", None);
        let hit = r.hit(Path::new("/p/src/a/b.py")).unwrap();
        assert_eq!(hit.container.as_deref(), Some("/app/src/a/b.py"));
        assert_eq!(
            r.hit(Path::new("/p/src")).unwrap().container.as_deref(),
            Some("/app/src")
        );
        assert!(r.hit(Path::new("/p/other/x")).is_none());
        assert!(
            r.hit(Path::new("/p/srcx/x")).is_none(),
            "prefix by component, not by string"
        );
    }

    #[test]
    fn ignores_git_editor_noise_and_patterns() {
        let r = rule(Action::Sync, "*.pyc\nnode_modules/\n", None);
        assert!(r.hit(Path::new("/p/src/.git/index")).is_none());
        assert!(r.hit(Path::new("/p/src/.main.py.swp")).is_none());
        assert!(r.hit(Path::new("/p/src/main.py~")).is_none());
        assert!(r.hit(Path::new("/p/src/x.pyc")).is_none());
        assert!(r.hit(Path::new("/p/src/node_modules/a/b.js")).is_none());
        assert!(r.hit(Path::new("/p/src/main.py")).is_some());
    }

    #[test]
    fn include_limits_what_counts() {
        let r = rule(Action::Restart, "", Some("*.conf\n"));
        assert!(r.hit(Path::new("/p/src/app.conf")).is_some());
        assert!(r.hit(Path::new("/p/src/app.py")).is_none());
        assert_eq!(
            r.hit(Path::new("/p/src/app.conf")).unwrap().container,
            None,
            "restart does not sync"
        );
    }

    #[test]
    fn context_dockerignore_applies() {
        let mut r = rule(Action::Rebuild, "", None);
        r.context_ignore = Some((
            "/p".into(),
            DockerIgnore::parse("src/tmp\n", ".dockerignore").unwrap(),
        ));
        assert!(r.hit(Path::new("/p/src/tmp/x")).is_none());
        assert!(r.hit(Path::new("/p/src/main.rs")).is_some());
    }
}
