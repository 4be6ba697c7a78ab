//! Any bytes as a Compose file: loading must never panic, and whatever loads
//! must print YAML that loads again to the same YAML (the `config` round trip).
#![no_main]

use libfuzzer_sys::fuzz_target;

fn opts(text: String) -> berth_spec::LoadOptions {
    berth_spec::LoadOptions {
        files: vec!["-".into()],
        stdin: Some(text),
        // A directory that does not exist: no .env, no relative files.
        working_dir: "/nonexistent/berth-fuzz".into(),
        project_name: Some("fuzz".into()),
        environment: [("SET".to_owned(), "value".to_owned())].into_iter().collect(),
        ..Default::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(loaded) = berth_spec::load(&opts(text.to_owned())) else { return };
    let yaml = berth_spec::to_yaml(&loaded.project);
    let _ = berth_spec::to_json(&loaded.project);
    for s in loaded.project.services.values() {
        let _ = berth_spec::service_hash(s);
    }
    let again = berth_spec::load(&opts(yaml.clone()))
        .unwrap_or_else(|e| panic!("config output does not load again: {e}\n{yaml}"));
    assert_eq!(yaml, berth_spec::to_yaml(&again.project), "round trip changed the output");
});
