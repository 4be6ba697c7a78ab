//! Writes the busybox test image as an OCI archive, for benchmarks and
//! examples that need the same image outside the Rust tests:
//!
//!     berth-testimage OUT.tar [REF_NAME]
//!
//! `skopeo copy oci-archive:OUT.tar:REF docker-archive:…` turns it into the
//! format `docker load` and `podman load` accept.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 || args.len() > 3 {
        eprintln!("usage: berth-testimage OUT.tar [REF_NAME]");
        std::process::exit(2);
    }
    let name = args.get(2).map(String::as_str).unwrap_or("latest");
    if let Err(e) = berth_testkit::oci::busybox_archive(std::path::Path::new(&args[1]), name) {
        eprintln!("berth-testimage: {}: {e}", args[1]);
        std::process::exit(1);
    }
}
