//! The device nodes of a container's `/dev` (a fresh tmpfs): Docker's
//! standard six, and for `privileged` containers every node of the host's
//! `/dev`, as Docker gives them. The device cgroup decides which of them can
//! be opened.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use nix::sys::stat::{Mode, SFlag, makedev, mknod};

use super::rootfs::ChildResult;

/// `(name, major, minor)` of the nodes every container gets.
pub const STANDARD: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Host `/dev` entries a privileged container does not copy: its own
/// mounts and links take their place.
const SKIP: &[&str] = &["pts", "shm", "mqueue", "fd", "console", "ptmx", "core"];

fn node(path: &Path, kind: SFlag, mode: u32, dev: u64) -> ChildResult {
    mknod(path, kind, Mode::from_bits_truncate(mode), dev)
        .map_err(|e| format!("mknod {}: {e}", path.display()))?;
    // mknod honours the umask.
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", path.display()))
}

/// Creates the standard nodes in `dev`.
pub fn standard(dev: &Path) -> ChildResult {
    for (name, major, minor) in STANDARD {
        node(
            &dev.join(name),
            SFlag::S_IFCHR,
            0o666,
            makedev(*major, *minor),
        )?;
    }
    Ok(())
}

/// Copies every device node of the host's `host` tree into `dev` (owner
/// and mode kept), for a privileged container.
pub fn host(from: &Path, dev: &Path, depth: u32) -> ChildResult {
    let Ok(rd) = fs::read_dir(from) else {
        return Ok(());
    };
    for e in rd.flatten() {
        let name = e.file_name();
        if depth == 0 && SKIP.iter().any(|s| name == *s) {
            continue;
        }
        let target = dev.join(&name);
        let Ok(m) = fs::symlink_metadata(e.path()) else {
            continue;
        };
        let ft = m.file_type();
        if ft.is_dir() && depth < 3 {
            fs::create_dir_all(&target).map_err(|e| format!("{}: {e}", target.display()))?;
            host(&e.path(), &target, depth + 1)?;
        } else if (ft.is_char_device() || ft.is_block_device())
            && fs::symlink_metadata(&target).is_err()
        {
            let kind = if ft.is_char_device() {
                SFlag::S_IFCHR
            } else {
                SFlag::S_IFBLK
            };
            node(&target, kind, m.mode() & 0o7777, m.rdev())?;
            let _ = nix::unistd::chown(
                &target,
                Some(nix::unistd::Uid::from_raw(m.uid())),
                Some(nix::unistd::Gid::from_raw(m.gid())),
            );
        }
    }
    Ok(())
}
