//! The berth root on disk and the small primitives every other crate shares:
//! where things live, how a file is replaced atomically, how a lock is taken,
//! and how a process is recognised again later (pid *and* start time).
//!
//! Layout of a root (default `/var/lib/berth`, `--root` / `BERTH_ROOT`):
//!
//! ```text
//! <root>/images/      owned by berth-image   (blobs, unpacked layers, image records)
//! <root>/containers/  owned by berth-runtime (one directory per container)
//! <root>/volumes/     owned by berth-runtime (named volumes)
//! <root>/networks/    owned by berth-net     (network records, leases, DNS endpoints)
//! <root>/projects/    owned by berth-compose (per-project lock and metadata)
//! <root>/builds/      owned by berth-build   (build cache)
//! <root>/run/         sockets and pid files of background helpers
//! ```

mod error;
mod fsutil;
mod id;
mod lock;
mod process;
mod root;

pub use error::{Result, StoreError};
pub use fsutil::{
    atomic_write, atomic_write_durable, read_json, read_json_opt, spread_subdirs, write_json,
};
pub use id::{new_id, short_id};
pub use lock::FileLock;
pub use process::{ProcessIdentity, ProcessStatus};
pub use root::Root;

/// `eprintln!` that hands the whole line to stderr in one write. Rust's stderr
/// is unbuffered, so `eprintln!` writes each piece of its format on its own,
/// and a line printed meanwhile on stdout (both on one terminal or pipe)
/// could land in the middle of an error's `file:line:column`.
#[macro_export]
macro_rules! errln {
    () => {
        $crate::errln!("")
    };
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = format!("{}\n", format_args!($($arg)*));
        let _ = std::io::stderr().write_all(line.as_bytes());
    }};
}
