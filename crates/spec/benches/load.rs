//! In-process cost of `berth_spec::load` + YAML output on one Compose file
//! (default: the largest awesome-compose file). Prints the median of many
//! runs. `cargo bench -p berth-spec --bench load [-- FILE]`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() {
    let file: PathBuf = match std::env::args().nth(1).filter(|a| !a.starts_with('-')) {
        Some(f) => f.into(),
        None => {
            let shared = std::env::var_os("BERTH_SHARED_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
                });
            shared.join("corpus/awesome-compose/pihole-cloudflared-DoH/compose.yaml")
        }
    };
    if !file.is_file() {
        eprintln!(
            "skipped: {} not found (set BERTH_SHARED_DIR or pass a file)",
            file.display()
        );
        return;
    }
    let dir = file.parent().unwrap().to_owned();
    let opts = berth_spec::LoadOptions {
        files: vec![file.clone()],
        working_dir: dir,
        environment: std::env::vars().collect(),
        ..Default::default()
    };
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..2000 {
        let t = Instant::now();
        let loaded = berth_spec::load(&opts).expect("load");
        let out = berth_spec::to_yaml(&loaded.project);
        std::hint::black_box(out);
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "berth_spec::load + to_yaml on {}: median {:.1} µs, p90 {:.1} µs ({} runs)",
        file.display(),
        median.as_secs_f64() * 1e6,
        times[times.len() * 9 / 10].as_secs_f64() * 1e6,
        times.len()
    );
}
