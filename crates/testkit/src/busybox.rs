//! A root filesystem made of Debian's static busybox.

use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian's `busybox-static` package installs the binary.
pub fn busybox_path() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("busybox not found: install Debian's busybox-static package");
}

/// `(path inside the rootfs, applet)` for every applet, e.g. `("usr/bin/wget", "wget")`.
pub fn applets() -> Vec<String> {
    let out = Command::new(busybox_path())
        .arg("--list-full")
        .output()
        .expect("run busybox --list-full");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty() && *l != "bin/busybox")
        .map(str::to_owned)
        .collect()
}

pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
app:x:1000:1000:app user:/home/app:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";

pub const GROUP: &str = "root:x:0:\n\
daemon:x:1:\n\
wheel:x:10:app\n\
app:x:1000:\n\
audio:x:29:app\n\
nogroup:x:65534:\n";

/// Fills `dir` with a small Linux root: `/bin/busybox` and a symlink per
/// applet, `/etc/passwd` and `/etc/group` (users root, daemon, app=1000,
/// nobody; app is also in groups wheel and audio), `/tmp`, `/root`, `/home/app`
/// and empty mount points `/proc`, `/sys`, `/dev`.
pub fn write_rootfs(dir: &Path) -> io::Result<()> {
    for d in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "home/app", "proc", "sys", "dev",
        "tmp", "var",
    ] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    std::fs::set_permissions(dir.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
    std::fs::copy(busybox_path(), dir.join("bin/busybox"))?;
    std::fs::set_permissions(
        dir.join("bin/busybox"),
        std::fs::Permissions::from_mode(0o755),
    )?;
    for path in applets() {
        let target = dir.join(&path);
        if target.exists() || target.symlink_metadata().is_ok() {
            continue;
        }
        // Relative links keep the tree valid wherever it is mounted.
        let depth = path.matches('/').count();
        let link = format!("{}bin/busybox", "../".repeat(depth));
        symlink(link, &target)?;
    }
    std::fs::write(dir.join("etc/passwd"), PASSWD)?;
    std::fs::write(dir.join("etc/group"), GROUP)?;
    Ok(())
}

/// An uncompressed layer tar of [`write_rootfs`], with root ownership and a
/// fixed mtime so that the same busybox always gives the same digest.
pub fn rootfs_tar() -> io::Result<Vec<u8>> {
    let tmp = tempfile::tempdir()?;
    write_rootfs(tmp.path())?;
    crate::oci::tar_dir(tmp.path())
}
