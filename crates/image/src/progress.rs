//! Pull progress: events from the store, and a console renderer that draws
//! one bar per layer on a terminal, prints Docker-like lines otherwise, or
//! stays quiet.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// What happens to one layer during a pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerStatus {
    /// Already in the store.
    Exists,
    /// Queued (size in bytes).
    Waiting { size: u64 },
    /// Bytes received so far (including a resumed prefix) of `total`.
    Downloading { done: u64, total: u64 },
    /// The download broke; starting attempt `attempt` from where it stopped.
    Retrying { attempt: u32 },
    /// Downloaded, verified and unpacked.
    Complete,
}

#[derive(Debug, Clone, Copy)]
pub enum PullEvent<'a> {
    /// The pull of `reference` (a full reference) started.
    Start { reference: &'a str },
    Layer {
        reference: &'a str,
        digest: &'a str,
        status: LayerStatus,
    },
    /// `digest` is what the registry served for the reference.
    Done {
        reference: &'a str,
        digest: &'a str,
        id: &'a str,
        up_to_date: bool,
    },
}

/// Receives pull events, from several threads at once.
pub trait PullObserver: Sync {
    fn event(&self, ev: PullEvent<'_>);
}

/// Ignores everything.
pub struct NoProgress;

impl PullObserver for NoProgress {
    fn event(&self, _: PullEvent<'_>) {}
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Bars when stdout is a terminal, else plain lines.
    Auto,
    Tty,
    Plain,
    Quiet,
}

impl ProgressMode {
    /// `auto`, `tty`, `plain`, `quiet` (as `--progress` takes them; `json`
    /// counts as plain).
    pub fn parse(s: &str) -> Option<ProgressMode> {
        Some(match s {
            "auto" => ProgressMode::Auto,
            "tty" => ProgressMode::Tty,
            "plain" | "json" => ProgressMode::Plain,
            "quiet" => ProgressMode::Quiet,
            _ => return None,
        })
    }
}

/// Renders pull events on stdout like `docker pull`.
pub struct ConsoleProgress {
    mode: ProgressMode,
    multi: MultiProgress,
    /// (reference, digest) → bar, in the order layers were announced.
    bars: Mutex<Vec<((String, String), ProgressBar)>>,
}

fn short(digest: &str) -> &str {
    let h = digest.strip_prefix("sha256:").unwrap_or(digest);
    &h[..h.len().min(12)]
}

/// "latest: Pulling from library/redis"
fn pulling_line(reference: &str) -> String {
    match crate::reference::Reference::parse(reference) {
        Ok(r) => {
            let what = r.digest.clone().or(r.tag.clone()).unwrap_or_default();
            let repo = if r.domain == "docker.io" {
                r.path.clone()
            } else {
                r.name()
            };
            format!("{what}: Pulling from {repo}")
        }
        Err(_) => format!("Pulling {reference}"),
    }
}

impl ConsoleProgress {
    pub fn new(mode: ProgressMode) -> ConsoleProgress {
        let mode = match mode {
            ProgressMode::Auto if std::io::stdout().is_terminal() => ProgressMode::Tty,
            ProgressMode::Auto => ProgressMode::Plain,
            m => m,
        };
        let target = if mode == ProgressMode::Tty {
            ProgressDrawTarget::stdout_with_hz(10)
        } else {
            ProgressDrawTarget::hidden()
        };
        ConsoleProgress {
            mode,
            multi: MultiProgress::with_draw_target(target),
            bars: Mutex::new(Vec::new()),
        }
    }

    fn line(&self, s: &str) {
        match self.mode {
            ProgressMode::Tty => {
                let _ = self.multi.println(s);
            }
            ProgressMode::Plain => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{s}");
            }
            _ => {}
        }
    }

    fn bar(&self, reference: &str, digest: &str) -> ProgressBar {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        let key = (reference.to_owned(), digest.to_owned());
        if let Some((_, b)) = bars.iter().find(|(k, _)| *k == key) {
            return b.clone();
        }
        let b = self.multi.add(ProgressBar::new(0));
        b.set_style(
            ProgressStyle::with_template(
                "{prefix}: {msg:<18} {wide_bar:.cyan/blue} {bytes}/{total_bytes}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b.set_prefix(short(digest).to_owned());
        b.enable_steady_tick(Duration::from_millis(200));
        bars.push((key, b.clone()));
        b
    }

    /// Replaces the bars of `reference` with their final lines, so that the
    /// summary comes after them as in `docker pull`.
    fn settle(&self, reference: &str) {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        let (mine, rest): (Vec<_>, Vec<_>) = bars.drain(..).partition(|((r, _), _)| r == reference);
        *bars = rest;
        drop(bars);
        for ((_, digest), b) in mine {
            let msg = b.message();
            b.finish_and_clear();
            let _ = self
                .multi
                .println(format!("{}: {}", short(&digest), msg.trim()));
        }
    }
}

impl PullObserver for ConsoleProgress {
    fn event(&self, ev: PullEvent<'_>) {
        if self.mode == ProgressMode::Quiet {
            return;
        }
        match ev {
            PullEvent::Start { reference } => self.line(&pulling_line(reference)),
            PullEvent::Layer {
                reference,
                digest,
                status,
            } => {
                if self.mode == ProgressMode::Plain {
                    let text = match status {
                        LayerStatus::Exists => "Already exists".to_owned(),
                        LayerStatus::Waiting { .. } => "Pulling fs layer".to_owned(),
                        LayerStatus::Retrying { attempt } => {
                            format!("Retrying (attempt {attempt})")
                        }
                        LayerStatus::Complete => "Pull complete".to_owned(),
                        LayerStatus::Downloading { .. } => return,
                    };
                    self.line(&format!("{}: {text}", short(digest)));
                    return;
                }
                let b = self.bar(reference, digest);
                match status {
                    LayerStatus::Exists => b.finish_with_message("Already exists"),
                    LayerStatus::Waiting { size } => {
                        b.set_length(size);
                        b.set_message("Waiting");
                    }
                    LayerStatus::Downloading { done, total } => {
                        b.set_length(total);
                        b.set_position(done);
                        b.set_message("Downloading");
                    }
                    LayerStatus::Retrying { attempt } => {
                        b.set_message(format!("Retrying ({attempt})"))
                    }
                    LayerStatus::Complete => b.finish_with_message("Pull complete"),
                }
            }
            PullEvent::Done {
                reference,
                digest,
                up_to_date,
                ..
            } => {
                let name = crate::reference::familiar(reference);
                if self.mode == ProgressMode::Tty {
                    self.settle(reference);
                }
                self.line(&format!("Digest: {digest}"));
                if up_to_date {
                    self.line(&format!("Status: Image is up to date for {name}"));
                } else {
                    self.line(&format!("Status: Downloaded newer image for {name}"));
                }
            }
        }
    }
}

impl Drop for ConsoleProgress {
    fn drop(&mut self) {
        let bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        for (_, b) in bars.iter() {
            if !b.is_finished() {
                b.abandon();
            }
        }
    }
}
