//! Fixtures for berth's tests. Everything here is built from Debian packages on
//! the test machine (`busybox-static`, `docker-registry`, `skopeo`); nothing is
//! downloaded. The crate is independent of berth's own image code on purpose:
//! a test image must not be produced by the code under test.

pub mod busybox;
pub mod host;
pub mod netns;
pub mod oci;
pub mod registry;

use std::sync::atomic::{AtomicU32, Ordering};

/// True when the tests run as root (real namespaces, mounts, iptables).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Returns early from a test that needs root when it does not have it. CI runs
/// as root, so there these tests always run.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::is_root() {
            eprintln!("skipped: this test needs root");
            return;
        }
    };
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique to this process and call: `<prefix><pid base36><n>`, short
/// enough for a Linux interface name (15 bytes) when the prefix is ≤ 5 bytes.
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}{}", base36(std::process::id()), base36(n))
}

fn base36(mut v: u32) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if v == 0 {
        return "0".into();
    }
    let mut out = Vec::new();
    while v > 0 {
        out.push(DIGITS[(v % 36) as usize]);
        v /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap()
}

/// Path of the `berth` binary built for this test run.
///
/// Integration tests in the `berth` package get it from `CARGO_BIN_EXE_berth`;
/// other crates find it next to the test executable (`target/<profile>/berth`).
pub fn berth_bin() -> std::path::PathBuf {
    if let Some(p) = option_env!("CARGO_BIN_EXE_berth") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>/deps");
    profile_dir.join("berth")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_fit_interfaces() {
        let a = unique_name("bt");
        let b = unique_name("bt");
        assert_ne!(a, b);
        assert!(a.len() <= 15, "{a}");
    }
}
