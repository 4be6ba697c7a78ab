//! Docker's `run` flag values turned into the runtime's types, with errors
//! that name the flag and what was expected.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use berth_runtime::{Healthcheck, Logging, Mount, MountKind, Ulimit};

fn bytes(flag: &str, v: &str) -> anyhow::Result<i64> {
    if v == "-1" {
        return Ok(-1);
    }
    berth_spec::Bytes::parse(v)
        .map(|b| b.0)
        .with_context(|| format!("{flag} {v:?}: expected a size like 64m"))
}

/// `--memory`, `--shm-size`, … (`None` when not given).
pub fn size(flag: &str, v: Option<&str>) -> anyhow::Result<Option<i64>> {
    v.map(|v| bytes(flag, v)).transpose()
}

fn seconds(flag: &str, v: &str) -> anyhow::Result<f64> {
    berth_spec::Duration::parse(v)
        .map(|d| d.as_std().as_secs_f64())
        .with_context(|| format!("{flag} {v:?}: expected a duration like 30s or 1m30s"))
}

/// `-v SRC:DST[:ro]` (bind when SRC is a path, else a named volume) or
/// `-v DST` (an anonymous volume).
pub fn volumes(specs: &[String]) -> anyhow::Result<Vec<Mount>> {
    specs
        .iter()
        .map(|s| {
            let parts: Vec<&str> = s.split(':').collect();
            let (src, target, opts) = match parts.as_slice() {
                [t] => (None, *t, ""),
                [s, t] => (Some(*s), *t, ""),
                [s, t, m] => (Some(*s), *t, *m),
                _ => bail!("invalid volume specification: {s:?}"),
            };
            if !target.starts_with('/') {
                bail!("invalid volume specification: {s:?}: the target must be an absolute path");
            }
            let ro = opts.split(',').any(|o| o == "ro");
            let kind = match src {
                Some(p) if p.starts_with('/') || p.starts_with('.') => MountKind::Bind,
                _ => MountKind::Volume,
            };
            let source = src.map(|p| {
                if kind == MountKind::Bind {
                    std::path::absolute(p)
                        .map(|a| a.display().to_string())
                        .unwrap_or(p.to_owned())
                } else {
                    p.to_owned()
                }
            });
            Ok(Mount {
                kind,
                source,
                target: target.to_owned(),
                read_only: ro,
                create_host_path: true,
                nocopy: opts.split(',').any(|o| o == "nocopy"),
                ..Default::default()
            })
        })
        .collect()
}

/// `--tmpfs /path[:size=64m,mode=1777,ro]`.
pub fn tmpfs(specs: &[String]) -> anyhow::Result<Vec<Mount>> {
    specs
        .iter()
        .map(|s| {
            let (path, opts) = s.split_once(':').unwrap_or((s, ""));
            let mut m = Mount {
                kind: MountKind::Tmpfs,
                target: path.to_owned(),
                ..Default::default()
            };
            for o in opts.split(',').filter(|o| !o.is_empty()) {
                if let Some(v) = o.strip_prefix("size=") {
                    m.tmpfs_size = Some(bytes("--tmpfs size", v)? as u64);
                } else if let Some(v) = o.strip_prefix("mode=") {
                    m.tmpfs_mode = Some(u32::from_str_radix(v, 8).with_context(|| {
                        format!("--tmpfs {s:?}: mode {v:?} is not an octal number")
                    })?);
                } else if o == "ro" {
                    m.read_only = true;
                } else if !["rw", "nosuid", "nodev", "noexec", "exec"].contains(&o) {
                    bail!("--tmpfs {s:?}: unknown option {o:?}");
                }
            }
            Ok(m)
        })
        .collect()
}

/// `--ulimit name=soft[:hard]`.
pub fn ulimits(specs: &[String]) -> anyhow::Result<Vec<Ulimit>> {
    specs
        .iter()
        .map(|u| {
            let (name, v) = u
                .split_once('=')
                .with_context(|| format!("--ulimit {u:?}: expected name=soft[:hard]"))?;
            let (soft, hard) = v.split_once(':').unwrap_or((v, v));
            let num = |x: &str| {
                if x == "-1" || x == "unlimited" {
                    return Ok(u64::MAX);
                }
                x.parse::<u64>()
                    .with_context(|| format!("--ulimit {u:?}: {x:?} is not a number"))
            };
            Ok(Ulimit {
                name: name.to_owned(),
                soft: num(soft)?,
                hard: num(hard)?,
            })
        })
        .collect()
}

/// `-e KEY=VALUE`, `-e KEY` (from our environment, left out when unset) and
/// `--env-file FILE` lines, in Docker's order: files first, then `-e`.
pub fn environment(env: &[String], files: &[String]) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut add = |kv: &str| match kv.split_once('=') {
        Some(_) => out.push(kv.to_owned()),
        None => {
            if let Ok(v) = std::env::var(kv) {
                out.push(format!("{kv}={v}"));
            }
        }
    };
    for f in files {
        let text = std::fs::read_to_string(f).with_context(|| format!("--env-file {f}"))?;
        for l in text.lines() {
            let l = l.trim_start();
            if !l.is_empty() && !l.starts_with('#') {
                add(l);
            }
        }
    }
    for e in env {
        add(e);
    }
    Ok(out)
}

/// `--log-driver` and `--log-opt k=v`.
pub fn logging(driver: Option<&str>, opts: &[String]) -> anyhow::Result<Logging> {
    if let Some(d) = driver
        && !["json-file", "local", "none"].contains(&d)
    {
        bail!("--log-driver {d:?}: berth supports json-file, local and none");
    }
    let options = opts
        .iter()
        .map(|o| {
            o.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .with_context(|| format!("--log-opt {o:?}: expected key=value"))
        })
        .collect::<anyhow::Result<BTreeMap<_, _>>>()?;
    Ok(Logging {
        driver: driver.map(str::to_owned),
        options,
    })
}

/// The `--health-*` flags.
pub struct Health<'a> {
    pub cmd: Option<&'a str>,
    pub interval: Option<&'a str>,
    pub timeout: Option<&'a str>,
    pub retries: Option<u32>,
    pub start_period: Option<&'a str>,
    pub start_interval: Option<&'a str>,
    pub none: bool,
}

/// The healthcheck: the flags over the image's, none with `--no-healthcheck`.
pub fn healthcheck(
    h: &Health,
    image: Option<&berth_image::HealthConfig>,
) -> anyhow::Result<Option<Healthcheck>> {
    if h.none {
        if h.cmd.is_some() {
            bail!("--no-healthcheck conflicts with --health-* options");
        }
        return Ok(None);
    }
    let dur = |flag: &str, v: Option<&str>| v.map(|v| seconds(flag, v)).transpose();
    let test = match (h.cmd, image) {
        (Some(c), _) => vec!["CMD-SHELL".to_owned(), c.to_owned()],
        (None, Some(i)) if !i.test.is_empty() => i.test.clone(),
        (None, _) => return Ok(None),
    };
    if test.first().map(String::as_str) == Some("NONE") {
        return Ok(None);
    }
    let from_image = |f: fn(&berth_image::HealthConfig) -> Option<std::time::Duration>| {
        image.and_then(f).map(|d| d.as_secs_f64())
    };
    Ok(Some(Healthcheck {
        test,
        interval: dur("--health-interval", h.interval)?.or(from_image(|i| i.interval)),
        timeout: dur("--health-timeout", h.timeout)?.or(from_image(|i| i.timeout)),
        start_period: dur("--health-start-period", h.start_period)?
            .or(from_image(|i| i.start_period)),
        start_interval: dur("--health-start-interval", h.start_interval)?
            .or(from_image(|i| i.start_interval)),
        retries: h.retries.or(image.and_then(|i| i.retries)),
    }))
}

/// `--security-opt`: only `no-new-privileges` is meaningful to berth.
pub fn no_new_privileges(opts: &[String]) -> anyhow::Result<bool> {
    let mut nnp = false;
    for o in opts {
        match o.as_str() {
            "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true" => nnp = true,
            "no-new-privileges:false" | "no-new-privileges=false" => nnp = false,
            other => bail!("--security-opt {other:?}: berth supports no-new-privileges only"),
        }
    }
    Ok(nnp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_values() {
        let m = tmpfs(&["/run:size=1m,mode=700".into()]).unwrap();
        assert_eq!(m[0].tmpfs_size, Some(1 << 20));
        assert_eq!(m[0].tmpfs_mode, Some(0o700));
        assert!(tmpfs(&["/run:mode=9".into()]).is_err());
        let v = volumes(&["/data".into(), "name:/x:ro".into()]).unwrap();
        assert_eq!(v[0].kind, MountKind::Volume);
        assert!(v[0].source.is_none());
        assert!(v[1].read_only);
        assert!(volumes(&["a:b".into()]).is_err());
        let u = ulimits(&["nofile=512:1024".into(), "core=-1".into()]).unwrap();
        assert_eq!((u[0].soft, u[0].hard), (512, 1024));
        assert_eq!(u[1].hard, u64::MAX);
        assert!(ulimits(&["nofile".into()]).is_err());
        assert!(no_new_privileges(&["no-new-privileges".into()]).unwrap());
        assert!(no_new_privileges(&["seccomp=unconfined".into()]).is_err());
        assert_eq!(size("--memory", Some("64m")).unwrap(), Some(64 << 20));
        assert!(size("--memory", Some("lots")).is_err());
    }
}
