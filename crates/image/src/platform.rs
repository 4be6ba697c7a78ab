//! Platforms (`os/arch[/variant]`) and how an index entry is matched against
//! the one asked for.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{ImageError, Result};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// Docker's names for the kernel's and Debian's architecture names.
fn normalize_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let arch = arch.to_lowercase();
    let variant = variant.map(str::to_lowercase).filter(|v| !v.is_empty());
    match arch.as_str() {
        "x86_64" | "x86-64" | "amd64" => ("amd64".into(), variant.filter(|v| v != "v1")),
        "i386" | "i686" | "386" => ("386".into(), None),
        // arm64 with no variant means v8.
        "aarch64" | "arm64" => ("arm64".into(), variant.filter(|v| v != "v8" && v != "8")),
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "arm" => (
            "arm".into(),
            Some(match variant.as_deref() {
                None | Some("7") | Some("v7") => "v7".into(),
                Some(v) if !v.starts_with('v') => format!("v{v}"),
                Some(v) => v.to_owned(),
            }),
        ),
        _ => (arch, variant),
    }
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        let (architecture, variant) = normalize_arch(architecture, variant);
        Platform {
            os: os.to_lowercase(),
            architecture,
            variant,
        }
    }

    /// Parses `linux/amd64`, `linux/arm64/v8`, `linux/arm/v7` (and a bare
    /// `amd64`, taken as Linux).
    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || ImageError::InvalidPlatform {
            platform: s.to_owned(),
        };
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        match parts.as_slice() {
            [arch] => Ok(Platform::new("linux", arch, None)),
            [os, arch] => Ok(Platform::new(os, arch, None)),
            [os, arch, variant] => Ok(Platform::new(os, arch, Some(variant))),
            _ => Err(bad()),
        }
    }

    /// The platform berth runs on: linux and the machine's architecture.
    pub fn host() -> Platform {
        Platform::new("linux", std::env::consts::ARCH, None)
    }

    /// True when an image for `candidate` runs as `self`. A missing variant
    /// on either side matches any variant.
    pub fn matches(&self, candidate: &Platform) -> bool {
        self.os == candidate.os
            && self.architecture == candidate.architecture
            && match (&self.variant, &candidate.variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }

    /// Normalised copy (as if parsed), for platforms read from JSON.
    pub fn normalized(&self) -> Platform {
        Platform::new(&self.os, &self.architecture, self.variant.as_deref())
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_match() {
        let p = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(p.to_string(), "linux/arm64");
        assert_eq!(
            Platform::parse("linux/x86_64").unwrap().to_string(),
            "linux/amd64"
        );
        assert_eq!(
            Platform::parse("linux/arm").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert!(Platform::parse("linux/").is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
        let want = Platform::parse("linux/arm/v7").unwrap();
        assert!(want.matches(&Platform::new("linux", "arm", Some("v7"))));
        assert!(!want.matches(&Platform::new("linux", "arm", Some("v6"))));
        assert!(!want.matches(&Platform::new("linux", "arm64", None)));
        assert!(
            Platform::parse("linux/amd64")
                .unwrap()
                .matches(&Platform::new("linux", "amd64", Some("v3")))
        );
    }
}
