//! Copying trees with their metadata (owner, mode, times, symlinks as
//! symlinks), for filling volumes from the image and for `cp`.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;

use nix::fcntl::{AT_FDCWD, AtFlags};
use nix::sys::stat::{UtimensatFlags, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchownat};

/// Copies owner, mode and times of `from` onto `to` (not following symlinks
/// for owner and times).
pub fn copy_metadata(from: &Path, to: &Path) -> io::Result<()> {
    let m = fs::symlink_metadata(from)?;
    fchownat(
        AT_FDCWD,
        to,
        Some(Uid::from_raw(m.uid())),
        Some(Gid::from_raw(m.gid())),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(io::Error::from)?;
    if !m.file_type().is_symlink() {
        fs::set_permissions(to, fs::Permissions::from_mode(m.mode() & 0o7777))?;
    }
    let at = TimeSpec::new(m.atime(), m.atime_nsec());
    let mt = TimeSpec::new(m.mtime(), m.mtime_nsec());
    utimensat(AT_FDCWD, to, &at, &mt, UtimensatFlags::NoFollowSymlink).map_err(io::Error::from)
}

/// Copies the content of directory `from` into existing directory `to`.
/// Symlinks are copied as links, never followed; special files are skipped.
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    for e in fs::read_dir(from)? {
        let e = e?;
        let src = e.path();
        let dst = to.join(e.file_name());
        copy_entry(&src, &dst)?;
    }
    Ok(())
}

/// Copies one file, directory (recursively) or symlink.
pub fn copy_entry(src: &Path, dst: &Path) -> io::Result<()> {
    let ft = fs::symlink_metadata(src)?.file_type();
    if ft.is_symlink() {
        let _ = fs::remove_file(dst);
        symlink(fs::read_link(src)?, dst)?;
    } else if ft.is_dir() {
        match fs::create_dir(dst) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        copy_tree(src, dst)?;
    } else if ft.is_file() {
        fs::copy(src, dst)?;
    } else {
        return Ok(());
    }
    copy_metadata(src, dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_files_dirs_links_and_modes() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        fs::create_dir(a.path().join("d")).unwrap();
        fs::write(a.path().join("d/f"), b"hi").unwrap();
        fs::set_permissions(a.path().join("d/f"), fs::Permissions::from_mode(0o640)).unwrap();
        symlink("/etc/passwd", a.path().join("link")).unwrap();
        copy_tree(a.path(), b.path()).unwrap();
        assert_eq!(fs::read(b.path().join("d/f")).unwrap(), b"hi");
        assert_eq!(
            fs::metadata(b.path().join("d/f")).unwrap().mode() & 0o777,
            0o640
        );
        assert_eq!(
            fs::read_link(b.path().join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
    }
}
