use serde::{Deserialize, Serialize};

/// A process as berth remembers it: its pid *and* its start time (field 22 of
/// `/proc/<pid>/stat`, in clock ticks since boot). A pid alone may have been
/// reused by an unrelated process; the pair cannot be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessIdentity {
    pub pid: i32,
    pub start_time: u64,
}

/// What became of a remembered process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessStatus {
    /// Same pid, same start time, not a zombie.
    Running,
    /// Exited and not yet reaped by its parent.
    Zombie,
    /// Gone, or the pid now belongs to another process.
    Gone,
}

/// Parses `/proc/<pid>/stat`: returns (state char, start time).
fn read_stat(pid: i32) -> Option<(char, u64)> {
    let data = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces or ')'.
    let rest = &data[data.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    // `rest` starts at field 3; the start time is field 22.
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((state, start))
}

impl ProcessIdentity {
    /// The identity of a live process, `None` if it does not exist.
    pub fn of(pid: i32) -> Option<Self> {
        read_stat(pid).map(|(_, start_time)| ProcessIdentity { pid, start_time })
    }

    /// The identity of the calling process.
    pub fn current() -> Self {
        Self::of(std::process::id() as i32).expect("/proc/self/stat is readable")
    }

    pub fn status(&self) -> ProcessStatus {
        match read_stat(self.pid) {
            Some((_, start)) if start != self.start_time => ProcessStatus::Gone,
            Some(('Z', _)) | Some(('X', _)) => ProcessStatus::Zombie,
            Some(_) => ProcessStatus::Running,
            None => ProcessStatus::Gone,
        }
    }

    pub fn is_running(&self) -> bool {
        self.status() == ProcessStatus::Running
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_process_is_running() {
        let me = ProcessIdentity::current();
        assert_eq!(me.status(), ProcessStatus::Running);
        let other = ProcessIdentity {
            start_time: me.start_time + 1,
            ..me
        };
        assert_eq!(other.status(), ProcessStatus::Gone);
    }

    #[test]
    fn exited_child_is_zombie_then_gone() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let id = ProcessIdentity::of(child.id() as i32).unwrap();
        // Wait until it has exited but is not yet reaped.
        for _ in 0..200 {
            if id.status() == ProcessStatus::Zombie {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(id.status(), ProcessStatus::Zombie);
        child.wait().unwrap();
        assert_eq!(id.status(), ProcessStatus::Gone);
    }
}
