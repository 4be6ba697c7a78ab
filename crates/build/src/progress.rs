//! What a build reports as it goes, and a console that shows it: plain lines
//! (BuildKit's `--progress plain` shape), or on a terminal each step on one
//! line with the RUN output scrolling under it and folded away on success.

use std::fmt;
use std::io::Write;
use std::sync::Mutex;

/// One thing that happened during a build.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    /// Step `id` starts: `[stage index/count] text`.
    Step {
        id: usize,
        /// Stage name (`build`, `stage-1`), empty for a one-stage build.
        stage: &'a str,
        index: usize,
        count: usize,
        text: &'a str,
    },
    /// A line the step's process printed.
    Output {
        id: usize,
        line: &'a str,
    },
    /// Step `id` finished (or was taken from the cache).
    Done {
        id: usize,
        cached: bool,
        secs: f64,
    },
    /// Step `id` failed; the error follows as the build's result.
    Failed {
        id: usize,
        secs: f64,
    },
    Warning(&'a str),
}

/// Where a build sends its events.
pub type Out<'a> = &'a dyn Fn(&Event);

fn step_name(service: &str, stage: &str, index: usize, count: usize) -> String {
    let words: Vec<&str> = [service, stage]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    if words.is_empty() {
        format!("[{index}/{count}]")
    } else {
        format!("[{} {index}/{count}]", words.join(" "))
    }
}

/// The plain rendering, one line per event.
impl fmt::Display for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Step {
                id,
                stage,
                index,
                count,
                text,
            } => write!(f, "#{id} {} {text}", step_name("", stage, *index, *count)),
            Event::Output { id, line } => write!(f, "#{id} {line}"),
            Event::Done {
                id, cached: true, ..
            } => write!(f, "#{id} CACHED"),
            Event::Done { id, secs, .. } => write!(f, "#{id} DONE {secs:.1}s"),
            Event::Failed { id, secs } => write!(f, "#{id} ERROR {secs:.1}s"),
            Event::Warning(w) => write!(f, "WARNING: {w}"),
        }
    }
}

/// How a [`Console`] shows events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Tty,
    Plain,
    Quiet,
}

impl Mode {
    /// From Compose's `--progress` (auto, tty, plain, quiet, json) and
    /// `--ansi` (never, always, auto); `auto` means tty when stderr is one.
    pub fn from_flags(progress: &str, ansi: &str) -> Mode {
        use std::io::IsTerminal;
        match progress {
            "quiet" => Mode::Quiet,
            "plain" | "json" => Mode::Plain,
            _ if ansi == "never" || std::env::var_os("NO_COLOR").is_some() => Mode::Plain,
            "tty" => Mode::Tty,
            _ if ansi == "always" || std::io::stderr().is_terminal() => Mode::Tty,
            _ => Mode::Plain,
        }
    }
}

/// Lines of RUN output kept on screen under a running step.
const WINDOW: usize = 6;

#[derive(Default)]
struct Screen {
    /// The running step's header, as shown.
    header: String,
    /// Its last output lines, as shown (already cut to the width).
    window: Vec<String>,
    /// Lines below the header that are on screen now.
    shown: usize,
}

/// Shows build events on stderr.
pub struct Console {
    mode: Mode,
    screen: Mutex<Screen>,
}

fn width() -> usize {
    // SAFETY: TIOCGWINSZ fills a winsize; stderr is fd 2.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(2, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 10 {
        ws.ws_col as usize
    } else {
        80
    }
}

/// `s` cut to `w` characters, so that one line on screen is one line here.
fn cut(s: &str, w: usize) -> String {
    let clean: String = s.chars().filter(|c| !c.is_control()).collect();
    clean.chars().take(w.saturating_sub(1)).collect()
}

impl Console {
    pub fn new(mode: Mode) -> Console {
        Console {
            mode,
            screen: Mutex::new(Screen::default()),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Shows `ev` of the build of `service` (empty outside Compose).
    pub fn event(&self, service: &str, ev: &Event) {
        let mut err = std::io::stderr().lock();
        match self.mode {
            Mode::Quiet => {}
            Mode::Plain => {
                let line = match ev {
                    Event::Step {
                        id,
                        stage,
                        index,
                        count,
                        text,
                    } => format!("#{id} {} {text}", step_name(service, stage, *index, *count)),
                    other => other.to_string(),
                };
                let _ = writeln!(err, "{line}");
            }
            Mode::Tty => {
                let mut s = self.screen.lock().unwrap_or_else(|e| e.into_inner());
                let w = width();
                match ev {
                    Event::Step {
                        stage,
                        index,
                        count,
                        text,
                        ..
                    } => {
                        s.header =
                            format!(" => {} {text}", step_name(service, stage, *index, *count));
                        s.window.clear();
                        s.shown = 0;
                        let _ = writeln!(err, "{}", cut(&s.header, w));
                    }
                    Event::Output { line, .. } => {
                        let line = cut(&format!("    {line}"), w);
                        s.window.push(line);
                        if s.window.len() > WINDOW {
                            s.window.remove(0);
                        }
                        if s.shown > 0 {
                            let _ = write!(err, "\x1b[{}A\x1b[J", s.shown);
                        }
                        for l in &s.window {
                            let _ = writeln!(err, "\x1b[2m{l}\x1b[0m");
                        }
                        s.shown = s.window.len();
                    }
                    Event::Done { cached, secs, .. } => {
                        // Up over the output and the header, then the
                        // finished line alone: the output folds away.
                        let _ = write!(err, "\x1b[{}A\x1b[J", s.shown + 1);
                        let head = match cached {
                            true => s.header.replacen(" => ", " => CACHED ", 1),
                            false => s.header.clone(),
                        };
                        let time = format!("{secs:.1}s");
                        let room = w.saturating_sub(time.len() + 2);
                        let _ = writeln!(err, "{:<room$} {time}", cut(&head, room));
                        s.shown = 0;
                        s.window.clear();
                    }
                    Event::Failed { secs, .. } => {
                        // The header turns into the error line; the last
                        // output stays under it, followed by the error.
                        let _ = write!(err, "\x1b[{}A\x1b[J", s.shown + 1);
                        let head = s.header.replacen(" => ", " => ERROR ", 1);
                        let _ = writeln!(err, "{} {secs:.1}s", cut(&head, w.saturating_sub(8)));
                        for l in &s.window {
                            let _ = writeln!(err, "{l}");
                        }
                        s.shown = 0;
                        s.window.clear();
                    }
                    Event::Warning(m) => {
                        let _ = writeln!(err, " ! {m}");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines() {
        let step = Event::Step {
            id: 3,
            stage: "build",
            index: 2,
            count: 4,
            text: "RUN make",
        };
        assert_eq!(step.to_string(), "#3 [build 2/4] RUN make");
        let one = Event::Step {
            id: 1,
            stage: "",
            index: 1,
            count: 2,
            text: "FROM busybox",
        };
        assert_eq!(one.to_string(), "#1 [1/2] FROM busybox");
        assert_eq!(
            Event::Output {
                id: 3,
                line: "cc -o x"
            }
            .to_string(),
            "#3 cc -o x"
        );
        assert_eq!(
            Event::Done {
                id: 3,
                cached: true,
                secs: 0.0
            }
            .to_string(),
            "#3 CACHED"
        );
        assert_eq!(
            Event::Done {
                id: 3,
                cached: false,
                secs: 1.25
            }
            .to_string(),
            "#3 DONE 1.2s"
        );
        assert_eq!(step_name("web", "build", 2, 4), "[web build 2/4]");
    }

    #[test]
    fn lines_are_cut_to_the_terminal() {
        assert_eq!(cut("abcdef", 4), "abc");
        assert_eq!(cut("a\tb\rc", 80), "abc");
    }
}
