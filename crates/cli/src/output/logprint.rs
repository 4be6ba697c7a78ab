//! Log lines of several containers, as Compose prints them: `web-1  | hello`,
//! names padded to one more than the widest, one colour per container;
//! what a container wrote to stderr goes to stderr.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

use super::style::Style;

#[derive(Debug, Clone, Copy, Default)]
pub struct LogFormat {
    /// `--no-log-prefix`
    pub no_prefix: bool,
    /// `-t/--timestamps`
    pub timestamps: bool,
}

/// Prints lines for many containers from many threads without interleaving
/// partial lines.
pub struct LogPrinter {
    style: Style,
    format: LogFormat,
    width: usize,
    colors: Mutex<HashMap<String, usize>>,
    out: Mutex<Box<dyn Write + Send>>,
    err: Mutex<Box<dyn Write + Send>>,
}

impl LogPrinter {
    /// `names` are the prefixes that will be printed (to pad them alike).
    pub fn new(
        style: Style,
        format: LogFormat,
        names: &[String],
        out: Box<dyn Write + Send>,
        err: Box<dyn Write + Send>,
    ) -> LogPrinter {
        let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0) + 1;
        let colors = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        LogPrinter {
            style,
            format,
            width,
            colors: Mutex::new(colors),
            out: Mutex::new(out),
            err: Mutex::new(err),
        }
    }

    pub fn stdout(style: Style, format: LogFormat, names: &[String]) -> LogPrinter {
        LogPrinter::new(
            style,
            format,
            names,
            Box::new(std::io::stdout()),
            Box::new(std::io::stderr()),
        )
    }

    fn prefix(&self, name: &str) -> String {
        if self.format.no_prefix {
            return String::new();
        }
        let mut colors = self.colors.lock().unwrap();
        let next = colors.len();
        let idx = *colors.entry(name.to_owned()).or_insert(next);
        let padded = format!(
            "{name:<width$} | ",
            width = self.width.max(name.chars().count())
        );
        self.style.rotating(idx, &padded)
    }

    /// One line of standard output (without its newline); `time` is RFC 3339.
    pub fn line(&self, name: &str, time: &str, text: &str) {
        self.line_on(name, time, "stdout", text);
    }

    /// One line a container wrote on `stream` (`stdout` or `stderr`).
    pub fn line_on(&self, name: &str, time: &str, stream: &str, text: &str) {
        let mut s = self.prefix(name);
        if self.format.timestamps {
            s.push_str(time);
            s.push(' ');
        }
        s.push_str(text);
        s.push('\n');
        let mut out = if stream == "stderr" {
            self.err.lock().unwrap()
        } else {
            self.out.lock().unwrap()
        };
        let _ = out.write_all(s.as_bytes());
        let _ = out.flush();
    }

    /// A status line about a container (`web-1 exited with code 0`), printed
    /// with the container's prefix colour but no `|`.
    pub fn status(&self, name: &str, text: &str) {
        let s = if self.format.no_prefix {
            format!("{text}\n")
        } else {
            let idx = self.colors.lock().unwrap().get(name).copied().unwrap_or(0);
            format!("{}\n", self.style.rotating(idx, text))
        };
        let mut out = self.out.lock().unwrap();
        let _ = out.write_all(s.as_bytes());
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

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

    #[test]
    fn prefixes_are_padded_like_compose() {
        let buf = Buf::default();
        let names = vec!["web-1".to_string(), "postgres-1".to_string()];
        let err = Buf::default();
        let p = LogPrinter::new(
            Style::plain(),
            LogFormat::default(),
            &names,
            Box::new(buf.clone()),
            Box::new(err.clone()),
        );
        p.line("web-1", "2024-01-01T00:00:00Z", "hello");
        p.line("postgres-1", "2024-01-01T00:00:00Z", "ready");
        p.line_on("web-1", "2024-01-01T00:00:00Z", "stderr", "oops");
        let t = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(t, "web-1       | hello\npostgres-1  | ready\n");
        let t = String::from_utf8(err.0.lock().unwrap().clone()).unwrap();
        assert_eq!(t, "web-1       | oops\n");
    }

    #[test]
    fn timestamps_and_no_prefix() {
        let buf = Buf::default();
        let f = LogFormat {
            no_prefix: true,
            timestamps: true,
        };
        let p = LogPrinter::new(
            Style::plain(),
            f,
            &["a-1".into()],
            Box::new(buf.clone()),
            Box::new(Buf::default()),
        );
        p.line("a-1", "2024-01-01T00:00:00.5Z", "x");
        assert_eq!(
            String::from_utf8(buf.0.lock().unwrap().clone()).unwrap(),
            "2024-01-01T00:00:00.5Z x\n"
        );
    }

    #[test]
    fn colours_rotate_per_container() {
        let buf = Buf::default();
        let style = Style::from_flag("always", false);
        let p = LogPrinter::new(
            style,
            LogFormat::default(),
            &["a-1".into(), "b-1".into()],
            Box::new(buf.clone()),
            Box::new(Buf::default()),
        );
        p.line("a-1", "", "x");
        p.line("b-1", "", "y");
        let t = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(
            t.starts_with("\x1b[36ma-1  | \x1b[0mx\n\x1b[33mb-1  | \x1b[0my"),
            "{t:?}"
        );
    }
}
