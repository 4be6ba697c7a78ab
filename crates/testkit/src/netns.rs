//! A throwaway network namespace that plays the host in network tests, so a
//! failing test can never touch the real host's links or rules. Test code
//! runs in a thread that entered it; processes spawned from that thread
//! inherit it.

use std::fs::File;
use std::process::Command;

pub struct FakeHost {
    pub name: String,
}

impl FakeHost {
    /// `ip netns add <unique>`; removed on drop.
    pub fn new() -> FakeHost {
        let name = crate::unique_name("bt");
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "ip netns add {name} failed (needs root and iproute2)");
        let h = FakeHost { name };
        h.run(|| {
            let _ = Command::new("ip")
                .args(["link", "set", "lo", "up"])
                .status();
        });
        h
    }

    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// Runs `f` in a thread inside the namespace and returns its result;
    /// a panic in `f` is re-raised here.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = self.path();
        std::thread::scope(|s| {
            s.spawn(move || {
                let ns = File::open(&path).expect("open netns");
                nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }
}

impl Default for FakeHost {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for FakeHost {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A "container" for network tests: a process in its own network namespace
/// (`unshare --net sleep`), killed on drop.
pub struct NetnsProcess {
    pub child: std::process::Child,
}

impl NetnsProcess {
    /// Spawned from the calling thread's namespace; returns once the new
    /// namespace exists.
    pub fn spawn() -> NetnsProcess {
        let own = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
        let child = Command::new("unshare")
            .args(["--net", "sleep", "300"])
            .spawn()
            .expect("unshare");
        let pid = child.id();
        for _ in 0..500 {
            if std::fs::read_link(format!("/proc/{pid}/ns/net")).is_ok_and(|l| l != own) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let p = NetnsProcess { child };
        p.sh("ip link set lo up");
        p
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Runs a shell command inside this process's network namespace.
    pub fn sh(&self, cmd: &str) -> std::process::Output {
        Command::new("nsenter")
            .arg(format!("--net=/proc/{}/ns/net", self.pid()))
            .args(["sh", "-c", cmd])
            .output()
            .expect("nsenter")
    }
}

impl Drop for NetnsProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A background process killed and reaped on drop (so a failing test never
/// leaves it holding cargo's output open).
pub struct Background(pub std::process::Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl NetnsProcess {
    /// Starts `args` in the background inside this process's network namespace.
    pub fn background(&self, args: &[&str]) -> Background {
        let child = Command::new("nsenter")
            .arg(format!("--net=/proc/{}/ns/net", self.pid()))
            .args(args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("nsenter");
        Background(child)
    }
}
