//! Progress of `up`, `down` and friends, as Compose v2 shows it: on a TTY a
//! live view, one line per resource with a spinner and a timer
//! (`✔ Container app-db-1  Healthy  2.1s`); otherwise plain lines; or JSON
//! lines; or nothing. Written to stderr, like Compose.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::style::Style;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Tty,
    Plain,
    Quiet,
    Json,
}

impl Mode {
    /// `--progress` value; `auto` picks TTY when stderr is a terminal.
    pub fn parse(s: &str, stderr_is_tty: bool) -> Result<Mode, String> {
        Ok(match s {
            "auto" if stderr_is_tty => Mode::Tty,
            "auto" | "plain" => Mode::Plain,
            "tty" => Mode::Tty,
            "quiet" | "none" => Mode::Quiet,
            "json" => Mode::Json,
            other => {
                return Err(format!(
                    "--progress: unsupported value {other:?} (expected auto, tty, plain, quiet or json)"
                ));
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Working,
    Done,
    Warning,
    Error,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Working => "Working",
            Status::Done => "Done",
            Status::Warning => "Warning",
            Status::Error => "Error",
        }
    }
}

struct Task {
    id: String,
    status: Status,
    text: String,
    details: String,
    start: Instant,
    end: Option<Instant>,
}

struct State {
    tasks: Vec<Task>,
    /// Lines drawn last time (TTY), to move the cursor back over them.
    drawn: usize,
    finished: bool,
    frame: usize,
}

/// A progress display shared by the threads doing the work.
pub struct Progress {
    mode: Mode,
    operation: String,
    style: Style,
    state: Mutex<State>,
    out: Mutex<Box<dyn Write + Send>>,
    tick: Condvar,
}

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

impl Progress {
    pub fn new(
        mode: Mode,
        operation: &str,
        style: Style,
        out: Box<dyn Write + Send>,
    ) -> Arc<Progress> {
        let p = Arc::new(Progress {
            mode,
            operation: operation.to_owned(),
            style,
            state: Mutex::new(State {
                tasks: Vec::new(),
                drawn: 0,
                finished: false,
                frame: 0,
            }),
            out: Mutex::new(out),
            tick: Condvar::new(),
        });
        if mode == Mode::Tty {
            let ticker = Arc::clone(&p);
            std::thread::spawn(move || ticker.animate());
        }
        p
    }

    /// Progress on stderr.
    pub fn stderr(mode: Mode, operation: &str, style: Style) -> Arc<Progress> {
        Progress::new(mode, operation, style, Box::new(std::io::stderr()))
    }

    /// Reports the state of resource `id` (e.g. `Container app-web-1`).
    pub fn event(&self, id: &str, status: Status, text: &str, details: &str) {
        let mut st = self.state.lock().unwrap();
        let now = Instant::now();
        match st.tasks.iter_mut().find(|t| t.id == id) {
            Some(t) => {
                t.status = status;
                t.text = text.to_owned();
                t.details = details.to_owned();
                t.end = if status == Status::Working {
                    None
                } else {
                    Some(now)
                };
            }
            None => st.tasks.push(Task {
                id: id.to_owned(),
                status,
                text: text.to_owned(),
                details: details.to_owned(),
                start: now,
                end: if status == Status::Working {
                    None
                } else {
                    Some(now)
                },
            }),
        }
        match self.mode {
            Mode::Quiet => {}
            Mode::Plain => {
                let line = format!(" {id} {text} {details}");
                let _ = writeln!(self.out.lock().unwrap(), "{}", line.trim_end());
            }
            Mode::Json => {
                let mut msg =
                    serde_json::json!({"id": id, "status": status.as_str(), "text": text});
                if !details.is_empty() {
                    msg["details"] = details.into();
                }
                let _ = writeln!(self.out.lock().unwrap(), "{msg}");
            }
            Mode::Tty => self.draw(&mut st),
        }
    }

    /// Final redraw; call once when the operation is over.
    pub fn finish(&self) {
        let mut st = self.state.lock().unwrap();
        if st.finished {
            return;
        }
        st.finished = true;
        if self.mode == Mode::Tty && !st.tasks.is_empty() {
            self.draw(&mut st);
        }
        self.tick.notify_all();
    }

    fn animate(&self) {
        let mut st = self.state.lock().unwrap();
        while !st.finished {
            let (guard, _) = self
                .tick
                .wait_timeout(st, Duration::from_millis(100))
                .unwrap();
            st = guard;
            if st.finished {
                break;
            }
            st.frame = st.frame.wrapping_add(1);
            if st.tasks.iter().any(|t| t.status == Status::Working) {
                self.draw(&mut st);
            }
        }
    }

    fn draw(&self, st: &mut State) {
        let width = terminal_width();
        let done = st
            .tasks
            .iter()
            .filter(|t| t.status != Status::Working)
            .count();
        let mut buf = String::new();
        if st.drawn > 0 {
            buf.push_str(&format!("\x1b[{}A", st.drawn));
        }
        let head = format!("[+] {} {}/{}", self.operation, done, st.tasks.len());
        buf.push_str(&format!("\x1b[2K{}\n", self.style.blue(&head)));
        let id_width = st
            .tasks
            .iter()
            .map(|t| t.id.chars().count())
            .max()
            .unwrap_or(0);
        let now = Instant::now();
        for t in &st.tasks {
            let mark = match t.status {
                Status::Working => self.style.blue(SPINNER[st.frame % SPINNER.len()]),
                Status::Done => self.style.green("✔"),
                Status::Warning => self.style.yellow("!"),
                Status::Error => self.style.red("✘"),
            };
            let text = match t.status {
                Status::Error => self.style.red(&t.text),
                Status::Warning => self.style.yellow(&t.text),
                Status::Done => self.style.green(&t.text),
                Status::Working => t.text.clone(),
            };
            let secs = t.end.unwrap_or(now).duration_since(t.start).as_secs_f64();
            let timer = format!("{secs:.1}s");
            let left = format!(" {mark} {:<id_width$} {text} {}", t.id, t.details);
            let visible = 4 + id_width + t.text.chars().count() + 1 + t.details.chars().count();
            let pad = width.saturating_sub(visible + timer.len() + 1).max(1);
            buf.push_str(&format!(
                "\x1b[2K{left}{}{} \n",
                " ".repeat(pad),
                self.style.blue(&timer)
            ));
        }
        st.drawn = st.tasks.len() + 1;
        let mut out = self.out.lock().unwrap();
        let _ = out.write_all(buf.as_bytes());
        let _ = out.flush();
    }
}

fn terminal_width() -> usize {
    console::Term::stderr()
        .size_checked()
        .map(|(_, w)| w as usize)
        .filter(|w| *w > 20)
        .unwrap_or(80)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Buf {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn plain_lines_like_compose() {
        let buf = Buf::default();
        let p = Progress::new(
            Mode::Plain,
            "Running",
            Style::plain(),
            Box::new(buf.clone()),
        );
        p.event("Network app_default", Status::Working, "Creating", "");
        p.event("Network app_default", Status::Done, "Created", "");
        p.event("Container app-db-1", Status::Error, "Error", "exit 1");
        p.finish();
        assert_eq!(
            buf.text(),
            " Network app_default Creating\n Network app_default Created\n Container app-db-1 Error exit 1\n"
        );
    }

    #[test]
    fn json_lines() {
        let buf = Buf::default();
        let p = Progress::new(Mode::Json, "Running", Style::plain(), Box::new(buf.clone()));
        p.event("Container app-web-1", Status::Done, "Started", "");
        let v: serde_json::Value = serde_json::from_str(buf.text().trim()).unwrap();
        assert_eq!(v["id"], "Container app-web-1");
        assert_eq!(v["status"], "Done");
        assert_eq!(v["text"], "Started");
    }

    #[test]
    fn tty_view_redraws_in_place() {
        let buf = Buf::default();
        let p = Progress::new(Mode::Tty, "Running", Style::plain(), Box::new(buf.clone()));
        p.event("Container a-1", Status::Working, "Starting", "");
        p.event("Container a-1", Status::Done, "Started", "");
        p.finish();
        let text = buf.text();
        assert!(text.contains("[+] Running 1/1"), "{text:?}");
        assert!(text.contains(" ✔ Container a-1 Started"), "{text:?}");
        assert!(
            text.contains("\x1b[2A"),
            "moves back over the previous frame: {text:?}"
        );
    }

    #[test]
    fn modes_parse() {
        assert_eq!(Mode::parse("auto", true).unwrap(), Mode::Tty);
        assert_eq!(Mode::parse("auto", false).unwrap(), Mode::Plain);
        assert!(
            Mode::parse("fancy", false)
                .unwrap_err()
                .contains("--progress")
        );
    }
}
