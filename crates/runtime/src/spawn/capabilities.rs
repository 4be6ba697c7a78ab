//! Docker's capability rules: a default set, `cap_add`/`cap_drop` (with
//! `ALL`), `privileged` = everything. The bounding set is cut to the result,
//! so no process in the container can ever regain more.

use std::collections::HashSet;

use caps::{CapSet, Capability};

use crate::config::Security;

/// Docker's default capabilities (no CAP_MKNOD beyond the bounding set
/// matters little: /dev is a fresh tmpfs, but see `mknod` below).
pub const DEFAULT: &[Capability] = &[
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];

fn parse(name: &str) -> Result<Capability, String> {
    let up = name.to_ascii_uppercase();
    let full = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    full.parse::<Capability>()
        .map_err(|_| format!("unknown capability: {name:?}"))
}

/// The set a container gets.
pub fn effective(sec: &Security) -> Result<HashSet<Capability>, String> {
    let all = caps::runtime::procfs_all_supported(None).unwrap_or_else(|_| caps::all());
    if sec.privileged {
        return Ok(all);
    }
    let mut set: HashSet<Capability> = DEFAULT.iter().copied().collect();
    for a in &sec.cap_add {
        if a.eq_ignore_ascii_case("ALL") {
            set = all.clone();
        } else {
            set.insert(parse(a)?);
        }
    }
    for d in &sec.cap_drop {
        if d.eq_ignore_ascii_case("ALL") {
            set.clear();
        } else {
            set.remove(&parse(d)?);
        }
    }
    Ok(set)
}

/// Limits the calling process (still root) to `set`: bounding set first,
/// then inheritable, effective and permitted. A later setuid to a non-root
/// user clears the effective and permitted sets, as with Docker.
pub fn apply(set: &HashSet<Capability>) -> Result<(), String> {
    let all = caps::runtime::procfs_all_supported(None).unwrap_or_else(|_| caps::all());
    for c in all.difference(set) {
        caps::drop(None, CapSet::Bounding, *c)
            .map_err(|e| format!("drop {c} from the bounding set: {e}"))?;
    }
    caps::set(None, CapSet::Inheritable, set)
        .map_err(|e| format!("inheritable capabilities: {e}"))?;
    caps::set(None, CapSet::Effective, set).map_err(|e| format!("effective capabilities: {e}"))?;
    caps::set(None, CapSet::Permitted, set).map_err(|e| format!("permitted capabilities: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_drop_all() {
        let s = |add: &[&str], drop: &[&str]| {
            effective(&Security {
                cap_add: add.iter().map(|x| x.to_string()).collect(),
                cap_drop: drop.iter().map(|x| x.to_string()).collect(),
                ..Default::default()
            })
            .unwrap()
        };
        let d = s(&[], &[]);
        assert_eq!(d.len(), DEFAULT.len());
        assert!(!d.contains(&Capability::CAP_SYS_ADMIN));
        assert!(s(&["NET_ADMIN"], &[]).contains(&Capability::CAP_NET_ADMIN));
        assert!(!s(&[], &["chown"]).contains(&Capability::CAP_CHOWN));
        assert!(s(&[], &["ALL"]).is_empty());
        assert_eq!(
            s(&["SYS_TIME"], &["ALL"]).len(),
            0,
            "drop ALL wins, as Docker applies drops after adds"
        );
        assert!(
            effective(&Security {
                cap_add: vec!["NOPE".into()],
                ..Default::default()
            })
            .is_err()
        );
    }
}
