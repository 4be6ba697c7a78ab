//! The fixtures themselves work: a busybox archive pushes to a local registry
//! and its manifest can be fetched back.

use berth_testkit::{oci, registry::Registry};

#[test]
fn busybox_pushes_to_local_registry() {
    let reg = Registry::start().expect("start docker-registry");
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("bb.tar");
    oci::busybox_archive(&archive, "latest").unwrap();
    reg.push_oci_archive(&archive, "latest", "test/busybox:1", false)
        .unwrap();
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/test/busybox:1", reg.host()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
}
