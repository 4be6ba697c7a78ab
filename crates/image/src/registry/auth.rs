//! Registry credentials (`~/.docker/config.json`, or `$DOCKER_CONFIG/config.json`)
//! and `WWW-Authenticate` challenges.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::error::{ImageError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Credentials {
    /// The value of an `Authorization: Basic …` header.
    pub fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.username, self.password))
        )
    }
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ConfigJson {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

/// The `auths` section of Docker's client config, keyed by registry host.
#[derive(Debug, Clone, Default)]
pub struct DockerAuths {
    by_host: BTreeMap<String, Credentials>,
}

/// `https://index.docker.io/v1/` → `docker.io`; `http://h:5000/v2/` → `h:5000`.
fn host_key(key: &str) -> String {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = k.split('/').next().unwrap_or(k).to_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".into()
        }
        _ => host,
    }
}

impl DockerAuths {
    /// Reads `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`; a
    /// missing file means no credentials.
    pub fn load() -> Result<DockerAuths> {
        let path = match std::env::var_os("DOCKER_CONFIG") {
            Some(d) if !d.is_empty() => PathBuf::from(d).join("config.json"),
            _ => match std::env::var_os("HOME") {
                Some(h) => PathBuf::from(h).join(".docker/config.json"),
                None => return Ok(DockerAuths::default()),
            },
        };
        match std::fs::read(&path) {
            Ok(data) => Self::parse(&data, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DockerAuths::default()),
            Err(e) => Err(ImageError::io(path, e)),
        }
    }

    pub fn parse(data: &[u8], what: &str) -> Result<DockerAuths> {
        let cfg: ConfigJson =
            serde_json::from_slice(data).map_err(|e| ImageError::json(what, e))?;
        let mut by_host = BTreeMap::new();
        for (key, e) in cfg.auths {
            let creds = if let Some(a) = e.auth.filter(|a| !a.is_empty()) {
                let bad = || ImageError::Registry {
                    registry: key.clone(),
                    reason: format!("{what}: the \"auth\" value is not base64 of user:password"),
                };
                let raw = STANDARD.decode(a.trim()).map_err(|_| bad())?;
                let s = String::from_utf8(raw).map_err(|_| bad())?;
                let (u, p) = s.split_once(':').ok_or_else(bad)?;
                Credentials {
                    username: u.into(),
                    password: p.into(),
                }
            } else if let (Some(u), Some(p)) = (e.username, e.password) {
                Credentials {
                    username: u,
                    password: p,
                }
            } else {
                continue;
            };
            by_host.insert(host_key(&key), creds);
        }
        Ok(DockerAuths { by_host })
    }

    /// Credentials for a registry domain as references name it (`docker.io`,
    /// `127.0.0.1:5000`).
    pub fn get(&self, domain: &str) -> Option<&Credentials> {
        self.by_host.get(&host_key(domain))
    }
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Lowercase: `bearer` or `basic`.
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        let mut params = BTreeMap::new();
        let mut chars = rest.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
                chars.next();
            }
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            if key.is_empty() {
                break;
            }
            let mut value = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next()),
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(c) = chars.peek().copied() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
            params.insert(key.trim().to_lowercase(), value.trim().to_owned());
        }
        Some(Challenge {
            scheme: scheme.to_lowercase(),
            params,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.example/token");
        assert_eq!(c.params["scope"], "repository:a/b:pull,push");
        assert_eq!(
            Challenge::parse("Basic realm=x").unwrap().params["realm"],
            "x"
        );
    }

    #[test]
    fn reads_docker_config_auths() {
        let auth = STANDARD.encode("alice:s3cret");
        let cfg = format!(
            r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}},
                "127.0.0.1:5000":{{"username":"bob","password":"pw"}},
                "ghcr.io":{{}}}}, "credsStore":"desktop"}}"#
        );
        let a = DockerAuths::parse(cfg.as_bytes(), "config.json").unwrap();
        assert_eq!(a.get("docker.io").unwrap().username, "alice");
        assert_eq!(a.get("docker.io").unwrap().password, "s3cret");
        assert_eq!(a.get("127.0.0.1:5000").unwrap().username, "bob");
        assert!(a.get("ghcr.io").is_none());
        let bad = DockerAuths::parse(br#"{"auths":{"x":{"auth":"!!"}}}"#, "cfg").unwrap_err();
        assert!(bad.to_string().contains("not base64"), "{bad}");
    }
}
