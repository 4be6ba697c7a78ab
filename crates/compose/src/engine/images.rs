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
    /// in `services`. `over` is `up --pull`, which beats the file.
    pub fn ensure_images(
        &mut self,
        services: &[String],
        over: Option<PullPolicy>,
        observer: &dyn PullObserver,
    ) -> Result<()> {
        for name in services {
            let svc = &self.project.services[name];
            let reference = self.image_ref(name);
            let policy = over
                .or_else(|| svc.pull_policy.as_deref().and_then(PullPolicy::parse))
                .unwrap_or(PullPolicy::Missing);
            let present = self.store.resolve(&reference)?;
            let image = match (present, policy) {
                (Some(img), PullPolicy::Missing | PullPolicy::Never | PullPolicy::Build) => img,
                (None, PullPolicy::Never) => {
                    return Err(EngineError::Other(format!(
                        "service {name}: image {reference} is not present and pull_policy is never"
                    )));
                }
                (_, PullPolicy::Build) | (None, _)
                    if svc.build.is_some() && svc.image.is_none() =>
                {
                    return Err(EngineError::Other(format!(
                        "service {name}: image {reference} must be built first (berth build)"
                    )));
                }
                _ => {
                    let platform = match svc.platform.as_deref() {
                        Some(p) => Some(berth_image::Platform::parse(p)?),
                        None => None,
                    };
                    let opts = PullOptions {
                        platform,
                        ..Default::default()
                    };
                    self.store.pull(&reference, &opts, observer)?
                }
            };
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
}
