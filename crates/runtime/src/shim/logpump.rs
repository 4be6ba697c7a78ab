//! Moves what the payload wrote to its raw output files into the JSON-lines
//! log (`{"log":"…\n","stream":"stdout","time":"…"}`, Docker's json-file
//! format), then punches holes in the raw files so they take no space. The
//! read offsets are kept on disk, so a new shim continues where a killed one
//! stopped and nothing is logged twice.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;

use serde::{Deserialize, Serialize};

use crate::records::ContainerDir;
use crate::state::now_rfc3339;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Offsets {
    stdout: u64,
    stderr: u64,
}

pub struct LogPump {
    /// Rotate when the log reaches this size (`max-size`, default 10 MiB)…
    max_size: u64,
    /// …keeping this many files in all (`max-file`, default 3).
    max_file: u32,
    written: u64,
    dir: ContainerDir,
    offsets: Offsets,
    partial: [Vec<u8>; 2],
    log: Option<File>,
}

/// A line longer than this is written in pieces, like Docker does.
const MAX_LINE: usize = 16 * 1024;

impl LogPump {
    pub fn new(dir: &ContainerDir, logging: &crate::config::Logging) -> LogPump {
        let enabled = logging.enabled();
        let max_size = logging
            .options
            .get("max-size")
            .and_then(|s| parse_size(s))
            .unwrap_or(10 << 20);
        let max_file = logging
            .options
            .get("max-file")
            .and_then(|s| s.parse().ok())
            .unwrap_or(3u32)
            .max(1);
        let written = std::fs::metadata(dir.log()).map(|m| m.len()).unwrap_or(0);
        let offsets = berth_store::read_json_opt(&dir.log_offsets())
            .ok()
            .flatten()
            .unwrap_or_default();
        let log = enabled
            .then(|| {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.log())
                    .ok()
            })
            .flatten();
        LogPump {
            max_size,
            max_file,
            written,
            dir: dir.clone(),
            offsets,
            partial: [Vec::new(), Vec::new()],
            log,
        }
    }

    /// Reads whatever is new in both streams; returns whether anything was.
    pub fn pump(&mut self) -> bool {
        let a = self.pump_stream(0);
        let b = self.pump_stream(1);
        if a || b {
            // Rewritten on every read: swapped in, not renamed over.
            if let Ok(data) = serde_json::to_vec(&self.offsets) {
                let _ = crate::records::replace(&self.dir.log_offsets(), &data);
            }
        }
        a || b
    }

    fn pump_stream(&mut self, i: usize) -> bool {
        let name = ["stdout", "stderr"][i];
        let Ok(mut f) = File::open(self.dir.raw(name)) else {
            return false;
        };
        let off = if i == 0 {
            self.offsets.stdout
        } else {
            self.offsets.stderr
        };
        if f.seek(SeekFrom::Start(off)).is_err() {
            return false;
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() || buf.is_empty() {
            return false;
        }
        let new_off = off + buf.len() as u64;
        self.write_lines(i, name, &buf);
        // Give back the space of what was consumed (the file keeps its size).
        // SAFETY: fallocate on our own fd with valid offsets.
        unsafe {
            libc::fallocate(
                f.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                0,
                new_off as i64,
            );
        }
        if i == 0 {
            self.offsets.stdout = new_off
        } else {
            self.offsets.stderr = new_off
        }
        true
    }

    /// Writes raw pty output (both streams in one) as stdout.
    pub fn write_tty(&mut self, data: &[u8]) {
        self.write_lines(0, "stdout", data);
    }

    fn write_lines(&mut self, i: usize, stream: &str, data: &[u8]) {
        if self.log.is_none() {
            return;
        }
        let time = now_rfc3339();
        let mut out = String::new();
        let mut done = Vec::new();
        {
            let partial = &mut self.partial[i];
            for &b in data {
                partial.push(b);
                if b == b'\n' || partial.len() >= MAX_LINE {
                    done.push(String::from_utf8_lossy(partial).into_owned());
                    partial.clear();
                }
            }
        }
        // Rotation is checked line by line, so that no file grows much past
        // max-size however much output comes at once.
        for line in done {
            out.push_str(
                &serde_json::json!({"log": line, "stream": stream, "time": time}).to_string(),
            );
            out.push('\n');
            if self.written + out.len() as u64 >= self.max_size {
                self.append(&out);
                out.clear();
                self.rotate();
            }
        }
        self.append(&out);
    }

    fn append(&mut self, text: &str) {
        if let Some(log) = self.log.as_mut()
            && !text.is_empty()
        {
            let _ = log.write_all(text.as_bytes());
            self.written += text.len() as u64;
        }
    }

    /// container.log → container.log.1 → … up to `max-file` files in all.
    fn rotate(&mut self) {
        let base = self.dir.log();
        let name = |i: u32| {
            if i == 0 {
                base.clone()
            } else {
                base.with_extension(format!("log.{i}"))
            }
        };
        if self.max_file == 1 {
            let _ = std::fs::remove_file(&base);
        } else {
            for i in (0..self.max_file - 1).rev() {
                let _ = std::fs::rename(name(i), name(i + 1));
            }
        }
        self.log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&base)
            .ok();
        self.written = 0;
    }

    /// Flushes a last line without a newline (at exit).
    pub fn flush_partial(&mut self) {
        for i in 0..2 {
            if !self.partial[i].is_empty() {
                let line = String::from_utf8_lossy(&self.partial[i]).into_owned();
                self.partial[i].clear();
                if let Some(log) = self.log.as_mut() {
                    let stream = ["stdout", "stderr"][i];
                    let _ = writeln!(
                        log,
                        "{}",
                        serde_json::json!({"log": line, "stream": stream, "time": now_rfc3339()})
                    );
                }
            }
        }
    }
}

/// Docker's size syntax: `10m`, `512k`, `1g`, plain bytes.
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mul) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (&s[..], 1),
    };
    num.trim().parse::<u64>().ok().map(|n| n * mul)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_rotation() {
        assert_eq!(parse_size("10m"), Some(10 << 20));
        assert_eq!(parse_size("512k"), Some(512 << 10));
        assert_eq!(parse_size("x"), None);
        let tmp = tempfile::tempdir().unwrap();
        let dir = ContainerDir {
            path: tmp.path().to_owned(),
        };
        let logging = crate::config::Logging {
            driver: None,
            options: [
                ("max-size".into(), "100".into()),
                ("max-file".into(), "2".into()),
            ]
            .into(),
        };
        let mut p = LogPump::new(&dir, &logging);
        for i in 0..20 {
            p.write_tty(format!("line {i}\n").as_bytes());
        }
        assert!(dir.log().exists());
        assert!(tmp.path().join("container.log.1").exists());
        assert!(
            !tmp.path().join("container.log.2").exists(),
            "at most max-file files"
        );
        assert!(std::fs::metadata(dir.log()).unwrap().len() < 200);
    }
}
