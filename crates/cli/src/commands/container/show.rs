//! `container ls`, `inspect`, `logs`.

use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::time::Duration;

use berth_runtime::{Runtime, Status};

#[derive(clap::Args, Debug)]
pub struct LsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
}

pub fn ls(rt: &Runtime, a: LsArgs) -> anyhow::Result<i32> {
    let mut list = rt.list()?;
    list.retain(|c| a.all || c.state.status.is_active());
    list.sort_by(|x, y| y.state.created_at.cmp(&x.state.created_at));
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for c in &list {
            writeln!(out, "{}", &c.config.id[..12])?;
        }
        return Ok(0);
    }
    writeln!(
        out,
        "{:<14}{:<24}{:<26}{:<24}NAMES",
        "CONTAINER ID", "IMAGE", "COMMAND", "STATUS"
    )?;
    for c in &list {
        let mut cmd = c.config.process.args.join(" ");
        if cmd.len() > 20 {
            cmd.truncate(19);
            cmd.push('…');
        }
        // Docker's words for each state.
        let health = c
            .state
            .health
            .as_ref()
            .map(|h| match h.status.as_str() {
                "starting" => " (health: starting)".to_string(),
                s => format!(" ({s})"),
            })
            .unwrap_or_default();
        let code = c.state.exit_code.unwrap_or(0);
        let status = match c.state.status {
            Status::Running => format!("Up{health}"),
            Status::Paused => "Up (Paused)".to_string(),
            Status::Restarting => format!("Restarting ({code})"),
            Status::Exited => format!("Exited ({code})"),
            Status::Created => "Created".to_string(),
            Status::Dead => "Dead".to_string(),
        };
        writeln!(
            out,
            "{:<14}{:<24}{:<26}{:<24}{}",
            &c.config.id[..12],
            c.config.image,
            format!("\"{cmd}\""),
            status,
            c.config.name
        )?;
    }
    Ok(0)
}

pub fn inspect(rt: &Runtime, keys: &[String]) -> anyhow::Result<i32> {
    let mut all = Vec::new();
    for k in keys {
        let c = rt.inspect(k)?;
        all.push(serde_json::json!({
            "Id": c.config.id,
            "Name": format!("/{}", c.config.name),
            "Created": c.state.created_at,
            "State": {
                "Status": c.state.status.as_str(),
                "Running": c.state.status == Status::Running,
                "Restarting": c.state.status == Status::Restarting,
                "Pid": c.state.pid.map(|p| p.pid).unwrap_or(0),
                "ExitCode": c.state.exit_code.unwrap_or(0),
                "Error": c.state.error.clone().unwrap_or_default(),
                "StartedAt": c.state.started_at,
                "FinishedAt": c.state.finished_at,
                "Health": c.state.health.as_ref().map(|h| serde_json::json!({
                    "Status": h.status,
                    "FailingStreak": h.failing_streak,
                    "Log": h.log.iter().map(|r| serde_json::json!({
                        "Start": r.start,
                        "End": r.end,
                        "ExitCode": r.exit_code,
                        "Output": r.output,
                    })).collect::<Vec<_>>(),
                })),
            },
            "RestartCount": c.state.restart_count,
            "Image": c.config.image_id,
            "Config": c.config,
        }));
    }
    println!("{}", serde_json::to_string_pretty(&all)?);
    Ok(0)
}

#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    container: String,
}

/// Prints log lines from `offset` on; returns the new offset.
fn print_from(path: &std::path::Path, offset: u64, timestamps: bool) -> u64 {
    let Ok(mut f) = std::fs::File::open(path) else {
        return offset;
    };
    if f.seek(SeekFrom::Start(offset)).is_err() {
        return offset;
    }
    let mut r = BufReader::new(f);
    let mut pos = offset;
    let mut line = String::new();
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    while r.read_line(&mut line).unwrap_or(0) > 0 {
        if !line.ends_with('\n') {
            break;
        }
        pos += line.len() as u64;
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
            let text = v["log"].as_str().unwrap_or("");
            let ts = if timestamps {
                format!("{} ", v["time"].as_str().unwrap_or(""))
            } else {
                String::new()
            };
            if v["stream"] == "stderr" {
                let _ = write!(err, "{ts}{text}");
            } else {
                let _ = write!(out, "{ts}{text}");
            }
        }
        line.clear();
    }
    pos
}

pub fn logs(rt: &Runtime, a: LogsArgs) -> anyhow::Result<i32> {
    let id = rt.resolve(&a.container)?;
    if !rt.inspect(&id)?.config.logging.enabled() {
        anyhow::bail!("configured logging driver does not support reading");
    }
    let path = rt.dir(&id).log();
    // Rotated files first, oldest first (`container.log.2`, `.1`).
    let mut rotated: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir(rt.dir(&id).path)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let i = n.strip_prefix("container.log.")?.parse().ok()?;
            Some((i, e.path()))
        })
        .collect();
    rotated.sort_by_key(|r| std::cmp::Reverse(r.0));
    for (_, p) in rotated {
        print_from(&p, 0, a.timestamps);
    }
    let mut off = print_from(&path, 0, a.timestamps);
    if !a.follow {
        return Ok(0);
    }
    loop {
        let st = rt.inspect(&id)?.state;
        std::thread::sleep(Duration::from_millis(50));
        off = print_from(&path, off, a.timestamps);
        if !st.status.is_active() {
            break;
        }
    }
    Ok(0)
}

/// Streams the logs of a container until it exits; returns its exit code.
/// Wakes when its process ends (a pidfd), and every 50 ms for new output.
pub fn follow_until_exit(rt: &Runtime, id: &str) -> anyhow::Result<i32> {
    use std::os::fd::AsFd;

    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

    let path = rt.dir(id).log();
    let mut off = 0;
    loop {
        off = print_from(&path, off, false);
        let st = rt.inspect(id)?.state;
        if !st.status.is_active() {
            break;
        }
        let pidfd = st
            .pid
            .filter(|p| st.status == Status::Running && p.is_running())
            .and_then(|p| berth_runtime::exec::pidfd(p.pid));
        let ended = match &pidfd {
            Some(fd) => {
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                poll(&mut fds, PollTimeout::from(50u16)).unwrap_or(0) > 0
            }
            // Gone already (or between two runs of a restart policy).
            None => st.status == Status::Running,
        };
        // It ended: the shim records that (or restarts it) next.
        if ended && rt.wait_until_recorded(id, Duration::from_millis(500))? {
            break;
        }
        if pidfd.is_none() && !ended {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let code = rt.wait(id)?;
    print_from(&path, off, false);
    Ok(code)
}
