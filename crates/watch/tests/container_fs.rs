//! Root tests of writing into a process's root through `/proc/<pid>/root`:
//! a chrooted busybox plays the container. Whatever symlinks the "image"
//! holds, every write lands inside its root, never on the host.

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};

use berth_store::ProcessIdentity;
use berth_testkit::require_root;
use berth_watch::container_fs::ContainerFs;

/// A process chrooted into `root`, killed on drop.
struct Jailed(Child, std::path::PathBuf);

impl Jailed {
    fn start(root: &Path) -> Jailed {
        std::fs::copy(berth_testkit::busybox::busybox_path(), root.join("busybox")).unwrap();
        let dir = std::ffi::CString::new(root.as_os_str().as_encoded_bytes()).unwrap();
        let mut c = Command::new("/busybox");
        c.args(["sleep", "60"]);
        // SAFETY: only chroot(2) and chdir(2) between fork and exec.
        unsafe {
            c.pre_exec(move || {
                if libc::chroot(dir.as_ptr()) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Jailed(c.spawn().unwrap(), root.canonicalize().unwrap())
    }

    fn identity(&self) -> ProcessIdentity {
        let pid = self.0.id() as i32;
        for _ in 0..100 {
            // Wait for the chroot: before it the root is still the host's.
            let r = std::fs::read_link(format!("/proc/{pid}/root")).unwrap_or_default();
            if r == self.1 {
                return ProcessIdentity::of(pid).unwrap();
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("the jailed process did not start");
    }
}

impl Drop for Jailed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn source(
    dir: &Path,
    name: &str,
    text: &str,
    mode: u32,
) -> (std::fs::File, nix::sys::stat::FileStat) {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    let f = std::fs::File::open(&p).unwrap();
    let st = nix::sys::stat::fstat(&f).unwrap();
    (f, st)
}

#[test]
fn writes_stay_inside_the_root_whatever_its_symlinks_say() {
    require_root!();
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("rootfs");
    let host = t.path().join("host");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("app")).unwrap();
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/app:/bin/sh\n",
    )
    .unwrap();
    // Hostile links an image could ship.
    symlink("/", root.join("app/escape")).unwrap();
    symlink("../../../../../..", root.join("app/up")).unwrap();
    symlink("/proc/self/root", root.join("app/magic")).unwrap();
    let jail = Jailed::start(&root);
    let fs = ContainerFs::open("test", jail.identity(), "app").unwrap();
    assert_eq!((fs.owner().uid, fs.owner().gid), (1000, 1001));

    let unique = berth_testkit::unique_name("bwfs");
    let (f, st) = source(&host, "a.sh", "#!/bin/sh\necho hi\n", 0o751);
    // Missing parents are created; mode and owner as asked.
    fs.write_file("/app/src/deep/a.sh", &f, &st).unwrap();
    let written = root.join("app/src/deep/a.sh");
    assert_eq!(
        std::fs::read_to_string(&written).unwrap(),
        "#!/bin/sh\necho hi\n"
    );
    let m = std::fs::metadata(&written).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o751);
    assert_eq!((m.uid(), m.gid()), (1000, 1001));
    assert_eq!(m.mtime(), st.st_mtime);

    // Through `/` and `..` links: the container's root, not the host's.
    fs.write_file(&format!("/app/escape/{unique}"), &f, &st)
        .unwrap();
    fs.write_file(&format!("/app/up/tmp/{unique}"), &f, &st)
        .unwrap();
    assert!(root.join(&unique).is_file());
    assert!(root.join("tmp").join(&unique).is_file());
    assert!(!Path::new("/").join(&unique).exists());
    assert!(!Path::new("/tmp").join(&unique).exists());
    // Magic links are refused outright.
    assert!(
        fs.write_file(&format!("/app/magic/tmp/{unique}"), &f, &st)
            .is_err()
    );
    assert!(!Path::new("/tmp").join(&unique).exists());

    // A file written over a symlink replaces the link, not its target.
    symlink("/etc/passwd", root.join("app/cfg")).unwrap();
    fs.write_file("/app/cfg", &f, &st).unwrap();
    assert!(
        std::fs::symlink_metadata(root.join("app/cfg"))
            .unwrap()
            .is_file()
    );
    assert!(
        std::fs::read_to_string(root.join("etc/passwd"))
            .unwrap()
            .starts_with("root:")
    );

    // Symlinks are made as links; directories keep their mode.
    fs.symlink("/app/link", std::ffi::OsStr::new("src/deep/a.sh"))
        .unwrap();
    assert_eq!(
        std::fs::read_link(root.join("app/link")).unwrap(),
        Path::new("src/deep/a.sh")
    );
    fs.mkdir("/app/d", 0o750).unwrap();
    assert_eq!(
        std::fs::metadata(root.join("app/d")).unwrap().mode() & 0o7777,
        0o750
    );

    // Removing a link removes the link; removing a tree removes the tree.
    fs.remove("/app/escape").unwrap();
    assert!(root.join("etc/passwd").exists() && !root.join("app/escape").exists());
    fs.remove("/app/src").unwrap();
    assert!(!root.join("app/src").exists());
    fs.remove("/app/never/was").unwrap();
    assert!(fs.remove("/").is_err(), "the root is never removed");
}

#[test]
fn a_file_replaces_a_directory_and_back() {
    require_root!();
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("rootfs");
    std::fs::create_dir_all(root.join("app/x/y")).unwrap();
    std::fs::write(root.join("app/x/y/z"), "old").unwrap();
    let jail = Jailed::start(&root);
    let fs = ContainerFs::open("test", jail.identity(), "").unwrap();
    let (f, st) = source(t.path(), "new", "new", 0o644);
    fs.write_file("/app/x", &f, &st).unwrap();
    assert_eq!(std::fs::read_to_string(root.join("app/x")).unwrap(), "new");
    fs.mkdir("/app/x", 0o755).unwrap();
    assert!(root.join("app/x").is_dir());
}
