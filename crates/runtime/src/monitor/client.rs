//! The berth commands' side of the monitor: one JSON request line, one JSON
//! reply line on `<root>/run/monitor.sock`, starting the monitor if needed.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_store::Root;

use super::{Reply, Request, socket_path};
use crate::error::{Result, RuntimeError};

/// A request to the monitor of `root`, starting it if needed.
pub fn request(root: &Root, req: &Request) -> Result<Reply> {
    let sock = socket_path(root);
    let conn = match UnixStream::connect(&sock) {
        Ok(c) => c,
        Err(_) => {
            if matches!(req, Request::Shutdown) {
                return Ok(Reply {
                    ok: true,
                    message: "not running".into(),
                });
            }
            launch(root)?;
            connect_retry(&sock)?
        }
    };
    let mut w = &conn;
    writeln!(
        w,
        "{}",
        serde_json::to_string(req).map_err(|e| RuntimeError::Other(e.to_string()))?
    )
    .map_err(|e| RuntimeError::io(&sock, e))?;
    let mut line = String::new();
    BufReader::new(&conn)
        .read_line(&mut line)
        .map_err(|e| RuntimeError::io(&sock, e))?;
    serde_json::from_str(&line).map_err(|_| {
        RuntimeError::Other("the monitor closed the connection without answering".into())
    })
}

fn connect_retry(sock: &Path) -> Result<UnixStream> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match UnixStream::connect(sock) {
            Ok(c) => return Ok(c),
            Err(e) if Instant::now() > deadline => return Err(RuntimeError::io(sock, e)),
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// Starts the monitor as a new session, detached from our terminal.
fn launch(root: &Root) -> Result<()> {
    Root::ensure_dir(&root.run())?;
    let exe = std::env::current_exe().map_err(|e| RuntimeError::io("/proc/self/exe", e))?;
    let mut cmd = Command::new(exe);
    cmd.arg("--root")
        .arg(root.path())
        .args(["__internal", "monitor"]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| RuntimeError::Other(format!("start the berth monitor: {e}")))?;
    Ok(())
}

/// Stops the monitor of `root` if nothing runs; used by tests and benches.
pub fn shutdown(root: &Root) -> Result<Reply> {
    request(root, &Request::Shutdown)
}
