//! The uid and gid a container's `user:` stands for, from the container's
//! own `/etc/passwd` and `/etc/group` (read by the caller through the
//! container's root). Docker's rules: a name must exist; a number needs no
//! entry; the group is the user's primary group unless given.

fn field(line: &str, n: usize) -> Option<&str> {
    line.split(':').nth(n)
}

/// (uid, gid) of the passwd entry named `name` or numbered `uid`.
fn passwd(text: &str, key: &str) -> Option<(u32, u32)> {
    text.lines().find_map(|l| {
        let (name, uid) = (field(l, 0)?, field(l, 2)?);
        if name == key || uid == key {
            Some((uid.parse().ok()?, field(l, 3)?.parse().ok()?))
        } else {
            None
        }
    })
}

fn group(text: &str, key: &str) -> Option<u32> {
    if let Ok(n) = key.parse() {
        return Some(n);
    }
    text.lines()
        .find(|l| field(l, 0) == Some(key))
        .and_then(|l| field(l, 2)?.parse().ok())
}

/// Resolves `user` (`""`, `uid`, `name`, `uid:gid`, `name:group`); what
/// cannot be resolved falls back to root's id, as nothing better exists.
pub fn resolve(user: &str, passwd_text: &str, group_text: &str) -> (u32, u32) {
    if user.is_empty() {
        return (0, 0);
    }
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let entry = passwd(passwd_text, u);
    let uid = u.parse().ok().or(entry.map(|e| e.0)).unwrap_or(0);
    let gid = match g {
        Some(g) => group(group_text, g).unwrap_or(0),
        None => entry.map(|e| e.1).unwrap_or(0),
    };
    (uid, gid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nstaff:x:50:\n";

    #[test]
    fn names_numbers_and_groups() {
        assert_eq!(resolve("", PASSWD, GROUP), (0, 0));
        assert_eq!(resolve("app", PASSWD, GROUP), (1000, 1001));
        assert_eq!(resolve("1000", PASSWD, GROUP), (1000, 1001));
        assert_eq!(resolve("4242", PASSWD, GROUP), (4242, 0));
        assert_eq!(resolve("app:staff", PASSWD, GROUP), (1000, 50));
        assert_eq!(resolve("7:8", "", ""), (7, 8));
    }
}
