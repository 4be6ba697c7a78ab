//! Healthchecks, as Docker runs them: a probe every `interval` (every
//! `start_interval` during `start_period`), `timeout` per probe, `retries`
//! consecutive failures make the container unhealthy, failures during the
//! start period do not count, the last five results are kept.

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::sys::signal::{Signal, kill};
use nix::unistd::{ForkResult, Pid, fork, pipe2};

use crate::config::{ContainerConfig, Healthcheck};
use crate::exec::{Entry, ExecSpec, enter_and_exec};
use crate::state::{Health, HealthResult, now_rfc3339};

const KEEP: usize = 5;
const MAX_OUTPUT: usize = 4096;

pub struct Probe {
    pub pid: i32,
    pub output: OwnedFd,
    buf: Vec<u8>,
    started: Instant,
    started_at: String,
    deadline: Instant,
}

pub struct Checker {
    pub cfg: Healthcheck,
    pub next: Instant,
    pub probe: Option<Probe>,
    container_started: Instant,
}

fn secs(v: Option<f64>, default: f64) -> Duration {
    Duration::from_secs_f64(v.filter(|s| *s > 0.0).unwrap_or(default))
}

impl Checker {
    pub fn new(cfg: &Healthcheck) -> Checker {
        let mut c = Checker {
            cfg: cfg.clone(),
            next: Instant::now(),
            probe: None,
            container_started: Instant::now(),
        };
        c.next = Instant::now() + c.period();
        c
    }

    fn in_start_period(&self) -> bool {
        self.container_started.elapsed() < secs(self.cfg.start_period, 0.0)
    }

    fn period(&self) -> Duration {
        if self.in_start_period() {
            secs(self.cfg.start_interval, 5.0)
        } else {
            secs(self.cfg.interval, 30.0)
        }
    }

    /// Starts a probe in the container whose init is `pid`.
    pub fn start(&mut self, pid: i32, config: &ContainerConfig) {
        let args = match self.cfg.test.first().map(String::as_str) {
            Some("CMD-SHELL") => vec![
                "/bin/sh".to_owned(),
                "-c".to_owned(),
                self.cfg.test[1..].join(" "),
            ],
            Some("CMD") => self.cfg.test[1..].to_vec(),
            _ => self.cfg.test.clone(),
        };
        let Ok((r, w)) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK) else {
            return;
        };
        let spec = ExecSpec {
            args,
            ..Default::default()
        };
        // SAFETY: the shim is single-threaded.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                let w = w.as_raw_fd();
                // SAFETY: redirecting our own descriptors before exec.
                unsafe {
                    let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
                    libc::dup2(null, 0);
                    libc::dup2(w, 1);
                    libc::dup2(w, 2);
                }
                enter_and_exec(
                    pid,
                    config,
                    &spec,
                    Entry {
                        privileged: false,
                        die_with_parent: true,
                    },
                )
            }
            Ok(ForkResult::Parent { child }) => {
                let now = Instant::now();
                self.probe = Some(Probe {
                    pid: child.as_raw(),
                    output: r,
                    buf: Vec::new(),
                    started: now,
                    started_at: now_rfc3339(),
                    deadline: now + secs(self.cfg.timeout, 30.0),
                });
            }
            Err(_) => {}
        }
    }

    /// Reads what the running probe printed so far.
    pub fn drain(&mut self) {
        if let Some(p) = &mut self.probe {
            let mut buf = [0u8; 4096];
            while let Ok(n) = nix::unistd::read(&p.output, &mut buf) {
                if n == 0 {
                    break;
                }
                if p.buf.len() < MAX_OUTPUT {
                    p.buf
                        .extend_from_slice(&buf[..n.min(MAX_OUTPUT - p.buf.len())]);
                }
            }
        }
    }

    /// Kills a probe that ran past its timeout; true if it did.
    pub fn check_timeout(&mut self) -> bool {
        if let Some(p) = &self.probe
            && Instant::now() >= p.deadline
        {
            let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
            return true;
        }
        false
    }

    /// Records the end of the probe `pid` with `code`; updates `health`.
    pub fn finish(&mut self, pid: i32, code: i32, health: &mut Health) -> bool {
        if self.probe.as_ref().is_none_or(|p| p.pid != pid) {
            return false;
        }
        self.drain();
        let p = self.probe.take().unwrap();
        let timed_out = Instant::now() >= p.deadline;
        let (code, output) = if timed_out {
            (
                -1,
                format!(
                    "Health check exceeded timeout ({:?})",
                    secs(self.cfg.timeout, 30.0)
                ),
            )
        } else {
            (code, String::from_utf8_lossy(&p.buf).into_owned())
        };
        health.log.push(HealthResult {
            start: p.started_at,
            end: now_rfc3339(),
            exit_code: code,
            output,
        });
        if health.log.len() > KEEP {
            health.log.remove(0);
        }
        if code == 0 {
            health.status = "healthy".into();
            health.failing_streak = 0;
        } else if !self.in_start_period() {
            health.failing_streak += 1;
            if health.failing_streak >= self.cfg.retries.unwrap_or(3).max(1) {
                health.status = "unhealthy".into();
            }
        }
        let _ = p.started;
        self.next = Instant::now() + self.period();
        true
    }
}
