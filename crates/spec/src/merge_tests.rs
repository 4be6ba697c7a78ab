use super::*;
use crate::canonical::canonical_file;
use crate::yaml::parse;

fn merged(a: &str, b: &str) -> serde_json::Value {
    let mut x = parse(a, 0).unwrap();
    let mut y = parse(b, 1).unwrap();
    canonical_file(&mut x);
    canonical_file(&mut y);
    merge(&mut x, y, &[]).unwrap();
    strip_tags(&mut x);
    x.to_json()
}

#[test]
fn mappings_merge_scalars_replace() {
    let v = merged(
        "services:\n  web:\n    image: a\n    environment: [A=1, B=2]\n",
        "services:\n  web:\n    image: b\n    environment:\n      B: 3\n      C: 4\n",
    );
    assert_eq!(v["services"]["web"]["image"], "b");
    assert_eq!(
        v["services"]["web"]["environment"],
        serde_json::json!({"A": "1", "B": 3, "C": 4})
    );
}

#[test]
fn sequences_append_and_dedup_by_key() {
    let v = merged(
        "services:\n  web:\n    ports: ['8080:80', '443']\n    volumes: ['./a:/data', 'v:/other']\n    cap_add: [NET_ADMIN]\n",
        "services:\n  web:\n    ports: ['8080:80', '9090:90']\n    volumes: ['./b:/data']\n    cap_add: [NET_ADMIN, SYS_TIME]\n",
    );
    let w = &v["services"]["web"];
    assert_eq!(w["ports"].as_array().unwrap().len(), 3);
    let vols = w["volumes"].as_array().unwrap();
    assert_eq!(vols.len(), 2);
    assert_eq!(vols[0]["source"], "./b");
    assert_eq!(w["cap_add"], serde_json::json!(["NET_ADMIN", "SYS_TIME"]));
}

#[test]
fn command_is_replaced_and_reset_override_work() {
    let v = merged(
        "services:\n  web:\n    command: [a, b]\n    ports: ['1:1']\n    labels: {x: '1', y: '2'}\n    healthcheck: {test: [CMD, a], retries: 3}\n",
        "services:\n  web:\n    command: [c]\n    ports: !reset []\n    labels: !override {z: '3'}\n    healthcheck: {test: [CMD, b]}\n",
    );
    let w = &v["services"]["web"];
    assert_eq!(w["command"], serde_json::json!(["c"]));
    assert!(w.get("ports").is_none());
    assert_eq!(w["labels"], serde_json::json!({"z": "3"}));
    assert_eq!(
        w["healthcheck"],
        serde_json::json!({"test": ["CMD", "b"], "retries": 3})
    );
}

#[test]
fn depends_on_list_and_map_merge() {
    let v = merged(
        "services:\n  web:\n    depends_on: [db]\n",
        "services:\n  web:\n    depends_on:\n      db: {condition: service_healthy}\n      cache: {condition: service_started}\n",
    );
    let d = &v["services"]["web"]["depends_on"];
    assert_eq!(d["db"]["condition"], "service_healthy");
    assert_eq!(d["db"]["required"], true);
    assert_eq!(d["cache"]["condition"], "service_started");
}

#[test]
fn type_mismatch_is_an_error_with_position() {
    let mut x = parse("services:\n  web:\n    cap_add: [A]\n", 0).unwrap();
    let y = parse("services:\n  web:\n    cap_add: B\n", 1).unwrap();
    let e = merge(&mut x, y, &[]).unwrap_err();
    assert_eq!(e.pos.file, 1);
    assert!(
        e.message
            .contains("services.web.cap_add: cannot override a sequence"),
        "{}",
        e.message
    );
}
