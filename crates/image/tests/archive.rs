//! load / save / import / rm / prune against a temporary store.

mod common;

use std::fs::{self, File};
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use berth_image::{
    ImageError, ImportOptions, LoadOptions, PruneOptions, RemoveAction, RemoveOptions,
};
use berth_testkit::oci::{self, Entry, TestImage};
use common::*;

fn load_file(ts: &TestStore, path: &std::path::Path) -> Vec<berth_image::LoadedImage> {
    ts.store
        .load(
            File::open(path).unwrap(),
            &path.display().to_string(),
            &LoadOptions::default(),
        )
        .unwrap()
}

#[test]
fn load_oci_archive_with_several_images() {
    // The multi-layer image has whiteouts, which only root can create.
    berth_testkit::require_root!();
    let ts = store();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("two.tar");
    oci::write_archive(
        &path,
        vec![
            (
                "busybox:1".into(),
                Entry::Image(TestImage::busybox().unwrap()),
            ),
            (
                "example.com/team/multi:2".into(),
                Entry::Image(multi_layer_image()),
            ),
        ],
    )
    .unwrap();
    let loaded = load_file(&ts, &path);
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[0].names, vec!["docker.io/library/busybox:1"]);
    let bb = ts.store.get("busybox:1").unwrap();
    assert_eq!(bb.config.cmd.as_deref().unwrap(), ["sh"]);
    assert_eq!(bb.familiar_tags(), vec!["busybox:1"]);
    let multi = ts.store.get("example.com/team/multi:2").unwrap();
    assert_eq!(multi.layers.len(), 3);
    assert_eq!(multi.config.working_dir, "/data");
    assert_eq!(multi.config.stop_signal, "SIGINT");
    assert_eq!(multi.config.labels["org.example"], "multi");
    let hc = multi.config.healthcheck.as_ref().unwrap();
    assert_eq!(hc.interval, Some(std::time::Duration::from_secs(2)));
    assert!(multi.config.exposed_ports.contains_key("8080/tcp"));
    // The busybox layer is shared: unpacked once, same dir for both images.
    let d1 = ts.store.layer_dirs(&bb).unwrap();
    let d2 = ts.store.layer_dirs(&multi).unwrap();
    assert_eq!(d1.len(), 1);
    assert_eq!(d2.len(), 3);
    assert_eq!(
        d2[2], d1[0],
        "bottom layer of multi is busybox's layer, last in lowerdir order"
    );
    assert!(d1[0].join("bin/busybox").is_file());
    assert!(
        d2[1].join("etc/motd").is_file(),
        "second layer is second from the top"
    );
    // Resolution by id, short id and digest reference.
    assert_eq!(ts.store.get(&bb.id).unwrap().id, bb.id);
    assert_eq!(ts.store.get(bb.short_id()).unwrap().id, bb.id);
    assert_eq!(ts.store.get(&bb.id["sha256:".len()..]).unwrap().id, bb.id);
    assert!(ts.store.resolve("busybox:2").unwrap().is_none());
    assert!(matches!(
        ts.store.get("nothing"),
        Err(ImageError::NotFound(_))
    ));
    // No temporary files left behind.
    let leftovers: Vec<_> = fs::read_dir(ts.store.dir().join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("partial")]);
}

#[test]
fn whiteouts_are_overlay_ready_and_mount() {
    berth_testkit::require_root!();
    let ts = store();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("multi.tar");
    oci::write_archive(
        &path,
        vec![("multi:1".into(), Entry::Image(multi_layer_image()))],
    )
    .unwrap();
    load_file(&ts, &path);
    let img = ts.store.get("multi:1").unwrap();
    let dirs = ts.store.layer_dirs(&img).unwrap();
    let wh = fs::symlink_metadata(dirs[0].join("etc/motd")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    let opq =
        berth_image::unpack::lgetxattr(&dirs[0].join("data"), "trusted.overlay.opaque").unwrap();
    assert_eq!(opq.as_deref(), Some(&b"y"[..]));
    // The real test: overlayfs with these lower dirs shows the merged image.
    let mnt = tempfile::tempdir().unwrap();
    let lower = dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let st = std::process::Command::new("mount")
        .args([
            "-t",
            "overlay",
            "overlay",
            "-o",
            &format!("lowerdir={lower}"),
        ])
        .arg(mnt.path())
        .status()
        .unwrap();
    assert!(st.success());
    struct Unmount<'a>(&'a std::path::Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _u = Unmount(mnt.path());
    assert!(
        !mnt.path().join("etc/motd").exists(),
        "whiteout hides /etc/motd"
    );
    let mut data: Vec<_> = fs::read_dir(mnt.path().join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    data.sort();
    assert_eq!(
        data,
        vec![std::ffi::OsString::from("c")],
        "opaque dir hides a and b"
    );
    assert!(mnt.path().join("bin/busybox").is_file());
    assert!(mnt.path().join("etc/passwd").is_file());
}

#[test]
fn load_docker_save_archive_and_save_round_trip() {
    // The multi-layer image has whiteouts, which only root can create.
    berth_testkit::require_root!();
    let ts = store();
    let tmp = tempfile::tempdir().unwrap();
    let oci_path = tmp.path().join("multi-oci.tar");
    oci::write_archive(
        &oci_path,
        vec![("multi".into(), Entry::Image(multi_layer_image()))],
    )
    .unwrap();
    let docker_path = tmp.path().join("multi-docker.tar");
    to_docker_archive(
        &oci_path,
        "multi",
        &docker_path,
        "docker.io/library/multi:v1",
    );
    let loaded = load_file(&ts, &docker_path);
    assert_eq!(loaded.len(), 1);
    let img = ts.store.get("multi:v1").unwrap();
    assert_eq!(img.layers.len(), 3);
    assert_eq!(img.config.env, vec!["PATH=/bin", "LAYERS=3"]);

    // save → load into a fresh store gives the same id and manifest digest.
    let saved = tmp.path().join("saved.tar");
    ts.store
        .save(&["multi:v1"], File::create(&saved).unwrap())
        .unwrap();
    let other = store();
    let again = load_file(&other, &saved);
    assert_eq!(again[0].id, img.id);
    let img2 = other.store.get("multi:v1").unwrap();
    assert_eq!(img2.id, img.id);
    assert_eq!(img2.manifest.digest, img.manifest.digest);
    assert_eq!(img2.layers, img.layers);
    // The saved archive is also a valid OCI layout skopeo reads.
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci-archive:{}", saved.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["config"]["digest"], img.id);
    // And skopeo can read it as a docker-archive (what `docker load` parses).
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--config"])
        .arg(format!("docker-archive:{}", saved.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn load_compressed_archive_and_platform_from_index() {
    let ts = store();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("multi-platform.tar");
    let bb = TestImage::busybox().unwrap();
    oci::write_archive(
        &path,
        vec![(
            "example.com/mp:1".into(),
            Entry::Index(vec![
                with_arch(bb.clone(), "amd64", None),
                with_arch(bb, "arm64", Some("v8")),
            ]),
        )],
    )
    .unwrap();
    let gz = tmp.path().join("multi-platform.tar.gz");
    let mut enc =
        flate2::write::GzEncoder::new(File::create(&gz).unwrap(), flate2::Compression::fast());
    std::io::copy(&mut File::open(&path).unwrap(), &mut enc).unwrap();
    enc.finish().unwrap();
    let opts = LoadOptions {
        platform: Some(berth_image::Platform::parse("linux/arm64").unwrap()),
    };
    ts.store
        .load(File::open(&gz).unwrap(), "mp.tar.gz", &opts)
        .unwrap();
    let img = ts.store.get("example.com/mp:1").unwrap();
    assert_eq!(img.architecture, "arm64");
    assert_eq!(img.config.labels["arch"], "arm64");
    let opts = LoadOptions {
        platform: Some(berth_image::Platform::parse("linux/s390x").unwrap()),
    };
    let err = ts
        .store
        .load(File::open(&gz).unwrap(), "mp.tar.gz", &opts)
        .unwrap_err();
    assert!(
        matches!(err, ImageError::NoMatchingPlatform { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("linux/amd64, linux/arm64"),
        "{err}"
    );
}

#[test]
fn import_rootfs_with_changes() {
    let ts = store();
    let rootfs = berth_testkit::busybox::rootfs_tar().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &rootfs).unwrap();
    let gz = gz.finish().unwrap();
    let opts = ImportOptions {
        reference: Some("imported:1".into()),
        changes: vec![
            r#"CMD ["sh", "-c", "echo hi"]"#.into(),
            "ENV A=1".into(),
            "WORKDIR /tmp".into(),
        ],
        message: Some("from a test".into()),
        platform: None,
        source: "-".into(),
    };
    let img = ts.store.import(&gz[..], opts).unwrap();
    assert_eq!(img.repo_tags, vec!["docker.io/library/imported:1"]);
    assert_eq!(img.config.cmd.as_deref().unwrap(), ["sh", "-c", "echo hi"]);
    assert_eq!(img.config.env_var("A"), Some("1"));
    assert_eq!(img.config.working_dir, "/tmp");
    assert_eq!(img.layers.len(), 1);
    assert_eq!(
        img.layers[0].diff_id,
        format!("sha256:{}", oci::sha256_hex(&rootfs))
    );
    assert_eq!(img.history[0].comment.as_deref(), Some("from a test"));
    let dirs = ts.store.layer_dirs(&img).unwrap();
    assert!(dirs[0].join("bin/busybox").is_file());
    // A bad change is refused before anything is stored.
    let before = ts.snapshot();
    let bad = ImportOptions {
        changes: vec!["RUN true".into()],
        ..Default::default()
    };
    assert!(matches!(
        ts.store.import(&gz[..], bad),
        Err(ImageError::InvalidChange { .. })
    ));
    assert_eq!(ts.snapshot(), before);
}

/// A layer tar with a raw (unchecked) name, for hostile archives.
fn hostile_layer(name: &str, kind: tar::EntryType, link: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(if kind == tar::EntryType::Regular {
        5
    } else {
        0
    });
    h.set_cksum();
    let data: &[u8] = if kind == tar::EntryType::Regular {
        b"pwned"
    } else {
        b""
    };
    b.append(&h, data).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn hostile_layers_are_rejected_by_load_and_import() {
    let cases: Vec<(Vec<Vec<u8>>, &str)> = vec![
        (
            vec![hostile_layer(
                "../../../../tmp/berth-pwned",
                tar::EntryType::Regular,
                "",
            )],
            "'..'",
        ),
        (
            vec![hostile_layer(
                "/tmp/berth-pwned-abs",
                tar::EntryType::Regular,
                "",
            )],
            "absolute",
        ),
        (
            vec![layer(&[("ok", b"1")]), {
                let mut t = hostile_layer("esc", tar::EntryType::Symlink, "/tmp");
                t.truncate(t.len() - 1024);
                t.extend(hostile_layer(
                    "esc/berth-pwned-link",
                    tar::EntryType::Regular,
                    "",
                ));
                t
            }],
            "symlink",
        ),
        (
            vec![hostile_layer(
                "h",
                tar::EntryType::Link,
                "../../../../etc/passwd",
            )],
            "'..'",
        ),
    ];
    for (layers, want) in cases {
        let ts = store();
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("evil.tar");
        let img = TestImage {
            layers: layers.clone(),
            ..uncompressed(TestImage::busybox().unwrap())
        };
        oci::write_archive(&path, vec![("evil:1".into(), Entry::Image(img))]).unwrap();
        let before = ts.snapshot();
        let err = ts
            .store
            .load(
                File::open(&path).unwrap(),
                "evil.tar",
                &LoadOptions::default(),
            )
            .unwrap_err();
        assert!(matches!(err, ImageError::UnsafeArchive { .. }), "{err}");
        assert!(
            err.to_string().contains(want),
            "{err} should mention {want}"
        );
        assert!(ts.store.resolve("evil:1").unwrap().is_none());
        // Only the harmless first layer of the symlink case may have been kept.
        let after = ts.snapshot();
        assert!(
            after
                .iter()
                .all(|p| before.contains(p) || p.starts_with("layers/") || p.starts_with("blobs/")),
            "{after:?}"
        );
        assert!(after.iter().all(|p| !p.starts_with("records/")));
        let last = layers.last().unwrap();
        let err = ts
            .store
            .import(&last[..], ImportOptions::default())
            .unwrap_err();
        assert!(matches!(err, ImageError::UnsafeArchive { .. }), "{err}");
    }
    assert!(!std::path::Path::new("/tmp/berth-pwned").exists());
    assert!(!std::path::Path::new("/tmp/berth-pwned-abs").exists());
    assert!(!std::path::Path::new("/tmp/berth-pwned-link").exists());
}

#[test]
fn tag_remove_and_prune() {
    // The multi-layer image has whiteouts, which only root can create.
    berth_testkit::require_root!();
    let ts = store();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("a.tar");
    oci::write_archive(
        &path,
        vec![
            (
                "busybox:1".into(),
                Entry::Image(TestImage::busybox().unwrap()),
            ),
            ("multi:1".into(), Entry::Image(multi_layer_image())),
        ],
    )
    .unwrap();
    load_file(&ts, &path);
    let bb = ts.store.get("busybox:1").unwrap();
    ts.store.tag("busybox:1", "mirror.example/bb:x").unwrap();
    ts.store.tag(bb.short_id(), "busybox:2").unwrap();
    assert_eq!(ts.store.get("busybox:1").unwrap().repo_tags.len(), 3);

    // By id with tags in several repositories: refused without force.
    let err = ts
        .store
        .remove(&bb.id, RemoveOptions::default(), &())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("referenced in multiple repositories"),
        "{err}"
    );
    // A name with other names left: only untagged.
    let acts = ts
        .store
        .remove("busybox:2", RemoveOptions::default(), &())
        .unwrap();
    assert_eq!(acts, vec![RemoveAction::Untagged("busybox:2".into())]);
    // In use: refused, with the container named.
    let users = |id: &str| (id == bb.id).then(|| "web-1".to_owned());
    ts.store
        .remove("mirror.example/bb:x", RemoveOptions::default(), &users)
        .unwrap();
    let err = ts
        .store
        .remove("busybox:1", RemoveOptions::default(), &users)
        .unwrap_err();
    assert!(
        err.to_string().contains("container web-1 is using"),
        "{err}"
    );
    // Forced while in use: untagged, data kept (dangling).
    let acts = ts
        .store
        .remove("busybox:1", RemoveOptions { force: true }, &users)
        .unwrap();
    assert_eq!(acts, vec![RemoveAction::Untagged("busybox:1".into())]);
    let dangling = ts.store.get(&bb.id).unwrap();
    assert!(dangling.repo_tags.is_empty());
    assert!(ts.store.layer_dirs(&dangling).unwrap()[0].is_dir());

    // prune: the dangling image is in use → kept; when unused → removed,
    // but the busybox layer stays because multi:1 shares it.
    let r = ts.store.prune(PruneOptions::default(), &users).unwrap();
    assert!(r.actions.is_empty());
    let r = ts.store.prune(PruneOptions::default(), &()).unwrap();
    assert_eq!(r.actions, vec![RemoveAction::Deleted(bb.id.clone())]);
    assert!(r.reclaimed > 0, "config and manifest blobs freed");
    let multi = ts.store.get("multi:1").unwrap();
    assert!(
        ts.store
            .layer_dirs(&multi)
            .unwrap()
            .iter()
            .all(|d| d.is_dir())
    );

    // rm of the last tag deletes the image and its layers and blobs.
    let acts = ts
        .store
        .remove("multi:1", RemoveOptions::default(), &())
        .unwrap();
    assert_eq!(
        acts,
        vec![
            RemoveAction::Untagged("multi:1".into()),
            RemoveAction::Deleted(multi.id.clone())
        ]
    );
    let left: Vec<String> = ts
        .snapshot()
        .into_iter()
        .filter(|p| {
            p.starts_with("records/") || p.starts_with("layers/") || p.starts_with("blobs/sha256/")
        })
        .collect();
    assert!(left.is_empty(), "everything collected: {left:?}");
    // prune -a removes tagged images too.
    load_file(&ts, &path);
    let r = ts.store.prune(PruneOptions { all: true }, &()).unwrap();
    assert_eq!(
        r.actions
            .iter()
            .filter(|a| matches!(a, RemoveAction::Deleted(_)))
            .count(),
        2
    );
    assert!(ts.store.list().unwrap().is_empty());
}

#[test]
fn builder_api_add_layer_commit_save() {
    let ts = store();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bb.tar");
    oci::busybox_archive(&path, "busybox:latest").unwrap();
    load_file(&ts, &path);
    let base = ts.store.get("busybox").unwrap();
    let _hold = ts.store.hold().unwrap();
    let tar = layer(&[("app/run.sh", b"echo built\n")]);
    let l = ts.store.add_layer(&tar[..]).unwrap();
    assert_eq!(l.diff_id, format!("sha256:{}", oci::sha256_hex(&tar)));
    assert!(l.dir.join("app/run.sh").is_file());
    let mut new = berth_image::NewImage::from_base(Some(&base));
    new.layers.push(l.diff_id.clone());
    new.config.cmd = Some(vec!["sh".into(), "/app/run.sh".into()]);
    new.history.push(berth_image::spec::History {
        created_by: Some("COPY run.sh /app/".into()),
        ..Default::default()
    });
    new.tags = vec!["proj-web".into()];
    let img = ts.store.commit(new).unwrap();
    assert_eq!(img.repo_tags, vec!["docker.io/library/proj-web:latest"]);
    let dirs = ts.store.layer_dirs(&img).unwrap();
    assert_eq!(dirs[0], l.dir);
    assert_eq!(dirs[1], ts.store.layer_dirs(&base).unwrap()[0]);
    assert_eq!(img.config.env, base.config.env);
    // Exported and loaded elsewhere, it is the same image.
    let saved = tmp.path().join("web.tar");
    ts.store
        .save(&["proj-web"], File::create(&saved).unwrap())
        .unwrap();
    let other = store();
    load_file(&other, &saved);
    assert_eq!(other.store.get("proj-web").unwrap().id, img.id);
}
