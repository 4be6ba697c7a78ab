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

#[derive(Clone)]
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
        let (height, width) = terminal_size();
        let frame = render(
            &self.style,
            &self.operation,
            &st.tasks,
            st.frame,
            Instant::now(),
            (height, width),
        );
        let mut buf = String::new();
        if st.drawn > 0 {
            buf.push_str(&format!("\x1b[{}A", st.drawn));
        }
        let lines = frame.len();
        for l in frame {
            buf.push_str("\x1b[2K");
            buf.push_str(&l);
            buf.push('\n');
        }
        // Lines of a longer previous frame are blanked.
        for _ in lines..st.drawn {
            buf.push_str("\x1b[2K\n");
        }
        st.drawn = lines.max(st.drawn);
        let mut out = self.out.lock().unwrap();
        let _ = out.write_all(buf.as_bytes());
        let _ = out.flush();
    }
}

/// One frame of the TTY view: the header, one line per task (as many as
/// the terminal has rows for, then `... N more`), each fitted to `width`
/// with its timer at the right edge.
fn render(
    style: &Style,
    operation: &str,
    tasks: &[Task],
    frame: usize,
    now: Instant,
    (height, width): (usize, usize),
) -> Vec<String> {
    let done = tasks.iter().filter(|t| t.status != Status::Working).count();
    let mut out = vec![style.blue(&format!("[+] {operation} {done}/{}", tasks.len()))];
    let rows = height.saturating_sub(2).max(1);
    let (shown, more) = if tasks.len() > rows {
        (&tasks[..rows - 1], tasks.len() - (rows - 1))
    } else {
        (tasks, 0)
    };
    let id_width = shown
        .iter()
        .map(|t| t.id.chars().count())
        .max()
        .unwrap_or(0);
    for t in shown {
        let mark = match t.status {
            Status::Working => style.blue(SPINNER[frame % SPINNER.len()]),
            Status::Done => style.green("✔"),
            Status::Warning => style.yellow("!"),
            Status::Error => style.red("✘"),
        };
        let text = match t.status {
            Status::Error => style.red(&t.text),
            Status::Warning => style.yellow(&t.text),
            Status::Done => style.green(&t.text),
            Status::Working => t.text.clone(),
        };
        let secs = t.end.unwrap_or(now).duration_since(t.start).as_secs_f64();
        let timer = format!("{secs:.1}s");
        // " ✔ ID TEXT " then the details, cut to what fits before the
        // timer (at least one space, and one after it).
        let fixed = 5 + id_width + t.text.chars().count();
        let room = width.saturating_sub(fixed + timer.len() + 2);
        let details: String = if t.details.chars().count() > room {
            let keep = room.saturating_sub(1);
            t.details.chars().take(keep).collect::<String>() + if room > 0 { "…" } else { "" }
        } else {
            t.details.clone()
        };
        let visible = fixed + details.chars().count();
        let pad = width.saturating_sub(visible + timer.len() + 1).max(1);
        out.push(format!(
            " {mark} {:<id_width$} {text} {details}{}{} ",
            t.id,
            " ".repeat(pad),
            style.blue(&timer)
        ));
    }
    if more > 0 {
        out.push(format!(" ... {more} more"));
    }
    out
}

/// (rows, columns) of the terminal on stderr, 24×80 when unknown.
fn terminal_size() -> (usize, usize) {
    console::Term::stderr()
        .size_checked()
        .map(|(h, w)| (h as usize, w as usize))
        .filter(|(h, w)| *w > 20 && *h > 2)
        .unwrap_or((24, 80))
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
    fn tty_view_fits_the_terminal() {
        let now = Instant::now();
        let tasks: Vec<Task> = (0..30)
            .map(|i| Task {
                id: format!("Container app-s{i}-1"),
                status: Status::Done,
                text: "Started".into(),
                details: String::new(),
                start: now,
                end: Some(now),
            })
            .collect();
        let frame = render(&Style::plain(), "Running", &tasks, 0, now, (10, 60));
        assert_eq!(frame.len(), 9, "{frame:#?}");
        assert_eq!(frame[0], "[+] Running 30/30");
        assert_eq!(frame[8], " ... 23 more");
        assert!(
            frame[1].starts_with(" ✔ Container app-s0-1 Started"),
            "{}",
            frame[1]
        );
        assert!(frame[1].ends_with("0.0s "), "{}", frame[1]);
        assert_eq!(frame[1].chars().count(), 60, "{}", frame[1]);
        let mut long = tasks[0].clone();
        long.status = Status::Error;
        long.text = "Error".into();
        long.details = "x".repeat(200);
        let frame = render(&Style::plain(), "Running", &[long], 0, now, (10, 60));
        assert!(frame[1].chars().count() <= 60, "{}", frame[1]);
        assert!(frame[1].contains('…'), "{}", frame[1]);
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
