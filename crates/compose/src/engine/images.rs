//! Making sure every service's image is in the store (`pull_policy`).

use berth_image::{PullOptions, progress::PullObserver};

use super::{Engine, EngineError, Result, ServiceImage};

/// `pull_policy` (or `up --pull`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    Missing,
    Always,
    Never,
    Build,
}

impl PullPolicy {
    pub fn parse(s: &str) -> Option<PullPolicy> {
        Some(match s {
            "missing" | "if_not_present" | "" => PullPolicy::Missing,
            "always" => PullPolicy::Always,
            "never" => PullPolicy::Never,
            "build" => PullPolicy::Build,
            _ => return None,
        })
    }
}

impl Engine {
    /// The image reference of a service: `image:`, else `<project>-<service>`.
    pub fn image_ref(&self, service: &str) -> String {
        let svc = &self.project.services[service];
        svc.image
            .clone()
            .unwrap_or_else(|| format!("{}-{}", self.project.name, service))
    }

    /// Resolves (pulling when the policy says so) the image of each service
    /// in `services`. `over` is `up --pull`, which beats the file. Images that
    /// must be pulled are pulled in parallel, grouped by `platform:`.
    pub fn ensure_images(
        &mut self,
        services: &[String],
        over: Option<PullPolicy>,
        observer: &dyn PullObserver,
    ) -> Result<()> {
        // First decide, for every service, whether its image is taken from the
        // store or pulled; nothing is pulled before every service is valid.
        let mut to_pull: Vec<(Option<String>, String)> = Vec::new();
        for name in services {
            let svc = &self.project.services[name];
            let reference = self.image_ref(name);
            let policy = over
                .or_else(|| svc.pull_policy.as_deref().and_then(PullPolicy::parse))
                .unwrap_or(PullPolicy::Missing);
            let present = self.store.resolve(&reference)?.is_some();
            match (present, policy) {
                (true, PullPolicy::Missing | PullPolicy::Never | PullPolicy::Build) => {}
                (false, PullPolicy::Never) => {
                    return Err(EngineError::Other(format!(
                        "service {name}: image {reference} is not present and pull_policy is never"
                    )));
                }
                (_, PullPolicy::Build) | (false, _)
                    if svc.build.is_some() && svc.image.is_none() =>
                {
                    return Err(EngineError::Other(format!(
                        "service {name}: image {reference} must be built first (berth build)"
                    )));
                }
                _ => {
                    let key = (svc.platform.clone(), reference);
                    if !to_pull.contains(&key) {
                        to_pull.push(key);
                    }
                }
            }
        }
        self.pull_grouped(&to_pull, observer)?;
        for name in services {
            let reference = self.image_ref(name);
            let image = self.store.resolve(&reference)?.ok_or_else(|| {
                EngineError::Other(format!("service {name}: image {reference} is not present"))
            })?;
            let lower_dirs = self.store.layer_dirs(&image)?;
            self.images.insert(
                name.clone(),
                ServiceImage {
                    reference,
                    image,
                    lower_dirs,
                },
            );
        }
        Ok(())
    }

    /// Pulls `(platform, reference)` pairs: one parallel batch per platform.
    /// The first failure is returned after every pull has finished.
    pub fn pull_grouped(
        &self,
        refs: &[(Option<String>, String)],
        observer: &dyn PullObserver,
    ) -> Result<()> {
        let mut first_err = None;
        for (platform, batch) in by_platform(refs) {
            let opts = PullOptions {
                platform: match platform {
                    Some(p) => Some(berth_image::Platform::parse(p)?),
                    None => None,
                },
                ..Default::default()
            };
            for res in self.store.pull_many(&batch, &opts, observer) {
                if let Err(e) = res {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

/// References grouped by platform, in first-seen order.
pub fn by_platform(refs: &[(Option<String>, String)]) -> Vec<(Option<&str>, Vec<String>)> {
    let mut out: Vec<(Option<&str>, Vec<String>)> = Vec::new();
    for (platform, reference) in refs {
        let p = platform.as_deref();
        match out.iter_mut().find(|(q, _)| *q == p) {
            Some((_, v)) => v.push(reference.clone()),
            None => out.push((p, vec![reference.clone()])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::by_platform;

    #[test]
    fn references_are_grouped_by_platform_in_order() {
        let refs = vec![
            (None, "a".to_owned()),
            (Some("linux/arm64".to_owned()), "b".to_owned()),
            (None, "c".to_owned()),
        ];
        let g = by_platform(&refs);
        assert_eq!(
            g,
            vec![
                (None, vec!["a".to_owned(), "c".to_owned()]),
                (Some("linux/arm64"), vec!["b".to_owned()]),
            ]
        );
    }
}
