//! `sysctls`: only those that belong to a namespace the container has of its
//! own may be set. Anything else (`vm.swappiness`, `kernel.panic`) would be
//! written for the whole host by a process that is still fully privileged,
//! so it is refused when the container is created, as runc does.

use std::collections::BTreeMap;

use crate::config::NetworkMode;

/// IPC namespace sysctls (the container always has its own IPC namespace).
const IPC: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// UTS namespace sysctls.
const UTS: &[&str] = &["kernel.domainname", "kernel.hostname"];

/// `net/ipv4/ip_forward` and `net.ipv4.ip_forward` are the same sysctl.
fn normalise(key: &str) -> String {
    key.replace('/', ".")
}

/// Whether `key` may be set in a container with `network`.
pub fn check(key: &str, network: &NetworkMode) -> Result<(), String> {
    let k = normalise(key);
    let sane = !k.is_empty()
        && k.split('.').all(|c| {
            !c.is_empty()
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "_-@:+".contains(ch))
        });
    if !sane {
        return Err(format!("invalid sysctl name {key:?}"));
    }
    if IPC.contains(&k.as_str()) || k.starts_with("fs.mqueue.") || UTS.contains(&k.as_str()) {
        return Ok(());
    }
    if k.starts_with("net.") {
        return match network {
            NetworkMode::Host => Err(format!(
                "sysctl {key:?} not allowed in host network namespace"
            )),
            _ => Ok(()),
        };
    }
    Err(format!(
        "sysctl {key:?} is not in a separate kernel namespace"
    ))
}

/// Checks every sysctl of a container.
pub fn validate(sysctls: &BTreeMap<String, String>, network: &NetworkMode) -> Result<(), String> {
    sysctls.keys().try_for_each(|k| check(k, network))
}

/// In the child, after `/proc` of the container is mounted and before
/// `/proc/sys` is made read-only.
pub fn write(sysctls: &BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in sysctls {
        let p = format!("/proc/sys/{}", normalise(k).replace('.', "/"));
        std::fs::write(&p, v).map_err(|e| format!("sysctl {k}={v}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_namespaced_sysctls_pass() {
        let none = NetworkMode::None;
        assert!(check("net.ipv4.ip_unprivileged_port_start", &none).is_ok());
        assert!(check("net/ipv4/ip_forward", &none).is_ok());
        assert!(check("kernel.shmmax", &none).is_ok());
        assert!(check("fs.mqueue.msg_max", &none).is_ok());
        assert!(check("kernel.domainname", &none).is_ok());
        let err = check("vm.swappiness", &none).unwrap_err();
        assert_eq!(
            err,
            "sysctl \"vm.swappiness\" is not in a separate kernel namespace"
        );
        assert!(check("kernel.panic", &none).is_err());
        assert!(check("fs.file-max", &none).is_err());
        assert!(
            check("net.ipv4.ip_forward", &NetworkMode::Host)
                .unwrap_err()
                .contains("host network namespace")
        );
        assert!(check("net.ipv4..x", &none).is_err());
        assert!(check("net/../../etc/passwd", &none).is_err());
    }
}
