//! `sync`: what a batch of changed host paths means for the container
//! (write, link, make a directory, delete), worked out once from the host
//! tree, then applied to every replica.

use std::path::{Path, PathBuf};

use crate::container_fs::ContainerFs;
use crate::error::{Result, WatchError};
use crate::host_tree::{Found, HostTree, Kind};
use crate::rules::{Hit, Rule};

/// One step of a sync, with the container path it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    File { rel: PathBuf, target: String },
    Link { rel: PathBuf, target: String },
    Dir { target: String, mode: u32 },
    Remove { target: String },
}

/// The steps of one rule's batch, with the host tree they read from.
pub struct SyncPlan {
    tree: HostTree,
    pub ops: Vec<Op>,
}

fn join(target: &str, name: &str) -> String {
    format!("{}/{}", target.trim_end_matches('/'), name)
}

/// The host directory a rule's paths are read from: the rule's path when it
/// is a directory, else the directory of the file it watches.
fn base_of(rule: &Rule) -> PathBuf {
    if rule.path.is_dir() {
        rule.path.clone()
    } else {
        rule.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| "/".into())
    }
}

impl SyncPlan {
    /// Works out the steps for `hits` (changed paths that matter to `rule`).
    /// A directory is copied whole (minus what the rule ignores), so files
    /// written into a new directory before it was watched are not missed.
    pub fn new(rule: &Rule, hits: &[Hit]) -> Result<SyncPlan> {
        Self::new_filtered(rule, hits, &|_| false)
    }

    /// Like [`SyncPlan::new`], leaving out the files and directories found
    /// inside copied directories for which `skip(host path)` is true.
    pub fn new_filtered(
        rule: &Rule,
        hits: &[Hit],
        skip: &dyn Fn(&Path) -> bool,
    ) -> Result<SyncPlan> {
        let tree = HostTree::open(&base_of(rule))?;
        let mut hits: Vec<&Hit> = hits.iter().filter(|h| h.container.is_some()).collect();
        hits.sort_by(|a, b| a.host.cmp(&b.host));
        let mut plan = SyncPlan {
            tree,
            ops: Vec::new(),
        };
        let mut copied_dirs: Vec<PathBuf> = Vec::new();
        for h in hits {
            if copied_dirs.iter().any(|d| h.host.starts_with(d)) {
                continue;
            }
            let Ok(rel) = h.host.strip_prefix(plan.tree.base()) else {
                continue;
            };
            let rel = rel.to_owned();
            let target = h.container.clone().expect("filtered");
            if plan.add(rule, &rel, &target, skip)? {
                copied_dirs.push(h.host.clone());
            }
        }
        Ok(plan)
    }

    /// Adds the step for `rel`; true when it was a directory copied whole.
    fn add(
        &mut self,
        rule: &Rule,
        rel: &Path,
        target: &str,
        skip: &dyn Fn(&Path) -> bool,
    ) -> Result<bool> {
        match self.tree.find(rel)? {
            Found::Missing => self.ops.push(Op::Remove {
                target: target.to_owned(),
            }),
            Found::Outside => {}
            Found::Entry(e) => match e.kind {
                Kind::File => self.ops.push(Op::File {
                    rel: rel.to_owned(),
                    target: target.to_owned(),
                }),
                Kind::Symlink => self.ops.push(Op::Link {
                    rel: rel.to_owned(),
                    target: target.to_owned(),
                }),
                Kind::Other => {}
                Kind::Dir => {
                    self.ops.push(Op::Dir {
                        target: target.to_owned(),
                        mode: e.stat.st_mode & 0o7777,
                    });
                    for name in self.tree.list(rel)? {
                        let child = rel.join(&name);
                        let host = self.tree.base().join(&child);
                        if rule.hit(&host).is_none() || skip(&host) {
                            continue;
                        }
                        let Some(name) = name.to_str() else { continue };
                        self.add(rule, &child, &join(target, name), skip)?;
                    }
                    return Ok(true);
                }
            },
        }
        Ok(false)
    }

    /// Applies the steps to one container; every step is tried, the errors
    /// are returned.
    pub fn apply(&self, fs: &ContainerFs) -> Vec<WatchError> {
        let mut errors = Vec::new();
        for op in &self.ops {
            let r = match op {
                Op::File { rel, target } => match self.tree.open_file(rel) {
                    // Gone since the plan: its deletion is the next batch.
                    Ok(None) => Ok(()),
                    Ok(Some(f)) => nix::sys::stat::fstat(&f)
                        .map_err(|e| WatchError::host(self.tree.base().join(rel), e))
                        .and_then(|st| fs.write_file(target, &f, &st)),
                    Err(e) => Err(e),
                },
                Op::Link { rel, target } => self
                    .tree
                    .read_link(rel)
                    .and_then(|to| fs.symlink(target, &to)),
                Op::Dir { target, mode } => fs.mkdir(target, *mode),
                Op::Remove { target } => fs.remove(target),
            };
            if let Err(e) = r {
                errors.push(e);
            }
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_build::ignore::DockerIgnore;

    fn rule(path: &Path, ignore: &str) -> Rule {
        Rule {
            service: "web".into(),
            path: path.to_owned(),
            action: crate::rules::Action::Sync,
            target: Some("/app".into()),
            ignore: DockerIgnore::parse(ignore, "ignore").unwrap(),
            include: None,
            context_ignore: None,
            exec: None,
            initial_sync: false,
        }
    }

    #[test]
    fn plans_files_dirs_links_and_deletions() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        std::fs::create_dir_all(src.join("new/deep")).unwrap();
        std::fs::write(src.join("a.txt"), "a").unwrap();
        std::fs::write(src.join("new/deep/b.txt"), "b").unwrap();
        std::fs::write(src.join("new/skip.log"), "x").unwrap();
        std::os::unix::fs::symlink("a.txt", src.join("l")).unwrap();
        let r = rule(&src, "**/*.log\n");
        let hits: Vec<Hit> = ["a.txt", "gone.txt", "new", "new/deep/b.txt", "l"]
            .iter()
            .map(|p| r.hit(&src.join(p)).unwrap())
            .collect();
        let plan = SyncPlan::new(&r, &hits).unwrap();
        let shown: Vec<String> = plan
            .ops
            .iter()
            .map(|o| match o {
                Op::File { target, .. } => format!("file {target}"),
                Op::Link { target, .. } => format!("link {target}"),
                Op::Dir { target, .. } => format!("dir {target}"),
                Op::Remove { target } => format!("rm {target}"),
            })
            .collect();
        assert_eq!(
            shown,
            vec![
                "file /app/a.txt",
                "rm /app/gone.txt",
                "link /app/l",
                "dir /app/new",
                "dir /app/new/deep",
                "file /app/new/deep/b.txt",
            ]
        );
    }
}
