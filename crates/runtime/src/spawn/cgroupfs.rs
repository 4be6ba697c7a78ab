//! The container's view of its cgroups at /sys/fs/cgroup, read-only.
//!
//! On a v2 host: a cgroup2 mount (the process is in its own cgroup
//! namespace, so its cgroup is the root it sees).
//!
//! On a v1 host: a tmpfs with one directory per hierarchy, each a bind mount
//! of the process's own cgroup directory in that hierarchy. Not a fresh
//! `cgroup` mount per hierarchy: mounting one takes the kernel's global
//! cgroup mutex, which a cgroup migration elsewhere on the host (a spare
//! shim getting ready, another container starting) holds for a whole RCU
//! grace period — a dozen such mounts made every start wait milliseconds.
//! A bind mount shows the same directory without that lock.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use super::rootfs::{ChildResult, ctx, mnt};

/// Mounts the view on `target` (a directory in the new root). `host_cgroups`
/// is /proc/self/cgroup as read before entering the cgroup namespace.
pub fn mount_view(target: &Path, read_only: MsFlags, host_cgroups: &str) -> ChildResult {
    let ro = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | read_only;
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let v1 = v1_hierarchies(&mounts);
    if v1.is_empty() {
        return mnt("cgroup2", target, Some("cgroup2"), ro, None);
    }
    mnt(
        "tmpfs",
        target,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=755"),
    )?;
    for h in v1 {
        let Some(name) = Path::new(&h.mount_point).file_name() else {
            continue;
        };
        let sub = target.join(name);
        ctx(fs::create_dir_all(&sub), || {
            format!("mkdir /sys/fs/cgroup/{}", name.to_string_lossy())
        })?;
        match own_dir(&h, host_cgroups) {
            Some(dir) => mnt(&dir.to_string_lossy(), &sub, None, MsFlags::MS_BIND, None)?,
            // Not in /proc/self/cgroup (cannot happen on a sane host):
            // mount the hierarchy, which the namespace roots at our cgroup.
            None => mnt(
                "cgroup",
                &sub,
                Some("cgroup"),
                MsFlags::empty(),
                Some(&h.options),
            )?,
        }
        mnt(
            "none",
            &sub,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | ro,
            None,
        )?;
    }
    // The tmpfs itself read-only too, as Docker leaves it.
    mnt(
        "none",
        target,
        None,
        MsFlags::MS_REMOUNT | ro,
        Some("mode=755"),
    )
}

/// A v1 hierarchy mounted on the host.
#[derive(Debug, PartialEq)]
struct Hierarchy {
    mount_point: String,
    /// Its controllers and `name=`, without generic mount flags.
    options: String,
}

fn v1_hierarchies(mounts: &str) -> Vec<Hierarchy> {
    const GENERIC: &[&str] = &[
        "rw",
        "ro",
        "relatime",
        "noatime",
        "nodiratime",
        "strictatime",
        "nosuid",
        "nodev",
        "noexec",
        "seclabel",
    ];
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() > 3 && f[2] == "cgroup").then(|| Hierarchy {
                mount_point: f[1].to_owned(),
                options: f[3]
                    .split(',')
                    .filter(|o| !GENERIC.contains(o))
                    .collect::<Vec<_>>()
                    .join(","),
            })
        })
        .collect()
}

/// The directory of our cgroup in hierarchy `h`: the line of
/// /proc/self/cgroup whose controllers are the hierarchy's.
fn own_dir(h: &Hierarchy, host_cgroups: &str) -> Option<PathBuf> {
    let opts: Vec<&str> = h.options.split(',').collect();
    host_cgroups.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        let ctrls: Vec<&str> = ctrls.split(',').filter(|c| !c.is_empty()).collect();
        let same = !ctrls.is_empty() && ctrls.iter().all(|c| opts.contains(c));
        same.then(|| Path::new(&h.mount_point).join(path.trim_start_matches('/')))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "\
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,nodev,noexec,relatime,xattr,name=systemd 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0
";
    const OWN: &str = "\
12:memory:/berth-1/abc
4:cpu,cpuacct:/berth-1/abc
1:name=systemd:/init.scope
0::/init.scope
";

    #[test]
    fn each_hierarchy_maps_to_our_directory_in_it() {
        let h = v1_hierarchies(MOUNTS);
        assert_eq!(h.len(), 3);
        assert_eq!(h[1].options, "cpu,cpuacct");
        assert_eq!(h[0].options, "xattr,name=systemd");
        let dirs: Vec<_> = h.iter().map(|h| own_dir(h, OWN)).collect();
        assert_eq!(
            dirs,
            [
                Some(PathBuf::from("/sys/fs/cgroup/systemd/init.scope")),
                Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/berth-1/abc")),
                Some(PathBuf::from("/sys/fs/cgroup/memory/berth-1/abc")),
            ]
        );
    }

    #[test]
    fn a_v2_only_host_has_no_v1_hierarchy() {
        let m = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n";
        assert!(v1_hierarchies(m).is_empty());
        assert_eq!(
            own_dir(
                &Hierarchy {
                    mount_point: "/x".into(),
                    options: "memory".into()
                },
                "0::/a\n"
            ),
            None
        );
    }
}
