//! berth's DNS server: service, container and alias names on berth
//! networks, scoped like aardvark-dns; everything else is relayed upstream.

pub mod answer;
pub mod server;
pub mod wire;

use berth_store::{ProcessIdentity, Root};

/// Whether the DNS daemon of `root` runs.
pub fn running(root: &Root) -> bool {
    std::fs::read_to_string(root.run().join("dns.pid"))
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
        .and_then(ProcessIdentity::of)
        .is_some_and(|p| p.is_running())
}

/// Starts the daemon with `spawn` (which receives the arguments after the
/// berth binary) unless it runs already.
pub fn ensure_running(
    root: &Root,
    spawn: impl FnOnce(Vec<String>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if running(root) {
        return Ok(());
    }
    spawn(vec![
        "--root".into(),
        root.path().display().to_string(),
        "__internal".into(),
        "dns".into(),
    ])
}
