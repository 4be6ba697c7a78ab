//! `--change` instructions of `image import` (a Dockerfile subset, as
//! `docker import --change` accepts).

use crate::error::{ImageError, Result};
use crate::spec::{Empty, ImageConfig};

fn err(change: &str, reason: impl Into<String>) -> ImageError {
    ImageError::InvalidChange {
        change: change.to_owned(),
        reason: reason.into(),
    }
}

/// Splits on whitespace, keeping quoted strings together and unquoting them.
fn words(s: &str, change: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (q, '\\') if q != Some('\'') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(err(change, "unterminated quote"));
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// `["a","b"]` (exec form) or a shell command line (shell form).
fn command(rest: &str, shell: &Option<Vec<String>>) -> Vec<String> {
    if rest.trim_start().starts_with('[')
        && let Ok(v) = serde_json::from_str::<Vec<String>>(rest)
    {
        return v;
    }
    let mut v = shell
        .clone()
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
    v.push(rest.to_owned());
    v
}

/// `k=v k2="v 2"`, or the legacy single `k v` form.
fn pairs(rest: &str, change: &str, legacy: bool) -> Result<Vec<(String, String)>> {
    let first = rest.split_whitespace().next().unwrap_or("");
    if legacy && !first.contains('=') {
        let (k, v) = rest
            .trim()
            .split_once(char::is_whitespace)
            .ok_or_else(|| err(change, "expected KEY=VALUE"))?;
        return Ok(vec![(k.to_owned(), v.trim().to_owned())]);
    }
    words(rest, change)?
        .into_iter()
        .map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| err(change, format!("expected KEY=VALUE, got {w:?}")))
        })
        .collect()
}

/// Applies one `--change` line to `config`.
pub fn apply_change(config: &mut ImageConfig, change: &str) -> Result<()> {
    let line = change.trim();
    let (instr, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    let need = |r: &str| {
        if r.is_empty() {
            Err(err(
                change,
                format!("{} needs an argument", instr.to_uppercase()),
            ))
        } else {
            Ok(())
        }
    };
    match instr.to_uppercase().as_str() {
        "CMD" => {
            need(rest)?;
            config.cmd = Some(command(rest, &config.shell));
        }
        "ENTRYPOINT" => {
            need(rest)?;
            config.entrypoint = Some(command(rest, &config.shell));
            // As in a Dockerfile, a new entrypoint resets an inherited CMD.
            config.cmd = None;
        }
        "ENV" => {
            need(rest)?;
            for (k, v) in pairs(rest, change, true)? {
                config.set_env(&k, &v);
            }
        }
        "LABEL" => {
            need(rest)?;
            for (k, v) in pairs(rest, change, false)? {
                config.labels.insert(k, v);
            }
        }
        "EXPOSE" => {
            need(rest)?;
            for p in rest.split_whitespace() {
                let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                if port.parse::<u16>().is_err() || !matches!(proto, "tcp" | "udp" | "sctp") {
                    return Err(err(change, format!("invalid port {p:?}")));
                }
                config
                    .exposed_ports
                    .insert(format!("{port}/{proto}"), Empty {});
            }
        }
        "VOLUME" => {
            need(rest)?;
            let vols = if rest.starts_with('[') {
                serde_json::from_str::<Vec<String>>(rest)
                    .map_err(|e| err(change, format!("invalid JSON array: {e}")))?
            } else {
                words(rest, change)?
            };
            for v in vols {
                config.volumes.insert(v, Empty {});
            }
        }
        "WORKDIR" => {
            need(rest)?;
            config.working_dir = if rest.starts_with('/') || config.working_dir.is_empty() {
                rest.to_owned()
            } else {
                format!("{}/{rest}", config.working_dir.trim_end_matches('/'))
            };
        }
        "USER" => {
            need(rest)?;
            config.user = rest.to_owned();
        }
        "STOPSIGNAL" => {
            need(rest)?;
            config.stop_signal = rest.to_owned();
        }
        "ONBUILD" => {
            need(rest)?;
            config.on_build.push(rest.to_owned());
        }
        "SHELL" => {
            let v: Vec<String> =
                serde_json::from_str(rest).map_err(|_| err(change, "SHELL needs a JSON array"))?;
            config.shell = Some(v);
        }
        other => {
            return Err(err(
                change,
                format!(
                    "{other} is not one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, SHELL, STOPSIGNAL, USER, VOLUME, WORKDIR"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_changes_like_docker_import() {
        let mut c = ImageConfig::default();
        for ch in [
            r#"CMD ["/bin/sh", "-c", "echo hi"]"#,
            "ENV PATH=/bin:/usr/bin GREETING=\"hello world\"",
            "ENV LEGACY some value",
            "EXPOSE 80 53/udp",
            "LABEL a=b \"c d\"=e",
            "WORKDIR /srv",
            "WORKDIR app",
            "USER 1000:1000",
            "VOLUME /data /cache",
            "STOPSIGNAL SIGINT",
        ] {
            apply_change(&mut c, ch).unwrap();
        }
        assert_eq!(c.cmd.as_deref().unwrap(), ["/bin/sh", "-c", "echo hi"]);
        assert_eq!(c.env_var("GREETING"), Some("hello world"));
        assert_eq!(c.env_var("LEGACY"), Some("some value"));
        assert!(c.exposed_ports.contains_key("80/tcp") && c.exposed_ports.contains_key("53/udp"));
        assert_eq!(c.labels["c d"], "e");
        assert_eq!(c.working_dir, "/srv/app");
        assert_eq!(c.user, "1000:1000");
        assert_eq!(c.volumes.len(), 2);
        apply_change(&mut c, "ENTRYPOINT exec app").unwrap();
        assert_eq!(
            c.entrypoint.as_deref().unwrap(),
            ["/bin/sh", "-c", "exec app"]
        );
        assert!(c.cmd.is_none());
        let e = apply_change(&mut c, "RUN rm -rf /")
            .unwrap_err()
            .to_string();
        assert!(e.contains("RUN is not one of"), "{e}");
        assert!(apply_change(&mut c, "EXPOSE http").is_err());
        assert!(apply_change(&mut c, "CMD").is_err());
    }
}
