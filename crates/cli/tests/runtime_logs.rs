//! A container's output: captured by its supervisor into Docker's JSON
//! lines (`log`, `stream`, `time`), rotated by size, dropped with
//! `logging.driver: none`, merged for a tty; and its stdin, kept open with
//! `stdin_open`. Each test checks it left nothing behind.

mod common;
mod runtime_common;

use std::path::PathBuf;

use berth_testkit::require_root;
use common::{Env, wait_for};
use runtime_common::{container_dir as dir, run_d};

fn json_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

#[test]
fn output_is_json_lines_with_stream_and_time() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let root = env.root.path();
    run_d(
        &env,
        &[
            "--name",
            "talk",
            "busybox:latest",
            "sh",
            "-c",
            "echo out1; echo err1 >&2; echo out2; printf 'no newline'",
        ],
    );
    wait_for("exit", || {
        env.inspect("talk")["State"]["Status"] == "exited"
    });
    let lines = json_lines(&dir(&env, "talk").join("container.log"));
    let seen: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["stream"].as_str().unwrap().to_owned(),
                l["log"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = |s: &str, l: &str| (s.to_owned(), l.to_owned());
    assert_eq!(seen.len(), 4, "{seen:?}");
    for w in [
        want("stdout", "out1\n"),
        want("stderr", "err1\n"),
        want("stdout", "out2\n"),
        want("stdout", "no newline"),
    ] {
        assert!(seen.contains(&w), "{w:?} in {seen:?}");
    }
    for l in &lines {
        let t = l["time"].as_str().unwrap();
        assert!(
            t.len() >= 20 && t.ends_with('Z') && t.contains('T'),
            "RFC 3339 time: {t}"
        );
    }
    // `logs` gives each stream back on its own descriptor.
    let o = env.berth(root, &["container", "logs", "talk"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("out1\nout2\nno newline"), "{out}");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "err1\n");
    let ts = env.ok(root, &["container", "logs", "-t", "talk"]);
    assert!(ts.lines().all(|l| l.contains("Z ")), "{ts}");
    env.ok(root, &["container", "rm", "talk"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn logs_rotate_by_size() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let root = env.root.path();
    run_d(
        &env,
        &[
            "--name",
            "chatty",
            "--log-opt",
            "max-size=2k",
            "--log-opt",
            "max-file=3",
            "busybox:latest",
            "sh",
            "-c",
            "i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); done",
        ],
    );
    wait_for("exit", || {
        env.inspect("chatty")["State"]["Status"] == "exited"
    });
    let d = dir(&env, "chatty");
    let files: Vec<PathBuf> = ["container.log", "container.log.1", "container.log.2"]
        .iter()
        .map(|f| d.join(f))
        .collect();
    for f in &files {
        assert!(f.exists(), "{} exists", f.display());
        let size = std::fs::metadata(f).unwrap().len();
        assert!(size < 2048 + 200, "{}: {size} bytes", f.display());
    }
    assert!(
        !d.join("container.log.3").exists(),
        "at most max-file files"
    );
    // The raw output the shim consumed takes (almost) no space on disk.
    let raw = std::fs::metadata(d.join("stdout.raw")).unwrap();
    let allocated = std::os::unix::fs::MetadataExt::blocks(&raw) * 512;
    assert!(
        raw.len() > 3000 && allocated <= 8192,
        "{} bytes written, {allocated} allocated",
        raw.len()
    );
    // What is kept is the end of the output, in order, without gaps.
    let logs = env.ok(root, &["container", "logs", "chatty"]);
    let numbers: Vec<u32> = logs
        .lines()
        .map(|l| l.strip_prefix("line-").unwrap().parse().unwrap())
        .collect();
    assert_eq!(*numbers.last().unwrap(), 399);
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "in order");
    assert!(numbers.len() < 400, "the oldest lines were rotated away");
    env.ok(root, &["container", "rm", "chatty"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn the_none_driver_keeps_nothing() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let root = env.root.path();
    run_d(
        &env,
        &[
            "--name",
            "quiet",
            "--log-driver",
            "none",
            "busybox:latest",
            "sh",
            "-c",
            "echo lost",
        ],
    );
    wait_for("exit", || {
        env.inspect("quiet")["State"]["Status"] == "exited"
    });
    let d = dir(&env, "quiet");
    for f in ["container.log", "stdout.raw"] {
        let len = std::fs::metadata(d.join(f)).map(|m| m.len()).unwrap_or(0);
        assert_eq!(len, 0, "{f} holds nothing");
    }
    let o = env.berth(root, &["container", "logs", "quiet"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("configured logging driver does not support reading")
    );
    env.ok(root, &["container", "rm", "quiet"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn a_tty_merges_the_streams_and_stdin_open_keeps_stdin() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let root = env.root.path();
    run_d(
        &env,
        &[
            "-t",
            "--name",
            "tty",
            "busybox:latest",
            "sh",
            "-c",
            "tty; echo to-stderr >&2; [ -t 0 ] && echo stdin-is-a-tty; echo TERM=$TERM",
        ],
    );
    wait_for("exit", || env.inspect("tty")["State"]["Status"] == "exited");
    let lines = json_lines(&dir(&env, "tty").join("container.log"));
    let text: String = lines.iter().map(|l| l["log"].as_str().unwrap()).collect();
    assert!(lines.iter().all(|l| l["stream"] == "stdout"), "{lines:?}");
    assert!(
        text.contains("/dev/pts/0\r\n"),
        "its own terminal: {text:?}"
    );
    assert!(text.contains("to-stderr\r\n"));
    assert!(text.contains("stdin-is-a-tty"));
    assert!(text.contains("TERM=xterm"));
    // Without -i, stdin is at its end at once; with it, it stays open.
    for (flags, name) in [(&[][..], "closed"), (&["-i"][..], "open")] {
        let mut args = vec!["container", "run", "-d", "--name", name];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox:latest", "cat"]);
        env.ok(root, &args);
    }
    wait_for("cat without stdin to end", || {
        env.inspect("closed")["State"]["Status"] == "exited"
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        env.inspect("open")["State"]["Status"],
        "running",
        "cat waits on an open stdin"
    );
    env.ok(root, &["container", "rm", "-f", "tty", "closed", "open"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}
