use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::*;

/// A tar writer that puts names in the header verbatim, so tests can write
/// the hostile entries the tar crate's own builder refuses.
struct RawTar(tar::Builder<Vec<u8>>);

impl RawTar {
    fn new() -> Self {
        RawTar(tar::Builder::new(Vec::new()))
    }
    fn add(
        &mut self,
        kind: tar::EntryType,
        name: &str,
        link: &str,
        mode: u32,
        data: &[u8],
    ) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(1_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }
    fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.add(tar::EntryType::Regular, name, "", 0o644, data)
    }
    fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
        self.add(tar::EntryType::Directory, name, "", mode, b"")
    }
    fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.add(tar::EntryType::Symlink, name, target, 0o777, b"")
    }
    fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.add(tar::EntryType::Link, name, target, 0o644, b"")
    }
    fn finish(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.0, tar::Builder::new(Vec::new()))
            .into_inner()
            .unwrap()
    }
}

/// A layer dir inside a sandbox with a sentinel file beside it, so an escape
/// would be visible.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("layer")).unwrap();
        fs::create_dir(dir.path().join("outside")).unwrap();
        fs::write(dir.path().join("outside/victim"), b"original").unwrap();
        Sandbox { dir }
    }
    fn layer(&self) -> PathBuf {
        self.dir.path().join("layer")
    }
    fn outside_untouched(&self) {
        let names: Vec<_> = fs::read_dir(self.dir.path().join("outside"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("victim")]);
        assert_eq!(
            fs::read(self.dir.path().join("outside/victim")).unwrap(),
            b"original"
        );
    }
}

fn unpack_bytes(tar: &[u8], dest: &Path) -> Result<(String, u64)> {
    unpack_tar(tar, dest, "test-layer")
}

#[test]
fn unpacks_files_links_and_metadata() {
    let sb = Sandbox::new();
    let tar = RawTar::new()
        .dir("./", 0o755)
        .dir("etc/", 0o755)
        .file("etc/hosts", b"127.0.0.1 localhost\n")
        .add(tar::EntryType::Regular, "bin/tool", "", 0o4755, b"#!")
        .symlink("etc/link", "/etc/hosts")
        .symlink("rel", "../../../../outside/victim")
        .hardlink("etc/hard", "etc/hosts")
        .dir("ro", 0o555)
        .file("ro/inside", b"x")
        .add(tar::EntryType::Fifo, "pipe", "", 0o600, b"")
        .finish();
    let (diff_id, size) = unpack_bytes(&tar, &sb.layer()).unwrap();
    assert_eq!(diff_id, crate::digest::sha256_digest(&tar));
    assert_eq!(size, 20 + 2 + 1);
    let l = sb.layer();
    assert_eq!(
        fs::read_to_string(l.join("etc/hosts")).unwrap(),
        "127.0.0.1 localhost\n"
    );
    assert_eq!(
        fs::read_link(l.join("etc/link")).unwrap(),
        Path::new("/etc/hosts")
    );
    assert_eq!(
        fs::read_link(l.join("rel")).unwrap(),
        Path::new("../../../../outside/victim")
    );
    let hosts = fs::metadata(l.join("etc/hosts")).unwrap();
    assert_eq!(hosts.ino(), fs::metadata(l.join("etc/hard")).unwrap().ino());
    assert_eq!(hosts.mtime(), 1_000_000);
    assert_eq!(
        fs::metadata(l.join("ro")).unwrap().permissions().mode() & 0o7777,
        0o555
    );
    assert_eq!(fs::metadata(l.join("ro")).unwrap().mtime(), 1_000_000);
    assert!(l.join("ro/inside").exists());
    let tool = fs::metadata(l.join("bin/tool")).unwrap();
    assert_eq!(tool.permissions().mode() & 0o7777, 0o4755);
    // Implicit parents are created 0755.
    assert_eq!(
        fs::metadata(l.join("bin")).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert!(
        fs::symlink_metadata(l.join("pipe"))
            .unwrap()
            .file_type()
            .is_fifo_like()
    );
    sb.outside_untouched();
}

trait FifoLike {
    fn is_fifo_like(&self) -> bool;
}
impl FifoLike for fs::FileType {
    fn is_fifo_like(&self) -> bool {
        std::os::unix::fs::FileTypeExt::is_fifo(self)
    }
}

fn assert_unsafe(tar: Vec<u8>, want: &str) {
    let sb = Sandbox::new();
    let err = unpack_bytes(&tar, &sb.layer()).unwrap_err();
    assert!(matches!(err, ImageError::UnsafeArchive { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(want), "{msg:?} should mention {want:?}");
    sb.outside_untouched();
}

#[test]
fn rejects_parent_dir_and_absolute_paths() {
    assert_unsafe(
        RawTar::new().file("../outside/victim", b"pwned").finish(),
        "'..'",
    );
    assert_unsafe(
        RawTar::new().file("a/../../outside/x", b"pwned").finish(),
        "'..'",
    );
    assert_unsafe(
        RawTar::new()
            .file("/etc/berth-test-pwned", b"pwned")
            .finish(),
        "absolute",
    );
}

#[test]
fn rejects_writes_through_symlinks() {
    let sb = Sandbox::new();
    let outside = sb.dir.path().join("outside");
    let abs = outside.to_str().unwrap();
    assert_unsafe(
        RawTar::new()
            .symlink("evil", abs)
            .file("evil/victim", b"pwned")
            .finish(),
        "symlink",
    );
    assert_unsafe(
        RawTar::new()
            .symlink("evil", "../outside")
            .file("evil/new", b"pwned")
            .finish(),
        "symlink",
    );
    // A directory entry through a symlinked parent.
    assert_unsafe(
        RawTar::new()
            .symlink("d", "../outside")
            .dir("d/sub", 0o755)
            .finish(),
        "symlink",
    );
}

#[test]
fn rejects_hard_link_escapes() {
    assert_unsafe(
        RawTar::new().hardlink("h", "../outside/victim").finish(),
        "'..'",
    );
    assert_unsafe(
        RawTar::new().hardlink("h", "/etc/passwd").finish(),
        "absolute",
    );
    assert_unsafe(
        RawTar::new()
            .symlink("s", "../outside")
            .hardlink("h", "s/victim")
            .finish(),
        "leaves the layer",
    );
    assert_unsafe(
        RawTar::new().hardlink("h", "missing").finish(),
        "does not exist",
    );
}

#[test]
fn later_entries_replace_symlinks_instead_of_writing_through_them() {
    let sb = Sandbox::new();
    let victim = sb.dir.path().join("outside/victim");
    let tar = RawTar::new()
        .symlink("f", victim.to_str().unwrap())
        .file("f", b"inside")
        .symlink("d", "../outside")
        .dir("d", 0o700)
        .file("d/x", b"y")
        .finish();
    unpack_bytes(&tar, &sb.layer()).unwrap();
    assert_eq!(fs::read(sb.layer().join("f")).unwrap(), b"inside");
    assert!(fs::symlink_metadata(sb.layer().join("d")).unwrap().is_dir());
    sb.outside_untouched();
}

#[test]
fn directory_replaced_by_symlink_after_its_entry_is_not_chmodded_through() {
    // "a" is a directory entry (metadata deferred), then replaced by a
    // symlink to the outside: the deferred chmod must not follow it.
    let sb = Sandbox::new();
    let tar = RawTar::new()
        .dir("a", 0o777)
        .dir("a/b", 0o700)
        .symlink("a", "../outside")
        .finish();
    unpack_bytes(&tar, &sb.layer()).unwrap();
    let outside_mode = fs::metadata(sb.dir.path().join("outside"))
        .unwrap()
        .permissions()
        .mode();
    assert_ne!(outside_mode & 0o777, 0o777);
    sb.outside_untouched();
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    if !is_root() {
        eprintln!("skipped: whiteouts need root");
        return;
    }
    let sb = Sandbox::new();
    let tar = RawTar::new()
        .dir("etc", 0o755)
        .file("etc/.wh.gone", b"")
        .dir("var/cache", 0o755)
        .file("var/cache/.wh..wh..opq", b"")
        .file("var/cache/kept", b"1")
        .finish();
    unpack_bytes(&tar, &sb.layer()).unwrap();
    let m = fs::symlink_metadata(sb.layer().join("etc/gone")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &m.file_type()
    ));
    assert_eq!(m.rdev(), 0);
    assert!(!sb.layer().join("etc/.wh.gone").exists());
    assert_eq!(
        lgetxattr(&sb.layer().join("var/cache"), OPAQUE_XATTR)
            .unwrap()
            .as_deref(),
        Some(&b"y"[..])
    );
    assert!(sb.layer().join("var/cache/kept").exists());
}

#[test]
fn pax_xattrs_and_ownership() {
    let sb = Sandbox::new();
    let mut b = tar::Builder::new(Vec::new());
    b.append_pax_extensions([("SCHILY.xattr.user.berth", &b"v1"[..])])
        .unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_path("f").unwrap();
    h.set_size(1);
    h.set_mode(0o640);
    h.set_uid(1000);
    h.set_gid(1001);
    h.set_cksum();
    b.append(&h, &b"z"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    unpack_bytes(&tar, &sb.layer()).unwrap();
    let p = sb.layer().join("f");
    // user.* xattrs need a file system that has them (tmpfs may not).
    if let Ok(Some(v)) = lgetxattr(&p, "user.berth") {
        assert_eq!(v, b"v1");
    }
    let m = fs::metadata(&p).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o640);
    if is_root() {
        assert_eq!((m.uid(), m.gid()), (1000, 1001));
    }
}

#[test]
fn compressed_layers_unpack_and_report_diff_id() {
    let tar = RawTar::new().file("hello", b"world").finish();
    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&tar).unwrap();
        e.finish().unwrap()
    };
    let zs = zstd::encode_all(&tar[..], 3).unwrap();
    for (blob, kind) in [
        (gz, Compression::Gzip),
        (zs, Compression::Zstd),
        (tar.clone(), Compression::None),
    ] {
        let sb = Sandbox::new();
        let u = unpack_layer(&blob[..], &sb.layer(), "l").unwrap();
        assert_eq!(u.compression, kind);
        assert_eq!(u.diff_id, crate::digest::sha256_digest(&tar));
        assert_eq!(fs::read(sb.layer().join("hello")).unwrap(), b"world");
    }
}

#[test]
fn device_nodes_and_ownership_as_root() {
    if !is_root() {
        eprintln!("skipped: device nodes need root");
        return;
    }
    let sb = Sandbox::new();
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, major, minor) in [
        ("dev/null", tar::EntryType::Char, 1, 3),
        ("dev/loop9", tar::EntryType::Block, 7, 9),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_entry_type(kind);
        h.set_mode(0o660);
        h.set_uid(0);
        h.set_gid(6);
        h.set_size(0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        h.set_cksum();
        b.append(&h, &b""[..]).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_path("home/app").unwrap();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o750);
    h.set_uid(1000);
    h.set_gid(1000);
    h.set_size(0);
    h.set_cksum();
    b.append(&h, &b""[..]).unwrap();
    let tar = b.into_inner().unwrap();
    unpack_bytes(&tar, &sb.layer()).unwrap();
    let null = fs::symlink_metadata(sb.layer().join("dev/null")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &null.file_type()
    ));
    assert_eq!(null.rdev(), libc::makedev(1, 3));
    assert_eq!((null.mode() & 0o7777, null.gid()), (0o660, 6));
    let lp = fs::symlink_metadata(sb.layer().join("dev/loop9")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_block_device(
        &lp.file_type()
    ));
    let home = fs::metadata(sb.layer().join("home/app")).unwrap();
    assert_eq!(
        (home.uid(), home.gid(), home.mode() & 0o777),
        (1000, 1000, 0o750)
    );
}
