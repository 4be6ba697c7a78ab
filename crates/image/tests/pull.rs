//! Pulls from a real registry (Debian's docker-registry on 127.0.0.1), with
//! a token-auth front and a front that cuts downloads short.

mod common;

use std::fs;

use berth_image::progress::{LayerStatus, NoProgress, PullEvent, PullObserver};
use berth_image::registry::DockerAuths;
use berth_image::{ImageError, Platform, PullOptions, RegistryClient};
use berth_testkit::oci::{self, Entry, TestImage};
use berth_testkit::registry::Registry;
use common::front::{Front, Settings};
use common::*;

/// A registry with busybox (one layer), multi (three layers, whiteouts) and
/// a two-platform index pushed.
struct Fixture {
    reg: Registry,
    _tmp: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let reg = Registry::start().expect("start docker-registry");
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("all.tar");
    let bb = TestImage::busybox().unwrap();
    oci::write_archive(
        &path,
        vec![
            ("bb".into(), Entry::Image(bb.clone())),
            ("multi".into(), Entry::Image(multi_layer_image())),
            (
                "mp".into(),
                Entry::Index(vec![
                    with_arch(bb.clone(), "amd64", None),
                    with_arch(bb, "arm64", Some("v8")),
                ]),
            ),
        ],
    )
    .unwrap();
    reg.push_oci_archive(&path, "bb", "test/busybox:1", false)
        .unwrap();
    reg.push_oci_archive(&path, "multi", "test/multi:1", false)
        .unwrap();
    reg.push_oci_archive(&path, "mp", "test/mp:1", true)
        .unwrap();
    Fixture { reg, _tmp: tmp }
}

fn manifest_digest(host: &str, repo: &str) -> String {
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{host}/{repo}"))
        .output()
        .unwrap();
    assert!(out.status.success());
    berth_image::digest::sha256_digest(&out.stdout)
}

/// Records events to check what progress was reported.
#[derive(Default)]
struct Events(std::sync::Mutex<Vec<String>>);

impl PullObserver for Events {
    fn event(&self, ev: PullEvent<'_>) {
        let s = match ev {
            PullEvent::Start { reference } => format!("start {reference}"),
            PullEvent::Layer {
                status: LayerStatus::Downloading { .. },
                ..
            } => return,
            PullEvent::Layer { digest, status, .. } => format!("{} {status:?}", &digest[7..19]),
            PullEvent::Done { up_to_date, .. } => format!("done up_to_date={up_to_date}"),
        };
        self.0.lock().unwrap().push(s);
    }
}

#[test]
fn pull_by_tag_then_by_digest_then_up_to_date() {
    // The multi-layer image has whiteouts, which only root can create.
    berth_testkit::require_root!();
    let f = fixture();
    let ts = store();
    let host = f.reg.host();
    let ev = Events::default();
    let img = ts
        .store
        .pull(
            &format!("{host}/test/multi:1"),
            &PullOptions::default(),
            &ev,
        )
        .unwrap();
    assert_eq!(img.layers.len(), 3);
    assert_eq!(img.repo_tags, vec![format!("{host}/test/multi:1")]);
    let digest = manifest_digest(&host, "test/multi:1");
    assert_eq!(
        img.repo_digests,
        vec![format!("{host}/test/multi@{digest}")]
    );
    assert_eq!(img.config.working_dir, "/data");
    let dirs = ts.store.layer_dirs(&img).unwrap();
    assert!(dirs[2].join("bin/busybox").is_file());
    assert!(dirs[1].join("data/a").is_file());
    let events = ev.0.lock().unwrap().clone();
    assert_eq!(
        events.iter().filter(|e| e.ends_with("Complete")).count(),
        3,
        "{events:?}"
    );
    assert_eq!(events.last().unwrap(), "done up_to_date=false");

    // By digest: same image; busybox shares its layer and reports it.
    let ev = Events::default();
    let by_digest = ts
        .store
        .pull(
            &format!("{host}/test/multi@{digest}"),
            &PullOptions::default(),
            &ev,
        )
        .unwrap();
    assert_eq!(by_digest.id, img.id);
    assert_eq!(ev.0.lock().unwrap().last().unwrap(), "done up_to_date=true");
    let bb = ts
        .store
        .pull(
            &format!("{host}/test/busybox:1"),
            &PullOptions::default(),
            &ev,
        )
        .unwrap();
    assert_eq!(
        ts.store.layer_dirs(&bb).unwrap()[0],
        dirs[2],
        "shared layer unpacked once"
    );
    assert!(ev.0.lock().unwrap().iter().any(|e| e.ends_with("Exists")));
    // A wrong digest is refused.
    let wrong = format!("{host}/test/multi@sha256:{}", "0".repeat(64));
    let err = ts
        .store
        .pull(&wrong, &PullOptions::default(), &NoProgress)
        .unwrap_err();
    assert!(matches!(err, ImageError::UnknownTag { .. }), "{err}");
}

#[test]
fn platform_selection_from_an_index() {
    let f = fixture();
    let ts = store();
    let r = format!("{}/test/mp:1", f.reg.host());
    let host_img = ts
        .store
        .pull(&r, &PullOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(host_img.architecture, Platform::host().architecture);
    let arm = PullOptions {
        platform: Some(Platform::parse("linux/arm64").unwrap()),
        ..Default::default()
    };
    let img = ts.store.pull(&r, &arm, &NoProgress).unwrap();
    assert_eq!(img.architecture, "arm64");
    assert_eq!(img.config.labels["arch"], "arm64");
    assert_ne!(img.id, host_img.id);
    // The tag now names the arm64 image; the amd64 one is dangling.
    assert_eq!(ts.store.get(&r).unwrap().id, img.id);
    let s390 = PullOptions {
        platform: Some(Platform::parse("linux/s390x").unwrap()),
        ..Default::default()
    };
    let err = ts.store.pull(&r, &s390, &NoProgress).unwrap_err();
    assert!(
        matches!(err, ImageError::NoMatchingPlatform { .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("no matching manifest for linux/s390x"),
        "{err}"
    );
    // A single-platform image asked for another platform.
    let err = ts
        .store
        .pull(
            &format!("{}/test/busybox:1", f.reg.host()),
            &arm,
            &NoProgress,
        )
        .unwrap_err();
    assert!(matches!(err, ImageError::WrongPlatform { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("wanted linux/arm64, actual: linux/amd64"),
        "{err}"
    );
}

#[test]
fn clear_errors_for_unknown_image_tag_and_unreachable_registry() {
    let f = fixture();
    let ts = store();
    let host = f.reg.host();
    let o = PullOptions::default();
    let err = ts
        .store
        .pull(&format!("{host}/test/nothing:1"), &o, &NoProgress)
        .unwrap_err();
    assert!(matches!(err, ImageError::UnknownImage { .. }), "{err}");
    assert!(err.to_string().contains("test/nothing"), "{err}");
    let err = ts
        .store
        .pull(&format!("{host}/test/busybox:nope"), &o, &NoProgress)
        .unwrap_err();
    assert!(matches!(err, ImageError::UnknownTag { .. }), "{err}");
    assert!(err.to_string().contains("test/busybox:nope"), "{err}");
    let dead = format!("127.0.0.1:{}", berth_testkit::registry::free_port());
    let err = ts
        .store
        .pull(&format!("{dead}/x:1"), &o, &NoProgress)
        .unwrap_err();
    assert!(matches!(err, ImageError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains(&dead), "{err}");
    assert!(ts.store.list().unwrap().is_empty());
}

#[test]
fn token_auth_challenge() {
    // The multi-layer image has whiteouts, which only root can create.
    berth_testkit::require_root!();
    let f = fixture();
    let front = Front::start(
        f.reg.port,
        Settings {
            user: Some(("alice".into(), "s3cret".into())),
            ..Default::default()
        },
    );
    let r = format!("{}/test/multi:1", front.host());
    let ts = store();
    let cfg = |user: &str, pass: &str| {
        let auth = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{user}:{pass}"),
        );
        let json = format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, front.host());
        DockerAuths::parse(json.as_bytes(), "test config").unwrap()
    };
    // Without credentials the token service refuses.
    let anon = RegistryClient::new(&[])
        .unwrap()
        .with_auths(DockerAuths::default());
    let err = ts
        .store
        .pull_with(&anon, &r, &PullOptions::default(), &NoProgress)
        .unwrap_err();
    assert!(matches!(err, ImageError::AuthRefused { .. }), "{err}");
    // Wrong password: refused, naming the registry.
    let wrong = RegistryClient::new(&[])
        .unwrap()
        .with_auths(cfg("alice", "nope"));
    let err = ts
        .store
        .pull_with(&wrong, &r, &PullOptions::default(), &NoProgress)
        .unwrap_err();
    assert!(matches!(err, ImageError::AuthRefused { .. }), "{err}");
    assert!(err.to_string().contains(&front.host()), "{err}");
    assert!(ts.store.list().unwrap().is_empty());
    // Right password: one token, reused for manifests and all blobs.
    let good = RegistryClient::new(&[])
        .unwrap()
        .with_auths(cfg("alice", "s3cret"));
    let before = front
        .state
        .token_requests
        .load(std::sync::atomic::Ordering::Relaxed);
    let img = ts
        .store
        .pull_with(&good, &r, &PullOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(img.layers.len(), 3);
    let after = front
        .state
        .token_requests
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(after - before, 1, "the token is cached per repository");
}

/// Path of a blob in docker-registry's filesystem storage.
fn registry_blob(reg: &Registry, digest: &str) -> std::path::PathBuf {
    let hex = &digest["sha256:".len()..];
    reg.storage()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data")
}

#[test]
fn corrupted_blob_is_an_error_and_leaves_the_store_untouched() {
    let f = fixture();
    let ts = store();
    let host = f.reg.host();
    // Something already in the store, which must stay as it is.
    let tmp = tempfile::tempdir().unwrap();
    let small = TestImage {
        layers: vec![layer(&[("x", b"1")])],
        ..TestImage::busybox().unwrap()
    };
    oci::write_archive(
        &tmp.path().join("s.tar"),
        vec![("small:1".into(), Entry::Image(small))],
    )
    .unwrap();
    let src = fs::File::open(tmp.path().join("s.tar")).unwrap();
    ts.store.load(src, "s.tar", &Default::default()).unwrap();
    let before = ts.snapshot();
    let img = TestImage::busybox().unwrap();
    let layer_digest = oci::build(&img).unwrap().blobs[0].0.clone();
    let path = registry_blob(&f.reg, &layer_digest);
    let mut data = fs::read(&path).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    fs::write(&path, &data).unwrap();
    let other = store();
    let empty = other.snapshot();
    let err = other
        .store
        .pull(
            &format!("{host}/test/busybox:1"),
            &PullOptions::default(),
            &NoProgress,
        )
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, ImageError::DigestMismatch { .. })
            || msg.contains("corrupt")
            || msg.contains("invalid"),
        "{msg}"
    );
    assert!(msg.contains(&layer_digest[..19]), "names the blob: {msg}");
    assert_eq!(
        other.snapshot(),
        empty,
        "nothing stored, nothing left in tmp"
    );
    // A store that already had an image is unchanged by the failed pull.
    let err = ts
        .store
        .pull(
            &format!("{host}/test/busybox:1"),
            &PullOptions::default(),
            &NoProgress,
        )
        .unwrap_err();
    assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
    assert_eq!(ts.snapshot(), before);
}

#[test]
fn interrupted_downloads_resume() {
    let f = fixture();
    let ts = store();
    // Every blob response is cut after 64 KiB for the first 2 requests:
    // the pull retries with Range requests and finishes.
    let front = Front::start(
        f.reg.port,
        Settings {
            cut_after: 64 * 1024,
            cuts: 2,
            ..Default::default()
        },
    );
    let r = format!("{}/test/busybox:1", front.host());
    let ev = Events::default();
    let img = ts.store.pull(&r, &PullOptions::default(), &ev).unwrap();
    assert!(
        ts.store.layer_dirs(&img).unwrap()[0]
            .join("bin/busybox")
            .is_file()
    );
    let ranges = front.state.ranges.lock().unwrap().clone();
    assert!(
        ranges.iter().any(|r| r == "bytes=65536-"),
        "resumed with a range: {ranges:?}"
    );
    assert!(ev.0.lock().unwrap().iter().any(|e| e.contains("Retrying")));

    // A pull that gives up keeps what it has; the next one resumes from it.
    let ts = store();
    let front = Front::start(
        f.reg.port,
        Settings {
            cut_after: 100_000,
            cuts: 3,
            ..Default::default()
        },
    );
    let r = format!("{}/test/busybox:1", front.host());
    let err = ts
        .store
        .pull(&r, &PullOptions::default(), &NoProgress)
        .unwrap_err();
    assert!(matches!(err, ImageError::Unreachable { .. }), "{err}");
    assert!(ts.store.list().unwrap().is_empty());
    let partial: Vec<_> = fs::read_dir(ts.store.dir().join("tmp/partial"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(partial.len(), 1);
    assert_eq!(fs::metadata(&partial[0]).unwrap().len(), 300_000);
    front.state.ranges.lock().unwrap().clear();
    ts.store
        .pull(&r, &PullOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(
        front.state.ranges.lock().unwrap().last().unwrap(),
        "bytes=300000-"
    );
    assert!(
        fs::read_dir(ts.store.dir().join("tmp/partial"))
            .unwrap()
            .next()
            .is_none()
    );
}

#[test]
fn pull_many_in_parallel() {
    // The multi-layer image has whiteouts, which only root can create.
    berth_testkit::require_root!();
    let f = fixture();
    let ts = store();
    let host = f.reg.host();
    let refs = vec![
        format!("{host}/test/busybox:1"),
        format!("{host}/test/multi:1"),
        format!("{host}/test/nothing:1"),
    ];
    let res = ts
        .store
        .pull_many(&refs, &PullOptions::default(), &NoProgress);
    assert!(res[0].is_ok() && res[1].is_ok());
    assert!(matches!(res[2], Err(ImageError::UnknownImage { .. })));
    assert!(ts.store.exists(&refs[0]).unwrap() && ts.store.exists(&refs[1]).unwrap());
    assert!(!ts.store.exists(&refs[2]).unwrap());
}
