//! Who the payload runs as: user, groups, capabilities and no_new_privs,
//! applied in the child after pivot_root (so the image's /etc/passwd and
//! /etc/group are the ones read).

use nix::unistd::{Gid, Uid, setgid, setgroups, setuid};

use super::rootfs::ChildResult;
use crate::config::ContainerConfig;

pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// `(uid, gid, home)` of the passwd line matching `name` or `uid`.
fn passwd_entry(passwd: &str, name: &str, by_uid: Option<u32>) -> Option<(u32, u32, String)> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 6 {
            return None;
        }
        let uid: u32 = f[2].parse().ok()?;
        let matches = match by_uid {
            Some(u) => u == uid,
            None => f[0] == name,
        };
        matches.then(|| (uid, f[3].parse().unwrap_or(0), f[5].to_owned()))
    })
}

fn passwd_name(passwd: &str, uid: u32) -> String {
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_owned())
        })
        .unwrap_or_default()
}

/// A group by name or number (a number needs no entry).
fn group_id(group: &str, name: &str) -> Option<u32> {
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    group.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 3 && f[0] == name)
            .then(|| f[2].parse().ok())
            .flatten()
    })
}

/// Groups that list `user` as a member.
fn member_groups(group: &str, user: &str) -> Vec<u32> {
    group
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 4 && f[3].split(',').any(|m| m == user))
                .then(|| f[2].parse().ok())
                .flatten()
        })
        .collect()
}

/// Resolves `user[:group]` and `group_add` against the text of the image's
/// `/etc/passwd` and `/etc/group`, as Docker does (runc's GetExecUser): a
/// name must exist, a number need not (then HOME is `/` and the group 0);
/// the user's supplementary groups only when no group is named; the
/// primary group always first; then `group_add`.
pub fn resolve_in(
    passwd: &str,
    group: &str,
    spec: &str,
    group_add: &[String],
) -> ChildResult<(User, Vec<u32>)> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let (uid, mut gid, home, name) = match u.parse::<u32>() {
        Ok(uid) => match passwd_entry(passwd, "", Some(uid)) {
            Some((uid, gid, home)) => (uid, gid, home, passwd_name(passwd, uid)),
            None => (uid, 0, "/".to_owned(), String::new()),
        },
        Err(_) => {
            let (uid, gid, home) = passwd_entry(passwd, u, None).ok_or_else(|| {
                format!("unable to find user {u}: no matching entries in passwd file")
            })?;
            (uid, gid, home, u.to_owned())
        }
    };
    let unknown = |g: &str| format!("unable to find group {g}: no matching entries in group file");
    if let Some(g) = g {
        gid = group_id(group, g).ok_or_else(|| unknown(g))?;
    }
    let mut groups = vec![gid];
    if g.is_none() && !name.is_empty() {
        groups.extend(member_groups(group, &name));
    }
    for g in group_add {
        groups.push(group_id(group, g).ok_or_else(|| unknown(g))?);
    }
    let mut seen = std::collections::HashSet::new();
    groups.retain(|g| seen.insert(*g));
    Ok((
        User {
            uid,
            gid,
            home: if home.is_empty() { "/".into() } else { home },
        },
        groups,
    ))
}

/// [`resolve_in`] with the files of the current root (the container's,
/// after pivot_root).
pub fn resolve(spec: &str, group_add: &[String]) -> ChildResult<(User, Vec<u32>)> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    resolve_in(&passwd, &group, spec, group_add)
}

/// Switches to the configured user and groups and applies the security options.
pub fn apply(c: &ContainerConfig) -> ChildResult<User> {
    let set = super::capabilities::effective(&c.security)?;
    apply_user(
        &c.process.user,
        &c.process.group_add,
        c.security.no_new_privileges,
        &set,
    )
}

/// Switches to `user` (resolved in the current root's files) with the
/// capabilities `caps`. The user switch needs CAP_SETUID and CAP_SETGID,
/// which `caps` may lack (`cap_drop: [ALL]` with a `user`): the bounding
/// set is cut first, the switch keeps the permitted set, and only then are
/// the capabilities set.
pub fn apply_user(
    spec: &str,
    group_add: &[String],
    no_new_privileges: bool,
    caps: &std::collections::HashSet<caps::Capability>,
) -> ChildResult<User> {
    let (user, groups) = resolve(spec, group_add)?;
    super::capabilities::bound(caps)?;
    keep_caps(true)?;
    let gids: Vec<Gid> = groups.iter().map(|g| Gid::from_raw(*g)).collect();
    setgroups(&gids).map_err(|e| format!("setgroups: {e}"))?;
    setgid(Gid::from_raw(user.gid)).map_err(|e| format!("setgid {}: {e}", user.gid))?;
    setuid(Uid::from_raw(user.uid)).map_err(|e| format!("setuid {}: {e}", user.uid))?;
    keep_caps(false)?;
    super::capabilities::apply(caps)?;
    if no_new_privileges {
        // SAFETY: prctl with constant arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(format!("no_new_privs: {}", std::io::Error::last_os_error()));
        }
    }
    Ok(user)
}

fn keep_caps(on: bool) -> ChildResult {
    // SAFETY: prctl with constant arguments.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, on as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(format!("keepcaps: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n";
    const GROUP: &str =
        "root:x:0:\nwheel:x:10:app\napp:x:1000:\naudio:x:29:app,root\nstaff:x:50:\n";

    fn r(spec: &str, add: &[&str]) -> ChildResult<(u32, u32, String, Vec<u32>)> {
        let add: Vec<String> = add.iter().map(|s| s.to_string()).collect();
        resolve_in(PASSWD, GROUP, spec, &add).map(|(u, g)| (u.uid, u.gid, u.home, g))
    }

    #[test]
    fn users_and_groups_resolve_like_docker() {
        assert_eq!(
            r("app", &[]).unwrap(),
            (1000, 1000, "/home/app".into(), vec![1000, 10, 29])
        );
        assert_eq!(
            r("1000", &[]).unwrap(),
            (1000, 1000, "/home/app".into(), vec![1000, 10, 29]),
            "a uid with an entry gets that user's groups"
        );
        assert_eq!(
            r("app:staff", &[]).unwrap(),
            (1000, 50, "/home/app".into(), vec![50]),
            "a named group replaces the supplementary groups"
        );
        assert_eq!(
            r("4242:4343", &[]).unwrap(),
            (4242, 4343, "/".into(), vec![4343]),
            "numbers need no entry"
        );
        assert_eq!(
            r("", &["staff", "wheel", "7"]).unwrap(),
            (0, 0, "/root".into(), vec![0, 29, 50, 10, 7])
        );
        assert!(
            r("nobody", &[])
                .unwrap_err()
                .contains("unable to find user nobody")
        );
        assert!(
            r("app:nogroup", &[])
                .unwrap_err()
                .contains("unable to find group nogroup")
        );
        assert!(r("app", &["missing"]).is_err());
    }
}
