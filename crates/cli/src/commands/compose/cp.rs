//! `berth cp`: files between a service container and the host, both ways.
//! The container side is handled by a helper process that joins the
//! container's mount namespace (see `berth_runtime::cp`), so it works with
//! images that have no `tar` or shell.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth_compose::engine::labels;

use crate::global::Global;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value = "1")]
    index: u32,
    /// Include containers of every replica (copying to a service)
    #[arg(long)]
    all: bool,
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    follow_link: bool,
    /// SERVICE:SRC_PATH or SRC_PATH
    source: String,
    /// DEST_PATH or SERVICE:DEST_PATH
    dest: String,
}

fn split(s: &str) -> Option<(&str, &str)> {
    let (svc, path) = s.split_once(':')?;
    (!svc.is_empty() && !svc.contains('/')).then_some((svc, path))
}

fn helper(g: &Global) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("own executable"));
    c.arg("--root").arg(g.root().path()).arg("__internal");
    c
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let engine = super::engine(g, &[])?;
    let containers = |svc: &str| -> anyhow::Result<Vec<String>> {
        let cs: Vec<String> = engine
            .containers()?
            .into_iter()
            .filter(|c| {
                c.config.labels.get(labels::SERVICE).map(String::as_str) == Some(svc)
                    && c.state.status.is_active()
            })
            .filter(|c| {
                a.all
                    || c.config
                        .labels
                        .get(labels::NUMBER)
                        .is_some_and(|n| *n == a.index.to_string())
            })
            .map(|c| c.config.id)
            .collect();
        if cs.is_empty() {
            anyhow::bail!("service \"{svc}\" is not running");
        }
        Ok(cs)
    };
    match (split(&a.source), split(&a.dest)) {
        (Some((svc, src)), None) => {
            let id = containers(svc)?.remove(0);
            let out = helper(g)
                .args(["cp-out", &id, src])
                .stderr(Stdio::inherit())
                .output()?;
            if !out.status.success() {
                return Ok(1);
            }
            let tmp = tempfile::tempdir()?;
            tar::Archive::new(&out.stdout[..]).unpack(tmp.path())?;
            let name = Path::new(src)
                .file_name()
                .map(|n| n.to_owned())
                .unwrap_or_else(|| ".".into());
            let dest = PathBuf::from(&a.dest);
            let target = if dest.is_dir() {
                dest.join(&name)
            } else {
                dest
            };
            if target.exists() && target.is_dir() {
                std::fs::remove_dir_all(&target)?;
            }
            std::fs::rename(tmp.path().join(&name), &target).or_else(
                |_| -> std::io::Result<()> {
                    // Across file systems: copy instead.
                    let status = Command::new("cp")
                        .arg("-a")
                        .arg(tmp.path().join(&name))
                        .arg(&target)
                        .status()?;
                    if status.success() {
                        Ok(())
                    } else {
                        Err(std::io::Error::other("cp -a failed"))
                    }
                },
            )?;
            Ok(0)
        }
        (None, Some((svc, dest))) => {
            let src = Path::new(&a.source);
            let name = src
                .file_name()
                .ok_or_else(|| anyhow::anyhow!("{}: not a file or directory", a.source))?;
            let mut tar = tar::Builder::new(Vec::new());
            tar.follow_symlinks(a.follow_link);
            if src.is_dir() {
                tar.append_dir_all(name, src)?;
            } else {
                tar.append_path_with_name(src, name)?;
            }
            let data = tar.into_inner()?;
            for id in containers(svc)? {
                let mut child = helper(g)
                    .args(["cp-in", "--auto", &id, dest])
                    .stdin(Stdio::piped())
                    .spawn()?;
                std::io::Write::write_all(child.stdin.as_mut().unwrap(), &data)?;
                drop(child.stdin.take());
                if !child.wait()?.success() {
                    return Ok(1);
                }
            }
            Ok(0)
        }
        _ => anyhow::bail!(
            "copying between services is not supported: one of SRC and DEST must be SERVICE:PATH"
        ),
    }
}
