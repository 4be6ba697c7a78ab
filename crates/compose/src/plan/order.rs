//! Dependency order of services: dependencies before dependents.

use std::collections::{BTreeSet, HashMap};

use super::model::DesiredService;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("dependency cycle detected: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
}

/// Services that `s` must come after: its `depends_on` targets and the
/// services whose namespaces or volumes it shares, limited to known services.
pub(crate) fn parents<'a>(
    s: &'a DesiredService,
    known: &HashMap<&str, usize>,
) -> BTreeSet<&'a str> {
    s.depends_on
        .iter()
        .map(|d| d.service.as_str())
        .chain(s.namespace_parents.iter().map(String::as_str))
        .filter(|n| known.contains_key(n))
        .collect()
}

/// Indexes of `services` in dependency order: a service comes after everything
/// it depends on; among services whose dependencies are all placed, the file's
/// order wins (so plans are deterministic).
pub fn dependency_order(services: &[DesiredService]) -> Result<Vec<usize>, OrderError> {
    let known: HashMap<&str, usize> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let parent_sets: Vec<BTreeSet<&str>> = services.iter().map(|s| parents(s, &known)).collect();
    let mut placed = vec![false; services.len()];
    let mut order = Vec::with_capacity(services.len());
    while order.len() < services.len() {
        let next = (0..services.len())
            .find(|&i| !placed[i] && parent_sets[i].iter().all(|p| placed[known[p]]));
        match next {
            Some(i) => {
                placed[i] = true;
                order.push(i);
            }
            None => {
                return Err(OrderError::Cycle(find_cycle(
                    services,
                    &parent_sets,
                    &known,
                    &placed,
                )));
            }
        }
    }
    Ok(order)
}

/// Names one cycle among the unplaced services, closing it (`a -> b -> a`).
fn find_cycle(
    services: &[DesiredService],
    parent_sets: &[BTreeSet<&str>],
    known: &HashMap<&str, usize>,
    placed: &[bool],
) -> Vec<String> {
    let start = (0..services.len())
        .find(|&i| !placed[i])
        .expect("an unplaced service");
    let mut path = vec![start];
    loop {
        let cur = *path.last().unwrap();
        let next = parent_sets[cur]
            .iter()
            .map(|p| known[p])
            .find(|&j| !placed[j])
            .expect("cycle continues");
        if let Some(pos) = path.iter().position(|&j| j == next) {
            let mut names: Vec<String> = path[pos..]
                .iter()
                .map(|&j| services[j].name.clone())
                .collect();
            names.push(services[next].name.clone());
            return names;
        }
        path.push(next);
    }
}
