//! Helpers shared by berth-image's integration tests.
#![allow(dead_code)]

pub mod front;

use std::path::{Path, PathBuf};

use berth_image::ImageStore;
use berth_testkit::oci::{Compression, TestImage};
use serde_json::json;

/// A store in a temporary root, removed on drop.
pub struct TestStore {
    pub dir: tempfile::TempDir,
    pub store: ImageStore,
}

pub fn store() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&berth_store::Root::new(dir.path())).unwrap();
    TestStore { dir, store }
}

impl TestStore {
    /// Every path under `images/` except locks and the (empty) tmp dirs, for
    /// "the store did not change" checks.
    pub fn snapshot(&self) -> Vec<String> {
        let base = self.store.dir().to_owned();
        let mut out = Vec::new();
        walk(&base, &base, &mut out);
        out.retain(|p| !p.ends_with(".lock") && p != "lock" && p != "tmp" && p != "tmp/partial");
        out.sort();
        out
    }
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
        if e.file_type().unwrap().is_dir() {
            walk(base, &p, out);
        }
    }
}

/// A layer tar with `files` (path → content; a path ending in `/` is a dir).
pub fn layer(files: &[(&str, &[u8])]) -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    for (path, data) in files {
        let p = tmp.path().join(path);
        if path.ends_with('/') {
            std::fs::create_dir_all(&p).unwrap();
        } else {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, data).unwrap();
        }
    }
    berth_testkit::oci::tar_dir(tmp.path()).unwrap()
}

/// busybox + a layer adding /etc/motd and /data/{a,b} + a layer that
/// deletes /etc/motd (whiteout) and replaces /data (opaque) with /data/c.
pub fn multi_layer_image() -> TestImage {
    let mut img = TestImage::busybox().unwrap();
    img.layers.push(layer(&[
        ("etc/motd", b"hello\n"),
        ("data/a", b"a"),
        ("data/b", b"b"),
    ]));
    img.layers.push(layer(&[
        ("etc/.wh.motd", b""),
        ("data/.wh..wh..opq", b""),
        ("data/c", b"c"),
    ]));
    img.config = json!({
        "Env": ["PATH=/bin", "LAYERS=3"],
        "Cmd": ["sh", "-c", "ls /data"],
        "WorkingDir": "/data",
        "ExposedPorts": {"8080/tcp": {}},
        "Labels": {"org.example": "multi"},
        "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 2000000000, "Retries": 2},
        "StopSignal": "SIGINT",
    });
    img
}

pub fn with_arch(mut img: TestImage, arch: &str, variant: Option<&str>) -> TestImage {
    img.architecture = arch.into();
    img.variant = variant.map(Into::into);
    // Different configs per platform, so the ids differ.
    img.config["Labels"] = json!({"arch": arch});
    img
}

pub fn uncompressed(mut img: TestImage) -> TestImage {
    img.compression = Compression::None;
    img
}

/// `skopeo copy oci-archive:SRC:NAME docker-archive:DST:TAG`
pub fn to_docker_archive(src: &Path, name: &str, dst: &Path, tag: &str) {
    let out = std::process::Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("oci-archive:{}:{name}", src.display()))
        .arg(format!("docker-archive:{}:{tag}", dst.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn tmp_file(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}
