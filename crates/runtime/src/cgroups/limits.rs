//! Resource limits as the controller files to write, for v1 and for v2, as
//! pure functions: the same `Resources` give the same list of writes, in the
//! order they must happen. Docker's rules: swap defaults to as much as the
//! memory limit (`memswap_limit` unset = twice the memory in all), `-1` is
//! unlimited swap, a pids limit of 0 or less is no limit.

use crate::config::Resources;

/// One write: `value` into `file` of the cgroup's `controller` directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub controller: &'static str,
    pub file: &'static str,
    pub value: String,
}

fn w(controller: &'static str, file: &'static str, value: impl ToString) -> Write {
    Write {
        controller,
        file,
        value: value.to_string(),
    }
}

/// CFS period used for `cpus` (Docker's).
pub const CPU_PERIOD: u64 = 100_000;

/// v2 `cpu.weight` from v1 `cpu.shares` (the linear mapping of runc).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        100
    } else {
        1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
    }
}

/// What Docker would reject before creating anything.
pub fn validate(r: &Resources) -> Result<(), String> {
    if let Some(m) = r.memory
        && m > 0
        && m < 6 << 20
    {
        return Err("Minimum memory limit allowed is 6MB".into());
    }
    if let Some(s) = r.memory_swap.filter(|s| *s > 0) {
        match r.memory.filter(|m| *m > 0) {
            None => {
                return Err(
                    "You should always set the Memory limit when using Memoryswap limit, see usage"
                        .into(),
                );
            }
            Some(m) if s < m => {
                return Err(
                    "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
                );
            }
            _ => {}
        }
    }
    if let Some(c) = r.cpus
        && !(c >= 0.0 && c.is_finite())
    {
        return Err(format!("invalid cpus value {c}: must be positive"));
    }
    if let Some(set) = &r.cpuset
        && !valid_cpuset(set)
    {
        return Err(format!(
            "invalid value {set:?} for cpuset cpus: expected a list like 0-2,4"
        ));
    }
    Ok(())
}

fn valid_cpuset(s: &str) -> bool {
    !s.is_empty()
        && s.split(',').all(|part| {
            let mut ends = part.splitn(2, '-');
            let a = ends.next().and_then(|x| x.trim().parse::<u32>().ok());
            match (a, ends.next()) {
                (Some(_), None) => true,
                (Some(a), Some(b)) => b.trim().parse::<u32>().is_ok_and(|b| b >= a),
                _ => false,
            }
        })
}

/// Memory + swap in bytes as Docker computes it: `None` = unlimited.
fn total_with_swap(r: &Resources) -> Option<Option<i64>> {
    let m = r.memory.filter(|m| *m > 0)?;
    Some(match r.memory_swap {
        Some(-1) => None,
        Some(s) if s > 0 => Some(s),
        _ => Some(m * 2),
    })
}

/// The writes on cgroup v1. `memsw` says whether swap accounting exists
/// (`memory.memsw.limit_in_bytes`); without it swap limits are skipped, as
/// Docker does (with a warning).
pub fn v1(r: &Resources, memsw: bool) -> Vec<Write> {
    let mut out = Vec::new();
    if let Some(m) = r.memory.filter(|m| *m > 0) {
        // The memory limit first: memsw may never be below it.
        out.push(w("memory", "memory.limit_in_bytes", m));
        if memsw && let Some(total) = total_with_swap(r) {
            out.push(w(
                "memory",
                "memory.memsw.limit_in_bytes",
                total.unwrap_or(-1),
            ));
        }
    }
    if let Some(m) = r.memory_reservation.filter(|m| *m > 0) {
        out.push(w("memory", "memory.soft_limit_in_bytes", m));
    }
    if let Some(c) = r.cpus.filter(|c| *c > 0.0) {
        out.push(w("cpu", "cpu.cfs_period_us", CPU_PERIOD));
        out.push(w(
            "cpu",
            "cpu.cfs_quota_us",
            (c * CPU_PERIOD as f64).round() as u64,
        ));
    }
    if let Some(s) = r.cpu_shares.filter(|s| *s > 0) {
        out.push(w("cpu", "cpu.shares", s));
    }
    if let Some(c) = &r.cpuset {
        out.push(w("cpuset", "cpuset.cpus", c));
    }
    if let Some(p) = r.pids_limit.filter(|p| *p > 0) {
        out.push(w("pids", "pids.max", p));
    }
    out
}

/// The writes on cgroup v2. `swap` says whether `memory.swap.max` exists.
pub fn v2(r: &Resources, swap: bool) -> Vec<Write> {
    let mut out = Vec::new();
    if let Some(m) = r.memory.filter(|m| *m > 0) {
        out.push(w("memory", "memory.max", m));
        if swap && let Some(total) = total_with_swap(r) {
            // v2 limits swap alone, v1 memory + swap.
            let v = match total {
                None => "max".to_string(),
                Some(t) => (t - m).max(0).to_string(),
            };
            out.push(w("memory", "memory.swap.max", v));
        }
    }
    if let Some(m) = r.memory_reservation.filter(|m| *m > 0) {
        out.push(w("memory", "memory.low", m));
    }
    if let Some(c) = r.cpus.filter(|c| *c > 0.0) {
        out.push(w(
            "cpu",
            "cpu.max",
            format!("{} {CPU_PERIOD}", (c * CPU_PERIOD as f64).round() as u64),
        ));
    }
    if let Some(s) = r.cpu_shares.filter(|s| *s > 0) {
        out.push(w("cpu", "cpu.weight", shares_to_weight(s)));
    }
    if let Some(c) = &r.cpuset {
        out.push(w("cpuset", "cpuset.cpus", c));
    }
    if let Some(p) = r.pids_limit.filter(|p| *p > 0) {
        out.push(w("pids", "pids.max", p));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Resources {
        Resources {
            memory: Some(256 << 20),
            memory_swap: Some(512 << 20),
            memory_reservation: Some(128 << 20),
            cpus: Some(1.5),
            cpu_shares: Some(512),
            cpuset: Some("0-1".into()),
            pids_limit: Some(64),
        }
    }

    fn text(ws: &[Write]) -> Vec<String> {
        ws.iter()
            .map(|w| format!("{}/{}={}", w.controller, w.file, w.value))
            .collect()
    }

    #[test]
    fn every_limit_on_v2() {
        assert_eq!(
            text(&v2(&all(), true)),
            [
                "memory/memory.max=268435456",
                "memory/memory.swap.max=268435456",
                "memory/memory.low=134217728",
                "cpu/cpu.max=150000 100000",
                "cpu/cpu.weight=20",
                "cpuset/cpuset.cpus=0-1",
                "pids/pids.max=64",
            ]
        );
    }

    #[test]
    fn every_limit_on_v1() {
        assert_eq!(
            text(&v1(&all(), true)),
            [
                "memory/memory.limit_in_bytes=268435456",
                "memory/memory.memsw.limit_in_bytes=536870912",
                "memory/memory.soft_limit_in_bytes=134217728",
                "cpu/cpu.cfs_period_us=100000",
                "cpu/cpu.cfs_quota_us=150000",
                "cpu/cpu.shares=512",
                "cpuset/cpuset.cpus=0-1",
                "pids/pids.max=64",
            ]
        );
    }

    #[test]
    fn swap_defaults_and_unlimited() {
        let mem_only = Resources {
            memory: Some(64 << 20),
            ..Default::default()
        };
        assert_eq!(
            text(&v1(&mem_only, true)),
            [
                "memory/memory.limit_in_bytes=67108864",
                "memory/memory.memsw.limit_in_bytes=134217728",
            ],
            "Docker gives as much swap as memory by default"
        );
        assert_eq!(
            text(&v2(&mem_only, true)),
            [
                "memory/memory.max=67108864",
                "memory/memory.swap.max=67108864"
            ]
        );
        let unlimited = Resources {
            memory_swap: Some(-1),
            ..mem_only.clone()
        };
        assert_eq!(
            v1(&unlimited, true)[1].value,
            "-1",
            "memswap_limit: -1 is unlimited swap"
        );
        assert_eq!(v2(&unlimited, true)[1].value, "max");
        assert_eq!(
            text(&v1(&mem_only, false)),
            ["memory/memory.limit_in_bytes=67108864"],
            "no swap accounting, no swap limit"
        );
        assert_eq!(text(&v2(&mem_only, false)), ["memory/memory.max=67108864"]);
        let no_swap = Resources {
            memory_swap: Some(64 << 20),
            ..mem_only
        };
        assert_eq!(v2(&no_swap, true)[1].value, "0", "memswap = mem: no swap");
    }

    #[test]
    fn nothing_set_writes_nothing() {
        assert!(v1(&Resources::default(), true).is_empty());
        assert!(v2(&Resources::default(), true).is_empty());
        let unlimited_pids = Resources {
            pids_limit: Some(-1),
            ..Default::default()
        };
        assert!(v2(&unlimited_pids, true).is_empty());
    }

    #[test]
    fn shares_convert_like_runc() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }

    #[test]
    fn docker_rejects_these() {
        let r = |m: Option<i64>, s: Option<i64>| Resources {
            memory: m,
            memory_swap: s,
            ..Default::default()
        };
        assert!(
            validate(&r(Some(1 << 20), None))
                .unwrap_err()
                .contains("6MB")
        );
        assert!(
            validate(&r(None, Some(64 << 20)))
                .unwrap_err()
                .contains("always set the Memory limit")
        );
        assert!(
            validate(&r(Some(64 << 20), Some(32 << 20)))
                .unwrap_err()
                .contains("larger than memory")
        );
        assert!(validate(&r(Some(64 << 20), Some(-1))).is_ok());
        let set = |s: &str| Resources {
            cpuset: Some(s.into()),
            ..Default::default()
        };
        assert!(validate(&set("0-1,3")).is_ok());
        assert!(validate(&set("1-0")).is_err());
        assert!(validate(&set("x")).is_err());
        assert!(validate(&all()).is_ok());
    }
}
