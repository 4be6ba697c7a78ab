//! A throwaway registry: Debian's `docker-registry` on 127.0.0.1 with a free
//! port and a temporary storage directory, stopped and removed on drop.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    /// Starts a registry; `extra_config` is appended to its YAML config
    /// (e.g. an `auth:` section).
    pub fn start_with(extra_config: &str) -> io::Result<Self> {
        let bin = ["/usr/bin/docker-registry", "/usr/sbin/docker-registry"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .ok_or_else(|| {
                io::Error::other("docker-registry not found: install Debian's docker-registry")
            })?;
        let dir = tempfile::tempdir()?;
        let port = free_port();
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{extra_config}",
            dir.path().join("data").display()
        );
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, config)?;
        let child = Command::new(bin)
            .arg("serve")
            .arg(&cfg_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let reg = Registry { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(io::Error::other("registry did not start listening"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(reg)
    }

    pub fn start() -> io::Result<Self> {
        Self::start_with("")
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Where the registry keeps its blobs (to corrupt one on purpose).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Pushes `oci-archive:<archive>:<name>` to `<host>/<dest>` with skopeo.
    /// `all` pushes every platform of an index.
    pub fn push_oci_archive(
        &self,
        archive: &Path,
        name: &str,
        dest: &str,
        all: bool,
    ) -> io::Result<()> {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--quiet", "--dest-tls-verify=false"]);
        if all {
            cmd.arg("--all");
        }
        cmd.arg(format!("oci-archive:{}:{name}", archive.display()));
        cmd.arg(format!("docker://{}/{dest}", self.host()));
        let out = cmd.output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "skopeo copy failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
