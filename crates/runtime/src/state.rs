//! What is: the state of a container, in `<root>/containers/<id>/state.json`,
//! written atomically by whoever owns the container at that moment (the
//! creating command, then its shim). Every field can be read without talking
//! to any process; [`State::observed`] checks the recorded pid (with its start
//! time) against the kernel so a dead supervisor never makes berth lie.

use berth_store::{ProcessIdentity, ProcessStatus};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// The container has a process (running, paused or between restarts).
    pub fn is_active(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

/// One healthcheck probe result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthResult {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<HealthResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct State {
    pub status: Status,
    /// The container's init process (pid 1 inside).
    pub pid: Option<ProcessIdentity>,
    /// The supervising shim.
    pub shim: Option<ProcessIdentity>,
    pub exit_code: Option<i32>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub restart_count: u32,
    pub health: Option<Health>,
    /// Why the last start failed, if it did.
    pub error: Option<String>,
}

impl State {
    /// The state corrected by what the kernel says: a container recorded as
    /// running whose process is gone (its supervisor was killed, the machine
    /// rebooted) is reported as exited.
    pub fn observed(&self) -> State {
        let mut s = self.clone();
        if s.status.is_active() {
            // A live shim is about to record what happened (a restart, an
            // exit): trust it. Without one, the container process decides.
            let shim_alive = s.shim.is_some_and(|p| p.status() == ProcessStatus::Running);
            let alive = shim_alive || s.pid.is_some_and(|p| p.status() == ProcessStatus::Running);
            if !alive {
                s.status = Status::Exited;
                if s.exit_code.is_none() {
                    // Docker reports a container that vanished under it as 255.
                    s.exit_code = Some(255);
                }
            }
        }
        s
    }
}

/// Now, as RFC 3339 with nanoseconds (`2024-05-01T10:00:00.123456789Z`).
pub fn now_rfc3339() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}

pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_container_without_a_process_is_exited() {
        let s = State {
            status: Status::Running,
            pid: Some(ProcessIdentity {
                pid: i32::MAX - 7,
                start_time: 1,
            }),
            ..Default::default()
        };
        let o = s.observed();
        assert_eq!(o.status, Status::Exited);
        assert_eq!(o.exit_code, Some(255));
        let me = State {
            status: Status::Running,
            pid: Some(ProcessIdentity::current()),
            ..Default::default()
        };
        assert_eq!(me.observed().status, Status::Running);
    }

    #[test]
    fn a_live_pid_with_another_start_time_is_not_the_container() {
        // The pid was reused by another process (here: this test): the
        // start time tells them apart.
        let mut me = ProcessIdentity::current();
        me.start_time += 1;
        let s = State {
            status: Status::Running,
            pid: Some(me),
            shim: Some(me),
            ..Default::default()
        };
        let o = s.observed();
        assert_eq!(o.status, Status::Exited);
        assert_eq!(o.exit_code, Some(255));
    }
}
