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

/// Every capability berth itself may hand out: those the kernel knows that
/// are in our bounding set (a sandbox running berth may have dropped some).
fn available() -> HashSet<Capability> {
    let known = caps::runtime::procfs_all_supported(None).unwrap_or_else(|_| caps::all());
    match caps::read(None, CapSet::Bounding) {
        Ok(bounding) => known.intersection(&bounding).copied().collect(),
        Err(_) => known,
    }
}

/// The set a container gets, by Docker's rules: `privileged` is every
/// capability; `cap_add: [ALL]` is every capability but the dropped ones;
/// `cap_drop: [ALL]` is only the added ones; otherwise the default set
/// without the dropped ones, plus the added ones.
pub fn effective(sec: &Security) -> Result<HashSet<Capability>, String> {
    let all = available();
    if sec.privileged {
        return Ok(all);
    }
    let is_all = |v: &[String]| v.iter().any(|c| c.eq_ignore_ascii_case("ALL"));
    let named = |v: &[String]| -> Result<HashSet<Capability>, String> {
        v.iter()
            .filter(|c| !c.eq_ignore_ascii_case("ALL"))
            .map(|c| parse(c))
            .collect()
    };
    let (add, drop) = (named(&sec.cap_add)?, named(&sec.cap_drop)?);
    Ok(if is_all(&sec.cap_add) {
        all.difference(&drop).copied().collect()
    } else if is_all(&sec.cap_drop) {
        add
    } else {
        DEFAULT
            .iter()
            .copied()
            .filter(|c| !drop.contains(c))
            .chain(add)
            .collect()
    })
}

/// Cuts the bounding set of the calling process (still root) to `set`, so
/// that nothing in the container can ever regain more. The user switch
/// comes after this, the other sets after that (see [`apply`]).
pub fn bound(set: &HashSet<Capability>) -> Result<(), String> {
    let all = caps::runtime::procfs_all_supported(None).unwrap_or_else(|_| caps::all());
    for c in all.difference(set) {
        caps::drop(None, CapSet::Bounding, *c)
            .map_err(|e| format!("drop {c} from the bounding set: {e}"))?;
    }
    Ok(())
}

/// Sets the effective and permitted sets to `set` and empties the
/// inheritable one (as Docker does since CVE-2022-24769: inheritable
/// capabilities would let a non-root user gain them from a binary's file
/// capabilities). Called after the user switch, which kept the permitted
/// set (`PR_SET_KEEPCAPS`): exec then clears both for a non-root user, as
/// with Docker.
pub fn apply(set: &HashSet<Capability>) -> Result<(), String> {
    caps::set(None, CapSet::Inheritable, &HashSet::new())
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
            s(&["NET_BIND_SERVICE"], &["ALL"]),
            [Capability::CAP_NET_BIND_SERVICE].into(),
            "drop ALL keeps only the added ones, as Docker does"
        );
        let everything = s(&["ALL"], &["SYS_ADMIN"]);
        assert!(everything.contains(&Capability::CAP_SYS_MODULE));
        assert!(!everything.contains(&Capability::CAP_SYS_ADMIN));
        assert!(
            s(&["CHOWN"], &["CHOWN"]).contains(&Capability::CAP_CHOWN),
            "drops first, then adds"
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
