//! Waiting for services: the `depends_on` conditions and `up --wait`, with
//! Compose's rules and messages (`convergence.go`: `isServiceHealthy`,
//! `isServiceCompleted`).

use std::time::{Duration, Instant};

use berth_runtime::{Container, Status};

use super::{Engine, labels};
use crate::plan::Condition;

/// What a service is waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// A `depends_on` condition.
    Dependency(Condition),
    /// `up --wait`: healthy when it has a healthcheck, else running.
    RunningOrHealthy,
}

/// Where a wait stands after one look at the service's containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Ready,
    Pending,
    Failed(String),
}

fn has_healthcheck(c: &Container) -> bool {
    c.config
        .healthcheck
        .as_ref()
        .is_some_and(|h| h.test.first().map(String::as_str) != Some("NONE"))
}

/// One look at `containers` (those of `service`).
pub fn check(service: &str, readiness: Readiness, containers: &[Container]) -> Check {
    match readiness {
        Readiness::Dependency(Condition::Started) => Check::Ready,
        Readiness::Dependency(Condition::CompletedSuccessfully) => {
            // Compose: the first container found exited decides.
            match containers.iter().find(|c| c.state.status == Status::Exited) {
                None => Check::Pending,
                Some(c) => match c.state.exit_code.unwrap_or(0) {
                    0 => Check::Ready,
                    code => Check::Failed(format!(
                        "service {service:?} didn't complete successfully: exit {code}"
                    )),
                },
            }
        }
        Readiness::Dependency(Condition::Healthy) => match healthy(containers, false) {
            Check::Failed(e) => Check::Failed(format!("dependency failed to start: {e}")),
            other => other,
        },
        Readiness::RunningOrHealthy => healthy(containers, true),
    }
}

fn healthy(containers: &[Container], fallback_running: bool) -> Check {
    for c in containers {
        let name = &c.config.name;
        let st = &c.state;
        if matches!(st.status, Status::Exited | Status::Dead) {
            return Check::Failed(format!(
                "container {name} exited ({})",
                st.exit_code.unwrap_or(0)
            ));
        }
        if !has_healthcheck(c) {
            if fallback_running {
                if st.status != Status::Running {
                    return Check::Pending;
                }
                continue;
            }
            return Check::Failed(format!("container {name} has no healthcheck configured"));
        }
        match st.health.as_ref().map(|h| h.status.as_str()) {
            Some("healthy") => {}
            Some("unhealthy") => return Check::Failed(format!("container {name} is unhealthy")),
            _ => return Check::Pending,
        }
    }
    Check::Ready
}

impl Engine {
    /// The (non one-off) containers of `service`.
    pub fn service_containers(&self, service: &str) -> super::Result<Vec<Container>> {
        Ok(self
            .containers()?
            .into_iter()
            .filter(|c| c.config.labels.get(labels::SERVICE).map(String::as_str) == Some(service))
            .collect())
    }

    /// Blocks until `service` is ready, it fails, or `deadline` passes.
    pub fn wait_ready(
        &self,
        service: &str,
        readiness: Readiness,
        deadline: Option<Instant>,
    ) -> Result<(), String> {
        loop {
            let cs = self
                .service_containers(service)
                .map_err(|e| e.to_string())?;
            match check(service, readiness, &cs) {
                Check::Ready => return Ok(()),
                Check::Failed(e) => return Err(e),
                Check::Pending => {}
            }
            if self.cancel.is_some_and(|cancelled| cancelled()) {
                return Err(format!("waiting for service {service}: interrupted"));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(match readiness {
                    Readiness::RunningOrHealthy => {
                        format!("timeout waiting for service {service} to be running|healthy")
                    }
                    Readiness::Dependency(_) => "timeout waiting for dependencies".to_string(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use berth_runtime::state::Health;
    use berth_runtime::{ContainerConfig, Healthcheck, State};

    use super::*;

    fn c(status: Status, exit: Option<i32>, health: Option<&str>) -> Container {
        Container {
            config: ContainerConfig {
                name: "app-db-1".into(),
                healthcheck: health.map(|_| Healthcheck {
                    test: vec!["CMD".into(), "true".into()],
                    interval: None,
                    timeout: None,
                    start_period: None,
                    start_interval: None,
                    retries: None,
                }),
                ..Default::default()
            },
            state: State {
                status,
                exit_code: exit,
                health: health.filter(|h| !h.is_empty()).map(|h| Health {
                    status: h.into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        }
    }

    const HEALTHY: Readiness = Readiness::Dependency(Condition::Healthy);
    const COMPLETED: Readiness = Readiness::Dependency(Condition::CompletedSuccessfully);

    #[test]
    fn healthy_dependency() {
        let starting = c(Status::Running, None, Some("starting"));
        assert_eq!(check("db", HEALTHY, &[starting]), Check::Pending);
        let ok = c(Status::Running, None, Some("healthy"));
        assert_eq!(check("db", HEALTHY, &[ok]), Check::Ready);
        let bad = c(Status::Running, None, Some("unhealthy"));
        assert_eq!(
            check("db", HEALTHY, &[bad]),
            Check::Failed("dependency failed to start: container app-db-1 is unhealthy".into())
        );
        let none = c(Status::Running, None, None);
        assert_eq!(
            check("db", HEALTHY, &[none]),
            Check::Failed(
                "dependency failed to start: container app-db-1 has no healthcheck configured"
                    .into()
            )
        );
        let dead = c(Status::Exited, Some(3), Some("starting"));
        assert_eq!(
            check("db", HEALTHY, &[dead]),
            Check::Failed("dependency failed to start: container app-db-1 exited (3)".into())
        );
    }

    #[test]
    fn completed_dependency() {
        let running = c(Status::Running, None, None);
        assert_eq!(check("migrate", COMPLETED, &[running]), Check::Pending);
        let ok = c(Status::Exited, Some(0), None);
        assert_eq!(check("migrate", COMPLETED, &[ok]), Check::Ready);
        let failed = c(Status::Exited, Some(2), None);
        assert_eq!(
            check("migrate", COMPLETED, &[failed]),
            Check::Failed("service \"migrate\" didn't complete successfully: exit 2".into())
        );
    }

    #[test]
    fn wait_flag_falls_back_to_running() {
        let w = Readiness::RunningOrHealthy;
        assert_eq!(
            check("web", w, &[c(Status::Running, None, None)]),
            Check::Ready
        );
        assert_eq!(
            check("web", w, &[c(Status::Created, None, None)]),
            Check::Pending
        );
        assert_eq!(
            check("web", w, &[c(Status::Running, None, Some("unhealthy"))]),
            Check::Failed("container app-db-1 is unhealthy".into())
        );
        assert_eq!(
            check("web", w, &[c(Status::Exited, Some(1), None)]),
            Check::Failed("container app-db-1 exited (1)".into())
        );
    }
}
