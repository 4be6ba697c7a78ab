//! What is wrong with a container config, found when it is created rather
//! than when it fails to start: the message names the setting and what was
//! expected, as Docker's daemon does.

use crate::config::{ContainerConfig, MountKind};
use crate::spawn::{capabilities, rlimits, sysctls};

pub fn validate(c: &ContainerConfig) -> Result<(), String> {
    if c.process.args.is_empty() {
        return Err("no command specified".into());
    }
    crate::cgroups::limits::validate(&c.resources)?;
    sysctls::validate(&c.sysctls, &c.network)?;
    capabilities::effective(&c.security)?;
    for u in &c.ulimits {
        if rlimits::resource(&u.name).is_none() {
            return Err(format!("invalid ulimit type: {}", u.name));
        }
        if u.soft > u.hard {
            return Err(format!(
                "ulimit {}: soft limit {} is larger than the hard limit {}",
                u.name, u.soft, u.hard
            ));
        }
    }
    if let Some(s) = &c.stop_signal {
        crate::parse_signal(s).map_err(|e| format!("stop signal: {e}"))?;
    }
    if let Some(h) = &c.healthcheck {
        match h.test.first().map(String::as_str) {
            Some("CMD") | Some("CMD-SHELL") if h.test.len() > 1 => {}
            Some("NONE") => {}
            _ => {
                return Err(format!(
                    "healthcheck test {:?}: expected [\"CMD\", …], [\"CMD-SHELL\", command] or [\"NONE\"]",
                    h.test
                ));
            }
        }
    }
    for m in &c.mounts {
        if !m.target.starts_with('/') {
            return Err(format!(
                "invalid mount target {:?}: must be an absolute path",
                m.target
            ));
        }
        if m.kind == MountKind::Bind && m.source.as_deref().is_none_or(|s| !s.starts_with('/')) {
            return Err(format!(
                "bind mount {}: the source must be an absolute host path",
                m.target
            ));
        }
    }
    let mut targets: Vec<&str> = c
        .mounts
        .iter()
        .map(|m| m.target.trim_end_matches('/'))
        .collect();
    targets.sort();
    if let Some(w) = targets.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("Duplicate mount point: {}", w[0]));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Healthcheck, Mount, Process, Ulimit};

    fn ok() -> ContainerConfig {
        ContainerConfig {
            name: "x".into(),
            process: Process {
                args: vec!["true".into()],
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn bad_settings_are_named() {
        assert!(validate(&ok()).is_ok());
        let mut c = ok();
        c.process.args.clear();
        assert_eq!(validate(&c).unwrap_err(), "no command specified");
        let mut c = ok();
        c.sysctls.insert("vm.swappiness".into(), "1".into());
        assert!(validate(&c).unwrap_err().contains("vm.swappiness"));
        let mut c = ok();
        c.security.cap_add.push("CAP_NOPE".into());
        assert!(validate(&c).unwrap_err().contains("CAP_NOPE"));
        let mut c = ok();
        c.ulimits.push(Ulimit {
            name: "nofiles".into(),
            soft: 1,
            hard: 1,
        });
        assert_eq!(validate(&c).unwrap_err(), "invalid ulimit type: nofiles");
        let mut c = ok();
        c.stop_signal = Some("SIGNOPE".into());
        assert!(validate(&c).unwrap_err().contains("SIGNOPE"));
        let mut c = ok();
        c.healthcheck = Some(Healthcheck {
            test: vec!["CMD".into()],
            interval: None,
            timeout: None,
            start_period: None,
            start_interval: None,
            retries: None,
        });
        assert!(validate(&c).unwrap_err().contains("healthcheck"));
        let mut c = ok();
        for _ in 0..2 {
            c.mounts.push(Mount {
                kind: MountKind::Tmpfs,
                target: "/run/".into(),
                ..Default::default()
            });
        }
        assert_eq!(validate(&c).unwrap_err(), "Duplicate mount point: /run");
        let mut c = ok();
        c.mounts.push(Mount {
            kind: MountKind::Bind,
            source: Some("rel".into()),
            target: "/x".into(),
            ..Default::default()
        });
        assert!(validate(&c).unwrap_err().contains("absolute host path"));
    }
}
