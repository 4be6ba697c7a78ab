//! Runs a [`Plan`] against a [`Backend`]: every node starts as soon as the
//! nodes it depends on have finished, at most `parallel` at a time. A failed
//! node skips everything that depends on it; independent branches go on, and
//! every error is reported at the end.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::plan::{Condition, ContainerRef, Node, Op, Plan};

/// The side effects the executor needs. Implemented for real by berth's
/// runtime and networking, and by an in-memory fake in tests.
pub trait Backend: Sync {
    fn create_network(&self, key: &str, name: &str) -> Result<(), String>;
    fn remove_network(&self, key: &str, name: &str) -> Result<(), String>;
    fn create_volume(&self, key: &str, name: &str) -> Result<(), String>;
    fn remove_volume(&self, key: &str, name: &str) -> Result<(), String>;
    /// Creates a container and returns its id.
    fn create_container(
        &self,
        service: &str,
        number: u32,
        name: &str,
        inherit_from: Option<&str>,
    ) -> Result<String, String>;
    fn start_container(&self, service: &str, id: &str) -> Result<(), String>;
    fn stop_container(&self, service: &str, id: &str) -> Result<(), String>;
    fn remove_container(&self, service: &str, id: &str, volumes: bool) -> Result<(), String>;
    fn rename_container(&self, id: &str, name: &str) -> Result<(), String>;
    /// Blocks until every container of `service` satisfies `condition`, or fails.
    fn wait_service(&self, service: &str, condition: Condition) -> Result<(), String>;
}

/// Progress of a node, for the progress display.
#[derive(Debug)]
pub enum Event<'a> {
    Started(&'a Node),
    Done(&'a Node, Duration),
    Failed(&'a Node, &'a str),
    /// Not run because a node it depends on failed.
    Skipped(&'a Node),
    /// A dependency that was not required failed; the plan goes on.
    Warning(&'a Node, &'a str),
}

/// What happened to a plan.
#[derive(Debug, Default)]
pub struct Outcome {
    /// (node id, error message), in the order they failed.
    pub failed: Vec<(usize, String)>,
    pub skipped: Vec<usize>,
    /// Ids of containers created by `CreateContainer` nodes, by node id.
    pub created: HashMap<usize, String>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
    }
}

enum Msg {
    Done(usize, Result<Option<String>, String>),
}

struct Queue {
    jobs: Mutex<(VecDeque<(usize, Resolved)>, bool)>,
    ready: Condvar,
}

/// An operation with its container references resolved to ids.
struct Resolved {
    op: Op,
    container: Option<String>,
}

/// Runs `plan`; `parallel` caps how many operations run at once (0 = one per
/// node, i.e. unlimited).
pub fn execute(
    plan: &Plan,
    backend: &dyn Backend,
    parallel: usize,
    on_event: &(dyn Fn(Event) + Sync),
) -> Outcome {
    let n = plan.nodes.len();
    let mut outcome = Outcome::default();
    if n == 0 {
        return outcome;
    }
    let workers = if parallel == 0 { n } else { parallel.min(n) };
    let mut waiting: Vec<usize> = plan.nodes.iter().map(|node| node.deps.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n + 1];
    for node in &plan.nodes {
        for &d in &node.deps {
            dependents[d].push(node.id);
        }
    }
    let queue = Queue {
        jobs: Mutex::new((VecDeque::new(), false)),
        ready: Condvar::new(),
    };
    let (tx, rx) = mpsc::channel::<Msg>();

    std::thread::scope(|scope| {
        for _ in 0..workers {
            let tx = tx.clone();
            let queue = &queue;
            scope.spawn(move || worker(queue, plan, backend, on_event, tx));
        }
        drop(tx);
        let mut finished = 0;
        let mut in_flight = 0;
        let dispatch = |id: usize, outcome: &Outcome, in_flight: &mut usize| {
            let node = plan.node(id);
            let container = resolve(&node.op, &outcome.created);
            queue.jobs.lock().unwrap().0.push_back((
                id,
                Resolved {
                    op: node.op.clone(),
                    container,
                },
            ));
            queue.ready.notify_one();
            *in_flight += 1;
        };
        for node in &plan.nodes {
            if node.deps.is_empty() {
                dispatch(node.id, &outcome, &mut in_flight);
            }
        }
        while finished < n && in_flight > 0 {
            let Ok(Msg::Done(id, result)) = rx.recv() else {
                break;
            };
            in_flight -= 1;
            finished += 1;
            // The worker has reported the outcome (see `worker`).
            let failed = match result {
                Ok(created) => {
                    if let Some(cid) = created {
                        outcome.created.insert(id, cid);
                    }
                    false
                }
                Err(_) if optional(&plan.node(id).op) => false,
                Err(e) => {
                    outcome.failed.push((id, e));
                    true
                }
            };
            if failed {
                finished +=
                    skip_dependents(plan, id, &dependents, &mut waiting, &mut outcome, on_event);
                continue;
            }
            for &d in &dependents[id] {
                if waiting[d - 1] == usize::MAX {
                    continue; // already skipped
                }
                waiting[d - 1] -= 1;
                if waiting[d - 1] == 0 {
                    dispatch(d, &outcome, &mut in_flight);
                }
            }
        }
        let mut jobs = queue.jobs.lock().unwrap();
        jobs.1 = true;
        queue.ready.notify_all();
    });
    // A node still waiting was never ready: its dependencies form a cycle.
    // That is a bug in the plan, and must fail the command, not pass it.
    for node in &plan.nodes {
        if waiting[node.id - 1] != 0 && waiting[node.id - 1] != usize::MAX {
            let e = format!(
                "{} {}: not run, its dependencies form a cycle",
                node.op.kind(),
                node.op.resource()
            );
            on_event(Event::Failed(node, &e));
            outcome.failed.push((node.id, e));
        }
    }
    outcome
}

/// Takes jobs until the queue closes. A node is reported started when a
/// worker takes it, not when it becomes ready, so the progress shows what
/// runs under the parallelism cap.
fn worker(
    queue: &Queue,
    plan: &Plan,
    backend: &dyn Backend,
    on_event: &(dyn Fn(Event) + Sync),
    tx: mpsc::Sender<Msg>,
) {
    loop {
        let job = {
            let mut jobs = queue.jobs.lock().unwrap();
            loop {
                if let Some(job) = jobs.0.pop_front() {
                    break Some(job);
                }
                if jobs.1 {
                    break None;
                }
                jobs = queue.ready.wait(jobs).unwrap();
            }
        };
        let Some((id, job)) = job else { return };
        let node = plan.node(id);
        on_event(Event::Started(node));
        let start = Instant::now();
        let result = run_op(backend, &job);
        let took = start.elapsed();
        // Reported before the worker takes another job, so the progress
        // never shows more running than the cap.
        match &result {
            Ok(_) => on_event(Event::Done(node, took)),
            Err(e) if optional(&node.op) => on_event(Event::Warning(node, e)),
            Err(e) => on_event(Event::Failed(node, e)),
        }
        if tx.send(Msg::Done(id, result)).is_err() {
            return;
        }
    }
}

/// A wait on a dependency with `required: false`: its failure is a warning.
fn optional(op: &Op) -> bool {
    matches!(
        op,
        Op::WaitService {
            required: false,
            ..
        }
    )
}

fn resolve(op: &Op, created: &HashMap<usize, String>) -> Option<String> {
    let r = match op {
        Op::StartContainer { container, .. }
        | Op::StopContainer { container, .. }
        | Op::RemoveContainer { container, .. }
        | Op::RenameContainer { container, .. } => container,
        _ => return None,
    };
    match r {
        ContainerRef::Existing { id, .. } => Some(id.clone()),
        ContainerRef::Created(node) => created.get(node).cloned(),
    }
}

fn run_op(b: &dyn Backend, job: &Resolved) -> Result<Option<String>, String> {
    let id = || {
        job.container
            .as_deref()
            .ok_or_else(|| "container was not created".to_string())
    };
    match &job.op {
        Op::CreateNetwork { key, name } => b.create_network(key, name).map(|_| None),
        Op::RemoveNetwork { key, name } => b.remove_network(key, name).map(|_| None),
        Op::CreateVolume { key, name } => b.create_volume(key, name).map(|_| None),
        Op::RemoveVolume { key, name } => b.remove_volume(key, name).map(|_| None),
        Op::CreateContainer {
            service,
            number,
            name,
            inherit_from,
        } => b
            .create_container(service, *number, name, inherit_from.as_deref())
            .map(Some),
        Op::StartContainer { service, .. } => b.start_container(service, id()?).map(|_| None),
        Op::StopContainer { service, .. } => b.stop_container(service, id()?).map(|_| None),
        Op::RemoveContainer {
            service, volumes, ..
        } => b.remove_container(service, id()?, *volumes).map(|_| None),
        Op::RenameContainer { name, .. } => b.rename_container(id()?, name).map(|_| None),
        Op::WaitService {
            service, condition, ..
        } => b.wait_service(service, *condition).map(|_| None),
    }
}

/// Marks every node that (transitively) depends on `failed` as skipped;
/// returns how many were newly skipped.
fn skip_dependents(
    plan: &Plan,
    failed: usize,
    dependents: &[Vec<usize>],
    waiting: &mut [usize],
    outcome: &mut Outcome,
    on_event: &(dyn Fn(Event) + Sync),
) -> usize {
    let mut count = 0;
    let mut todo = dependents[failed].clone();
    while let Some(d) = todo.pop() {
        if waiting[d - 1] == usize::MAX {
            continue;
        }
        waiting[d - 1] = usize::MAX;
        outcome.skipped.push(d);
        on_event(Event::Skipped(plan.node(d)));
        count += 1;
        todo.extend(&dependents[d]);
    }
    count
}

#[cfg(test)]
mod tests;
