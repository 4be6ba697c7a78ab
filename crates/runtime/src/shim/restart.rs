//! Whether and when to restart a container that exited.

use std::time::Duration;

use crate::config::RestartPolicy;

/// `Some(delay)` to restart after `delay`. Docker-like backoff: 100 ms,
/// doubling per consecutive restart, at most a minute, back to 100 ms once
/// the container had run for 10 s.
pub fn decide(
    policy: RestartPolicy,
    code: i32,
    restarts: u32,
    stopped_by_user: bool,
    ran: Duration,
) -> Option<Duration> {
    if stopped_by_user {
        return None;
    }
    let again = match policy {
        RestartPolicy::No => false,
        RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
        RestartPolicy::OnFailure(max) => code != 0 && max.is_none_or(|m| restarts < m),
    };
    if !again {
        return None;
    }
    let step = if ran >= Duration::from_secs(10) {
        0
    } else {
        restarts.min(10)
    };
    Some((Duration::from_millis(100) * 2u32.pow(step)).min(Duration::from_secs(60)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: Duration = Duration::from_millis(50);

    #[test]
    fn policies() {
        assert_eq!(decide(RestartPolicy::No, 1, 0, false, SHORT), None);
        assert!(decide(RestartPolicy::Always, 0, 0, false, SHORT).is_some());
        assert_eq!(
            decide(RestartPolicy::Always, 0, 0, true, SHORT),
            None,
            "a user stop wins"
        );
        assert_eq!(
            decide(RestartPolicy::OnFailure(None), 0, 0, false, SHORT),
            None
        );
        assert!(decide(RestartPolicy::OnFailure(Some(2)), 1, 1, false, SHORT).is_some());
        assert_eq!(
            decide(RestartPolicy::OnFailure(Some(2)), 1, 2, false, SHORT),
            None
        );
    }

    #[test]
    fn backoff_doubles_and_resets() {
        let d = |n| decide(RestartPolicy::Always, 1, n, false, SHORT).unwrap();
        assert_eq!(d(0), Duration::from_millis(100));
        assert_eq!(d(3), Duration::from_millis(800));
        assert_eq!(d(20), Duration::from_secs(60));
        assert_eq!(
            decide(RestartPolicy::Always, 1, 5, false, Duration::from_secs(11)),
            Some(Duration::from_millis(100))
        );
    }
}
