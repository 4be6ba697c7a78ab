//! Every fixture under `tests/fixtures/ok` loads and survives the `config`
//! round trip; every one under `tests/fixtures/bad` fails with the message
//! and position written in its first line (`# expect: LINE:COL: message`).

mod common;

use std::path::Path;

use common::*;

#[test]
fn ok_fixtures_load_and_round_trip() {
    let mut n = 0;
    for e in std::fs::read_dir(fixtures().join("ok")).unwrap() {
        let dir = e.unwrap().path();
        let loaded = load_dir(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
        assert!(!loaded.project.services.is_empty(), "{}", dir.display());
        assert_round_trip(&loaded, &dir.display().to_string());
        n += 1;
    }
    assert!(n >= 10, "only {n} fixtures");
}

fn expectation(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .next()
        .and_then(|l| l.strip_prefix("# expect: "))
        .unwrap_or_else(|| panic!("{}: first line must be `# expect: …`", file.display()))
        .to_owned()
}

#[test]
fn bad_fixtures_fail_with_their_message_and_position() {
    let mut n = 0;
    let mut failures = Vec::new();
    for e in std::fs::read_dir(fixtures().join("bad")).unwrap() {
        let path = e.unwrap().path();
        let (file, dir) = if path.is_dir() {
            (path.join("compose.yaml"), path.clone())
        } else {
            (path.clone(), path.parent().unwrap().to_owned())
        };
        let expect = expectation(&file);
        let mut o = options(&dir, "");
        o.files = vec![file.clone()];
        let err = match berth_spec::load(&o) {
            Ok(_) => {
                failures.push(format!(
                    "{}: loaded, expected an error: {expect}",
                    file.display()
                ));
                continue;
            }
            Err(e) => e.to_string(),
        };
        // "LINE:COL: message" means the error names this file at that place.
        let (place, message) = match expect.split_once(": ") {
            Some((p, m))
                if p.contains(':') && p.chars().all(|c| c.is_ascii_digit() || c == ':') =>
            {
                (Some(format!("{}:{p}: ", file.display())), m.to_owned())
            }
            _ => (None, expect.clone()),
        };
        let place_ok = place.as_ref().is_none_or(|p| err.starts_with(p));
        if !place_ok || !err.contains(&message) {
            failures.push(format!(
                "{}:\n  got:      {err}\n  expected: {}{message}",
                file.display(),
                place.unwrap_or_default()
            ));
        }
        n += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(n >= 30, "only {n} bad fixtures");
}

/// Inputs the fuzzer once broke the `config` round trip with.
#[test]
fn fuzz_regressions_round_trip() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/load");
    let mut n = 0;
    for e in std::fs::read_dir(seeds).unwrap() {
        let p = e.unwrap().path();
        if !p
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("regress-")
        {
            continue;
        }
        let mut o = options(Path::new("/nonexistent"), "");
        o.files = vec!["-".into()];
        o.stdin = Some(std::fs::read_to_string(&p).unwrap());
        o.project_name = Some("fuzz".into());
        let loaded = berth_spec::load(&o).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_round_trip(&loaded, &p.display().to_string());
        n += 1;
    }
    assert!(n >= 2);
}
