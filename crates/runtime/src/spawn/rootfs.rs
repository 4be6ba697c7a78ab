//! The container's filesystem, built inside its new mount namespace by the
//! child before it execs: overlay root, `/proc`, `/dev`, `/sys`, the user's
//! mounts, the name files, then `pivot_root` and Docker's masked and
//! read-only paths. Runs in the single-threaded child; errors are strings
//! sent back to the supervisor.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::unistd::{chdir, pivot_root};

use crate::config::{ContainerConfig, MountKind};
use crate::paths::secure_join;
use crate::records::ContainerDir;

pub type ChildResult<T = ()> = Result<T, String>;

pub(super) fn ctx<T, E: std::fmt::Display>(
    r: Result<T, E>,
    what: impl FnOnce() -> String,
) -> ChildResult<T> {
    r.map_err(|e| format!("{}: {e}", what()))
}

pub(super) fn mnt(
    src: &str,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> ChildResult {
    ctx(mount(Some(src), target, fstype, flags, data), || {
        format!("mount {src} on {}", target.display())
    })
}

/// Docker's default masked paths (hidden behind /dev/null or an empty tmpfs).
pub const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's default read-only paths.
pub const READ_ONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Everything up to and including `pivot_root`. `volumes` maps a volume name
/// to its data directory on the host.
pub fn build(
    config: &ContainerConfig,
    dir: &ContainerDir,
    volumes: &Path,
    empty: &Path,
    host_cgroups: &str,
) -> ChildResult {
    // Nothing we mount may propagate back to the host.
    mnt(
        "none",
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None,
    )?;
    let root = dir.rootfs();
    overlay(config, dir, &root, empty)?;
    let nosuid = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let proc_dir = ensure_dir(&root, "/proc")?;
    mnt("proc", &proc_dir, Some("proc"), nosuid, None)?;
    dev(config, &root)?;
    let sys = ensure_dir(&root, "/sys")?;
    // Read-only unless privileged, as Docker does.
    let ro = if config.security.privileged {
        MsFlags::empty()
    } else {
        MsFlags::MS_RDONLY
    };
    mnt("sysfs", &sys, Some("sysfs"), nosuid | ro, None)?;
    let target = ensure_dir(&root, "/sys/fs/cgroup")?;
    super::cgroupfs::mount_view(&target, ro, host_cgroups)?;
    user_mounts(config, &root, volumes)?;
    name_files(config, dir, &root)?;
    let cwd = if config.process.cwd.is_empty() {
        "/"
    } else {
        &config.process.cwd
    };
    ensure_dir(&root, cwd)?;
    // pivot_root onto itself stacks the old root on top; detaching it leaves
    // only the container's tree.
    ctx(chdir(&root), || format!("chdir {}", root.display()))?;
    ctx(pivot_root(".", "."), || "pivot_root".to_string())?;
    ctx(umount2(".", MntFlags::MNT_DETACH), || {
        "detach the old root".to_string()
    })?;
    ctx(chdir("/"), || "chdir /".to_string())?;
    Ok(())
}

/// After sysctls are written: hide and freeze what Docker hides and freezes,
/// and make the root read-only when asked.
pub fn harden(config: &ContainerConfig) -> ChildResult {
    if !config.security.privileged {
        for p in MASKED {
            mask(Path::new(p))?;
        }
        for p in READ_ONLY {
            let p = Path::new(p);
            if p.exists() {
                mnt(
                    &p.to_string_lossy(),
                    p,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                )?;
                let ro = MsFlags::MS_BIND
                    | MsFlags::MS_REMOUNT
                    | MsFlags::MS_RDONLY
                    | MsFlags::MS_NOSUID
                    | MsFlags::MS_NODEV;
                mnt("none", p, None, ro, None)?;
            }
        }
    }
    if config.security.read_only {
        let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        mnt("none", Path::new("/"), None, ro, None)?;
    }
    Ok(())
}

fn mask(p: &Path) -> ChildResult {
    match fs::metadata(p) {
        Ok(m) if m.is_dir() => mnt(
            "tmpfs",
            p,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            Some("size=0"),
        ),
        Ok(_) => mnt("/dev/null", p, None, MsFlags::MS_BIND, None),
        Err(_) => Ok(()),
    }
}

fn overlay(config: &ContainerConfig, dir: &ContainerDir, root: &Path, empty: &Path) -> ChildResult {
    let lowers: Vec<String> = if config.lower_dirs.is_empty() {
        vec![empty.display().to_string()]
    } else {
        config
            .lower_dirs
            .iter()
            .map(|p| p.display().to_string())
            .collect()
    };
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        dir.upper().display(),
        dir.work().display()
    );
    if data.len() >= 4096 {
        return Err(format!(
            "image {} has too many layers for one overlay mount ({} bytes of options)",
            config.image,
            data.len()
        ));
    }
    if config.auto_remove {
        // Kernels before 5.10 do not know `volatile`: mount without it.
        let fast = format!("{data},volatile");
        if mount(
            Some("overlay"),
            root,
            Some("overlay"),
            MsFlags::empty(),
            Some(fast.as_str()),
        )
        .is_ok()
        {
            return Ok(());
        }
    }
    mnt(
        "overlay",
        root,
        Some("overlay"),
        MsFlags::empty(),
        Some(&data),
    )
}

/// A directory at `path` inside `root`, created if missing.
fn ensure_dir(root: &Path, path: &str) -> ChildResult<PathBuf> {
    let p = secure_join(root, path).map_err(|e| e.to_string())?;
    ctx(fs::create_dir_all(&p), || {
        format!("create {path} in the container")
    })?;
    Ok(p)
}

/// A file at `path` inside `root` (to bind a file over), created if missing.
fn ensure_file(root: &Path, path: &str) -> ChildResult<PathBuf> {
    let p = secure_join(root, path).map_err(|e| e.to_string())?;
    if let Some(parent) = p.parent() {
        ctx(fs::create_dir_all(parent), || {
            format!("create the parent of {path} in the container")
        })?;
    }
    if fs::symlink_metadata(&p).is_err() {
        ctx(fs::File::create(&p), || {
            format!("create {path} in the container")
        })?;
    }
    Ok(p)
}

fn dev(config: &ContainerConfig, root: &Path) -> ChildResult {
    let d = ensure_dir(root, "/dev")?;
    mnt(
        "tmpfs",
        &d,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )?;
    super::devnodes::standard(&d)?;
    if config.security.privileged {
        super::devnodes::host(Path::new("/dev"), &d, 0)?;
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
        ("ptmx", "pts/ptmx"),
    ] {
        ctx(symlink(target, d.join(link)), || {
            format!("symlink /dev/{link}")
        })?;
    }
    let pts = d.join("pts");
    ctx(fs::create_dir(&pts), || "mkdir /dev/pts".to_string())?;
    mnt(
        "devpts",
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )?;
    let shm = d.join("shm");
    ctx(fs::create_dir(&shm), || "mkdir /dev/shm".to_string())?;
    let size = config.shm_size.unwrap_or(64 << 20);
    let nosuid = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mnt(
        "shm",
        &shm,
        Some("tmpfs"),
        nosuid,
        Some(&format!("mode=1777,size={size}")),
    )?;
    let mq = d.join("mqueue");
    ctx(fs::create_dir(&mq), || "mkdir /dev/mqueue".to_string())?;
    mnt("mqueue", &mq, Some("mqueue"), nosuid, None)
}

fn user_mounts(config: &ContainerConfig, root: &Path, volumes: &Path) -> ChildResult {
    let mut mounts: Vec<_> = config.mounts.iter().collect();
    // Parents before children (`/data` before `/data/logs`).
    mounts.sort_by_key(|m| m.target.matches('/').count());
    for m in mounts {
        match m.kind {
            MountKind::Tmpfs => {
                let t = ensure_dir(root, &m.target)?;
                let mut data = format!("mode={:o}", m.tmpfs_mode.unwrap_or(0o1777));
                if let Some(size) = m.tmpfs_size {
                    data.push_str(&format!(",size={size}"));
                }
                let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
                if m.read_only {
                    flags |= MsFlags::MS_RDONLY;
                }
                mnt("tmpfs", &t, Some("tmpfs"), flags, Some(&data))?;
            }
            MountKind::Bind | MountKind::Volume => {
                let src = match m.kind {
                    MountKind::Volume => {
                        let name = m
                            .source
                            .as_deref()
                            .ok_or_else(|| format!("volume for {} has no name", m.target))?;
                        volumes.join(name).join("_data")
                    }
                    _ => PathBuf::from(
                        m.source
                            .as_deref()
                            .ok_or_else(|| format!("bind mount {} has no source", m.target))?,
                    ),
                };
                let is_dir = fs::metadata(&src)
                    .map(|md| md.is_dir())
                    .map_err(|e| format!("bind source {}: {e}", src.display()))?;
                let t = if is_dir {
                    ensure_dir(root, &m.target)?
                } else {
                    ensure_file(root, &m.target)?
                };
                if m.kind == MountKind::Volume && !m.nocopy {
                    copy_up(&t, &src)?;
                }
                bind(&src, &t, m.read_only, m.propagation.as_deref())?;
            }
        }
    }
    Ok(())
}

fn bind(src: &Path, target: &Path, read_only: bool, propagation: Option<&str>) -> ChildResult {
    let s = src.to_string_lossy();
    mnt(&s, target, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)?;
    let prop = match propagation.unwrap_or("rprivate") {
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "private" => MsFlags::MS_PRIVATE,
        _ => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
    };
    mnt("none", target, None, prop, None)?;
    if read_only {
        mnt(
            "none",
            target,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC,
            None,
        )?;
    }
    Ok(())
}

/// Docker fills an empty volume with what the image has at the mount point,
/// keeping owners and modes.
fn copy_up(image_dir: &Path, volume: &Path) -> ChildResult {
    let empty = fs::read_dir(volume)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false);
    if !empty || !image_dir.is_dir() {
        return Ok(());
    }
    crate::copy::copy_tree(image_dir, volume)
        .map_err(|e| format!("copy image content into volume {}: {e}", volume.display()))?;
    // The volume root takes the mode and owner of the image directory, even
    // when that directory is empty (a database's data dir owned by its user).
    crate::copy::copy_metadata(image_dir, volume)
        .map_err(|e| format!("volume {}: {e}", volume.display()))
}

fn name_files(config: &ContainerConfig, dir: &ContainerDir, root: &Path) -> ChildResult {
    for (host, target) in [
        (dir.hosts(), "/etc/hosts"),
        (dir.resolv_conf(), "/etc/resolv.conf"),
        (dir.hostname(), "/etc/hostname"),
    ] {
        let t = ensure_file(root, target)?;
        bind(&host, &t, config.security.read_only, None)?;
    }
    Ok(())
}
