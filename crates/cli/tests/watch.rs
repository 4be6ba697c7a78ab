//! End to end: `berth watch` and `berth up --watch` on real containers.
//! Files are checked inside the containers through `/proc/<pid>/root`, so
//! the checks need nothing in the image either.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_testkit::require_root;
use common::Env;

const DEADLINE: Duration = Duration::from_secs(60);

/// A running `berth watch` (or `up --watch`) whose output is collected;
/// interrupted (then killed) on drop.
struct Watching {
    child: Child,
    /// stdout and stderr, each kept whole: read into one buffer, a line of
    /// one could land inside a line of the other.
    streams: [Arc<Mutex<String>>; 2],
}

impl Watching {
    fn start(env: &Env, dir: &Path, args: &[&str]) -> Watching {
        let mut child = env
            .command(dir, args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let streams = [
            Arc::new(Mutex::new(String::new())),
            Arc::new(Mutex::new(String::new())),
        ];
        for (stream, out) in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ]
        .into_iter()
        .zip(streams.clone())
        {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    out.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let w = Watching { child, streams };
        w.wait_for("Watch enabled");
        w
    }

    /// stdout, then stderr.
    fn text(&self) -> String {
        format!("{}\n{}", self.stdout(), self.stderr())
    }

    fn stdout(&self) -> String {
        self.streams[0].lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.streams[1].lock().unwrap().clone()
    }

    fn count(&self, needle: &str) -> usize {
        self.text().matches(needle).count()
    }

    fn wait_for(&self, needle: &str) {
        let t0 = Instant::now();
        while t0.elapsed() < DEADLINE {
            if self.text().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no {needle:?} in the output:\n{}", self.text());
    }

    /// Ctrl-C, then waits for the exit.
    fn interrupt(&mut self) -> Option<i32> {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let t0 = Instant::now();
        while t0.elapsed() < DEADLINE {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() && self.interrupt().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// (id, pid) of a container, from `container inspect`.
fn inspect(env: &Env, name: &str) -> (String, i64, String) {
    let o = env.berth(env.root.path(), &["container", "inspect", name]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    let c = &v[0];
    (
        c["Id"].as_str().unwrap_or("").to_owned(),
        c["State"]["Pid"].as_i64().unwrap_or(0),
        c["State"]["Status"].as_str().unwrap_or("").to_owned(),
    )
}

/// A path of a running container, seen through its init's root.
fn in_container(env: &Env, name: &str, path: &str) -> PathBuf {
    let (_, pid, _) = inspect(env, name);
    PathBuf::from(format!("/proc/{pid}/root{path}"))
}

fn eventually(what: &str, f: impl Fn() -> bool) {
    let t0 = Instant::now();
    while t0.elapsed() < DEADLINE {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting until {what}");
}

fn content(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

fn service(name: &str, target: &str, extra: &str) -> String {
    format!(
        r#"  {name}:
    image: busybox:latest
    command: ["sleep", "3600"]
    init: true
    network_mode: none
    develop:
      watch:
        - path: ./src
          target: {target}
          action: sync
          ignore: ["*.tmp"]
{extra}"#
    )
}

#[test]
fn edits_deletions_and_ignored_files() {
    require_root!();
    let mut env = Env::new();
    let name = berth_testkit::unique_name("wsync");
    let dir = env.project(&name, &format!("services:\n{}", service("web", "/app", "")));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/a.txt"), "one").unwrap();
    let w = Watching::start(&env, &dir, &["watch"]);
    let web = format!("{name}-web-1");

    std::fs::write(dir.join("src/a.txt"), "two").unwrap();
    eventually("the edit is in the container", || {
        content(&in_container(&env, &web, "/app/a.txt")).as_deref() == Some("two")
    });
    w.wait_for("Syncing service \"web\" after");

    // Ignored files and .git never reach the container; what is written
    // after them does, so they had their chance.
    std::fs::write(dir.join("src/skip.tmp"), "x").unwrap();
    std::fs::create_dir_all(dir.join("src/.git")).unwrap();
    std::fs::write(dir.join("src/.git/HEAD"), "ref").unwrap();
    std::fs::create_dir_all(dir.join("src/sub/deep")).unwrap();
    std::fs::write(dir.join("src/sub/deep/b.txt"), "bee").unwrap();
    eventually("a new directory is synced", || {
        content(&in_container(&env, &web, "/app/sub/deep/b.txt")).as_deref() == Some("bee")
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(!in_container(&env, &web, "/app/skip.tmp").exists());
    assert!(!in_container(&env, &web, "/app/.git").exists());

    std::fs::remove_file(dir.join("src/a.txt")).unwrap();
    std::fs::remove_dir_all(dir.join("src/sub")).unwrap();
    eventually("deleted files disappear", || {
        !in_container(&env, &web, "/app/a.txt").exists()
            && !in_container(&env, &web, "/app/sub").exists()
    });
}

#[test]
fn a_burst_of_writes_is_one_sync_per_service() {
    require_root!();
    let mut env = Env::new();
    let name = berth_testkit::unique_name("wburst");
    let compose = format!(
        "services:\n{}{}",
        service("web", "/app", ""),
        service("worker", "/work", "")
    );
    let dir = env.project(&name, &compose);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let w = Watching::start(&env, &dir, &["watch"]);
    for i in 0..200 {
        std::fs::write(dir.join(format!("src/f{i:03}.txt")), format!("{i}")).unwrap();
    }
    for (svc, target) in [("web", "/app"), ("worker", "/work")] {
        let c = format!("{name}-{svc}-1");
        eventually("all 200 files are in both services", || {
            content(&in_container(&env, &c, &format!("{target}/f199.txt"))).as_deref()
                == Some("199")
                && std::fs::read_dir(in_container(&env, &c, target))
                    .map(|d| d.count() == 200)
                    .unwrap_or(false)
        });
    }
    std::thread::sleep(Duration::from_secs(1));
    let out = w.text();
    assert_eq!(w.count("Syncing service \"web\""), 1, "{out}");
    assert_eq!(w.count("Syncing service \"worker\""), 1, "{out}");
    assert!(out.contains("after 200 changes were detected"), "{out}");
}

#[test]
fn restart_restarts_the_service() {
    require_root!();
    let mut env = Env::new();
    let name = berth_testkit::unique_name("wrst");
    let compose = r#"services:
  web:
    image: busybox:latest
    command: ["sleep", "3600"]
    init: true
    network_mode: none
    develop:
      watch:
        - path: ./conf
          action: restart
"#;
    let dir = env.project(&name, compose);
    std::fs::create_dir_all(dir.join("conf")).unwrap();
    let w = Watching::start(&env, &dir, &["watch"]);
    let web = format!("{name}-web-1");
    let (id, pid, _) = inspect(&env, &web);
    std::fs::write(dir.join("conf/app.conf"), "x=1").unwrap();
    w.wait_for("service(s) [\"web\"] restarted");
    let (id2, pid2, status) = inspect(&env, &web);
    assert_eq!(id, id2, "restart keeps the container");
    assert_ne!(pid, pid2, "a new process runs");
    assert_eq!(status, "running");
}

#[test]
fn a_compose_edit_recreates_only_what_changed_and_a_bad_one_changes_nothing() {
    require_root!();
    let mut env = Env::new();
    let name = berth_testkit::unique_name("wrel");
    let db = "  db:\n    image: busybox:latest\n    command: [\"sleep\", \"3600\"]\n    init: true\n    network_mode: none\n";
    let compose = |greeting: &str| {
        format!(
            "services:\n{}{db}",
            service(
                "web",
                "/app",
                &format!("    environment:\n      GREETING: {greeting}\n")
            )
        )
    };
    let dir = env.project(&name, &compose("one"));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let w = Watching::start(&env, &dir, &["watch"]);
    let (web, dbc) = (format!("{name}-web-1"), format!("{name}-db-1"));
    let (web_id, _, _) = inspect(&env, &web);
    let (db_id, _, _) = inspect(&env, &dbc);

    std::fs::write(dir.join("compose.yaml"), compose("two")).unwrap();
    eventually("web is recreated", || inspect(&env, &web).0 != web_id);
    w.wait_for("Project reloaded");
    let env_out = env.ok(&dir, &["exec", "-T", "web", "sh", "-c", "echo $GREETING"]);
    assert_eq!(env_out.trim(), "two");
    assert_eq!(inspect(&env, &dbc).0, db_id, "db did not change");
    // The new container is watched too.
    std::fs::write(dir.join("src/after.txt"), "reloaded").unwrap();
    eventually("sync reaches the recreated container", || {
        content(&in_container(&env, &web, "/app/after.txt")).as_deref() == Some("reloaded")
    });

    // A broken file: the error with its position, and nothing touched.
    let (web_id2, _, _) = inspect(&env, &web);
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  web:\n    image: [busybox\n",
    )
    .unwrap();
    w.wait_for("The project is invalid");
    // The error goes to stderr, the line above to stdout.
    w.wait_for("compose.yaml:");
    let out = w.stderr();
    let at = out.find("compose.yaml:").expect("the error names the file");
    let pos: Vec<&str> = out[at + "compose.yaml:".len()..].splitn(3, ':').collect();
    assert!(
        pos.len() == 3 && pos[..2].iter().all(|p| p.parse::<u32>().is_ok()),
        "the error gives line and column: {out}"
    );
    let (id, _, status) = inspect(&env, &web);
    assert_eq!(
        (id.as_str(), status.as_str()),
        (web_id2.as_str(), "running")
    );
    assert_eq!(inspect(&env, &dbc).2, "running");
    // Fixed again: watching goes on.
    std::fs::write(dir.join("compose.yaml"), compose("two")).unwrap();
    w.wait_for("Project reloaded: nothing to change");
}

/// An image with one static binary (busybox renamed `sleep`, so it runs as
/// that applet) and no shell, plus a link to `/` that must not lead out.
fn load_static_image(env: &Env, tag: &str) {
    let t = tempfile::tempdir().unwrap();
    let fs = t.path().join("fs");
    for d in ["proc", "dev", "sys", "etc", "tmp", "app"] {
        std::fs::create_dir_all(fs.join(d)).unwrap();
    }
    std::fs::copy(berth_testkit::busybox::busybox_path(), fs.join("sleep")).unwrap();
    std::os::unix::fs::symlink("/", fs.join("app/escape")).unwrap();
    let img = berth_testkit::oci::TestImage {
        layers: vec![berth_testkit::oci::tar_dir(&fs).unwrap()],
        config: serde_json::json!({"Entrypoint": ["/sleep"], "Cmd": ["3600"]}),
        ..berth_testkit::oci::TestImage::busybox().unwrap()
    };
    let archive = t.path().join("static.tar");
    berth_testkit::oci::write_archive(
        &archive,
        vec![(tag.to_owned(), berth_testkit::oci::Entry::Image(img))],
    )
    .unwrap();
    env.ok(
        env.root.path(),
        &["image", "load", "-i", archive.to_str().unwrap()],
    );
}

#[test]
fn sync_into_an_image_without_a_shell_and_never_out_through_its_links() {
    require_root!();
    let mut env = Env::new();
    let tag = "berth-static-test:1";
    load_static_image(&env, tag);
    let name = berth_testkit::unique_name("wstat");
    let compose = format!(
        "services:\n  app:\n    image: {tag}\n    network_mode: none\n    stop_grace_period: 1s\n    develop:\n      watch:\n        - path: ./src\n          target: /app\n          action: sync\n"
    );
    let dir = env.project(&name, &compose);
    // The directory exists before watching starts, so only the file's event
    // comes: the write goes through the image's link.
    std::fs::create_dir_all(dir.join("src/escape")).unwrap();
    let _w = Watching::start(&env, &dir, &["watch"]);
    let app = format!("{name}-app-1");
    assert!(
        !in_container(&env, &app, "/bin/sh").exists(),
        "no shell in the image"
    );

    std::fs::create_dir_all(dir.join("src/nested")).unwrap();
    std::fs::write(dir.join("src/nested/page.html"), "<h1>hi</h1>").unwrap();
    eventually("the file is in the container", || {
        content(&in_container(&env, &app, "/app/nested/page.html")).as_deref()
            == Some("<h1>hi</h1>")
    });

    // src/escape/<unique> maps to /app/escape/<unique>, and /app/escape is
    // a link to / in the image: the write lands at the container's root.
    let unique = berth_testkit::unique_name("bwesc");
    std::fs::write(dir.join("src/escape").join(&unique), "contained").unwrap();
    eventually("the write lands inside the container", || {
        content(&in_container(&env, &app, &format!("/{unique}"))).as_deref() == Some("contained")
    });
    assert!(
        !Path::new("/").join(&unique).exists(),
        "nothing written on the host"
    );
}

#[test]
fn up_watch_streams_logs_and_ctrl_c_stops_the_stack() {
    require_root!();
    let mut env = Env::with_network();
    let before = env.snapshot();
    let name = berth_testkit::unique_name("wup");
    let compose = r#"services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "echo started; exec sleep 3600"]
    init: true
    network_mode: none
    develop:
      watch:
        - path: ./src
          target: /app
          action: sync
"#;
    let dir = env.project(&name, compose);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let mut w = Watching::start(&env, &dir, &["up", "--watch"]);
    w.wait_for("| started");
    std::fs::write(dir.join("src/x"), "y").unwrap();
    w.wait_for("⦿ Syncing service \"web\" after 1 changes were detected");
    let web = format!("{name}-web-1");
    assert_eq!(inspect(&env, &web).2, "running");
    assert_eq!(w.interrupt(), Some(130));
    assert_eq!(inspect(&env, &web).2, "exited", "Ctrl-C stops the stack");
    env.ok(&dir, &["down"]);
    let t0 = Instant::now();
    let mut diff = before.diff(&env.snapshot());
    while !diff.is_empty() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(200));
        diff = before.diff(&env.snapshot());
    }
    assert_eq!(diff, Vec::<String>::new(), "watching leaves nothing behind");
}

#[test]
fn sync_exec_runs_the_command_in_the_container_after_syncing() {
    require_root!();
    let mut env = Env::new();
    let name = berth_testkit::unique_name("wexec");
    let compose = r#"services:
  web:
    image: busybox:latest
    command: ["sleep", "3600"]
    init: true
    network_mode: none
    develop:
      watch:
        - path: ./src
          target: /app
          action: sync+exec
          exec:
            command: ["sh", "-c", "cat /app/in.txt > /tmp/out.txt; echo \"$$MARK\" >> /tmp/out.txt"]
            environment:
              MARK: done
"#;
    let dir = env.project(&name, compose);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let w = Watching::start(&env, &dir, &["watch"]);
    std::fs::write(dir.join("src/in.txt"), "synced\n").unwrap();
    let web = format!("{name}-web-1");
    let t0 = Instant::now();
    while content(&in_container(&env, &web, "/tmp/out.txt")).as_deref() != Some("synced\ndone\n") {
        assert!(
            t0.elapsed() < DEADLINE,
            "the exec hook did not run:\n{}",
            w.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn rebuild_builds_and_recreates() {
    require_root!();
    let mut env = Env::new();
    let name = berth_testkit::unique_name("wbld");
    let compose = r#"services:
  web:
    build: .
    network_mode: none
    init: true
    develop:
      watch:
        - path: ./msg
          action: rebuild
"#;
    let dir = env.project(&name, compose);
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox:latest\nCOPY msg /msg\nCMD [\"sleep\", \"3600\"]\n",
    )
    .unwrap();
    std::fs::write(dir.join("msg"), "first\n").unwrap();
    let w = Watching::start(&env, &dir, &["watch"]);
    let web = format!("{name}-web-1");
    assert_eq!(
        content(&in_container(&env, &web, "/msg")).as_deref(),
        Some("first\n")
    );
    let (id, _, _) = inspect(&env, &web);
    std::fs::write(dir.join("msg"), "second\n").unwrap();
    w.wait_for("service(s) [\"web\"] successfully built");
    eventually("the container is recreated from the new image", || {
        let (now, _, status) = inspect(&env, &web);
        now != id
            && status == "running"
            && content(&in_container(&env, &web, "/msg")).as_deref() == Some("second\n")
    });
}
