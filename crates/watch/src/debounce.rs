//! Turning bursts of file events into one action per (service, rule).
//!
//! A batch is released once no new change arrived for `quiet`, or once it has
//! been open for `max` (so a tool that writes forever still gets synced). The
//! clock is passed in, so the rules are tested without sleeping.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Changes collected under one key (a rule, or the project's own files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch<K> {
    pub key: K,
    /// Distinct changed paths, sorted.
    pub paths: Vec<PathBuf>,
}

#[derive(Debug)]
struct Open {
    paths: BTreeSet<PathBuf>,
    first: Instant,
    last: Instant,
}

#[derive(Debug)]
pub struct Debouncer<K> {
    quiet: Duration,
    max: Duration,
    open: BTreeMap<K, Open>,
}

impl<K: Ord + Clone> Debouncer<K> {
    pub fn new(quiet: Duration, max: Duration) -> Self {
        Debouncer {
            quiet,
            max,
            open: BTreeMap::new(),
        }
    }

    /// Records a change of `path` under `key` at `now`.
    pub fn push(&mut self, key: K, path: PathBuf, now: Instant) {
        let e = self.open.entry(key).or_insert_with(|| Open {
            paths: BTreeSet::new(),
            first: now,
            last: now,
        });
        e.paths.insert(path);
        e.last = now;
    }

    /// Batches that are ready at `now`, removed from the debouncer.
    pub fn ready(&mut self, now: Instant) -> Vec<Batch<K>> {
        let due: Vec<K> = self
            .open
            .iter()
            .filter(|(_, o)| {
                now.duration_since(o.last) >= self.quiet || now.duration_since(o.first) >= self.max
            })
            .map(|(k, _)| k.clone())
            .collect();
        due.into_iter()
            .map(|k| {
                let o = self.open.remove(&k).expect("due batch is open");
                Batch {
                    key: k,
                    paths: o.paths.into_iter().collect(),
                }
            })
            .collect()
    }

    /// How long until the next batch could be ready (`None` when idle).
    pub fn next_deadline(&self, now: Instant) -> Option<Duration> {
        self.open
            .values()
            .map(|o| {
                let by_quiet = (o.last + self.quiet).saturating_duration_since(now);
                let by_max = (o.first + self.max).saturating_duration_since(now);
                by_quiet.min(by_max)
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_burst_becomes_one_batch_per_service() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(50 * MS, 1000 * MS);
        for i in 0..200u64 {
            let t = t0 + MS * i as u32 / 10;
            d.push(("web", 0), format!("/src/f{}", i % 20).into(), t);
            d.push(("worker", 0), "/src/shared".into(), t);
        }
        assert!(
            d.ready(t0 + 30 * MS).is_empty(),
            "still inside the quiet window"
        );
        let batches = d.ready(t0 + 80 * MS);
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].key.0, "web");
        assert_eq!(batches[0].paths.len(), 20, "paths are de-duplicated");
        assert_eq!(batches[1].key.0, "worker");
        assert!(d.ready(t0 + 500 * MS).is_empty());
        assert_eq!(d.next_deadline(t0), None);
    }

    #[test]
    fn endless_writes_are_flushed_after_max() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(50 * MS, 200 * MS);
        let mut released = 0;
        for i in 0..100u32 {
            let t = t0 + 10 * MS * i;
            d.push(("web", 0), "/src/log".into(), t);
            released += d.ready(t).len();
        }
        assert!(
            released >= 4,
            "a batch every 200 ms of continuous writes, got {released}"
        );
    }

    #[test]
    fn deadline_tracks_the_quiet_window() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(50 * MS, 1000 * MS);
        d.push(("web", 1), "/a".into(), t0);
        assert_eq!(d.next_deadline(t0 + 20 * MS), Some(30 * MS));
    }
}
