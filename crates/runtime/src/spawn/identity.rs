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

fn passwd_entry(field0: &str, by_uid: Option<u32>) -> Option<(u32, u32, String)> {
    let data = std::fs::read_to_string("/etc/passwd").ok()?;
    data.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 6 {
            return None;
        }
        let uid: u32 = f[2].parse().ok()?;
        let matches = match by_uid {
            Some(u) => u == uid,
            None => f[0] == field0,
        };
        matches.then(|| (uid, f[3].parse().unwrap_or(0), f[5].to_owned()))
    })
}

fn group_id(name: &str) -> Option<u32> {
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    let data = std::fs::read_to_string("/etc/group").ok()?;
    data.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 3 && f[0] == name)
            .then(|| f[2].parse().ok())
            .flatten()
    })
}

/// Groups that list `user` as a member in /etc/group.
fn member_groups(user: &str) -> Vec<u32> {
    let data = std::fs::read_to_string("/etc/group").unwrap_or_default();
    data.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 4 && f[3].split(',').any(|m| m == user))
                .then(|| f[2].parse().ok())
                .flatten()
        })
        .collect()
}

/// Resolves `user[:group]` in the container's files.
pub fn resolve(spec: &str, group_add: &[String]) -> ChildResult<(User, Vec<u32>)> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let (uid, mut gid, home, name) = match u.parse::<u32>() {
        Ok(uid) => match passwd_entry("", Some(uid)) {
            Some((uid, gid, home)) => (uid, gid, home, u.to_owned()),
            None => (uid, 0, "/".to_owned(), String::new()),
        },
        Err(_) => {
            let (uid, gid, home) = passwd_entry(u, None).ok_or_else(|| {
                format!("unable to find user {u}: no matching entries in passwd file")
            })?;
            (uid, gid, home, u.to_owned())
        }
    };
    if let Some(g) = g {
        gid = group_id(g).ok_or_else(|| {
            format!("unable to find group {g}: no matching entries in group file")
        })?;
    }
    let mut groups = vec![gid];
    let user_name = if name.is_empty() {
        passwd_name(uid)
    } else {
        name
    };
    groups.extend(member_groups(&user_name));
    for g in group_add {
        groups.push(group_id(g).ok_or_else(|| {
            format!("unable to find group {g}: no matching entries in group file")
        })?);
    }
    groups.dedup();
    Ok((
        User {
            uid,
            gid,
            home: if home.is_empty() { "/".into() } else { home },
        },
        groups,
    ))
}

fn passwd_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_owned())
        })
        .unwrap_or_default()
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

/// Switches to `user` (resolved in the current root's files).
pub fn apply_user(
    spec: &str,
    group_add: &[String],
    no_new_privileges: bool,
    caps: &std::collections::HashSet<caps::Capability>,
) -> ChildResult<User> {
    let (user, groups) = resolve(spec, group_add)?;
    let gids: Vec<Gid> = groups.iter().map(|g| Gid::from_raw(*g)).collect();
    setgroups(&gids).map_err(|e| format!("setgroups: {e}"))?;
    setgid(Gid::from_raw(user.gid)).map_err(|e| format!("setgid {}: {e}", user.gid))?;
    if no_new_privileges {
        // SAFETY: prctl with constant arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(format!("no_new_privs: {}", std::io::Error::last_os_error()));
        }
    }
    super::capabilities::apply(caps)?;
    setuid(Uid::from_raw(user.uid)).map_err(|e| format!("setuid {}: {e}", user.uid))?;
    Ok(user)
}
