//! A blocking client for the OCI distribution API: manifests and blobs,
//! anonymous, bearer-token and basic auth.

pub mod auth;
mod pull;

use std::collections::HashMap;
use std::io::Read;
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use ureq::config::AutoHeaderValue;
use ureq::http::Response;
use ureq::{Agent, Body};

pub use auth::{Challenge, Credentials, DockerAuths};
pub use pull::PullOptions;

use crate::error::{ImageError, Result};
use crate::reference::Reference;
use crate::spec::media;

/// Environment variable with registries (comma separated) that may be
/// reached over plain HTTP, like `--insecure-registry`.
pub const INSECURE_ENV: &str = "BERTH_INSECURE_REGISTRIES";

/// True for registries plain HTTP is always allowed for: `localhost` and
/// 127.0.0.0/8 (with any port), `[::1]`.
pub fn is_loopback(domain: &str) -> bool {
    let host = if domain.starts_with('[') {
        domain
            .split(']')
            .next()
            .unwrap_or("")
            .trim_start_matches('[')
    } else {
        domain.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<Ipv4Addr>()
            .is_ok_and(|ip| ip.octets()[0] == 127)
}

/// One registry session: connection pool, credentials, tokens per repository.
pub struct RegistryClient {
    agent: Agent,
    auths: DockerAuths,
    insecure: Vec<String>,
    /// (domain, repository) → Authorization header value.
    tokens: Mutex<HashMap<(String, String), String>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorItem>,
}

#[derive(Deserialize, Default)]
struct ErrorItem {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// A response whose status was not a success, with the registry's error codes.
pub(crate) struct Failure {
    pub status: u16,
    pub codes: Vec<String>,
    pub message: String,
}

impl Failure {
    fn read(mut resp: Response<Body>) -> Failure {
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_string()
            .unwrap_or_default();
        let body: ErrorBody = serde_json::from_str(&text).unwrap_or_default();
        let codes = body.errors.iter().map(|e| e.code.clone()).collect();
        let mut message = body
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.code.to_lowercase().replace('_', " "), e.message))
            .collect::<Vec<_>>()
            .join("; ");
        if message.is_empty() {
            message = format!(
                "HTTP {status}: {}",
                text.trim().chars().take(200).collect::<String>()
            );
        }
        Failure {
            status,
            codes,
            message,
        }
    }
}

impl RegistryClient {
    /// `insecure`: registries to reach over plain HTTP besides loopback ones;
    /// the ones in `BERTH_INSECURE_REGISTRIES` are added.
    pub fn new(insecure: &[String]) -> Result<RegistryClient> {
        let mut insecure: Vec<String> = insecure.iter().map(|s| s.to_lowercase()).collect();
        if let Ok(env) = std::env::var(INSECURE_ENV) {
            insecure.extend(
                env.split(',')
                    .map(|s| s.trim().to_lowercase())
                    .filter(|s| !s.is_empty()),
            );
        }
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            // Blobs are verified by digest: no transparent decompression.
            .accept_encoding(AutoHeaderValue::None)
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .max_idle_connections_per_host(8)
            .build()
            .new_agent();
        Ok(RegistryClient {
            agent,
            auths: DockerAuths::load()?,
            insecure,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// Replaces the credentials read from Docker's config (tests, callers
    /// with their own source).
    pub fn with_auths(mut self, auths: DockerAuths) -> Self {
        self.auths = auths;
        self
    }

    fn host(domain: &str) -> &str {
        if domain == "docker.io" {
            "registry-1.docker.io"
        } else {
            domain
        }
    }

    fn base(&self, domain: &str) -> String {
        let plain =
            is_loopback(domain) || self.insecure.iter().any(|i| i == &domain.to_lowercase());
        format!(
            "{}://{}",
            if plain { "http" } else { "https" },
            Self::host(domain)
        )
    }

    fn unreachable(domain: &str, e: impl std::fmt::Display) -> ImageError {
        ImageError::Unreachable {
            registry: Self::host(domain).to_owned(),
            reason: e.to_string(),
        }
    }

    /// GET `path` (below `/v2/<repo>/`) with auth: on a 401 the challenge is
    /// answered once (bearer token or basic credentials) and the request sent again.
    pub(crate) fn get(
        &self,
        r: &Reference,
        path: &str,
        headers: &[(&str, String)],
    ) -> Result<Response<Body>> {
        let url = format!("{}/v2/{}/{path}", self.base(&r.domain), r.path);
        let key = (r.domain.clone(), r.path.clone());
        for attempt in 0..2 {
            let mut req = self.agent.get(&url);
            for (k, v) in headers {
                req = req.header(*k, v);
            }
            let cached = self
                .tokens
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key)
                .cloned();
            if let Some(a) = cached {
                req = req.header("Authorization", a);
            }
            let resp = req.call().map_err(|e| Self::unreachable(&r.domain, e))?;
            if resp.status().as_u16() == 401 && attempt == 0 {
                let challenge = resp
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .and_then(Challenge::parse);
                if let Some(c) = challenge {
                    let header = self.authenticate(r, &c)?;
                    self.tokens
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(key.clone(), header);
                    continue;
                }
            }
            return Ok(resp);
        }
        unreachable!("the loop returns on its second attempt")
    }

    /// Answers a challenge: the `Authorization` value to send.
    fn authenticate(&self, r: &Reference, c: &Challenge) -> Result<String> {
        let creds = self.auths.get(&r.domain);
        let refused = |reason: String| ImageError::AuthRefused {
            registry: Self::host(&r.domain).to_owned(),
            reason,
        };
        match c.scheme.as_str() {
            "basic" => creds
                .map(Credentials::basic_header)
                .ok_or_else(|| refused("the registry wants a user name and password; none is configured (docker login / ~/.docker/config.json)".into())),
            "bearer" => {
                let realm = c.params.get("realm").ok_or_else(|| refused("bearer challenge without a realm".into()))?;
                let scope = c
                    .params
                    .get("scope")
                    .cloned()
                    .unwrap_or_else(|| format!("repository:{}:pull", r.path));
                let mut req = self.agent.get(realm).query("scope", &scope);
                if let Some(s) = c.params.get("service") {
                    req = req.query("service", s);
                }
                if let Some(cr) = creds {
                    req = req.header("Authorization", cr.basic_header());
                }
                let realm_host = realm.split("://").nth(1).and_then(|s| s.split('/').next()).unwrap_or(realm);
                let mut resp = req.call().map_err(|e| ImageError::Unreachable {
                    registry: format!("{realm_host} (token service of {})", Self::host(&r.domain)),
                    reason: e.to_string(),
                })?;
                if !resp.status().is_success() {
                    let f = Failure::read(resp);
                    return Err(refused(format!("token service {realm_host}: {}", f.message)));
                }
                let text = resp
                    .body_mut()
                    .with_config()
                    .limit(1 << 20)
                    .read_to_vec()
                    .map_err(|e| refused(format!("token service {realm_host}: {e}")))?;
                let t: TokenResponse = serde_json::from_slice(&text)
                    .map_err(|e| refused(format!("token service {realm_host}: invalid answer: {e}")))?;
                let token = t.token.or(t.access_token).filter(|t| !t.is_empty());
                token
                    .map(|t| format!("Bearer {t}"))
                    .ok_or_else(|| refused(format!("token service {realm_host} returned no token")))
            }
            other => Err(refused(format!("unsupported auth scheme {other:?}"))),
        }
    }

    /// Fetches a manifest or index by tag or digest: (bytes, Content-Type).
    pub fn manifest(&self, r: &Reference, object: &str) -> Result<(Vec<u8>, Option<String>)> {
        let mut resp = self.get(
            r,
            &format!("manifests/{object}"),
            &[("Accept", media::ACCEPT_MANIFESTS.into())],
        )?;
        if !resp.status().is_success() {
            let mut f = Failure::read(resp);
            if f.status == 404
                && !f.codes.iter().any(|c| c == "NAME_UNKNOWN")
                && self.repository_unknown(r)
            {
                f.codes.push("NAME_UNKNOWN".into());
            }
            return Err(self.manifest_error(r, object, f));
        }
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or(s).trim().to_owned());
        let data = resp
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_to_vec()
            .map_err(|e| Self::unreachable(&r.domain, e))?;
        Ok((data, ctype))
    }

    /// Some registries answer MANIFEST_UNKNOWN for a repository they do not
    /// have; its tag list tells the two cases apart.
    fn repository_unknown(&self, r: &Reference) -> bool {
        match self.get(r, "tags/list?n=1", &[]) {
            Ok(resp) if resp.status().as_u16() == 404 => Failure::read(resp)
                .codes
                .iter()
                .any(|c| c == "NAME_UNKNOWN"),
            _ => false,
        }
    }

    fn manifest_error(&self, r: &Reference, object: &str, f: Failure) -> ImageError {
        let shown = if object.starts_with("sha256:") {
            format!("{}@{object}", r.familiar_name())
        } else {
            format!("{}:{object}", r.familiar_name())
        };
        let has_creds = self.auths.get(&r.domain).is_some();
        match f.status {
            404 if f.codes.iter().any(|c| c == "NAME_UNKNOWN") => ImageError::UnknownImage {
                reference: r.familiar_name(),
            },
            404 => ImageError::UnknownTag { reference: shown },
            401 | 403 if has_creds => ImageError::AuthRefused {
                registry: Self::host(&r.domain).to_owned(),
                reason: f.message,
            },
            401 | 403 => ImageError::UnknownImage {
                reference: r.familiar_name(),
            },
            _ => ImageError::Registry {
                registry: Self::host(&r.domain).to_owned(),
                reason: format!("manifest {shown}: {}", f.message),
            },
        }
    }

    /// Opens blob `digest`, from byte `offset` on. Returns the body and the
    /// offset the server actually starts at (0 when it ignored the range).
    pub(crate) fn blob(
        &self,
        r: &Reference,
        digest: &str,
        offset: u64,
    ) -> Result<(Box<dyn Read + Send>, u64)> {
        let headers: Vec<(&str, String)> = if offset > 0 {
            vec![("Range", format!("bytes={offset}-"))]
        } else {
            Vec::new()
        };
        let resp = self.get(r, &format!("blobs/{digest}"), &headers)?;
        let status = resp.status().as_u16();
        if status == 206 {
            return Ok((Box::new(resp.into_body().into_reader()), offset));
        }
        if (200..300).contains(&status) {
            return Ok((Box::new(resp.into_body().into_reader()), 0));
        }
        let f = Failure::read(resp);
        Err(ImageError::Registry {
            registry: Self::host(&r.domain).to_owned(),
            reason: format!("blob {digest} of {}: {}", r.familiar_name(), f.message),
        })
    }

    /// A small blob (a config) read whole.
    pub(crate) fn small_blob(&self, r: &Reference, digest: &str) -> Result<Vec<u8>> {
        let (mut body, _) = self.blob(r, digest, 0)?;
        let mut data = Vec::new();
        body.by_ref()
            .take(64 << 20)
            .read_to_end(&mut data)
            .map_err(|e| Self::unreachable(&r.domain, e))?;
        Ok(data)
    }

    /// The host name used in messages for `domain`.
    pub fn display_host(domain: &str) -> &str {
        Self::host(domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_and_insecure() {
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("127.9.8.7"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("128.0.0.1:5000"));
        assert!(!is_loopback("registry.example.com"));
        let c = RegistryClient::new(&["reg.lan:5000".into()]).unwrap();
        assert_eq!(c.base("reg.lan:5000"), "http://reg.lan:5000");
        assert_eq!(c.base("docker.io"), "https://registry-1.docker.io");
        assert_eq!(c.base("127.0.0.1:5000"), "http://127.0.0.1:5000");
        assert_eq!(c.base("ghcr.io"), "https://ghcr.io");
    }
}
